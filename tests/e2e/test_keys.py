"""Checkpoint key rotation (issue 11): `dmvgate keys rotate` records the
rotation in the log, signs a hand-over checkpoint with both keys, keeps the
old verifier in DIR/keys/retired and replaces the signer; `audit verify`
accepts every checkpoint of the history; the server signs with the new key
and GET /v1/checkpoint/keys publishes current and past keys; rotation is
refused while a server holds the log; no private key is ever printed."""
import json
import os
import re
import stat
import time

import pytest

from conftest import run
from gateway import Gateway, add_agency, add_user


def verifier(data):
    return (data / "checkpoint.key.pub").read_text().strip()


def sig_lines(note):
    return [ln for ln in note.splitlines() if ln.startswith("\u2014 ")]


def key_id(v):
    return v.split("+")[1]


def note_key_ids(note):
    import base64
    return sorted(base64.b64decode(ln.split(" ")[2])[:4].hex() for ln in sig_lines(note))


@pytest.fixture
def logdir(datadir):
    add_agency(datadir, "CA0010000", "local_police")
    add_user(datadir, "CA0010000", "officer1")
    return datadir


def test_list_before_rotation(logdir):
    p = run("keys", "list", "--data", logdir)
    assert p.stdout == f"current {verifier(logdir)}\n"


def test_rotate(logdir):
    old = verifier(logdir)
    old_secret = (logdir / "checkpoint.key").read_text()
    before = run("audit", "verify", "--data", logdir).stdout
    n_before = int(re.search(r"verified (\d+) entries", before).group(1))
    p = run("keys", "rotate", "--data", logdir)
    new = verifier(logdir)
    assert new != old and new.split("+")[0] == old.split("+")[0]   # same name: the origin
    assert "PRIVATE" not in p.stdout + p.stderr
    assert old in p.stdout and new in p.stdout
    # the signer changed, is 0600, and the old one is not kept anywhere
    secret = (logdir / "checkpoint.key").read_text()
    assert secret.startswith("PRIVATE+KEY+") and secret != old_secret
    assert stat.S_IMODE(os.stat(logdir / "checkpoint.key").st_mode) == 0o600
    for base, _, names in os.walk(logdir):
        for n in names:
            if n == "checkpoint.key":
                continue
            with open(os.path.join(base, n), "rb") as f:
                assert old_secret.encode() not in f.read(), n
    assert not os.path.exists(logdir / "checkpoint.key.new")
    # history
    retired = (logdir / "keys" / "retired").read_text()
    assert retired.startswith(old + " retired ") and re.search(r" size \d+\n$", retired)
    assert run("keys", "list", "--data", logdir).stdout == f"current {new}\npast {old}\n"
    # the hand-over checkpoint carries both signatures
    note = (logdir / "audit" / "checkpoint").read_text()
    assert note_key_ids(note) == sorted([key_id(old), key_id(new)])
    # the rotation is an entry of the log
    show = run("audit", "show", "--data", logdir, "--kind", "checkpoint").stdout
    e = json.loads(show.strip().splitlines()[-1])
    assert e["detail"] == f"key.rotate old={old} new={new}"
    assert e["index"] == n_before
    # every checkpoint verifies against the history
    v = run("audit", "verify", "--data", logdir)
    assert f"verified {n_before + 1} entries" in v.stdout


def test_server_signs_with_the_new_key_and_publishes_both(logdir, tmp_path):
    old = verifier(logdir)
    run("keys", "rotate", "--data", logdir)
    new = verifier(logdir)
    token = add_user(logdir, "CA0010000", "officer2")
    gw = Gateway(logdir)
    try:
        st, _, keys = gw.request("GET", "/v1/checkpoint/keys")
        assert st == 200 and keys == f"{new}\n{old}\n"
        gw.query(token, {"type": "driver", "by": "license", "license_number": "D0000001",
                         "purpose": "criminal_investigation", "reason": "r"})
        # the transparency page publishes the current and the past public keys
        time.sleep(1.2)  # a checkpoint signed with the new key
        st, _, body = gw.request("GET", "/transparency.json")
        cp = json.loads(body)["checkpoint"]
        assert st == 200 and cp["verifier"] == new and cp["retired_verifiers"] == [old]
        st, _, html = gw.request("GET", "/transparency")
        assert 'id="retired-keys"' in html and old in html
        st, _, text = gw.request("GET", "/transparency.csv")
        assert f"meta,checkpoint_retired_verifier,,,,value,{old}" in text
    finally:
        assert gw.stop() == 0
    note = (logdir / "audit" / "checkpoint").read_text()
    assert note_key_ids(note) == [key_id(new)]
    run("audit", "verify", "--data", logdir)
    # the old key alone cannot vouch for the new checkpoints; both together can
    k_old = tmp_path / "old.pub"
    k_old.write_text(old + "\n")
    p = run("audit", "verify", "--data", logdir, "--key", k_old, check=False)
    assert p.returncode == 1
    both = tmp_path / "both.pub"
    both.write_text(f"{new}\n{old}\n")
    run("audit", "verify", "--data", logdir, "--key", both)
    # an entry logged before the rotation is proven against the new checkpoint
    proof = tmp_path / "p0"
    run("audit", "prove", "--data", logdir, "-o", proof, 0)
    run("audit", "check-proof", proof, "--key", new)


