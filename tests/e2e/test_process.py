"""End-to-end tests of the legal-process registry and notices (issue 6):
`dmvgate process add|list|show|revoke`, `dmvgate notices
list|render|mark-sent`, and, over HTTP against the default policy, the
scope of a cited process (wrong agency, other subject, expired, not yet
valid, revoked, used up, items beyond the order, administrative kinds,
name queries) and the notices the decisions create."""
import json
import os
import re
import stat
import time

import pytest

from conftest import ROOT, run
from gateway import Gateway, add_agency, add_user, load_csv, q_license

ICE = "DC0040000"       # federal_immigration
ICE2 = "DC0040001"      # another immigration agency
POLICE = "CA0010000"    # local_police


def register(data, doc, kind="court_order", ori=ICE, subjects=(), items=("last_name",),
             issued="2026-01-01", expires="2099-12-31", max_uses=None, check=True):
    args = ["process", "add", "--data", data, "--kind", kind, "--agency", ori,
            "--court", "U.S. District Court, S.D.N.Y.", "--case", "1:26-cv-01234",
            "--judge", "Hon. A. Smith", "--issued", issued, "--expires", expires,
            "--subject", *subjects, "--items", *items, "--document", doc]
    if max_uses:
        args += ["--max-uses", max_uses]
    p = run(*args, check=check)
    if not check:
        return p
    m = re.match(r"(LP-\d+)\nsha256 ([0-9a-f]{64})\n", p.stdout)
    assert m, p.stdout
    return m.group(1)


@pytest.fixture
def doc(tmp_path):
    d = tmp_path / "order.pdf"
    d.write_bytes(b"%PDF-1.4 synthetic court order\n")
    return d


# ------------------------------------------------------------ CLI only

@pytest.fixture
def cli(datadir):
    add_agency(datadir, ICE, "federal_immigration", name="Immigration and Customs Enforcement")
    add_agency(datadir, POLICE, "local_police")
    return datadir


def test_process_add_list_show_revoke(cli, doc):
    p = run("process", "add", "--data", cli, "--kind", "judicial_warrant", "--agency", ICE,
            "--court", "Superior Court", "--case", "26-CR-7", "--judge", "J. Doe",
            "--issued", "2026-01-01", "--expires", "2099-12-31",
            "--subject", "D1234567", "D7654321", "--items", "last_name", "street,city",
            "--max-uses", "3", "--document", doc)
    lines = p.stdout.splitlines()
    assert lines[0] == "LP-1"
    sha = lines[1].split()[1]
    import hashlib
    assert sha == hashlib.sha256(doc.read_bytes()).hexdigest()
    copy = cli / "documents" / sha
    assert copy.read_bytes() == doc.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    out = run("process", "list", "--data", cli).stdout
    assert "LP-1" in out and "judicial_warrant" in out and "in-force" in out and "0/3" in out
    js = json.loads(run("process", "show", "LP-1", "--json", "--data", cli).stdout)
    assert js["subjects"] == ["D1234567", "D7654321"]
    assert js["items"] == "last_name,street,city"
    assert js["document"]["sha256"] == sha and js["state"] == "in_force"
    assert "Superior Court" in run("process", "show", "1", "--data", cli).stdout

    assert run("process", "revoke", "LP-1", "--reason", "quashed", "--data", cli).stdout \
        == "LP-1 revoked\n"
    p = run("process", "revoke", "LP-1", "--reason", "again", "--data", cli, check=False)
    assert p.returncode == 1 and "already revoked" in p.stderr
    js = json.loads(run("process", "show", "LP-1", "--json", "--data", cli).stdout)
    assert js["state"] == "revoked" and js["revoked_reason"] == "quashed"
    p = run("process", "show", "LP-9", "--data", cli, check=False)
    assert p.returncode == 1 and "no process LP-9" in p.stderr

    # both changes are in the audit log (no server holds it)
    out = run("audit", "show", "--data", cli).stdout
    details = [json.loads(l)["detail"] for l in out.splitlines()]
    assert any(d.startswith("process.add id=LP-1 kind=judicial_warrant") for d in details)
    assert any(d.startswith("process.revoke id=LP-1 reason=quashed") for d in details)


