"""Helpers for the gateway's end-to-end tests: build a data directory with
synthetic records and registered agencies, start `dmvgate serve` on a free
loopback port, talk to it over HTTP keep-alive."""
import csv
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

from conftest import BIN, ROOT, run

# (ORI, category) of the demo agencies: one per category of the default policy.
AGENCIES = [
    ("CA0010000", "local_police"),
    ("CA0020000", "state_police"),
    ("DC0030000", "federal_criminal"),
    ("DC0040000", "federal_immigration"),
    ("CA0050000", "court"),
    ("CA0060000", "insurer"),
    ("CA0070000", "employer_cdl"),
    ("CA0080000", "tow_operator"),
    ("CA0090000", "dmv"),
    ("CA0100000", "researcher"),
]

LEAF_RE = re.compile(r',"leaf_hash":"[0-9a-f]{64}"')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def add_agency(data, ori, cat, until="2099-12-31", name=None):
    run("agency", "add", ori, "--name", name or f"Agency {ori}", "--category", cat,
        "--certified-until", until, "--data", data)


def add_user(data, ori, userid):
    p = run("user", "add", "--agency", ori, userid, "--data", data)
    return p.stdout.strip().splitlines()[-1]


def response_hash(body):
    """SHA-256 of a response body as the audit entry records it: the body as
    sent minus its leaf_hash member (docs/api.md)."""
    return hashlib.sha256(LEAF_RE.sub("", body, count=1).encode()).hexdigest()


def load_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Gateway:
    """A running `dmvgate serve`; stop() sends SIGTERM and returns the exit
    status."""

    def __init__(self, data, policy=None, config=None, extra=()):
        self.data = str(data)
        self.port = free_port()
        self.errpath = os.path.join(self.data, f"serve-{self.port}.err")
        args = [BIN, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"]
        if policy:
            args += ["--policy", str(policy)]
        if config:
            args += ["--config", str(config)]
        args += list(extra)
        env = dict(os.environ)
        env.pop("DMVGATE_DATA", None)
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("serve exited early:\n" + self.stderr())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.proc.kill()
            raise AssertionError("serve did not come up:\n" + self.stderr())
        self.conn = None

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers dict, body text).  On the shared
        keep-alive connection, retries once on a fresh one when the server
        had closed it (it does after a 413)."""
        if conn is not None:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode("utf-8")
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self.connect()
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read().decode("utf-8")
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, dict(r.getheaders()), data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def query(self, token, q, raw=None):
        """POSTs one /v1/query; returns (status, parsed JSON body, body text)."""
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        body = raw if raw is not None else json.dumps(q)
        st, hd, text = self.request("POST", "/v1/query", body=body, headers=h)
        return st, json.loads(text), text

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=30):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        return rc


def q_license(lic, purpose="criminal_investigation", **kw):
    d = {"type": "driver", "by": "license", "license_number": lic,
         "purpose": purpose, "reason": "case 26-01234"}
    d.update(kw)
    return d
