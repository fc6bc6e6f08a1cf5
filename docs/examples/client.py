#!/usr/bin/env python3
"""A minimal chat client written from docs/PROTOCOL.md alone (standard library only).

Usage: client.py HOST:PORT USERNAME PASSWORD

Registers USERNAME (unless it exists), logs in, reconnects with the token, and logs
out, printing one line per step. Exits non-zero on any unexpected answer.
"""

import json
import socket
import struct
import sys


class Connection:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.next_id = 1

    def _read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        return data

    def _read_frame(self):
        (length,) = struct.unpack(">I", self._read_exact(4))
        return json.loads(self._read_exact(length).decode("utf-8"))

    def call(self, op, **fields):
        request_id = self.next_id
        self.next_id += 1
        payload = json.dumps({"id": request_id, "op": op, **fields}).encode("utf-8")
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)
        while True:
            frame = self._read_frame()
            if "re" not in frame:  # an event: not ours to answer here
                continue
            if frame["re"] != request_id:
                raise RuntimeError(f"reply to {frame['re']} while waiting for {request_id}")
            return frame

    def close(self):
        self.sock.close()


def expect_ok(reply, step):
    if not reply.get("ok"):
        raise SystemExit(f"{step} failed: {reply['error']['code']}: {reply['error']['message']}")
    return reply


def main():
    addr, username, password = sys.argv[1:4]
    conn = Connection(addr)
    hello = expect_ok(conn.call("hello", client="client.py", protocol=1), "hello")
    print(f"hello: {hello['server']} protocol {hello['protocol']} ping every {hello['heartbeat_secs']}s")

    reply = conn.call("register", username=username, password=password)
    if reply["ok"]:
        print(f"registered: user_id {reply['user_id']}")
    elif reply["error"]["code"] == "username_taken":
        print("registered: already")
    else:
        expect_ok(reply, "register")

    me = expect_ok(conn.call("login", username=username, password=password, device="script"), "login")
    print(f"logged in: {me['username']} ({me['user_id']})")
    expect_ok(conn.call("ping"), "ping")
    conn.close()

    # A new connection gets back in with the token alone.
    conn = Connection(addr)
    again = expect_ok(conn.call("resume", token=me["token"]), "resume")
    if again["user_id"] != me["user_id"]:
        raise SystemExit("resume gave another user")
    print(f"resumed: {again['username']}")
    expect_ok(conn.call("logout"), "logout")
    after = conn.call("logout")
    if after.get("ok") or after["error"]["code"] != "unauthenticated":
        raise SystemExit(f"still logged in after logout: {after}")
    print("logged out")
    conn.close()


if __name__ == "__main__":
    main()
