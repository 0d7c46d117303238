"""Privileges and files (issue 10, docs/security.md): serve refuses root
without --user, drops to the user after opening its port and files and
cannot regain root; the data directory is 0700 and the key and databases
0600 (narrowed with a warning); no command ever prints the private key."""
import glob
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import BIN, run
from gateway import Gateway, free_port, q_license
from hostile_util import POLICE, make_world

NOBODY = "nobody"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def serve(data, *extra, env_allow=False, timeout=15):
    """Runs serve expecting it to stop at once; returns the CompletedProcess."""
    env = dict(os.environ)
    env.pop("DMVGATE_DATA", None)
    if not env_allow:
        env.pop("DMVGATE_ALLOW_ROOT", None)
    return subprocess.run([BIN, "serve", "--data", str(data), "--listen", f"127.0.0.1:{free_port()}", *extra],
                          capture_output=True, text=True, env=env, timeout=timeout)


@root_only
def test_root_without_user_is_refused(datadir):
    p = serve(datadir)
    assert p.returncode != 0 and "refusing to run as root" in p.stderr


@root_only
@pytest.mark.parametrize("user,msg", [("root", "is root"), ("no-such-user-x", "no such user"),
                                      ("../etc", "invalid user name"), (NOBODY, "must belong to")])
def test_bad_users_are_refused(datadir, user, msg):
    p = serve(datadir, "--user", user)
    assert p.returncode != 0 and msg in p.stderr, p.stderr


@pytest.fixture
def nobody_world():
    """A data directory outside pytest's 0700 tree, owned by nobody."""
    base = tempfile.mkdtemp(prefix="dmvgate-privdrop-")
    try:
        from pathlib import Path
        w = make_world(Path(base), drivers=50)
        pw = pwd.getpwnam(NOBODY)
        os.chmod(base, 0o755)
        for dirpath, dirnames, filenames in os.walk(w["data"]):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
        yield w
    finally:
        shutil.rmtree(base, ignore_errors=True)


def proc_ids(pid):
    st = open(f"/proc/{pid}/status").read()
    uid = re.search(r"^Uid:\s+(.*)$", st, re.M).group(1).split()
    gid = re.search(r"^Gid:\s+(.*)$", st, re.M).group(1).split()
    groups = re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split()
    return uid, gid, groups


@root_only
def test_drops_to_the_user_and_serves(nobody_world):
    w = nobody_world
    pw = pwd.getpwnam(NOBODY)
    gw = Gateway(w["data"], extra=["--user", NOBODY])
    try:
        uid, gid, groups = proc_ids(gw.proc.pid)
        assert uid == [str(pw.pw_uid)] * 4, uid          # real, effective, saved, fs
        assert gid == [str(pw.pw_gid)] * 4, gid
        assert groups == [str(pw.pw_gid)], groups
        # every thread, libmicrohttpd's workers included
        tasks = glob.glob(f"/proc/{gw.proc.pid}/task/*")
        assert len(tasks) > 2
        for t in tasks:
            assert proc_ids(f"{gw.proc.pid}/task/{os.path.basename(t)}")[0] == [str(pw.pw_uid)] * 4
        lic = w["drivers"][0]["license_number"]
        st, js, _ = gw.query(w["tok"]["local_police"], q_license(lic))
        assert st == 200 and js["records"][0]["license_number"] == lic
        assert f"running as {NOBODY}" in gw.stderr()
    finally:
        rc = gw.stop()
    assert rc == 0, gw.stderr()
    assert "final checkpoint" in gw.stderr()
    run("audit", "verify", "--data", w["data"])


def test_modes_are_narrowed_with_a_warning(datadir):
    key = os.path.join(datadir, "checkpoint.key")
    os.chmod(datadir, 0o755)
    os.chmod(key, 0o644)
    os.chmod(os.path.join(datadir, "registry.db"), 0o664)
    gw = Gateway(datadir)
    try:
        err = gw.stderr()
    finally:
        assert gw.stop() == 0
    assert "warning: " in err and "narrowed to 0700" in err and "narrowed to 0600" in err
    assert stat.S_IMODE(os.stat(datadir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(datadir, "registry.db")).st_mode) == 0o600


def test_symlinked_key_is_refused(datadir, tmp_path):
    key = os.path.join(datadir, "checkpoint.key")
    shutil.move(key, tmp_path / "k")
    os.symlink(tmp_path / "k", key)
    p = serve(datadir, env_allow=True)
    assert p.returncode != 0 and "symbolic link" in p.stderr


def test_no_command_prints_the_private_key(tmp_path):
    """Every command's --help, and a realistic session of commands and HTTP
    requests: nothing printed contains the private key (its PRIVATE+KEY
    marker or its base64 secret)."""
    w = make_world(tmp_path, drivers=60)
    data = w["data"]
    # PRIVATE+KEY+<name>+<id>+<base64>: the base64 alphabet has '+' too
    secret = open(os.path.join(data, "checkpoint.key")).read().strip().split("+", 4)[4]
    assert len(secret) > 20
    out = []

    def rec(*args, **kw):
        p = run(*args, check=False, **kw)
        out.append(p.stdout + p.stderr)
        return p

    cmds = re.findall(r"^  ([a-z]+) ", rec("--help").stdout + rec("--help").stderr, re.M)
    assert len(cmds) >= 15, cmds
    for c in cmds:
        rec(c, "--help")
    for sub in ("verify", "show", "subject", "prove", "consistency", "check-proof"):
        rec("audit", sub, "--help")
    lic = w["drivers"][0]["license_number"]
    doc = tmp_path / "order.pdf"
    doc.write_bytes(b"%PDF order")
    rec("agency", "list", "--data", data)
    rec("agency", "show", POLICE[0], "--data", data)
    rec("user", "list", "--data", data)
    rec("process", "add", "--kind", "court_order", "--agency", "DC0040000", "--court", "C",
        "--case", "1", "--judge", "J", "--issued", "2020-01-01", "--expires", "2099-12-31",
        "--subject", lic, "--items", "last_name", "--document", doc, "--data", data)
    rec("process", "list", "--data", data)
    rec("process", "show", "LP-1", "--data", data)
    rec("lookup", "--license", lic, "--data", data)
    rec("keys", "list", "--data", data)
    rec("migrate", "--dry-run", "--data", data)
    rec("policy", "check", os.path.join(os.path.dirname(BIN), "policy", "default.policy"))
    gw = Gateway(data)
    try:
        gw.query(w["tok"]["local_police"], q_license(lic))
        for path in ("/v1/checkpoint", "/v1/checkpoint/keys", "/healthz", "/metrics",
                     "/transparency", "/transparency.json", "/transparency.csv"):
            st, _, body = gw.request("GET", path)
            out.append(body)
        rec("backup", "--data", data, "--out", tmp_path / "bk", timeout=120)
    finally:
        assert gw.stop() == 0
        out.append(gw.stderr())
    rec("audit", "verify", "--data", data)
    rec("audit", "show", "--data", data)
    rec("audit", "subject", "--license", lic, "--data", data)
    rec("audit", "prove", "1", "--data", data)
    rec("audit", "consistency", "1", "2", "--data", data)
    rec("notices", "list", "--data", data)
    rec("report", "--data", data, "--format", "json")
    rec("keys", "rotate", "--data", data)
    rec("keys", "list", "--data", data)
    rec("restore", str(tmp_path / "bk"), "--data", tmp_path / "restored", timeout=120)
    text = "\n".join(out)
    assert len(text) > 5000
    assert "PRIVATE+KEY" not in text
    assert secret not in text
