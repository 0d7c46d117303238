"""End-to-end tests of `dmvgate audit`: a gateway answers queries (so the log
holds real decisions and registry changes), and every audit subcommand is run
against it, first while the server holds the writer lock (read-only opens),
then after it stopped: verify, show and its filters, subject, prove and
check-proof, consistency, reindex, prune, tampering, --help."""
import json
import os
import shutil
import time

import pytest

from conftest import ROOT, run
from gateway import Gateway, add_agency, add_user, load_csv, q_license, response_hash

SUBCOMMANDS = ["verify", "show", "subject", "prove", "check-proof", "consistency",
               "prune", "reindex"]


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    data = base / "data"
    csvdir = base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 300, "--seed", 5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    add_agency(data, "CA0010000", "local_police")
    add_agency(data, "DC0040000", "federal_immigration")
    tok = {"police": add_user(data, "CA0010000", "officer1"),
           "police2": add_user(data, "CA0010000", "officer2"),
           "ice": add_user(data, "DC0040000", "agent1")}
    drivers = load_csv(csvdir / "drivers.csv")
    conf = base / "dmvgate.conf"
    conf.write_text("checkpoint_interval 1\n")
    gw = Gateway(data, config=conf, policy=os.path.join(ROOT, "policy", "default.policy"))
    target = drivers[0]["license_number"]
    answers = []
    try:
        for who in ("police", "police2", "ice", "police"):
            answers.append((who,) + gw.query(tok[who], q_license(target)))
        for d in drivers[1:21]:
            answers.append(("police",) + gw.query(tok["police"], q_license(d["license_number"])))
        # let a checkpoint cover them (checkpoint_interval 1 above)
        last = answers[-1][2]["audit"]["index"]
        for _ in range(100):
            cp = (data / "audit" / "checkpoint").read_text().split("\n")
            if int(cp[1]) > last:
                break
            time.sleep(0.1)
        w = {"data": data, "base": base, "gw": gw, "target": target, "answers": answers,
             "pub": data / "checkpoint.key.pub"}
        yield w
    finally:
        gw.stop()


def audit(w, *args, check=True):
    return run("audit", *args, "--data", w["data"], check=check)


def show(w, *args):
    p = audit(w, "show", *args)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def test_reads_while_the_server_writes(log):
    # the server holds the lock; every read-only subcommand works
    assert log["gw"].proc.poll() is None
    p = audit(log, "verify")
    assert p.stdout.startswith("verified ")
    n = int(p.stdout.split()[1])
    assert n >= 24 + 5  # queries + registry changes
    hist = audit(log, "subject", "--license", log["target"])
    assert "officer1" in hist.stdout and "officer2" in hist.stdout and "agent1" in hist.stdout
    assert "4 entries" in hist.stdout


def test_every_answer_is_logged_with_its_hash(log):
    entries = {e["index"]: e for e in show(log)}
    for who, st, js, text in log["answers"]:
        assert st in (200, 403, 429)  # 429: a limit stopped the requester (still audited)
        e = entries[js["audit"]["index"]]
        assert e["leaf_hash"] == js["audit"]["leaf_hash"]
        assert e["response_sha256"] == response_hash(text)
        assert e["decision"] == js.get("decision", "deny")
        assert e["status"] == st
        assert e["kind"] == "query"


def test_subject_history_json(log):
    p = audit(log, "subject", "--license", log["target"], "--json")
    js = json.loads(p.stdout)
    assert js["subject"] == "license:" + log["target"]
    assert len(js["entries"]) == 4
    users = [e["user"] for e in js["entries"]]
    assert users == ["officer1", "officer2", "agent1", "officer1"]
    ice = js["entries"][2]
    assert ice["ori"] == "DC0040000" and ice["decision"] == "deny" and ice["items"] == []
    police = js["entries"][0]
    assert police["decision"] == "permit" and "license_number" in police["items"]
    assert police["purpose"] == "criminal_investigation" and police["reason"] == "case 26-01234"
    idx = [e["index"] for e in js["entries"]]
    assert idx == sorted(idx)


def test_show_filters(log):
    allq = show(log)
    assert [e["index"] for e in allq] == list(range(len(allq)))
    assert all(e["ori"] == "DC0040000" for e in show(log, "--agency", "DC0040000"))
    assert {e["user"] for e in show(log, "--user", "officer2")} == {"officer2"}
    denies = show(log, "--decision", "deny")
    assert denies and all(e["decision"] == "deny" for e in denies)
    reg = show(log, "--kind", "registry")
    assert len(reg) >= 5 and all(e["kind"] == "registry" for e in reg)
    subj = show(log, "--subject", "license:" + log["target"])
    assert len(subj) == 4
    assert len(show(log, "--license", log["target"], "--user", "officer1")) == 2
    assert len(show(log, "--limit", "3")) == 3
    assert show(log, "--from", "2000-01-01", "--to", "2000-01-02") == []
    assert len(show(log, "--from", "2000-01-01")) == len(allq)
    bad = audit(log, "show", "--decision", "maybe", check=False)
    assert bad.returncode == 2