def test_rotate_twice(logdir):
    first = verifier(logdir)
    run("keys", "rotate", "--data", logdir)
    second = verifier(logdir)
    run("keys", "rotate", "--data", logdir)
    third = verifier(logdir)
    out = run("keys", "list", "--data", logdir).stdout
    assert out == f"current {third}\npast {second}\npast {first}\n"
    run("audit", "verify", "--data", logdir)


def test_rotate_refused_while_serving(logdir):
    old = verifier(logdir)
    gw = Gateway(logdir)
    try:
        p = run("keys", "rotate", "--data", logdir, check=False)
    finally:
        assert gw.stop() == 0
    assert p.returncode == 1
    assert "running server holds the audit log" in p.stderr
    assert verifier(logdir) == old
    assert not os.path.exists(logdir / "keys" / "retired")
    assert not os.path.exists(logdir / "checkpoint.key.new")
    run("audit", "verify", "--data", logdir)


def test_backup_after_rotation_restores(logdir, tmp_path):
    run("keys", "rotate", "--data", logdir)
    run("backup", "--data", logdir, "--out", tmp_path / "b")
    run("restore", tmp_path / "b", "--data", tmp_path / "r")
    assert (tmp_path / "r" / "keys" / "retired").read_text() == \
        (logdir / "keys" / "retired").read_text()
    run("audit", "verify", "--data", tmp_path / "r")


def test_usage(logdir):
    assert run("keys", "--help").returncode == 0
    p = run("keys", "frobnicate", "--data", logdir, check=False)
    assert p.returncode == 2
    p = run("keys", check=False)
    assert p.returncode == 2


def test_forged_hand_over_signature_fails_verify(logdir):
    run("keys", "rotate", "--data", logdir)
    cp = logdir / "audit" / "checkpoint"
    note = cp.read_text()
    lines = note.splitlines(keepends=True)
    # flip one character inside the new key's signature (the last line)
    sig = lines[-1]
    i = len(sig) - 10
    lines[-1] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
    cp.write_text("".join(lines))
    p = run("audit", "verify", "--data", logdir, check=False)
    assert p.returncode == 1
    assert "checkpoint" in p.stderr


def test_malformed_key_history_is_an_error(logdir):
    run("keys", "rotate", "--data", logdir)
    with open(logdir / "keys" / "retired", "a") as f:
        f.write("not-a-key retired 2026-01-01T00:00:00Z size 1\n")
    p = run("audit", "verify", "--data", logdir, check=False)
    assert p.returncode == 1
    p = run("keys", "list", "--data", logdir, check=False)
    assert p.returncode == 1 and "retired" in p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_rotate_as_root_keeps_the_service_users_ownership(logdir):
    import pwd
    nobody = pwd.getpwnam("nobody")
    for base, dirs, names in os.walk(logdir):
        for n in dirs + names:
            os.lchown(os.path.join(base, n), nobody.pw_uid, nobody.pw_gid)
    os.chown(logdir, nobody.pw_uid, nobody.pw_gid)
    run("keys", "rotate", "--data", logdir)
    for rel in ("checkpoint.key", "checkpoint.key.pub", "keys", "keys/retired",
                "audit/checkpoint"):
        assert os.stat(logdir / rel).st_uid == nobody.pw_uid, rel
    run("migrate", "--data", logdir)
    assert os.stat(logdir / "audit" / "lock").st_uid == nobody.pw_uid
