#!/usr/bin/env python3
"""pykv: a key/value secrets plugin built on coffer_plugin.py (the helper module beside it).

Besides kv/<key>, `tokens/<name>` hands out a random API token under a lease (protocol 3), declared as data the way
Vault's framework.Secret is: the host keeps the lease, renews it through `renew_token` (refused once the token was
revoked) and revokes it through `revoke_token` when it expires or is revoked.

Run from this folder it finds the helper next to it; registered on a server it must be one file with the helper
inside (the host executes a copy of the registered file elsewhere):

    mkdir build && cp coffer_plugin.py build/ && cp pykv.py build/__main__.py
    python3 -m zipapp build -p "/usr/bin/env python3" -o pykv

The test suite builds it that way and runs `coffer plugin test -path=kv/x pykv` on it (test/plugin-kit.test.ts).
"""
from secrets import token_hex, token_urlsafe

from coffer_plugin import Backend, PluginError, Secret, serve


def renew_token(req):
    """A lease renewal: refused once the token is gone, else the client's increment (0: the default TTL)."""
    if req.storage.get("issued/" + req.internal["token_id"]) is None:
        raise PluginError("invalid-request", "the token was revoked")
    return {"ttl": req.increment}


def revoke_token(req):
    """Idempotent: the host may ask again after a crash, and deleting an absent key is fine."""
    req.storage.delete("issued/" + req.internal["token_id"])


API_TOKEN = Secret("api_token", default_ttl=60, max_ttl=600, renew=renew_token, revoke=revoke_token)


class PyKV(Backend):
    type, name, version = "secret", "pykv", "v0.1.0"
    secrets = (API_TOKEN,)

    def handle(self, req):
        if req.path.startswith("tokens/") and len(req.path) > len("tokens/") and req.operation == "read":
            token_id, token = token_hex(8), token_urlsafe(24)
            # What exists outside the lease: here a record in storage; in a real engine a database role, a cloud key.
            req.storage.put_json("issued/" + token_id, {"name": req.path[len("tokens/"):]})
            return {"data": {"token": token, "token_id": token_id}, "secret": {"type": "api_token", "internal": {"token_id": token_id}}}
        if req.path == "issued/" and req.operation == "list":
            keys = req.storage.list("issued/")
            return {"data": {"keys": keys}} if keys else None
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
        return "pykv keeps JSON objects under kv/<key> (write, read, list, delete); a read of tokens/<name> hands out an API token under a lease, LIST issued/ shows the live ones."


if __name__ == "__main__":
    serve(PyKV())