@pytest.mark.parametrize("change,message", [
    ({"--agency": "NY0000009"}, "no agency NY0000009"),
    ({"--kind": "warrant"}, "unknown kind"),
    ({"--subject": "d-123"}, "not a license number"),
    ({"--items": "ssn_number"}, "unknown item"),
    ({"--items": "identity"}, "unknown item"),
    ({"--issued": "2026-02-30"}, "YYYY-MM-DD"),
    ({"--expires": "2025-12-31"}, "before --issued"),
    ({"--max-uses": "0"}, "--max-uses"),
    ({"--document": "/dev/null"}, "not a regular file"),
    ({"--document": "/"}, "not a regular file"),
    ({"--document": "/nonexistent"}, "No such file"),
])
def test_process_add_refuses(cli, doc, change, message):
    opts = {"--kind": "court_order", "--agency": ICE, "--court": "C", "--case": "1",
            "--judge": "J", "--issued": "2026-01-01", "--expires": "2026-12-31",
            "--subject": "D1234567", "--items": "last_name", "--document": str(doc)}
    opts.update(change)
    args = ["process", "add", "--data", cli]
    for k, v in opts.items():
        args += [k, v]
    p = run(*args, check=False)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert run("process", "list", "--data", cli).stdout == ""
    docs = cli / "documents"
    assert not docs.exists() or list(docs.iterdir()) == []   # no file left behind


def test_process_add_missing_options(cli, doc):
    p = run("process", "add", "--data", cli, "--kind", "court_order", check=False)
    assert p.returncode == 2 and "add needs" in p.stderr
    p = run("process", "revoke", "LP-1", "--data", cli, check=False)
    assert p.returncode == 2 and "--reason" in p.stderr
    p = run("process", "frobnicate", "--data", cli, check=False)
    assert p.returncode == 2
    assert run("process", "--help").stdout.startswith("usage: dmvgate process")


def test_notices_cli_on_empty_registry(cli, tmp_path):
    assert run("notices", "list", "--data", cli).stdout == ""
    assert run("notices", "list", "--json", "--overdue", "--data", cli).stdout == ""
    out = run("notices", "render", "--out", tmp_path / "letters", "--data", cli).stdout
    assert out.startswith("0 letters")
    p = run("notices", "mark-sent", "N-1", "--data", cli, check=False)
    assert p.returncode == 1 and "no notice N-1" in p.stderr
    p = run("notices", "mark-sent", "bogus", "--data", cli, check=False)
    assert p.returncode == 2
    p = run("notices", "list", "--due", "--sent", "--data", cli, check=False)
    assert p.returncode == 2


def test_bad_holiday_file_is_an_error(cli):
    (cli / "holidays").write_text("2026-11-27\nnot a date\n")
    p = run("notices", "list", "--data", cli, check=False)
    assert p.returncode == 1 and "holidays:2:" in p.stderr


# ------------------------------------------------------------ over HTTP

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("lp")
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 600, "--seed", 5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    tok = {}
    for ori, cat, name in ((ICE, "federal_immigration", "Immigration and Customs Enforcement"),
                           (ICE2, "federal_immigration", "Customs and Border Protection"),
                           (POLICE, "local_police", "Springfield Police")):
        add_agency(data, ori, cat, name=name)
        tok[ori] = add_user(data, ori, f"u-{ori}")
    doc = base / "order.pdf"
    doc.write_bytes(b"%PDF-1.4 synthetic order\n")
    drivers = load_csv(csvdir / "drivers.csv")
    gw = Gateway(data, policy=os.path.join(ROOT, "policy", "default.policy"))
    w = {"data": data, "gw": gw, "tok": tok, "doc": doc, "drivers": drivers, "next": 0,
         "vehicles": load_csv(csvdir / "vehicles.csv")}
    yield w
    gw.stop()


def person(w):
    """A driver not used by another test (each test gets fresh subjects), and
    at an address no earlier subject lives at: the default policy's
    "household" limit stops an agency asking about a fourth person at one
    address, which is not what these tests are about."""
    seen = w.setdefault("addresses", set())
    while True:
        d = w["drivers"][w["next"]]
        w["next"] += 1
        addr = (d["street"], d["city"], d["zip"])
        if addr not in seen:
            seen.add(addr)
            return d


def ask(w, ori, q):
    st, js, text = w["gw"].query(w["tok"][ori], q)
    return st, js


def rules(js):
    return [r["id"] for r in js["rules"]]


def imm(lic, lp=None, **kw):
    q = q_license(lic, "civil_immigration_enforcement", **kw)
    if lp:
        q["legal_process"] = lp
    return q


def notices(w, *flags):
    out = run("notices", "list", "--json", *flags, "--data", w["data"]).stdout
    return [json.loads(l) for l in out.splitlines()]


def notices_for(w, lic):
    return [n for n in notices(w) if n["subject"] == lic]


