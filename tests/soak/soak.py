#!/usr/bin/python3
"""Crash suite (issue 10, `make soak`): the gateway under load from client
threads that record every response they receive, SIGKILLed at random
moments and restarted.  After each restart:

  - every response any client received (JSON 200/400/403/429 and Nlets
    answers, which carry an audit index) has its audit entry, with the same
    index and the response hash the client computes from the body
    (docs/api.md "Verifying a response": JSON minus its leaf_hash member,
    Nlets whole), so no acknowledged entry was lost;
  - the log holds at least as many entries as the highest index seen;
  - `dmvgate audit verify` passes;
  - the registry (agencies, users) and the legal process are as before.

Loopback only; bounded: --kills cycles of at most --max-load seconds of
load each.  Exits 0 when every check passed, 1 otherwise.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DMVGATE_BIN", os.path.join(ROOT, "dmvgate"))
LEAF_RE = re.compile(r',"leaf_hash":"[0-9a-f]{64}"')
AUD_RE = re.compile(r"AUD/(\d+)\s*$")
POLICY = None            # the soak's policy file, once written
SERVER = None            # the running server, killed on the way out


def run(*args, check=True, timeout=300):
    env = dict(os.environ)
    env.pop("DMVGATE_DATA", None)
    if POLICY:
        env["DMVGATE_POLICY"] = POLICY
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise SystemExit(f"soak: dmvgate {' '.join(map(str, args))} exited {p.returncode}\n"
                         f"{p.stdout}\n{p.stderr}")
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, data, conf, errlog):
        self.port = free_port()
        env = dict(os.environ)
        env.pop("DMVGATE_DATA", None)
        global SERVER
        self.proc = subprocess.Popen([BIN, "serve", "--data", data, "--config", conf,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=errlog, env=env)
        SERVER = self.proc
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"soak: serve exited early ({self.proc.returncode})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        raise SystemExit("soak: serve did not come up")


class Recorder:
    """Every response with an audit index that a client received."""

    def __init__(self):
        self.mu = threading.Lock()
        self.got = {}           # index -> response hash
        self.requests = 0
        self.errors = 0

    def add(self, index, h):
        with self.mu:
            old = self.got.get(index)
            if old is not None and old != h:
                raise SystemExit(f"soak: index {index} answered twice with different bodies")
            self.got[index] = h


def client(port, tokens, licenses, rec, stop, seed):
    rnd = random.Random(seed)
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            lic = rnd.choice(licenses)
            kind = rnd.random()
            if kind < 0.15:
                msg = f"DQ.CA0010000.CA.TXT\nOLN/{lic}.PUR/C.ATN/SOAK {rnd.randrange(10**6)}\n"
                conn.request("POST", "/v1/nlets", body=msg,
                             headers={"Authorization": f"Bearer {tokens['police']}",
                                      "Content-Type": "text/plain"})
            else:
                tok = tokens["ice"] if kind < 0.3 else tokens["police"]
                q = {"type": "driver", "by": "license", "license_number": lic,
                     "purpose": "criminal_investigation", "reason": f"soak {rnd.randrange(10**6)}"}
                if kind > 0.95:
                    q["reason"] = ""        # 400, audited too
                conn.request("POST", "/v1/query", body=json.dumps(q),
                             headers={"Authorization": f"Bearer {tok}",
                                      "Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read().decode("utf-8")
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
            with rec.mu:
                rec.errors += 1
            if stop.is_set():
                break
            time.sleep(0.02)
            continue
        with rec.mu:
            rec.requests += 1
        if r.status == 401:
            continue
        if body.startswith("{"):
            idx = json.loads(body)["audit"]["index"]
            h = hashlib.sha256(LEAF_RE.sub("", body, count=1).encode()).hexdigest()
        else:
            m = AUD_RE.search(body)
            if m is None:
                raise SystemExit(f"soak: Nlets answer without AUD/: {body!r}")
            idx = int(m.group(1))
            h = hashlib.sha256(body.encode()).hexdigest()
        rec.add(idx, h)
    if conn is not None:
        conn.close()


def entries(data):
    p = run("audit", "show", "--data", data, timeout=600)
    return {e["index"]: e.get("response_sha256") for e in map(json.loads, p.stdout.splitlines())}


def registry_snapshot(data):
    return (run("agency", "list", "--data", data).stdout,
            run("user", "list", "--data", data).stdout,
            run("process", "show", "LP-1", "--json", "--data", data).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-load", type=float, default=3.0, help="longest load before a kill, s")
    ap.add_argument("--drivers", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args()
    global BIN, POLICY
    rnd = random.Random(a.seed)
    t0 = time.time()
    base = tempfile.mkdtemp(prefix="dmvgate-soak-")
    # a private copy of the binary: a rebuild of the tree during the run
    # must not swap it between restarts
    shutil.copy2(BIN, f"{base}/dmvgate")
    BIN = f"{base}/dmvgate"
    # the default policy without its `limit` statements: the soak sends
    # thousands of lookups a second from one user, which the limits would
    # (rightly) stop and lock; crash consistency is what is tested here
    pol = f"{base}/soak.policy"
    with open(os.path.join(ROOT, "policy", "default.policy"), encoding="utf-8") as f, \
            open(pol, "w", encoding="utf-8") as g:
        g.write("".join(line for line in f if not line.startswith("limit ")))
    POLICY = pol
    data, csvdir, conf = f"{base}/data", f"{base}/csv", f"{base}/soak.conf"
    print(f"soak: {BIN}, seed {a.seed}, data {data}", flush=True)
    run("init", "--data", data)
    run("gen", "--drivers", a.drivers, "--seed", 3, "--out", csvdir)
    run("import", "--data", data, csvdir)
    for ori, cat in (("CA0010000", "local_police"), ("DC0040000", "federal_immigration")):
        run("agency", "add", ori, "--name", f"Agency {ori}", "--category", cat,
            "--certified-until", "2099-12-31", "--data", data)
    tokens = {"police": run("user", "add", "--agency", "CA0010000", "officer", "--data", data)
              .stdout.strip().splitlines()[-1],
              "ice": run("user", "add", "--agency", "DC0040000", "agent", "--data", data)
              .stdout.strip().splitlines()[-1]}
    with open(f"{csvdir}/drivers.csv", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        col = header.index("license_number")
        licenses = [line.split(",")[col] for line in f]
    doc = f"{base}/order.pdf"
    with open(doc, "wb") as f:
        f.write(b"%PDF soak order\n")
    run("process", "add", "--kind", "court_order", "--agency", "DC0040000", "--court", "Court",
        "--case", "1", "--judge", "J", "--issued", "2020-01-01", "--expires", "2099-12-31",
        "--subject", licenses[0], "--items", "last_name", "--document", doc, "--data", data)
    with open(conf, "w") as f:
        f.write(f"checkpoint_interval 1\nthreads 2\nconnection_timeout 5\npolicy {pol}\n")
    snap = registry_snapshot(data)
    errlog = open(f"{base}/serve.err", "w")
    rec = Recorder()
    failures = 0
    survived = 0
    for cycle in range(a.kills + 1):
        srv = Server(data, conf, errlog)
        # ---- the checks after a restart (and before the first load)
        if cycle > 0:
            time.sleep(1.2)                  # a checkpoint covers the recovered log
            log = entries(data)
            with rec.mu:
                got = dict(rec.got)
            missing = [i for i in got if i not in log]
            wrong = [i for i in got if i in log and log[i] != got[i]]
            v = run("audit", "verify", "--data", data, check=False, timeout=600)
            regs = registry_snapshot(data)
            ok = not missing and not wrong and v.returncode == 0 and regs == snap and \
                (not got or max(got) < len(log) + min(log, default=0))
            if ok:
                survived += 1
            else:
                failures += 1
                print(f"soak: FAILED after kill {cycle}: {len(missing)} acknowledged entries "
                      f"missing {missing[:5]}, {len(wrong)} with another hash {wrong[:5]}, "
                      f"verify rc {v.returncode} {v.stdout.strip()} {v.stderr.strip()[-300:]}, "
                      f"registry {'intact' if regs == snap else 'CHANGED'}", flush=True)
            print(f"soak: kill {cycle:2d}: {len(got)} acknowledged responses checked, log "
                  f"{len(log)} entries, {v.stdout.strip()}", flush=True)
        if cycle == a.kills:
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(timeout=60)
            if rc != 0:
                failures += 1
                print(f"soak: FAILED: the last server exited {rc} on SIGTERM", flush=True)
            break
        # ---- load, then SIGKILL at a random moment
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(srv.port, tokens, licenses, rec, stop,
                                                          rnd.random()))
                   for _ in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.2, a.max_load))
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    errlog.close()
    v = run("audit", "verify", "--data", data, check=False, timeout=600)
    if v.returncode != 0:
        failures += 1
    print(f"soak: {survived}/{a.kills} kills survived, {rec.requests} requests answered, "
          f"{len(rec.got)} audited responses checked, {rec.errors} connection errors (kills), "
          f"final {v.stdout.strip()}, {time.time() - t0:.0f} s", flush=True)
    if failures == 0 and not a.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        if SERVER is not None and SERVER.poll() is None:
            SERVER.kill()
            SERVER.wait()
    sys.exit(rc)
