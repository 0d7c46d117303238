"""Backup, restore and upgrades (issue 11).

`dmvgate backup` runs while the gateway answers a steady stream of audited
queries; the copy is restored elsewhere, verifies, serves the same lookups
and continues the log where the backup's checkpoint left it.  restore
refuses a backup whose log does not verify, whose files do not match the
manifest, or that is checked against another key, and never writes into a
non-empty directory.  serve refuses databases at another schema version
unless --migrate brings them forward."""
import http.client
import json
import os
import re
import shutil
import sqlite3
import stat
import threading
import time

import pytest

from conftest import ROOT, run
from gateway import Gateway, add_agency, add_user, load_csv, q_license


class Load:
    """n threads posting /v1/query to gw until stop(); counts answers."""

    def __init__(self, gw, token, licenses, n=4):
        self.gw, self.token, self.licenses = gw, token, licenses
        self.halt = threading.Event()
        self.ok = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(n)]
        for t in self.threads:
            t.start()

    def run(self, i):
        conn = self.gw.connect()
        k = i
        try:
            while not self.halt.is_set():
                lic = self.licenses[k % len(self.licenses)]
                k += 7
                conn.request("POST", "/v1/query", body=json.dumps(q_license(lic)),
                             headers={"Authorization": f"Bearer {self.token}",
                                      "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.errors.append(r.status)
        except (OSError, http.client.HTTPException) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            conn.close()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.ok


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("bk")
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 2000, "--seed", 5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    add_agency(data, "CA0010000", "local_police")
    token = add_user(data, "CA0010000", "officer1")
    conf = base / "fast.conf"
    conf.write_text("checkpoint_interval 1\n")
    # The default policy minus its limits: one user asking for many people
    # is the sweep they stop (as bench/bench-server.sh does).
    pol = base / "nolimits.policy"
    with open(os.path.join(ROOT, "policy", "default.policy")) as f:
        pol.write_text("".join(ln for ln in f if not ln.startswith("limit ")))
    lic = [d["license_number"] for d in load_csv(csvdir / "drivers.csv")]
    return {"base": base, "data": data, "token": token, "lic": lic, "conf": conf, "policy": pol}


def manifest(d):
    lines = open(os.path.join(d, "MANIFEST")).read().splitlines()
    files = {}
    head = {}
    for ln in lines[1:]:
        k, v = ln.split(" ", 1)
        if k == "file":
            h, size, mode, path = v.split(" ")
            files[path] = (h, int(size), int(mode, 8))
        else:
            head[k] = v
    assert lines[0] == "dmvgate-backup 1"
    return head, files


@pytest.fixture(scope="module")
def under_load(world):
    """A backup taken while 4 clients query; then the gateway stops."""
    gw = Gateway(world["data"], config=world["conf"], policy=world["policy"])
    load = Load(gw, world["token"], world["lic"])
    try:
        time.sleep(1.5)
        # A registry change while serving: the server audits it.
        add_agency(world["data"], "CA0020000", "state_police")
        out = world["base"] / "backup1"
        p = run("backup", "--data", world["data"], "--out", out)
        time.sleep(0.5)
    finally:
        served = load.stop()
        rc = gw.stop()
    assert rc == 0
    assert load.errors == [], load.errors[:5]
    assert served > 20
    return {"out": out, "stdout": p.stdout, "served": served}


def test_backup_under_load_is_consistent(world, under_load):
    out = under_load["out"]
    head, files = manifest(out)
    n = int(head["audit_size"])
    assert n > 20 and head["origin"] == "dmvgate.local/audit"
    assert f"audit log of {n} entries" in under_load["stdout"]
    # The log kept growing after the backup's checkpoint.
    assert n < under_load["served"] + 10
    # The backup's log is a byte prefix of the live one.
    with open(out / "audit" / "entries", "rb") as a, \
            open(world["data"] / "audit" / "entries", "rb") as b:
        mine = a.read()
        assert b.read(len(mine)) == mine
    for path in ("registry.db", "records.db", "checkpoint.key", "checkpoint.key.pub",
                 "audit/entries", "audit/checkpoints", "audit/checkpoint"):
        assert path in files, path
    assert files["checkpoint.key"][2] == 0o600
    assert stat.S_IMODE(os.stat(out / "checkpoint.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert "PRIVATE" not in under_load["stdout"]
    # The databases are whole SQLite files with no journal beside them.
    assert not os.path.exists(out / "registry.db-wal")
    c = sqlite3.connect(f"file:{out / 'registry.db'}?mode=ro", uri=True)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert c.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    c.close()


def test_restore_verifies_and_serves(world, under_load, tmp_path):
    target = tmp_path / "restored"
    p = run("restore", under_load["out"], "--data", target)
    head, files = manifest(under_load["out"])
    n = int(head["audit_size"])
    assert f"audit log of {n} entries verified" in p.stdout
    v = run("audit", "verify", "--data", target)
    assert f"verified {n} entries" in v.stdout
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(target / "checkpoint.key").st_mode) == 0o600
    # The restored gateway answers with the same token and continues the log.
    gw = Gateway(target, policy=world["policy"])
    try:
        st, js, _ = gw.query(world["token"], q_license(world["lic"][3]))
        assert st == 200, js
        assert js["records"][0]["license_number"] == world["lic"][3]
        # (a registry change queued in the copied registry.db may come first)
        idx = js["audit"]["index"]
        assert n <= idx <= n + 2
    finally:
        assert gw.stop() == 0
    v = run("audit", "verify", "--data", target)
    assert f"verified {idx + 1} entries" in v.stdout
    # The agency added while the backup ran is in registry.db and its audit
    # record in the restored log (copied, or written from the queue).
    regs = [json.loads(ln) for ln in run("audit", "show", "--data", target, "--kind",
                                         "registry").stdout.splitlines()]
    assert any(r["ori"] == "CA0020000" and "agency.add" in r["detail"] for r in regs), regs


def test_backup_without_server(world, tmp_path):
    out = tmp_path / "b"
    run("backup", "--data", world["data"], "--out", out)
    run("restore", out, "--data", tmp_path / "r")
    run("audit", "verify", "--data", tmp_path / "r")


def copy_backup(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_restore_refuses_a_log_that_does_not_verify(under_load, tmp_path):
    bad = copy_backup(under_load["out"], tmp_path / "bad")
    entries = bad / "audit" / "entries"
    raw = bytearray(entries.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    entries.write_bytes(bytes(raw))
    # Make the manifest agree, so that only the log's own checks can object.
    import hashlib
    text = (bad / "MANIFEST").read_text().splitlines()
    for i, ln in enumerate(text):
        if ln.endswith(" audit/entries"):
            parts = ln.split(" ")
            parts[1] = hashlib.sha256(bytes(raw)).hexdigest()
            text[i] = " ".join(parts)
    (bad / "MANIFEST").write_text("\n".join(text) + "\n")
    p = run("restore", bad, "--data", tmp_path / "t", check=False)
    assert p.returncode == 1
    assert "does not verify" in p.stderr
    assert not os.path.exists(tmp_path / "t")
    assert not any(n.startswith("t.restore") for n in os.listdir(tmp_path))


def test_restore_refuses_files_that_do_not_match_the_manifest(under_load, tmp_path):
    bad = copy_backup(under_load["out"], tmp_path / "bad")
    with open(bad / "records.db", "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0xFF]))
    p = run("restore", bad, "--data", tmp_path / "t", check=False)
    assert p.returncode == 1 and "does not match the manifest" in p.stderr
    assert not os.path.exists(tmp_path / "t")
    # An incomplete backup (no manifest) is refused too.
    os.unlink(bad / "MANIFEST")
    p = run("restore", bad, "--data", tmp_path / "t", check=False)
    assert p.returncode == 1 and "not a complete backup" in p.stderr


def fix_manifest(bad, rel):
    import hashlib
    raw = (bad / rel).read_bytes()
    text = (bad / "MANIFEST").read_text().splitlines()
    for i, ln in enumerate(text):
        if ln.endswith(" " + rel):
            parts = ln.split(" ")
            parts[1] = hashlib.sha256(raw).hexdigest()
            parts[2] = str(len(raw))
            text[i] = " ".join(parts)
    (bad / "MANIFEST").write_text("\n".join(text) + "\n")


def test_restore_refuses_a_newer_schema(under_load, tmp_path):
    bad = copy_backup(under_load["out"], tmp_path / "bad")
    c = sqlite3.connect(bad / "registry.db")
    c.execute("UPDATE meta SET value = 42 WHERE key = 'registry_schema'")
    c.commit()
    c.close()
    fix_manifest(bad, "registry.db")
    p = run("restore", bad, "--data", tmp_path / "t", check=False)
    assert p.returncode == 1 and "newer than this binary knows" in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "t")


def test_restore_against_another_key_is_refused(under_load, tmp_path):
    run("init", "--data", tmp_path / "other")
    p = run("restore", under_load["out"], "--data", tmp_path / "t", "--key",
            tmp_path / "other" / "checkpoint.key.pub", check=False)
    assert p.returncode == 1 and "does not verify" in p.stderr
    # With the published key it restores.
    pub = (under_load["out"] / "checkpoint.key.pub").read_text().strip()
    run("restore", under_load["out"], "--data", tmp_path / "t", "--key", pub)


def test_restore_never_overwrites(under_load, tmp_path):
    t = tmp_path / "t"
    t.mkdir()
    (t / "precious").write_text("x")
    p = run("restore", under_load["out"], "--data", t, check=False)
    assert p.returncode == 1 and "not empty" in p.stderr
    assert (t / "precious").read_text() == "x"
    p = run("backup", "--data", t, "--out", tmp_path / "x", check=False)
    assert p.returncode == 1


def test_backup_refuses_non_empty_out(world, tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "f").write_text("x")
    p = run("backup", "--data", world["data"], "--out", tmp_path / "o", check=False)
    assert p.returncode == 1 and "not empty" in p.stderr


# ---------------------------------------------------------------- upgrades

def test_serve_refuses_other_schema_versions_and_migrates(world, tmp_path):
    data = tmp_path / "d"
    run("backup", "--data", world["data"], "--out", tmp_path / "b")
    run("restore", tmp_path / "b", "--data", data)
    reg = data / "registry.db"

    def set_version(v):
        c = sqlite3.connect(reg)
        if v is None:
            c.execute("DELETE FROM meta WHERE key = 'registry_schema'")
        else:
            c.execute("UPDATE meta SET value = ? WHERE key = 'registry_schema'", (v,))
        c.commit()
        c.close()

    # A newer registry: serve, migrate and serve --migrate refuse it.
    set_version(7)
    for args in (("serve", "--listen", "127.0.0.1:1"), ("migrate",),
                 ("serve", "--migrate", "--listen", "127.0.0.1:1")):
        p = run(*args, "--data", data, check=False, timeout=30)
        assert p.returncode == 1, args
        assert "newer than this binary knows" in p.stderr, p.stderr
    # An older (unversioned) registry: serve asks for migrate ...
    set_version(None)
    p = run("serve", "--data", data, "--listen", "127.0.0.1:1", check=False, timeout=30)
    assert p.returncode == 1 and "dmvgate migrate" in p.stderr
    p = run("migrate", "--data", data, "--dry-run")
    assert "registry.db: version 0 -> 1" in p.stdout
    # ... and serve --migrate brings it forward, then serves.
    gw = Gateway(data, policy=world["policy"], extra=["--migrate"])
    try:
        st, js, _ = gw.query(world["token"], q_license(world["lic"][0]))
        assert st == 200
        # migrate refuses while the server holds the log
        p = run("migrate", "--data", data, check=False)
        assert p.returncode == 1 and "running server" in p.stderr
    finally:
        assert gw.stop() == 0
    p = run("migrate", "--data", data)
    assert "registry.db: version 1 (current)" in p.stdout
    assert re.search(r"records.db: version \d+ \(current\)", p.stdout), p.stdout


def test_pruned_log_backs_up_and_restores(tmp_path):
    d = tmp_path / "d"
    run("init", "--data", d)
    for i in range(5):
        add_agency(d, f"CA00{i}0000", "local_police")
    time.sleep(0.01)
    run("audit", "prune", "--data", d, "--retention-days", 0)
    run("backup", "--data", d, "--out", tmp_path / "b")
    run("restore", tmp_path / "b", "--data", tmp_path / "r")
    v = run("audit", "verify", "--data", tmp_path / "r").stdout
    assert "5 pruned entries checked by hash" in v, v
    assert (tmp_path / "r" / "audit" / "pruned").read_text() == \
        (d / "audit" / "pruned").read_text()