def test_court_order_in_scope_releases_only_named_items(world):
    d = person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]],
                  items=["last_name", "first_name", "street", "city"])
    st, js = ask(world, ICE, imm(d["license_number"], lp))
    assert st == 200, js
    assert rules(js) == ["immigration-with-judicial-process"]
    assert len(js["records"]) == 1
    rec = js["records"][0]
    assert set(rec) <= {"last_name", "first_name", "street", "city"}
    assert rec["last_name"] == d["last_name"] and rec["street"] == d["street"]
    # items beyond the order are not released even if asked for (photo is refused outright)
    st, js = ask(world, ICE, imm(d["license_number"], lp, include=["photo"]))
    assert st == 403 and "no-photo-for-immigration" in rules(js)
    # one use was counted
    show = json.loads(run("process", "show", lp, "--json", "--data", world["data"]).stdout)
    assert show["uses"] == 1


def test_scope_failures_are_denied(world):
    d, other = person(world), person(world)
    lic = d["license_number"]
    data, doc = world["data"], world["doc"]
    good = register(data, doc, subjects=[lic])
    cases = {
        "other subject": (ICE, imm(other["license_number"], good)),
        "wrong agency": (ICE2, imm(lic, good)),
        "unregistered": (ICE, imm(lic, "LP-9999")),
        "expired": (ICE, imm(lic, register(data, doc, subjects=[lic], issued="2025-01-01",
                                             expires="2025-12-31"))),
        "not yet valid": (ICE, imm(lic, register(data, doc, subjects=[lic],
                                                   issued="2099-01-01", expires="2099-12-31"))),
        "administrative warrant": (ICE, imm(lic, register(data, doc, kind="administrative_warrant",
                                                          subjects=[lic]))),
        "administrative subpoena": (ICE, imm(lic, register(data, doc,
                                                           kind="administrative_subpoena",
                                                           subjects=[lic]))),
    }
    revoked = register(data, doc, subjects=[lic])
    run("process", "revoke", revoked, "--reason", "vacated", "--data", data)
    cases["revoked"] = (ICE, imm(lic, revoked))
    for name, (ori, q) in cases.items():
        st, js = ask(world, ori, q)
        assert st == 403, (name, js)
        assert "immigration-needs-judicial-process" in rules(js), (name, js)
        assert "records" not in js, name
    # the good one still works for the right agency and subject
    assert ask(world, ICE, imm(lic, good))[0] == 200


def test_used_up(world):
    d = person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]], max_uses=2)
    q = imm(d["license_number"], lp)
    assert ask(world, ICE, q)[0] == 200
    assert ask(world, ICE, q)[0] == 200
    st, js = ask(world, ICE, q)
    assert st == 403 and "records" not in js
    show = json.loads(run("process", "show", lp, "--json", "--data", world["data"]).stdout)
    assert show["uses"] == 2 and show["state"] == "used_up"


def test_name_query_covered_and_uncovered(world):
    d, other = person(world), person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]],
                  items=["last_name", "dob"])

    def by_name(x):
        return {"type": "driver", "by": "name_dob", "last_name": x["last_name"],
                "first_name": x["first_name"], "dob": x["dob"],
                "purpose": "civil_immigration_enforcement", "reason": "r", "legal_process": lp}
    st, js = ask(world, ICE, by_name(d))
    assert st == 200, js
    assert js["records"] and all(set(r) <= {"last_name", "dob"} for r in js["records"])
    st, js = ask(world, ICE, by_name(other))
    assert st == 403 and "records" not in js


