"""The plugin side of the Coffer plugin protocol, version 1, for Python 3.8+ (standard library only, one file).

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

What this module does for you (docs/plugin-protocol.md is the contract):
- checks COFFER_PLUGIN_MAGIC (run by hand: the notice on stderr, exit 1) and the protocol version;
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

__all__ = ["Backend", "PluginError", "Request", "Storage", "serve", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
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


# What the host may send, checked before anything runs: the required params and their types (the JSON Schemas
# in libs/plugin-protocol/schemas/ say the same, with limits). Unknown params are ignored, as the protocol asks.
_STR, _DICT = (str,), (dict,)
_REQUEST = {"operation": _STR, "path": _STR, "data": _DICT, "tokenAccessor": _STR, "requestId": _STR}
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
        raise _InvalidParams("%s: must be %s" % (at, "a string" if shape is _STR else "an object"))


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
    asked = os.environ.get("COFFER_PLUGIN_PROTOCOL")
    if asked is not None and asked != str(PROTOCOL_VERSION):
        sys.stderr.write("this plugin speaks Coffer plugin protocol %d, the host asked for %s\n" % (PROTOCOL_VERSION, asked))
        sys.exit(1)

    out = sys.stdout
    sys.stdout = sys.stderr  # print() in plugin code must not corrupt the protocol channel
    host, mounts = _Host(out), {}
    host.send({"coffer": "plugin", "protocol": PROTOCOL_VERSION, "type": backend.type, "name": backend.name,
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
            if method not in _PARAMS or (method == "help" and backend.help is None):
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