def test_prove_and_check_offline(log, tmp_path):
    idx = log["answers"][0][2]["audit"]["index"]
    proof = tmp_path / "p.tlog-proof"
    audit(log, "prove", idx, "-o", proof)
    text = proof.read_text()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert f"\nindex {idx}\n" in text
    assert "\n\ndmvgate.local/audit\n" in text
    p = run("audit", "check-proof", proof, "--key", log["pub"])
    assert "proof OK" in p.stdout
    assert json.loads(p.stdout.splitlines()[0])["index"] == idx
    # the verifier string itself works as --key too
    run("audit", "check-proof", proof, "--key", log["pub"].read_text().strip())
    # a changed hash, index or entry fails
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("index "):
            bad = lines[:]
            bad[i] = f"index {idx + 1}"
            (tmp_path / "bad1").write_text("\n".join(bad))
            break
    p = run("audit", "check-proof", tmp_path / "bad1", "--key", log["pub"], check=False)
    assert p.returncode == 1 and "FAILED" in p.stderr
    h = lines[3]
    bad = text.replace(h, ("B" if h[0] != "B" else "C") + h[1:], 1)
    (tmp_path / "bad2").write_text(bad)
    p = run("audit", "check-proof", tmp_path / "bad2", "--key", log["pub"], check=False)
    assert p.returncode == 1
    # another key does not verify it
    other = tmp_path / "other"
    run("init", "--data", other)
    p = run("audit", "check-proof", proof, "--key", other / "checkpoint.key.pub", check=False)
    assert p.returncode == 1


def test_consistency(log):
    p = audit(log, "verify")
    n = int(p.stdout.split()[1])
    cp = (log["data"] / "audit" / "checkpoint").read_text().split("\n")
    size = int(cp[1])
    assert 0 < size <= n
    for old in (1, 2, 5, size // 2, size):
        p = audit(log, "consistency", old, size)
        assert "consistent" in p.stdout
    p = audit(log, "consistency", 1, size + 1000, check=False)
    assert p.returncode == 1


def test_after_stop_everything_verifies(log, tmp_path):
    assert log["gw"].stop() == 0
    p = audit(log, "verify")
    assert "verified" in p.stdout
    n = int(p.stdout.split()[1])
    cp = (log["data"] / "audit" / "checkpoint").read_text().split("\n")
    assert int(cp[1]) == n  # the final checkpoint covers everything
    p = audit(log, "reindex")
    assert p.stdout.startswith(f"reindexed {n} entries")
    assert len(show(log, "--license", log["target"])) == 4


def test_consistency_with_a_kept_checkpoint(log, tmp_path):
    # two copies of the log diverge: each is a fork of the other
    kept = tmp_path / "kept"
    kept.write_text((log["data"] / "audit" / "checkpoint").read_text())
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(log["data"], a)
    shutil.copytree(log["data"], b)
    add_agency(a, "CA0770000", "court")
    add_agency(b, "CA0880000", "court")
    p = run("audit", "consistency", "--checkpoint", kept, "--data", a)
    assert "consistent" in p.stdout
    fork = tmp_path / "fork"
    fork.write_text((b / "audit" / "checkpoint").read_text())
    p = run("audit", "consistency", "--checkpoint", fork, "--data", a, check=False)
    assert p.returncode == 1 and "INCONSISTENT" in p.stderr and "forked" in p.stderr
    # a checkpoint the log has not reached: rolled back (or another log)
    add_agency(b, "CA0990000", "court")
    ahead = tmp_path / "ahead"
    ahead.write_text((b / "audit" / "checkpoint").read_text())
    p = run("audit", "consistency", "--checkpoint", ahead, "--data", a, check=False)
    assert p.returncode == 1 and "rolled back" in p.stderr
    # a checkpoint signed by another key is refused
    other = tmp_path / "other"
    run("init", "--data", other)
    p = run("audit", "consistency", "--checkpoint", kept, "--data", a,
            "--key", other / "checkpoint.key.pub", check=False)
    assert p.returncode == 1


def test_prune(log, tmp_path):
    data = tmp_path / "copy"
    shutil.copytree(log["data"], data)
    w = dict(log, data=data)
    n = int(audit(w, "verify").stdout.split()[1])
    # a date inside the retention period (400 days by default) is refused
    p = audit(w, "prune", "--before", "2100-01-01", check=False)
    assert p.returncode == 1 and "retention" in p.stderr
    p = audit(w, "prune", "--retention-days", "-1", check=False)
    assert p.returncode == 2
    # the default retention keeps everything logged today
    p = audit(w, "prune")
    assert "first kept entry is 0" in p.stdout
    # no retention: every checkpointed entry's body goes, the tree still verifies
    p = audit(w, "prune", "--retention-days", "0")
    assert f"first kept entry is {n}" in p.stdout
    p = audit(w, "verify")
    assert p.stdout.startswith("verified 0 entries") and f"({n} pruned" in p.stdout
    assert show(w) == []
    p = audit(w, "prove", "0", check=False)
    assert p.returncode == 1 and "pruned" in p.stderr
    # the log still takes entries (a registry change) and verifies
    add_agency(data, "CA0990000", "court")
    p = audit(w, "verify")
    assert p.stdout.startswith("verified 1 entries")
    assert show(w, "--kind", "registry")[0]["index"] == n


def test_tampering_is_caught(log, tmp_path):
    data = tmp_path / "tamper"
    shutil.copytree(log["data"], data)
    w = dict(log, data=data)
    entries = data / "audit" / "entries"
    b = bytearray(entries.read_bytes())
    b[len(b) // 2] ^= 0x04
    entries.write_bytes(bytes(b))
    p = audit(w, "verify", check=False)
    assert p.returncode == 1
    assert "FAILED" in p.stderr and "first bad index:" in p.stderr


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help(sub):
    p = run("audit", sub, "--help")
    assert p.stdout.startswith("usage: dmvgate audit " + sub)


def test_usage_errors(log):
    assert run("audit", check=False).returncode == 2
    assert run("audit", "frobnicate", check=False).returncode == 2
    assert audit(log, "prove", check=False).returncode == 2
    p = audit(log, "prove", "99999999", check=False)
    assert p.returncode == 1 and "not covered" in p.stderr
    assert audit(log, "subject", check=False).returncode == 2
    assert run("audit", "check-proof", "/nonexistent", check=False).returncode == 2
