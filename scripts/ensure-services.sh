#!/usr/bin/env bash
# Makes sure the services the tests talk to are up:
#   - PostgreSQL on 127.0.0.1:5432, trust auth for `postgres` over loopback TCP, a database `test`
#     (postgres://postgres@127.0.0.1:5432/test);
#   - nats-server with JetStream on 127.0.0.1:4222;
#   - MariaDB on 127.0.0.1:3306, `root` without a password over loopback TCP, a database `test` (the database
#     engine's mysql-database-plugin tests, plugins/database/src/mysql.test.ts);
#   - bubblewrap (bwrap), the plugin sandbox the cluster-trust tests run plugins in (docs/security.md).
#   - Debian's chromium at /usr/bin/chromium (or $COFFER_CHROMIUM), which test/ui.e2e.test.ts drives headless.
# For each: if it answers, nothing is done (and nothing is printed). If it is installed but not running,
# it is started. If it is not installed, it is installed from Debian's packages when we may
# (root with apt-get, or COFFER_INSTALL_SERVICES=1), then set up and started.
#
# Environment:
#   COFFER_TEST_DATABASE_URL  a database to use instead; it is only checked (never started, installed or changed)
#   COFFER_TEST_NATS_URL      a NATS server to use instead; only checked
#   COFFER_TEST_MYSQL_URL     a MySQL/MariaDB to use instead (Go DSN: user:pass@tcp(host:port)/db); never checked here
#   COFFER_CHROMIUM           a Chromium binary to use instead of /usr/bin/chromium; only checked
#   COFFER_INSTALL_SERVICES   1: install missing services with apt-get even when not root (through sudo -n);
#                             0: never install. Unset: install only when running as root and apt-get exists.
#   COFFER_SERVICES_TIMEOUT   seconds to wait for each service to become ready (default 60)
#
# Idempotent; safe to run before every test run.
set -euo pipefail

readonly PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres PG_DB=test
readonly DEFAULT_PG_URL="postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${PG_DB}"
readonly MAINT_PG_URL="postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres"
readonly NATS_HOST=127.0.0.1 NATS_PORT=4222
readonly DEFAULT_NATS_URL="nats://${NATS_HOST}:${NATS_PORT}"
readonly HBA_BEGIN='# BEGIN coffer scripts/ensure-services.sh: trust postgres over loopback TCP, for the tests'
readonly HBA_END='# END coffer scripts/ensure-services.sh'
TIMEOUT=${COFFER_SERVICES_TIMEOUT:-60}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || TIMEOUT=60
APT_UPDATED=0
LOCKED=0

log() { printf 'ensure-services: %s\n' "$*" >&2; }
# die MESSAGE [HINT...]: print the message and what to do, then exit 1.
die() {
	printf 'ensure-services: ERROR: %s\n' "$1" >&2
	shift
	local hint
	for hint in "$@"; do printf '  - %s\n' "$hint" >&2; done
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $EUID -eq 0 ]]; }

# with_timeout SECONDS CMD...: runs CMD, killed after SECONDS when coreutils' timeout exists.
with_timeout() {
	local secs=$1
	shift
	if have timeout; then timeout "$secs" "$@"; else "$@"; fi
}

# wait_until SECONDS CMD...: polls CMD until it succeeds; fails when SECONDS have passed.
wait_until() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# Serializes the slow path when two test runs start at once (the quick checks need no lock).
# The lock is fd 9: every command that may leave a daemon behind runs with `9>&-`, or the daemon would hold it.
take_lock() {
	((LOCKED)) && return 0
	LOCKED=1
	have flock || return 0
	local dir=${TMPDIR:-/tmp}
	is_root && [[ -d /run/lock && -w /run/lock ]] && dir=/run/lock
	local file="$dir/coffer-ensure-services.${EUID}.lock"
	exec 9>>"$file" || return 0
	flock -w 600 9 || die "another scripts/ensure-services.sh has held $file for 10 minutes" \
		"wait for it to finish, or remove $file if no such script is running"
}

