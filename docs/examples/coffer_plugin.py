"""The plugin side of the Coffer plugin protocol, versions 1 to 3, for Python 3.8+ (standard library only, one file).

Subclass Backend, override what your plugin does, and call serve(MyBackend()):

    from coffer_plugin import Backend, PluginError, serve

    class Greeter(Backend):
        type, name, version = "secret", "greeter", "v0.1.0"

        def handle(self, req):
            if req.operation == "read":
                value = req.storage.get("greeting")
                return None if value is None else {"data": {"text": value.decode()}}
            raise PluginError("unsupported-operation", "unsupported operation")

    serve(Greeter())

Secrets under a lease (protocol 3) are declared as data, as Vault's framework.Secret: a Secret with its type,
default TTLs, renew and revoke, in the backend's `secrets`; a handler answers {"data": ..., "secret": {"type": ...,
"internal": {...}}} and the host keeps the lease, calling that secret's renew and revoke with the internal data:

    class Issuer(Backend):
        secrets = (Secret("api_key", default_ttl=60, max_ttl=600, renew=renew_key, revoke=revoke_key),)

An auth backend may set `auth_renew` (Vault's framework.Backend.AuthRenew): asked when a token its login issued is
renewed, it gets the login's auth info (path, policies, metadata, internal) and refuses by raising PluginError.

What this module does for you (docs/plugin-protocol.md is the contract):
- checks COFFER_PLUGIN_MAGIC (run by hand: the notice on stderr, exit 1) and settles the protocol version (the
  newest of 1, 2 and 3 the host offers; on a host below 3 a secret under a lease is refused in the plugin);
- prints the hello line, then serves JSON-RPC calls on stdin/stdout, each on a thread of its own, so calls run
  concurrently and a handler's storage calls (req.storage) are matched to their replies by id;
- answers -32601 for methods it does not know (and for help when the backend has none), -32602 for params
  that break the protocol's schema (checked here, before a handler runs), -32000 with the kind of a PluginError,
  and "internal error" (details on stderr only) for any other exception;
- exits 0 after answering shutdown, and when stdin ends (the host is gone);
- keeps stdout for the protocol: print() inside a handler goes to stderr.

Deploy it with the plugin as ONE file, since the host executes a copy of the registered file elsewhere (a module
next to the original is not next to the copy): `python3 -m zipapp DIR -p "/usr/bin/env python3" -o NAME`, where
DIR holds this file and your plugin as __main__.py. See docs/plugin-authoring.md.
"""

import base64
import json
import os
import sys
import threading

