#!/usr/bin/env python3
"""pykv: a key/value secrets plugin built on coffer_plugin.py (the helper module beside it).

Run from this folder it finds the helper next to it; registered on a server it must be one file with the helper
inside (the host executes a copy of the registered file elsewhere):

    mkdir build && cp coffer_plugin.py build/ && cp pykv.py build/__main__.py
    python3 -m zipapp build -p "/usr/bin/env python3" -o pykv

The test suite builds it that way and runs `coffer plugin test -path=kv/x pykv` on it (test/plugin-kit.test.ts).
"""
from coffer_plugin import Backend, PluginError, serve


class PyKV(Backend):
    type, name, version = "secret", "pykv", "v0.1.0"

    def handle(self, req):
        if req.path == "kv/" or req.path == "kv":
            if req.operation != "list":
                raise PluginError("unsupported-operation", "unsupported operation")
            keys = req.storage.list("kv/")  # a list path arrives ending in "/", as in Vault
            return {"data": {"keys": keys}} if keys else None
        if not req.path.startswith("kv/") or req.path.endswith("/"):
            raise PluginError("unsupported-path", "unsupported path")
        key = req.path  # stored under the same key: the host scopes it to the mount
        if req.operation == "read":
            value = req.storage.get_json(key)
            return None if value is None else {"data": value}
        if req.operation in ("create", "update"):
            if not req.data:
                raise PluginError("invalid-request", "no data provided")
            req.storage.put_json(key, req.data)
            return None
        if req.operation == "delete":
            req.storage.delete(key)
            return None
        raise PluginError("unsupported-operation", "unsupported operation")

    def exists(self, req):
        if not req.path.startswith("kv/"):
            return None
        return req.storage.get(req.path) is not None

    def help(self, mount, path):
        return "pykv keeps JSON objects under kv/<key>: write, read, list, delete."


if __name__ == "__main__":
    serve(PyKV())
