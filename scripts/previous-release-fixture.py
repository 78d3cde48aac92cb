#!/usr/bin/env python3
"""Writes the previous-release fixture: a SQLite database left mid-flow by an older `vestibule`.

Usage: scripts/previous-release-fixture.py OLD_VESTIBULE_BINARY OUT_DIR [LABEL]

Starts the given binary on a new SQLite file, creates users through the Backend API and leaves
sign-ins at each step a person can stop at (waiting for a TOTP code, for a backup code, for an
emailed code, for a password-reset code, and a finished one holding a session). Then writes
OUT_DIR/db.sql (the database as SQL text) and OUT_DIR/flows.json (the client tokens, sign-in ids
and codes a test needs to finish those flows with the current release; see
crates/vestibule-server/tests/http/previous_release.rs).

To refresh it for a new release, build the release it should stand for, e.g.:
  git worktree add /tmp/previous <commit> &&
  CARGO_TARGET_DIR=/tmp/previous-target cargo build --release -p vestibule --manifest-path /tmp/previous/Cargo.toml
  scripts/previous-release-fixture.py /tmp/previous-target/release/vestibule \\
      crates/vestibule-server/tests/http/previous_release "vestibule <commit>"
"""

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SECRET_KEY = "sk_test_0123456789abcdefghijklmnopqrstuv"  # the test harness's
PASSWORD = "correct horse battery"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"
BACKUP_CODES = ["legacy-code-1", "legacy-code-2"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        config = os.path.join(workdir, "vestibule.toml")
        with open(config, "w") as f:
            f.write("[settings.sign_in]\nclient_trust = false\n")
        self.db = os.path.join(workdir, "vestibule.db")
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", config, "--listen", f"127.0.0.1:{port}",
             "--database-url", f"sqlite://{self.db}", "--secret-key", SECRET_KEY],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/v1/environment?_is_native=1", timeout=1)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise SystemExit("the old server did not start; see " + self.log.name)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def bapi(self, method, path, body=None):
        req = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": f"Bearer {SECRET_KEY}", "content-type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def latest_code(self, recipient):
        inbox = self.bapi("GET", "/v1/dev/messages?recipient=" + urllib.parse.quote(recipient))
        text = inbox["data"][0].get("text") or inbox["data"][0].get("body") or ""
        return re.search(r"(?<!\d)\d{6}(?!\d)", text).group(0)


class NativeClient:
    """A native FAPI caller: the client token travels in the Authorization header."""

    def __init__(self, server):
        self.server = server
        self.token = ""

    def post(self, path, form):
        url = f"{self.server.base}{path}?_is_native=1&__clerk_api_version=2026-08-20"
        req = urllib.request.Request(
            url, method="POST", data=urllib.parse.urlencode(form).encode(),
            headers={"authorization": self.token,
                     "content-type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req) as r:
                self.token = r.headers.get("authorization") or self.token
                return json.load(r)["response"]
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{path}: {e.code} {e.read().decode()}")


def main():
    binary, out = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    server = Server(binary, work)
    flows = {}
    try:
        server.bapi("POST", "/v1/users", {
            "email_address": ["mfa@example.com"], "password": PASSWORD,
            "totp_secret": TOTP_SECRET, "backup_codes": BACKUP_CODES})
        for name in ("code", "reset", "session"):
            server.bapi("POST", "/v1/users", {
                "email_address": [f"{name}@example.com"], "password": PASSWORD})

        for name in ("totp", "backup_code"):
            c = NativeClient(server)
            si = c.post("/v1/client/sign_ins",
                        {"identifier": "mfa@example.com", "password": PASSWORD})
            assert si["status"] == "needs_second_factor", si
            flows[name] = {"client_token": c.token, "sign_in_id": si["id"]}
        flows["totp"]["totp_secret"] = TOTP_SECRET
        flows["backup_code"]["code"] = BACKUP_CODES[1]

        for name, strategy in (("code", "email_code"), ("reset", "reset_password_email_code")):
            c = NativeClient(server)
            si = c.post("/v1/client/sign_ins", {"identifier": f"{name}@example.com"})
            email_id = next(f["email_address_id"] for f in si["supported_first_factors"]
                            if f["strategy"] == strategy)
            si = c.post(f"/v1/client/sign_ins/{si['id']}/prepare_first_factor",
                        {"strategy": strategy, "email_address_id": email_id})
            assert si["first_factor_verification"]["status"] == "unverified", si
            flows[name] = {"client_token": c.token, "sign_in_id": si["id"],
                           "strategy": strategy,
                           "code": server.latest_code(f"{name}@example.com")}

        c = NativeClient(server)
        si = c.post("/v1/client/sign_ins",
                    {"identifier": "session@example.com", "password": PASSWORD})
        assert si["status"] == "complete", si
        flows["session"] = {"client_token": c.token, "session_id": si["created_session_id"]}
        flows["written_at_seconds"] = int(time.time())
        flows["written_by"] = sys.argv[3] if len(sys.argv) > 3 else subprocess.run(
            [binary, "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        server.stop()

    os.makedirs(out, exist_ok=True)
    db = sqlite3.connect(server.db)
    with open(os.path.join(out, "db.sql"), "w") as f:
        for line in db.iterdump():
            f.write(line + "\n")
    db.close()
    with open(os.path.join(out, "flows.json"), "w") as f:
        json.dump(flows, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {out}/db.sql and {out}/flows.json")


if __name__ == "__main__":
    main()
