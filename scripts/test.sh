#!/usr/bin/env bash
# What `npm test` runs: install (when needed), build, make sure PostgreSQL and NATS are up, run the tests.
#
#   npm test                          every compiled test (dist/**/*.test.js), one file at a time
#   npm test -- dist/libs/config      only the tests under a folder (a source path works too: libs/config)
#   npm test -- test/compose.test.ts  one file (its compiled dist/....test.js is run)
#   npm test -- --test-name-pattern=seal   options are passed to `node --test`
#
# Exits with the test runner's exit code.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# 1. Dependencies: `npm ci` only when node_modules is missing or older than package-lock.json.
#    npm writes node_modules/.package-lock.json on every install, so that is the install's date.
stamp=node_modules/.package-lock.json
[[ -e $stamp ]] || stamp=node_modules
if [[ ! -d node_modules || package-lock.json -nt $stamp ]]; then
	echo "test.sh: node_modules is missing or older than package-lock.json: npm ci" >&2
	npm ci --no-audit --no-fund
fi

# 2. Build (tsc -p tsconfig.build.json into dist/).
npm run build

# 3. Services the tests talk to.
bash scripts/ensure-services.sh

# 4. Which test files. A compiled test whose source is gone (dist/ is not cleaned between builds) is skipped.
has_source() {
	local rel=${1#dist/}
	rel=${rel#plugin-tests/} # plugins/ compile to dist/plugin-tests/plugins/ (dist/plugins/ holds the bundles)
	rel=${rel%.js}
	[[ -e $rel.ts || -e $rel.mts || -e $rel.tsx || -e $rel.js ]]
}

# test_files DIR: the compiled tests under DIR whose source still exists.
test_files() {
	local f
	while IFS= read -r -d '' f; do
		if has_source "$f"; then
			printf '%s\0' "$f"
		else
			echo "test.sh: skipping $f: its source is gone (stale build output)" >&2
		fi
	done < <(find "$1" -type f -name '*.test.js' -not -path '*/node_modules/*' -print0 | sort -z)
}

# Options of node --test that take their value as the next argument.
takes_value() {
	case $1 in
	--test-name-pattern | --test-skip-pattern | --test-reporter | --test-reporter-destination | \
		--test-timeout | --test-shard | --test-concurrency | --import | --require | -r | --experimental-loader | --loader)
		return 0
		;;
	esac
	return 1
}

opts=()
targets=()
had_paths=0
while (($#)); do
	arg=$1
	shift
	if [[ $arg == -* ]]; then
		opts+=("$arg")
		if takes_value "$arg" && (($#)); then
			opts+=("$1")
			shift
		fi
		continue
	fi
	had_paths=1
	path=${arg%/}
	path=${path#./}
	if [[ $path != dist && $path != dist/* && $path != /* ]]; then
		# a source path: libs/config -> dist/libs/config, test/x.test.ts -> dist/test/x.test.js
		mapped=dist/$path
		[[ $path == plugins || $path == plugins/* ]] && mapped=dist/plugin-tests/$path
		case $mapped in
		*.ts) mapped=${mapped%.ts}.js ;;
		*.mts) mapped=${mapped%.mts}.mjs ;;
		esac
		if [[ -e $mapped ]]; then
			path=$mapped
		elif [[ $path == *.ts || $path == *.mts ]]; then
			echo "test.sh: $arg has no compiled $mapped (did the build include it?)" >&2
			exit 1
		fi
	fi
	if [[ -d $path ]]; then
		while IFS= read -r -d '' f; do targets+=("$f"); done < <(test_files "$path")
	elif [[ -e $path ]]; then
		targets+=("$path")
	else
		echo "test.sh: no such test file or folder: $arg" >&2
		exit 1
	fi
done
if ((!had_paths)); then
	while IFS= read -r -d '' f; do targets+=("$f"); done < <(test_files dist)
fi
if ((${#targets[@]} == 0)); then
	echo "test.sh: no compiled tests (*.test.js) found to run" >&2
	exit 1
fi

# 5. Run them, one file at a time (they share one database and one NATS).
set +e
node --test --test-concurrency=1 "${opts[@]}" "${targets[@]}"
rc=$?
set -e
exit "$rc"