def test_notices_for_immigration_permit_and_deny_none_for_police(world, tmp_path):
    d, e, f = person(world), person(world), person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]],
                  items=["last_name", "street"])
    assert ask(world, ICE, imm(d["license_number"], lp))[0] == 200
    assert ask(world, ICE, imm(e["license_number"]))[0] == 403
    assert ask(world, POLICE, q_license(f["license_number"]))[0] == 200
    assert ask(world, POLICE, q_license(f["license_number"], "traffic_enforcement"))[0] == 200

    (np,) = notices_for(world, d["license_number"])
    assert np["outcome"] == "permit" and np["legal_process"] == lp
    assert np["agency"] == ICE and np["agency_name"] == "Immigration and Customs Enforcement"
    assert np["category"] == "federal_immigration"
    assert np["purpose"] == "civil_immigration_enforcement"
    assert set(np["items"].split(",")) == {"last_name", "street"}
    assert np["notify_days"] == 3 and np["notify_unit"] == "business_days"
    assert np["address"]["street"] == d["street"] and np["address"]["zip"] == d["zip"]
    assert np["state"] == "due" and np["audit_index"] >= 0
    (nd,) = notices_for(world, e["license_number"])
    assert nd["outcome"] == "deny" and nd["items"] == "" and nd["legal_process"] == ""
    assert notices_for(world, f["license_number"]) == []

    # render: one HTML and one text letter per notice, private directory
    out = tmp_path / "letters"
    run("notices", "render", "--out", out, "--date", "2026-11-27", np["id"], nd["id"],
        "--data", world["data"])
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    html = (out / f"{np['id']}.html").read_text()
    text = (out / f"{np['id']}.txt").read_text()
    assert stat.S_IMODE((out / f"{np['id']}.html").stat().st_mode) == 0o600
    assert "Immigration and Customs Enforcement" in html and 'lang="es"' in html
    assert "your name; your address" in text and "su nombre; su dirección" in text
    assert d["license_number"] not in html and d["license_number"][-4:] in html
    assert "refused" in (out / f"{nd['id']}.txt").read_text()

    # mark sent: once, audited (queued for the running server, which writes it)
    assert run("notices", "mark-sent", np["id"], "--data", world["data"]).stdout \
        == f"{np['id']} marked sent\n"
    p = run("notices", "mark-sent", np["id"], "--data", world["data"], check=False)
    assert p.returncode == 1 and "already marked sent" in p.stderr
    sent = [n["id"] for n in notices(world, "--sent")]
    assert np["id"] in sent
    assert np["id"] not in [n["id"] for n in notices(world, "--due")]
    deadline = time.time() + 5
    while time.time() < deadline:
        out = run("audit", "show", "--data", world["data"]).stdout
        if f"notice.sent id={np['id']} " in out:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the mark-sent audit record never reached the log")

    # A person's own request for their history lists the notices about them.
    lic = d["license_number"]
    text = run("audit", "subject", "--license", lic, "--data", world["data"]).stdout
    assert "Notices about requests for this record:" in text
    assert np["id"] in text and "sent " in text
    js = json.loads(run("audit", "subject", "--license", lic, "--json",
                        "--data", world["data"]).stdout)
    (sn,) = js["notices"]
    assert sn["id"] == np["id"] and sn["outcome"] == "permit" and sn["sent"]
    assert sn["legal_process"] == lp and sn["audit_index"] == np["audit_index"]
    assert any(e["index"] == np["audit_index"] for e in js["entries"])
    text = run("audit", "subject", "--license", f["license_number"],
               "--data", world["data"]).stdout
    assert "No notice about a request for this record." in text


def test_process_registration_is_audited_by_the_running_server(world):
    d = person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]])
    deadline = time.time() + 5
    while time.time() < deadline:
        out = run("audit", "show", "--data", world["data"]).stdout
        if f"process.add id={lp} " in out:
            return
        time.sleep(0.2)
    pytest.fail("the process.add audit record never reached the log")


def test_query_audit_entry_names_the_process(world):
    d = person(world)
    lp = register(world["data"], world["doc"], subjects=[d["license_number"]])
    st, js = ask(world, ICE, imm(d["license_number"], lp))
    assert st == 200
    idx = js["audit"]["index"]
    deadline = time.time() + 5
    while time.time() < deadline:
        for line in run("audit", "show", "--data", world["data"]).stdout.splitlines():
            e = json.loads(line)
            if e["index"] == idx:
                assert e["legal_process"] == lp and e["decision"] == "permit"
                return
        time.sleep(0.2)
    pytest.fail("audit entry not found")


def test_notice_for_a_vehicle_query_goes_to_the_registered_owner(world):
    """A plate query is about the vehicle's registered owner: the notice names
    the owner's license number and is addressed as the registration is (the
    record the agency asked for), whether or not the owner also holds a
    driver license here."""
    lics = {d["license_number"] for d in world["drivers"]}
    done = set()
    for with_driver in (True, False):
        v = next((v for v in world["vehicles"] if v["owner_license_number"]
                  and (v["owner_license_number"] in lics) == with_driver
                  and v["owner_license_number"] not in done), None)
        if v is None:
            continue              # the generator made no such owner
        done.add(v["owner_license_number"])
        q = {"type": "vehicle", "by": "plate", "plate": v["plate"],
             "plate_state": v["plate_state"], "purpose": "civil_immigration_enforcement",
             "reason": "case 26-77"}
        st, js = ask(world, ICE, q)
        assert st == 403 and "immigration-needs-judicial-process" in rules(js)
        (n,) = notices_for(world, v["owner_license_number"])
        assert n["outcome"] == "deny" and n["audit_index"] == js["audit"]["index"]
        assert n["address"]["street"] == v["owner_street"]
        assert n["address"]["zip"] == v["owner_zip"]
    assert done


def test_metrics_show_overdue_notices(world):
    st, _, text = world["gw"].request("GET", "/metrics")
    assert st == 200
    m = re.search(r"^dmvgate_notices_overdue (\d+)$", text, re.M)
    assert m, text
    # requests made today are due in 3 business days: none is overdue yet
    assert int(m.group(1)) == 0