# host_port URL DEFAULT_PORT: prints "host port" of the first server in a URL
# (scheme://user:pass@host:port/path?query, [v6]:port, or host:port without a scheme).
host_port() {
	local rest=${1%%,*} host port
	[[ $rest =~ ^[A-Za-z][A-Za-z0-9+.-]*:// ]] && rest=${rest#*://}
	rest=${rest%%[/?]*}
	rest=${rest##*@}
	if [[ $rest == \[*\]* ]]; then
		host=${rest%%]*}
		host=${host#[}
		port=${rest#*]}
		port=${port#:}
	elif [[ $rest == *:* ]]; then
		host=${rest%:*}
		port=${rest##*:}
	else
		host=$rest
		port=
	fi
	printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$2}"
}

# tcp_open HOST PORT: true when something accepts a TCP connection there.
tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	with_timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------------------------
# Installing
# ---------------------------------------------------------------------------------------------------------------

can_install() {
	case ${COFFER_INSTALL_SERVICES:-} in
	0 | no | false) return 1 ;;
	1 | yes | true) have apt-get ;;
	*) is_root && have apt-get ;;
	esac
}

install_hint() {
	if have apt-get; then
		printf 'install it with: apt-get install %s (as root), or run this script as root or with COFFER_INSTALL_SERVICES=1 to let it install it' "$1"
	else
		printf 'install %s with your package manager' "$1"
	fi
}

# apt_install PACKAGE...: Debian's packages, non-interactive.
apt_install() {
	local sudo=()
	if ! is_root; then
		have sudo || die "installing $* needs root, and sudo is not installed" "$(install_hint "$*")"
		sudo=(sudo -n)
	fi
	local env=(env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8)
	local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	if ((!APT_UPDATED)); then
		log "apt-get update"
		"${sudo[@]}" "${env[@]}" apt-get update -q >&2 9>&- ||
			die "apt-get update failed (see above)" "check that Debian's package mirror is reachable, then run again"
		APT_UPDATED=1
	fi
	log "installing $* from Debian's packages"
	"${sudo[@]}" "${env[@]}" apt-get install "${opts[@]}" --no-install-recommends "$@" >&2 9>&- ||
		die "apt-get install $* failed (see above)" "fix the apt error, then run this script again"
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------------------

# pg_query URL [SQL]: runs SQL (default: select 1); prints the result, or psql's error on failure.
pg_query() {
	PGCONNECT_TIMEOUT=5 with_timeout 20 psql -w -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "${2:-select 1}" 2>&1
}

# Refused by pg_hba.conf or by a password check: what trusting loopback can fix.
is_auth_error() {
	[[ $1 == *"authentication failed"* || $1 == *"no pg_hba.conf entry"* || $1 == *"no password supplied"* ]]
}

# Errors that waiting does not fix (auth, missing role or database, no permission).
is_fatal_error() {
	is_auth_error "$1" || [[ $1 == *"does not exist"* || $1 == *"permission denied"* ]]
}

# pg_wait_query URL: waits until `select 1` works; gives up at once on errors that waiting cannot fix.
pg_wait_query() {
	local deadline=$((SECONDS + TIMEOUT)) out
	while :; do
		if out=$(pg_query "$1"); then return 0; fi
		if is_fatal_error "$out" || ((SECONDS >= deadline)); then
			printf '%s\n' "$out"
			return 1
		fi
		sleep 0.5
	done
}

# Where the local cluster on PG_PORT lives, from pg_lsclusters: sets PG_VER, PG_CLUSTER, PG_LOG, PG_CONF_DIR.
PG_VER='' PG_CLUSTER='' PG_LOG='' PG_CONF_DIR=''
pg_find_cluster() {
	have pg_lsclusters || return 1
	local ver name port logf
	while read -r ver name port _ _ _ logf; do
		if [[ $port == "$PG_PORT" ]]; then
			PG_VER=$ver PG_CLUSTER=$name PG_LOG=$logf PG_CONF_DIR=/etc/postgresql/$ver/$name
			return 0
		fi
	done < <(pg_lsclusters -h 2>/dev/null)
	return 1
}

pg_installed() {
	have psql && have pg_ctlcluster && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# pg_isready's exit code: 0 accepting, 1 rejecting (starting up), 2 no answer, 3 no attempt.
pg_state() {
	if have pg_isready; then
		local rc=0
		with_timeout 10 pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3 || rc=$?
		return $rc
	fi
	tcp_open "$PG_HOST" "$PG_PORT" || return 2
}

pg_create_cluster() {
	local ver name=main
	ver=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
		awk -F/ '{print $5}' | sort -V | tail -n 1)
	[[ -n $ver ]] || die "PostgreSQL's server binaries are missing from /usr/lib/postgresql" "$(install_hint postgresql)"
	[[ -e /etc/postgresql/$ver/main ]] && name=coffer-test
	is_root || die "no PostgreSQL cluster listens on port $PG_PORT, and creating one needs root" \
		"as root: pg_createcluster --port $PG_PORT $ver $name" \
		"or point the tests at a database you have: COFFER_TEST_DATABASE_URL=postgres://user@host:port/db"
	log "creating PostgreSQL cluster $ver/$name on port $PG_PORT"
	pg_createcluster --locale C.UTF-8 --port "$PG_PORT" "$ver" "$name" >&2 9>&- ||
		die "pg_createcluster $ver $name failed (see above)"
	pg_find_cluster || die "created cluster $ver/$name but pg_lsclusters does not show it on port $PG_PORT"
}

pg_start_cluster() {
	if pg_ctlcluster "$PG_VER" "$PG_CLUSTER" status >/dev/null 2>&1; then
		return 0 # running; perhaps still starting up, wait_until below sees to it
	fi
	log "starting PostgreSQL $PG_VER/$PG_CLUSTER"
	pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" start >&2 9>&- ||
		pg_ctlcluster "$PG_VER" "$PG_CLUSTER" status >/dev/null 2>&1 || # started meanwhile by someone else
		die "could not start PostgreSQL $PG_VER/$PG_CLUSTER (see above)" \
			"look at its log: ${PG_LOG:-/var/log/postgresql/}" \
			"start it by hand (as root): pg_ctlcluster --skip-systemctl-redirect $PG_VER $PG_CLUSTER start"
}

# Puts `trust` for postgres over loopback TCP at the top of pg_hba.conf (first match wins) and reloads.
pg_trust_loopback() {
	local hba=$PG_CONF_DIR/pg_hba.conf
	[[ -n $PG_CONF_DIR && -f $hba ]] || return 1
	grep -qxF "$HBA_BEGIN" "$hba" 2>/dev/null && return 0
	[[ -w $hba ]] || return 1
	log "adding 'host all $PG_USER 127.0.0.1/32 trust' (and ::1/128) to the top of $hba (a copy is in $hba.coffer-bak)"
	[[ -e $hba.coffer-bak ]] || cp -p "$hba" "$hba.coffer-bak"
	local tmp
	tmp=$(mktemp)
	{
		printf '%s\n' "$HBA_BEGIN"
		printf 'host    all    %s    127.0.0.1/32    trust\n' "$PG_USER"
		printf 'host    all    %s    ::1/128         trust\n' "$PG_USER"
		printf '%s\n\n' "$HBA_END"
		cat "$hba"
	} >"$tmp"
	cat "$tmp" >"$hba" # keeps the file's owner and mode
	rm -f "$tmp"
	pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" reload >&2 9>&- ||
		die "could not reload PostgreSQL $PG_VER/$PG_CLUSTER after changing $hba"
	# A reload is asynchronous: give the server a moment to take the new rules before anyone checks.
	local _ out
	for _ in {1..20}; do
		out=$(pg_query "$MAINT_PG_URL") || true
		is_auth_error "$out" || break
		sleep 0.25
	done
}

ensure_external_postgres() {
	local url=$COFFER_TEST_DATABASE_URL out host port
	if have psql; then
		out=$(pg_wait_query "$url") ||
			die "the database in COFFER_TEST_DATABASE_URL does not answer 'select 1' (waited up to ${TIMEOUT}s): ${out//$'\n'/ }" \
				"check the URL, that the server runs, that the database exists and that this user may log in without a prompt" \
				"or unset COFFER_TEST_DATABASE_URL to use the local $DEFAULT_PG_URL"
		return 0
	fi
	read -r host port < <(host_port "$url" 5432)
	wait_until "$TIMEOUT" tcp_open "$host" "$port" ||
		die "nothing answers on $host:$port (from COFFER_TEST_DATABASE_URL), waited ${TIMEOUT}s" \
			"start that server, or fix the URL"
	log "psql is not installed: only checked that $host:$port accepts connections"
}

ensure_postgres() {
	if [[ -n ${COFFER_TEST_DATABASE_URL:-} ]]; then
		ensure_external_postgres
		return
	fi
	# Quick path: all is fine, say nothing.
	if have psql && pg_query "$DEFAULT_PG_URL" >/dev/null; then return 0; fi

	take_lock
	local setup_by_us=0 state=0 out
	pg_state || state=$?
	if ((state >= 2)); then
		if ! pg_installed; then
			if ! can_install; then
				die "PostgreSQL does not answer on $PG_HOST:$PG_PORT and is not installed" \
					"$(install_hint postgresql)" \
					"or point the tests at a database you have: COFFER_TEST_DATABASE_URL=postgres://user@host:port/db"
			fi
			apt_install postgresql
			setup_by_us=1
		fi
		if ! pg_find_cluster; then
			pg_create_cluster
			setup_by_us=1
		fi
		pg_start_cluster
	else
		pg_find_cluster || true # only to know where pg_hba.conf is, should auth need fixing
	fi
	wait_until "$TIMEOUT" pg_state ||
		die "PostgreSQL did not accept connections on $PG_HOST:$PG_PORT within ${TIMEOUT}s" \
			"look at its log: ${PG_LOG:-/var/log/postgresql/}" \
			"check: pg_lsclusters; start it (as root): pg_ctlcluster --skip-systemctl-redirect ${PG_VER:-<version>} ${PG_CLUSTER:-main} start" \
			"or raise COFFER_SERVICES_TIMEOUT"
	if ! have psql; then
		log "psql is not installed: only checked that $PG_HOST:$PG_PORT accepts connections, not the database $PG_DB"
		return 0
	fi

	# Auth: on a cluster we set up ourselves, trust loopback at once; on any other, only if it rejects us.
	if ((setup_by_us)); then
		pg_trust_loopback || log "warning: could not find pg_hba.conf of the new cluster to trust loopback"
	fi
	if ! out=$(pg_wait_query "$MAINT_PG_URL"); then
		if is_auth_error "$out" && pg_trust_loopback; then
			out=$(pg_wait_query "$MAINT_PG_URL") ||
				die "PostgreSQL still refuses $MAINT_PG_URL after trusting loopback: ${out//$'\n'/ }" \
					"look at $PG_CONF_DIR/pg_hba.conf and at role '$PG_USER'"
		else
			die "PostgreSQL on $PG_HOST:$PG_PORT refuses $MAINT_PG_URL: ${out//$'\n'/ }" \
				"the tests log in as '$PG_USER' without a password over 127.0.0.1: add to the top of pg_hba.conf" \
				"  host all $PG_USER 127.0.0.1/32 trust   and reload PostgreSQL (or run this script as root to do it)" \
				"or point the tests at a database you have: COFFER_TEST_DATABASE_URL=postgres://user@host:port/db"
		fi
	fi

	out=$(pg_query "$MAINT_PG_URL" "select 1 from pg_database where datname = '$PG_DB'") ||
		die "could not list databases: ${out//$'\n'/ }"
	if [[ $out != 1 ]]; then
		log "creating database $PG_DB"
		out=$(pg_query "$MAINT_PG_URL" "create database \"$PG_DB\"") || [[ $out == *"already exists"* ]] ||
			die "could not create database $PG_DB: ${out//$'\n'/ }"
	fi
	out=$(pg_wait_query "$DEFAULT_PG_URL") ||
		die "$DEFAULT_PG_URL does not answer 'select 1': ${out//$'\n'/ }"
}

# ---------------------------------------------------------------------------------------------------------------
# NATS
# ---------------------------------------------------------------------------------------------------------------

# nats_info HOST PORT: prints the server's INFO line. Exit 1: nothing listens; 2: it listens but is not NATS.
nats_info() {
	local line rc=0
	# shellcheck disable=SC2016 # expanded by the inner bash
	line=$(with_timeout 5 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		IFS= read -r -t 4 line <&3 || exit 2
		printf "%s\n" "$line"' "$1" "$2" 2>/dev/null) || rc=$?
	((rc == 0)) || { ((rc == 1)) && return 1; return 2; }
	line=${line%$'\r'}
	[[ $line == "INFO "* ]] || return 2
	printf '%s\n' "$line"
}

nats_ready() { nats_info "$1" "$2" >/dev/null; }

warn_if_no_jetstream() {
	[[ $2 == *'"jetstream":true'* ]] ||
		log "warning: NATS at $1 answers, but without JetStream (start nats-server with -js)"
}

nats_bin() {
	if [[ -x /usr/sbin/nats-server ]]; then
		printf '%s\n' /usr/sbin/nats-server
	else
		command -v nats-server
	fi
}

start_nats() {
	local bin=$1 store log_file
	if is_root; then
		store=/var/lib/nats-server log_file=/var/log/nats-server.log
	else
		store=${XDG_STATE_HOME:-$HOME/.local/state}/coffer/nats-server
		log_file=$store/nats-server.log
	fi
	mkdir -p "$store"
	log "starting nats-server on $NATS_HOST:$NATS_PORT (JetStream store $store, log $log_file)"
	local args=(-a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$store" -l "$log_file")
	if have start-stop-daemon; then
		start-stop-daemon --start --oknodo --background --exec "$bin" -- "${args[@]}" >&2 9>&- ||
			die "start-stop-daemon could not start $bin (see above)" "look at $log_file"
	else
		nohup setsid "$bin" "${args[@]}" </dev/null >/dev/null 2>&1 9>&- &
	fi
	NATS_LOG=$log_file
}

ensure_nats() {
	local url=${COFFER_TEST_NATS_URL:-$DEFAULT_NATS_URL} host port info rc=0
	read -r host port < <(host_port "$url" 4222)
	# Quick path: all is fine, say nothing.
	if info=$(nats_info "$host" "$port"); then
		warn_if_no_jetstream "$url" "$info"
		return 0
	fi
	if [[ -n ${COFFER_TEST_NATS_URL:-} ]]; then
		info=$(wait_until "$TIMEOUT" nats_ready "$host" "$port" && nats_info "$host" "$port") ||
			die "the NATS server in COFFER_TEST_NATS_URL ($host:$port) does not answer with an INFO line (waited ${TIMEOUT}s)" \
				"start that server, or fix the URL, or unset COFFER_TEST_NATS_URL to use the local $DEFAULT_NATS_URL"
		warn_if_no_jetstream "$url" "$info"
		return 0
	fi

	take_lock
	nats_info "$host" "$port" >/dev/null || rc=$?
	if ((rc == 0)); then return 0; fi # someone else started it meanwhile
	if ((rc == 2)); then
		die "something listens on $host:$port but does not answer like NATS (no INFO line)" \
			"find it with: ss -ltnp 'sport = :$port'; stop it, or point the tests elsewhere with COFFER_TEST_NATS_URL"
	fi
	local bin
	if ! bin=$(nats_bin); then
		can_install || die "NATS does not answer on $host:$port and nats-server is not installed" \
			"$(install_hint nats-server)" \
			"or point the tests at a server you have: COFFER_TEST_NATS_URL=nats://host:4222"
		apt_install nats-server
		bin=$(nats_bin) || die "installed nats-server, but cannot find its binary"
	fi
	NATS_LOG=''
	start_nats "$bin"
	wait_until "$TIMEOUT" nats_ready "$host" "$port" ||
		die "nats-server did not answer on $host:$port within ${TIMEOUT}s" \
			"look at its log: $NATS_LOG" \
			"if an old nats-server process hangs, stop it (as root: start-stop-daemon --stop --exec $bin) and run this again" \
			"start it by hand: $bin -a $NATS_HOST -p $NATS_PORT -js -sd <store dir> -l <log file>"
	info=$(nats_info "$host" "$port") || true
	warn_if_no_jetstream "$url" "$info"
}

# ---------------------------------------------------------------------------------------------------------------
# Bubblewrap (the plugin sandbox)
# ---------------------------------------------------------------------------------------------------------------

# Installed like the services above: from Debian's packages when we may. Missing and not installable is only a
# warning: plugin_sandbox = "auto" then falls back to a weaker level, and the cluster-trust tests fail saying so.
ensure_bwrap() {
	have bwrap && return 0
	if can_install; then
		take_lock
		have bwrap && return 0
		apt_install bubblewrap
	else
		log "warning: bubblewrap is not installed; plugins run without the bwrap sandbox ($(install_hint bubblewrap))"
	fi
}

# ---------------------------------------------------------------------------------------------------------------
# Chromium (the web UI's end-to-end tests)
# ---------------------------------------------------------------------------------------------------------------

# Only a binary to have, not a service to start: installed from Debian's packages when missing and we may.
ensure_chromium() {
	local bin=${COFFER_CHROMIUM:-/usr/bin/chromium}
	[[ -x $bin ]] && return 0
	if [[ -n ${COFFER_CHROMIUM:-} ]]; then
		die "COFFER_CHROMIUM=$bin is not an executable" "point it at a Chromium binary, or unset it to use Debian's /usr/bin/chromium"
	fi
	take_lock
	[[ -x $bin ]] && return 0 # installed meanwhile by someone else
	can_install || die "Chromium is not installed at $bin (the web UI's end-to-end tests need it)" "$(install_hint chromium)"
	# --no-install-recommends would leave out every font: the UI's screenshots need one.
	apt_install chromium fonts-liberation
	[[ -x $bin ]] || die "installed chromium, but $bin is missing"
}

# ---------------------------------------------------------------------------------------------------------------
# MariaDB (the database engine's mysql-database-plugin tests)
# ---------------------------------------------------------------------------------------------------------------

readonly MARIADB_HOST=127.0.0.1 MARIADB_PORT=3306

mariadb_answers() { (exec 3<>"/dev/tcp/$MARIADB_HOST/$MARIADB_PORT") 2>/dev/null; }

# As root over the server's socket (unix_socket auth): root may log in over loopback TCP without a password, and
# the database `test` exists, as the tests expect (the machine's PostgreSQL trusts loopback the same way).
mariadb_setup() {
	local client
	client=$(command -v mariadb || command -v mysql) || die "MariaDB runs, but neither the mariadb nor the mysql client is installed"
	"$client" -uroot <<-'SQL' || die "could not set up MariaDB for the tests (as root over its socket)" "run this script as root"
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		CREATE DATABASE IF NOT EXISTS test;
	SQL
}

ensure_mariadb() {
	[[ -n ${COFFER_TEST_MYSQL_URL:-} ]] && return 0
	mariadb_answers && return 0
	take_lock
	mariadb_answers && return 0 # started meanwhile by someone else
	if ! have mariadbd && [[ ! -x /usr/sbin/mariadbd ]]; then
		can_install || die "MariaDB does not answer on $MARIADB_HOST:$MARIADB_PORT and is not installed" \
			"$(install_hint mariadb-server)" \
			"or point the tests at a server you have: COFFER_TEST_MYSQL_URL='user:pass@tcp(host:3306)/db'"
		apt_install mariadb-server mariadb-client
	fi
	is_root || die "MariaDB is installed but not running, and starting it needs root" "start it: service mariadb start (as root)"
	log "starting MariaDB on $MARIADB_HOST:$MARIADB_PORT"
	if [[ -x /etc/init.d/mariadb ]]; then
		/etc/init.d/mariadb start >&2 9>&- || die "/etc/init.d/mariadb start failed (see above)" "look at /var/log/mysql/error.log"
	else
		mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
		nohup setsid /usr/sbin/mariadbd --user=mysql --bind-address=$MARIADB_HOST --port=$MARIADB_PORT </dev/null >/dev/null 2>&1 9>&- &
	fi
	wait_until "$TIMEOUT" mariadb_answers ||
		die "MariaDB did not answer on $MARIADB_HOST:$MARIADB_PORT within ${TIMEOUT}s" "look at its log: /var/log/mysql/error.log"
	mariadb_setup
}

ensure_postgres
ensure_nats
ensure_mariadb
ensure_bwrap
ensure_chromium