__all__ = ["Backend", "LeaseRequest", "PluginError", "Request", "Secret", "Storage", "serve", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 3  # the newest this module speaks
PROTOCOL_VERSIONS = (1, 2, 3)
MAGIC_ENV, MAGIC_VALUE = "COFFER_PLUGIN_MAGIC", "d2a1f6b4-coffer-plugin-v1"
NOT_BY_HAND = "This binary is a Coffer plugin. It is meant to be run by a Coffer server, not by hand."
KINDS = ("invalid-request", "permission-denied", "unsupported-path", "unsupported-operation", "not-found", "internal")
OPERATIONS = ("read", "list", "create", "update", "delete", "patch")
MAX_ERROR_MESSAGE = 8192


class PluginError(Exception):
    """An error meant for the user: `kind` decides the HTTP status, `message` is shown as is (no secrets)."""

    def __init__(self, kind, message):
        if kind not in KINDS:
            raise ValueError("unknown error kind %r" % (kind,))
        super().__init__(message)
        self.kind = kind
        self.message = message


class _InvalidParams(Exception):
    pass


class Storage:
    """One mount's storage, through the host. Values are bytes (str is stored as UTF-8)."""

    def __init__(self, host, mount_id):
        self._host, self._mount = host, mount_id

    def get(self, key):
        value = self._host.call("storage.get", mount=self._mount, key=key)["value"]
        return None if value is None else base64.b64decode(value)

    def get_json(self, key):
        value = self.get(key)
        return None if value is None else json.loads(value)

    def put(self, key, value):
        if isinstance(value, str):
            value = value.encode("utf-8")
        self._host.call("storage.put", mount=self._mount, key=key, value=base64.b64encode(value).decode("ascii"))

    def put_json(self, key, value):
        self.put(key, json.dumps(value, separators=(",", ":")))

    def delete(self, key):
        self._host.call("storage.delete", mount=self._mount, key=key)

    def list(self, prefix):
        """Vault's listing: names directly under prefix, deeper "folders" ending in "/", sorted."""
        return self._host.call("storage.list", mount=self._mount, prefix=prefix)["keys"]


class Request:
    """A client request routed to the mount: operation, path (relative to the mount), data, mount, storage."""

    def __init__(self, params, mounts, host):
        r = params["request"]
        self.operation, self.path, self.data = r["operation"], r["path"], r["data"]
        self.token_accessor, self.request_id = r["tokenAccessor"], r["requestId"]
        self.mount = mounts.get(params["mount"])
        if self.mount is None:
            raise PluginError("internal", "mount %s is not set up in this plugin process" % params["mount"])
        self.storage = Storage(host, params["mount"])
        self._host = host

    def system(self):
        """The host's facts for this mount: defaultLeaseTtl, maxLeaseTtl, version."""
        return self._host.call("system.info", mount=self.mount["id"])


class Secret:
    """A kind of secret handed out under a lease (Vault's framework.Secret), as data.

    type: the name a handler's {"secret": {"type": ...}} gives; default_ttl / max_ttl: seconds (0 = the mount's);
    renew(req) -> None or {"ttl": seconds, "internal": {...}}: without it the leases are not renewable; raise
    PluginError to refuse; revoke(req): must be idempotent (the host may ask again after a crash); an exception
    makes the host retry later. Both get a LeaseRequest.
    """

    def __init__(self, type, revoke, renew=None, default_ttl=0, max_ttl=0):
        self.type, self.revoke, self.renew = type, revoke, renew
        self.default_ttl, self.max_ttl = default_ttl, max_ttl


class LeaseRequest:
    """What a secret's renew or revoke gets: the lease (id, type, internal, issueTime, ttl), the client's increment
    (seconds, 0 = unspecified; 0 for revoke), the mount and its storage."""

    def __init__(self, params, mounts, host):
        self.lease = params["lease"]
        self.internal = self.lease["internal"]
        self.increment = params.get("increment", 0)
        self.mount = mounts.get(params["mount"])
        if self.mount is None:
            raise PluginError("internal", "mount %s is not set up in this plugin process" % params["mount"])
        self.storage = Storage(host, params["mount"])


class Backend:
    """Override handle (and what else you need). type: "secret" or "auth"; version: "" or semver like v1.2.3."""

    type = "secret"
    name = "python-plugin"
    version = ""
    multiplex = True
    unauthenticated = ()

    def setup(self, mount, storage):
        """A mount is set up on this process (again after every launch): prepare what it needs."""

    def handle(self, req):
        """Answer a request: a dict like {"data": {...}}, {"data": ..., "warnings": [...]}, or None (204 / 404)."""
        raise PluginError("unsupported-path", "unsupported path")

    def exists(self, req):
        """Vault's existence check: None when the path has none (every write is an update), else True or False."""
        return None

    def invalidate(self, mount, key):
        """A storage key changed behind this process's back: drop what is cached about it."""

    def cleanup(self, mount, storage):
        """The mount is being disabled."""

    help = None  # set to a function (self, mount, path) -> str to answer ?help=1

    secrets = ()  # Secret declarations (protocol 3): the kinds of secret this backend hands out under leases

    # Auth backends, protocol 3: set to a function (self, req) -> None or {"ttl": s, "maxTtl": s}, asked when a token
    # a login issued is renewed; req.auth is the login's info (path, policies, metadata, internal), req.increment the
    # client's, req.storage the mount's. Raise PluginError to refuse: the client gets "failed to renew entry: ...".
    auth_renew = None


# What the host may send, checked before anything runs: the required params and their types (the JSON Schemas
# in libs/plugin-protocol/schemas/ say the same, with limits). Unknown params are ignored, as the protocol asks.
_STR, _DICT, _INT, _LIST = (str,), (dict,), (int,), (list,)
_REQUEST = {"operation": _STR, "path": _STR, "data": _DICT, "tokenAccessor": _STR, "requestId": _STR}
_LEASE = {"id": _STR, "type": _STR, "internal": _DICT, "issueTime": _STR, "ttl": _INT}
_AUTH = {"path": _STR, "policies": _LIST, "metadata": _DICT, "internal": _DICT, "displayName": _STR, "issueTime": _STR, "ttl": _INT}
_MOUNT = {"id": _STR, "path": _STR, "accessor": _STR, "type": _STR, "config": _DICT, "options": _DICT}
_PARAMS = {
    "setup": {"mount": _MOUNT},
    "handle": {"mount": _STR, "request": _REQUEST},
    "exists": {"mount": _STR, "request": _REQUEST},
    "specialPaths": {},
    "invalidate": {"mount": _STR, "key": _STR},
    "cleanup": {"mount": _STR},
    "shutdown": {},
    "help": {"mount": _STR, "path": _STR},
    # protocol 3
    "renew": {"mount": _STR, "lease": _LEASE, "increment": _INT},
    "revoke": {"mount": _STR, "lease": _LEASE},
    "renewAuth": {"mount": _STR, "auth": _AUTH, "increment": _INT},
}


def _check(value, shape, at):
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _InvalidParams("%s: must be an object" % at)
        for key, inner in shape.items():
            if key not in value:
                raise _InvalidParams("%s: must have required property %s" % (at, key))
            _check(value[key], inner, "%s.%s" % (at, key))
    elif not isinstance(value, shape) or (shape is _STR and at.endswith(".mount") and value == ""):
        raise _InvalidParams("%s: must be %s" % (at, {_STR: "a string", _INT: "an integer", _LIST: "an array"}.get(shape, "an object")))


class _Host:
    """The plugin's line to its host: writes are serialized, replies to our own calls are matched by id."""

    def __init__(self, out):
        self._out, self._lock = out, threading.Lock()
        self._next, self._waiting, self._closing = 1, {}, False

    def send(self, message):
        line = json.dumps(message, separators=(",", ":")) + "\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def call(self, method, **params):
        if self._closing:
            raise PluginError("internal", "the plugin is shutting down")
        done, box = threading.Event(), {}
        with self._lock:
            call_id, self._next = self._next, self._next + 1
            self._waiting[call_id] = (done, box)
        self.send({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params})
        done.wait()
        if "error" in box:
            error = box["error"] if isinstance(box["error"], dict) else {}
            kind = (error.get("data") or {}).get("kind")
            raise PluginError(kind if kind in KINDS else "internal", str(error.get("message", "host call failed")))
        return box.get("result")

    def reply(self, message):
        with self._lock:
            waiter = self._waiting.pop(message.get("id"), None)
        if waiter is None:
            sys.stderr.write("ignored a reply to an unknown call id %r\n" % (message.get("id"),))
            return
        waiter[1].update(message)
        waiter[0].set()


def serve(backend):
    """Runs the backend as a plugin process on stdin/stdout. Does not return."""
    if os.environ.get(MAGIC_ENV) != MAGIC_VALUE:
        sys.stderr.write(NOT_BY_HAND + "\n")
        sys.exit(1)
    # The newest version both sides speak: the host lists its own (a protocol-1 host sets COFFER_PLUGIN_PROTOCOL only).
    asked = os.environ.get("COFFER_PLUGIN_PROTOCOLS", os.environ.get("COFFER_PLUGIN_PROTOCOL", "1"))
    shared = [v for v in PROTOCOL_VERSIONS if str(v) in [a.strip() for a in asked.split(",")]]
    if not shared:
        sys.stderr.write("this plugin speaks Coffer plugin protocol 1, 2 and 3, the host asked for %s\n" % (asked,))
        sys.exit(1)
    protocol = max(shared)
    secrets = {s.type: s for s in backend.secrets}
    if secrets and backend.type != "secret":
        raise ValueError("only a secrets engine declares secrets under leases")
    renews = any(s.renew is not None for s in backend.secrets)

    def secret_of(lease):
        declared = secrets.get(lease["type"])
        if declared is None:
            raise PluginError("invalid-request", "secret type %s is not declared by this backend" % json.dumps(lease["type"]))
        return declared

    out = sys.stdout
    sys.stdout = sys.stderr  # print() in plugin code must not corrupt the protocol channel
    host, mounts = _Host(out), {}
    host.send({"coffer": "plugin", "protocol": protocol, "type": backend.type, "name": backend.name,
               "version": backend.version, "multiplex": bool(backend.multiplex)})

    def run(method, p):
        if method == "setup":
            mounts[p["mount"]["id"]] = p["mount"]
            backend.setup(p["mount"], Storage(host, p["mount"]["id"]))
            return {}
        if method == "handle":
            req = Request(p, mounts, host)
            if req.operation not in OPERATIONS:
                raise _InvalidParams("params.request.operation: must be one of " + ", ".join(OPERATIONS))
            response = backend.handle(req)
            if response is not None and not isinstance(response, dict):
                raise TypeError("handle must return a dict or None, not %r" % (type(response),))
            if response is not None and "secret" in response:
                if protocol < 3:  # the host would call it malformed; this says why, in the plugin's own log
                    raise TypeError("a secret under a lease needs plugin protocol 3; this host speaks %d" % protocol)
                given = response["secret"]
                declared = secrets.get(given.get("type"))
                if declared is None:
                    raise TypeError("secret type %r is not declared in the backend's secrets" % (given.get("type"),))
                # The declaration fills in what the handler leaves out, as Vault's framework.Secret does.
                response = dict(response, secret={
                    "type": declared.type,
                    "internal": given.get("internal") or {},
                    "ttl": given.get("ttl") or declared.default_ttl,
                    "maxTtl": given.get("maxTtl") or declared.max_ttl,
                    "renewable": given.get("renewable", declared.renew is not None),
                })
            if response is not None and protocol < 3 and "internal" in (response.get("auth") or {}):
                # An older host neither keeps a login's internal data nor asks renewAuth, and refuses the field.
                response = dict(response, auth={k: v for k, v in response["auth"].items() if k != "internal"})
            return {"response": response}
        if method == "exists":
            found = backend.exists(Request(p, mounts, host))
            return {"checkFound": found is not None, "exists": bool(found)}
        if method == "specialPaths":
            return {"unauthenticated": list(backend.unauthenticated)}
        if method == "invalidate":
            if p["mount"] in mounts:
                backend.invalidate(mounts[p["mount"]], p["key"])
            return {}
        if method == "cleanup":
            mount = mounts.get(p["mount"])
            if mount is not None:
                try:
                    backend.cleanup(mount, Storage(host, p["mount"]))
                finally:
                    mounts.pop(p["mount"], None)
            return {}
        if method == "renew":
            declared = secret_of(p["lease"])
            if declared.renew is None:
                raise PluginError("invalid-request", "lease is not renewable")
            result = declared.renew(LeaseRequest(p, mounts, host)) or {}
            ttl = result.get("ttl") or declared.default_ttl
            return {k: v for k, v in (("ttl", ttl), ("internal", result.get("internal"))) if v}
        if method == "revoke":
            secret_of(p["lease"]).revoke(LeaseRequest(p, mounts, host))
            return {}
        if method == "renewAuth":
            req = LeaseRequest(dict(p, lease={"internal": p["auth"]["internal"]}), mounts, host)
            req.auth, req.lease = p["auth"], None
            result = backend.auth_renew(req) or {}
            return {k: result[k] for k in ("ttl", "maxTtl", "warnings") if result.get(k)}
        if method == "help":
            if p["mount"] not in mounts:
                raise PluginError("internal", "mount %s is not set up in this plugin process" % p["mount"])
            return {"help": backend.help(mounts[p["mount"]], p["path"])}
        return {}  # shutdown

    def answer(message):
        method, call_id = message["method"], message["id"]
        params = message.get("params", {})
        reply = {"jsonrpc": "2.0", "id": call_id}

        def error(code, kind, text):
            reply["error"] = {"code": code, "message": text[:MAX_ERROR_MESSAGE], "data": {"kind": kind}}

        try:
            # An optional method the backend leaves out is, to the host, a method this plugin does not know.
            missing = (method == "help" and backend.help is None) or (method == "renew" and not renews) or \
                (method == "revoke" and not secrets) or (method == "renewAuth" and backend.auth_renew is None)
            if method not in _PARAMS or missing:
                error(-32601, "unsupported-operation", "unknown method %s" % json.dumps(method))
            else:
                _check(params, _PARAMS[method], "params")
                reply["result"] = run(method, params)
        except _InvalidParams as e:
            error(-32602, "invalid-request", str(e))
        except PluginError as e:
            error(-32000, e.kind, e.message)
        except Exception as e:  # a bug: the details go to the operator's log only
            sys.stderr.write("%s failed: %r\n" % (method, e))
            error(-32000, "internal", "internal error")
        host.send(reply)
        if method == "shutdown" and "result" in reply:
            host._closing = True
            out.flush()
            os._exit(0)

    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            os._exit(0)  # end of input: the host is gone
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            host.send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error", "data": {"kind": "invalid-request"}}})
            continue
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            host.send({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "not a JSON-RPC 2.0 message", "data": {"kind": "invalid-request"}}})
        elif isinstance(message.get("method"), str):
            if message.get("id") is not None:  # a notification gets no answer
                threading.Thread(target=answer, args=(message,), daemon=True).start()
        else:
            host.reply(message)
