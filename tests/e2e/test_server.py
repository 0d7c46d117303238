"""End-to-end tests of `dmvgate serve` (issue 5): the real daemon on a free
loopback port over a temporary data directory rich in
DRIVER_PRIVILEGE_CARD holders (gen --dpc-share 0.5).

One gateway serves the module; the tests that need their own (SIGHUP,
SIGTERM) start one over a copy of the data."""
import hashlib
import json
import os
import random
import re
import shutil
import socket
import time

import pytest

from conftest import ROOT, run
from gateway import (AGENCIES, Gateway, add_agency, add_user, load_csv, q_license,
                     response_hash)

DEFAULT_POLICY = os.path.join(ROOT, "policy", "default.policy")

IDENTITY = {"license_number", "last_name", "first_name", "middle_name", "suffix", "dob", "sex"}
DESCRIPTION = {"height_in", "weight_lb", "eye_color", "hair_color"}
ADDRESS = {"street", "city", "state", "zip"}
LICENSE = {"license_class", "status", "restrictions", "endorsements", "issued", "expires"}
VEHICLE = {"plate", "plate_state", "plate_type", "plate_expires", "vin", "make", "model",
           "model_year", "color", "body_style", "registration_status"}
OWNER = {"owner_license_number", "owner_name", "owner_street", "owner_city", "owner_state",
         "owner_zip"}
SENSITIVE = ("license_kind", "ssn", "place_of_birth", "documents")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("gw")
    data = base / "data"
    csvdir = base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 4000, "--seed", 11, "--dpc-share", 0.5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    tokens = {}
    for ori, cat in AGENCIES:
        add_agency(data, ori, cat)
        tokens[cat] = add_user(data, ori, f"u-{cat}")
    for i in range(10):
        tokens[f"police{i}"] = add_user(data, "CA0010000", f"officer{i}")
    add_agency(data, "CA0110000", "local_police", until="2020-01-01")
    tokens["expired"] = add_user(data, "CA0110000", "u-expired")
    add_agency(data, "CA0140000", "local_police")
    tokens["sweeper"] = add_user(data, "CA0140000", "u-sweeper")
    add_agency(data, "CA0150000", "local_police")
    tokens["household"] = add_user(data, "CA0150000", "u-household")
    add_agency(data, "CA0120000", "local_police")
    tokens["suspended"] = add_user(data, "CA0120000", "u-suspended")
    run("agency", "suspend", "CA0120000", "--data", data)
    tokens["revoked"] = add_user(data, "CA0010000", "u-revoked")
    run("user", "revoke", "u-revoked", "--data", data)
    tokens["lockme"] = add_user(data, "CA0010000", "u-lockme")
    drivers = load_csv(csvdir / "drivers.csv")
    vehicles = load_csv(csvdir / "vehicles.csv")
    gw = Gateway(data)
    w = {"data": data, "csv": csvdir, "gw": gw, "tok": tokens, "drivers": drivers,
         "vehicles": vehicles, "base": base, "responses": []}
    yield w
    gw.stop()


def ask(w, who, q, raw=None):
    st, js, text = w["gw"].query(w["tok"][who] if who else None, q, raw=raw)
    if st != 401:
        w["responses"].append((js["audit"]["index"] if "audit" in js else None, text))
    return st, js, text


def a_driver(w, i=0):
    return w["drivers"][i]


# ------------------------------------------------------------ status codes and shapes

def test_permit_shape_and_released_fields(world):
    d = a_driver(world)
    st, js, text = ask(world, "local_police", q_license(d["license_number"]))
    assert st == 200, text
    assert js["decision"] == "permit"
    assert [r["id"] for r in js["rules"]] == ["law-enforcement"]
    assert js["rules"][0]["cite"] == "18 USC 2721(b)(1)"
    assert isinstance(js["audit"]["index"], int)
    assert re.fullmatch(r"[0-9a-f]{64}", js["audit"]["leaf_hash"])
    assert len(js["records"]) == 1
    rec = js["records"][0]
    allowed = IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}
    assert set(rec) <= allowed
    # every non-empty released field of the record is there, with its value
    for f in allowed - {"history"}:
        if d[f]:
            assert str(rec[f]) == d[f], f
    assert isinstance(rec["height_in"], int)
    assert "photo_id" not in rec and "photo" not in rec


def test_no_match_is_an_empty_permit(world):
    st, js, _ = ask(world, "local_police", q_license("Z9999999"))
    assert st == 200 and js["records"] == [] and js["decision"] == "permit"


def test_400_errors_are_precise_and_audited(world):
    cases = [
        ({"type": "driver", "by": "license", "license_number": "D1",
          "purpose": "criminal_investigation"}, "missing_field", "reason"),
        (dict(q_license("D1"), ssn="1"), "unknown_field", "ssn"),
        (dict(q_license("D1"), license_number=5), "wrong_type", "license_number"),
        (dict(q_license("D1"), type="boat"), "invalid_value", "type"),
        (dict(q_license("D1"), reason="x" * 300), "invalid_length", "reason"),
        (dict(q_license("D1"), vin="1HGCM82633A004352"), "field_not_allowed", "vin"),
    ]
    for q, code, word in cases:
        st, js, text = ask(world, "local_police", q)
        assert st == 400, text
        assert js["error"]["code"] == code
        assert word in js["error"]["message"]
        assert isinstance(js["audit"]["index"], int)
    for raw, code in [("{", "invalid_json"), ("[[[[[[[[[[]]]]]]]]]]", "too_deep"),
                      ("[]", "not_an_object"), ('{"reason":"\xff"}', "invalid_json"),
                      ('{"type":"driver","type":"driver"}', "invalid_json")]:
        st, js, text = ask(world, "local_police", None, raw=raw)
        assert st == 400 and js["error"]["code"] == code, (raw, text)
    # still serving
    st, _, _ = ask(world, "local_police", q_license(a_driver(world)["license_number"]))
    assert st == 200


def test_401_without_valid_token(world):
    gw = world["gw"]
    good = world["tok"]["local_police"]
    wrong = good[:-1] + ("B" if good.endswith("A") else "A")
    for tok in [None, "", "dmv_zz", "Basic abc", wrong]:
        st, js, _ = gw.query(tok, q_license("D1"))
        assert st == 401
        assert "audit" not in js
        assert js["error"]["code"] == "unauthorized"
    st, hd, _ = gw.request("POST", "/v1/query", body="{}")
    assert st == 401 and hd.get("WWW-Authenticate") == "Bearer"


def test_413_and_still_serving(world):
    gw = world["gw"]
    big = json.dumps(dict(q_license("D1"), reason="r" * 70000))
    st, js, text = gw.query(world["tok"]["local_police"], None, raw=big)
    assert st == 413, text
    assert js["error"]["code"] == "body_too_large" and isinstance(js["audit"]["index"], int)
    world["responses"].append((js["audit"]["index"], text))
    # a raw socket that lies about nothing but sends a huge declared length
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + world["tok"]["local_police"].encode() + b"\r\nContent-Length: 99999999\r\n\r\n")
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 413")
    st, _, _ = ask(world, "local_police", q_license(a_driver(world)["license_number"]))
    assert st == 200


def test_oversized_headers_and_garbage_keep_the_server_up(world):
    gw = world["gw"]
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.settimeout(1)
    s.sendall(b"\x00\xff garbage \r\n\r\n")
    try:
        s.recv(4096)
    except socket.timeout:
        pass
    s.close()
    st, _, _ = gw.request("GET", "/healthz")
    assert st == 200


def test_404_and_405(world):
    gw = world["gw"]
    st, _, text = gw.request("GET", "/nope")
    assert st == 404 and json.loads(text)["error"]["code"] == "not_found"
    st, hd, _ = gw.request("GET", "/v1/query")
    assert st == 405 and hd.get("Allow") == "POST"


def test_checkpoint_healthz_metrics(world):
    gw = world["gw"]
    time.sleep(1.2)          # let a checkpoint be signed
    st, _, text = gw.request("GET", "/v1/checkpoint")
    assert st == 200
    lines = text.split("\n")
    assert lines[0] == "dmvgate.local/audit" and lines[1].isdigit()
    assert "\u2014 dmvgate.local/audit " in text
    st, _, text = gw.request("GET", "/healthz")
    assert st == 200 and json.loads(text)["status"] == "ok"
    st, hd, text = gw.request("GET", "/metrics")
    assert st == 200 and hd["Content-Type"].startswith("text/plain")
    assert re.search(r'^dmvgate_requests_total\{channel="json",outcome="permit"\} [1-9]', text, re.M)
    assert "dmvgate_request_seconds_bucket" in text and "dmvgate_decision_seconds_count" in text
    assert re.search(r"^dmvgate_registry_agencies 14$", text, re.M)
    assert "dmvgate_audit_batches_total" in text
    # fdatasync latency and batch sizes: one sample of each per durable batch
    val = {m.group(1): float(m.group(2)) for m in
           re.finditer(r"^(dmvgate_audit_\w+(?:\{le=\"\+Inf\"\})?) (\S+)$", text, re.M)}
    batches = val["dmvgate_audit_batches_total"]
    assert batches >= 1
    assert val['dmvgate_audit_fdatasync_seconds_bucket{le="+Inf"}'] == batches
    assert val["dmvgate_audit_fdatasync_seconds_count"] == batches
    assert 0 < val["dmvgate_audit_fdatasync_seconds_sum"] < batches * 5
    assert val["dmvgate_audit_batch_size_count"] == batches
    assert val["dmvgate_audit_batch_size_sum"] == val["dmvgate_audit_entries_total"]


# ------------------------------------------------------------ the default policy over HTTP

def test_no_bulk_both_ways(world):
    # an address with at most 3 people (the household limit applies to all)
    count = {}
    for x in world["drivers"]:
        k = (x["street"], x["city"], x["zip"])
        count[k] = count.get(k, 0) + 1
    d = next(x for x in world["drivers"] if count[(x["street"], x["city"], x["zip"])] <= 3)
    addr = {"type": "driver", "by": "address", "street": d["street"], "city": d["city"],
            "zip": d["zip"], "purpose": "criminal_investigation", "reason": "r"}
    st, js, _ = ask(world, "local_police", addr)
    assert st == 403 and [r["id"] for r in js["rules"]] == ["no-bulk"]
    assert "records" not in js and isinstance(js["audit"]["index"], int)
    kind = {"type": "driver", "by": "license_kind", "license_kind": "DRIVER_PRIVILEGE_CARD",
            "purpose": "criminal_investigation", "reason": "r"}
    st, js, _ = ask(world, "local_police", kind)
    assert st == 403 and [r["id"] for r in js["rules"]] == ["no-bulk"]
    # the DMV itself may search by address
    st, js, _ = ask(world, "dmv", dict(addr, purpose="dmv_administration"))
    assert st == 200 and [r["id"] for r in js["rules"]] == ["dmv-administration"]
    assert any(r["license_number"] == d["license_number"] for r in js["records"])


def test_immigration_needs_judicial_process(world):
    d = a_driver(world)
    for purpose in ("civil_immigration_enforcement", "criminal_investigation"):
        st, js, _ = ask(world, "federal_immigration", q_license(d["license_number"], purpose))
        assert st == 403
        assert "immigration-needs-judicial-process" in [r["id"] for r in js["rules"]]
    # citing an unregistered process does not help
    st, js, _ = ask(world, "federal_immigration",
                    q_license(d["license_number"], "civil_immigration_enforcement",
                              legal_process="LP-7"))
    assert st == 403
    # the purpose alone triggers it for any agency
    st, js, _ = ask(world, "local_police", q_license(d["license_number"],
                                                     "civil_immigration_enforcement"))
    assert st == 403 and "immigration-needs-judicial-process" in [r["id"] for r in js["rules"]]


def test_photo_rules(world):
    d = a_driver(world)
    st, js, _ = ask(world, "federal_immigration",
                    q_license(d["license_number"], "civil_immigration_enforcement",
                              include=["photo"]))
    assert st == 403 and "no-photo-for-immigration" in [r["id"] for r in js["rules"]]
    st, js, _ = ask(world, "researcher", q_license(d["license_number"], "research_statistics",
                                                   include=["photo"]))
    assert st == 403 and "hrpi-restricted-uses" in [r["id"] for r in js["rules"]]
    st, js, _ = ask(world, "local_police", q_license(d["license_number"], include=["photo"]))
    assert st == 200 and [r["id"] for r in js["rules"]] == ["law-enforcement"]


PERMITS = [
    # who, purpose, type, expected rule, released set (driver) or None for vehicle
    ("state_police", "traffic_enforcement", "law-enforcement",
     IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}),
    ("federal_criminal", "criminal_investigation", "law-enforcement",
     IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}),
    ("dmv", "dmv_administration", "dmv-administration",
     IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}),
    ("court", "court_proceeding", "courts", IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}),
    ("court", "service_of_process", "courts", IDENTITY | DESCRIPTION | ADDRESS | LICENSE | {"history"}),
    ("researcher", "research_statistics", "research", LICENSE | {"history"}),
    ("insurer", "insurance_claim", "insurers", IDENTITY | ADDRESS | LICENSE | {"history"}),
    ("employer_cdl", "cdl_verification", "cdl-employer", IDENTITY | LICENSE | {"history"}),
]


@pytest.mark.parametrize("who,purpose,rule,fields", PERMITS)
def test_permit_rules_release_exactly_their_items(world, who, purpose, rule, fields):
    d = a_driver(world, 3)
    st, js, text = ask(world, who, q_license(d["license_number"], purpose))
    assert st == 200, text
    assert [r["id"] for r in js["rules"]] == [rule]
    rec = js["records"][0]
    assert set(rec) <= fields, set(rec) - fields
    for f in fields - {"history"}:
        if d[f]:
            assert f in rec, f
    assert "history" in rec


DENIES = [
    ("insurer", "criminal_investigation"),        # wrong purpose for the category
    ("researcher", "insurance_claim"),
    ("tow_operator", "towed_vehicle_notice"),      # tow operators: vehicles only
    ("employer_cdl", "criminal_investigation"),
    ("court", "research_statistics"),
]


@pytest.mark.parametrize("who,purpose", DENIES)
def test_default_deny(world, who, purpose):
    st, js, _ = ask(world, who, q_license(a_driver(world)["license_number"], purpose))
    assert st == 403 and js["decision"] == "deny" and js["rules"] == []
    assert "default deny" in js["reason"]


def test_vehicle_queries(world):
    v = next(v for v in world["vehicles"] if v["owner_license_number"])
    q = {"type": "vehicle", "by": "plate", "plate": v["plate"], "plate_state": v["plate_state"],
         "purpose": "towed_vehicle_notice", "reason": "tow 1"}
    st, js, text = ask(world, "tow_operator", q)
    assert st == 200, text
    assert [r["id"] for r in js["rules"]] == ["towed-vehicle-notice"]
    rec = js["records"][0]
    assert set(rec) <= VEHICLE | OWNER and rec["vin"] == v["vin"]
    st, js, _ = ask(world, "researcher", dict(q, purpose="research_statistics"))
    assert st == 200 and set(js["records"][0]) <= {"make", "model", "model_year", "color",
                                                   "body_style", "registration_status"}
    st, js, _ = ask(world, "local_police", {"type": "vehicle", "by": "vin", "vin": v["vin"],
                                            "purpose": "criminal_investigation", "reason": "r"})
    assert st == 200 and js["records"][0]["plate"] == v["plate"]


def test_name_dob_exact_and_capped(world):
    d = a_driver(world, 5)
    q = {"type": "driver", "by": "name_dob", "last_name": d["last_name"].upper(),
         "first_name": d["first_name"].lower(), "dob": d["dob"],
         "purpose": "criminal_investigation", "reason": "r"}
    st, js, _ = ask(world, "local_police", q)
    assert st == 200
    assert d["license_number"] in [r["license_number"] for r in js["records"]]
    assert len(js["records"]) <= 10
    st, js, _ = ask(world, "local_police", dict(q, last_name=d["last_name"][:-1]))
    assert st == 200 and d["license_number"] not in [r["license_number"] for r in js["records"]]


# ------------------------------------------------------------ who is refused

def test_refused_principals(world):
    lic = a_driver(world)["license_number"]
    st, js, _ = ask(world, "revoked", q_license(lic))
    assert st == 401 and js["error"]["code"] == "revoked"
    st, js, _ = ask(world, "suspended", q_license(lic))
    assert st == 401 and js["error"]["code"] == "agency_suspended"
    # expired certification: authenticated, refused by policy, audited
    st, js, _ = ask(world, "expired", q_license(lic))
    assert st == 403 and "certification-expired" in [r["id"] for r in js["rules"]]
    assert "records" not in js


def test_lockout_after_five_failures(world):
    gw, tok = world["gw"], world["tok"]["lockme"]
    wrong = tok[:-3] + ("AAA" if not tok.endswith("AAA") else "BBB")
    for _ in range(5):
        st, _, _ = gw.query(wrong, q_license("D1"))
        assert st == 401
    st, js, _ = gw.query(tok, q_license("D1"))
    assert st == 401 and js["error"]["code"] == "locked"
    out = run("user", "list", "--data", world["data"]).stdout
    assert re.search(r"u-lockme .* locked", out)
    run("user", "unlock", "u-lockme", "--data", world["data"])
    deadline = time.time() + 1.5
    while time.time() < deadline:
        st, _, _ = gw.query(tok, q_license("D1"))
        if st == 200:
            break
        time.sleep(0.1)
    assert st == 200


def test_registry_changes_apply_within_a_second(world):
    data, gw = world["data"], world["gw"]
    add_agency(data, "CA0130000", "local_police")
    tok = add_user(data, "CA0130000", "u-new")
    t0 = time.time()
    while True:
        st, _, _ = gw.query(tok, q_license("D1"))
        if st == 200 or time.time() - t0 > 1.5:
            break
        time.sleep(0.05)
    assert st == 200 and time.time() - t0 <= 1.2
    run("agency", "suspend", "CA0130000", "--data", data)
    t0 = time.time()
    while True:
        st, _, _ = gw.query(tok, q_license("D1"))
        if st == 401 or time.time() - t0 > 1.5:
            break
        time.sleep(0.05)
    assert st == 401 and time.time() - t0 <= 1.2


# ------------------------------------------------------------ limits (429)

def test_sweep_limit_429_then_suspends(world):
    """limit "sweep" per user 200 subjects per 1h then suspend."""
    seen, drivers = set(), []      # one person per address: no household limit
    for d in world["drivers"][100:]:
        k = (d["street"], d["city"], d["zip"])
        if k not in seen:
            seen.add(k)
            drivers.append(d)
    for i in range(200):
        st, js, text = ask(world, "sweeper", q_license(drivers[i]["license_number"]))
        assert st == 200, (i, text)
    # the same subjects again are not new subjects
    assert ask(world, "sweeper", q_license(drivers[0]["license_number"]))[0] == 200
    st, js, text = ask(world, "sweeper", q_license(drivers[200]["license_number"]))
    assert st == 429, text
    assert js["error"]["code"] == "limit_exceeded" and '"sweep"' in js["error"]["message"]
    assert isinstance(js["audit"]["index"], int) and "records" not in js
    # then suspend: the user is locked until an administrator unlocks it
    st, js, _ = ask(world, "sweeper", q_license(drivers[0]["license_number"]))
    assert st == 401 and js["error"]["code"] == "locked"


def test_household_limit_429(world):
    """limit "household" per agency 3 people at one address per 24h."""
    by_addr = {}
    for d in world["drivers"]:
        by_addr.setdefault((d["street"], d["city"], d["zip"]), []).append(d)
    people = next(v for v in by_addr.values() if len(v) >= 4)
    for d in people[:3]:
        st, js, text = ask(world, "household", q_license(d["license_number"]))
        assert st == 200, text
    st, js, text = ask(world, "household", q_license(people[3]["license_number"]))
    assert st == 429 and '"household"' in js["error"]["message"], text
    assert "records" not in js and people[3]["last_name"] not in text
    # the three already seen may still be asked about
    assert ask(world, "household", q_license(people[0]["license_number"]))[0] == 200


# ------------------------------------------------------------ never disclosed

def test_sensitive_fields_never_released_over_1000_queries(world):
    drivers = world["drivers"]
    by_lic = {d["license_number"]: d for d in drivers}
    dpc = [d for d in drivers if d["license_kind"] == "DRIVER_PRIVILEGE_CARD"]
    assert len(dpc) > len(drivers) // 3
    rng = random.Random(5)
    who = ["police%d" % i for i in range(10)] + ["dmv", "court", "insurer", "employer_cdl",
                                                  "researcher", "federal_immigration"]
    purposes = {"dmv": "dmv_administration", "court": "court_proceeding",
                "insurer": "insurance_claim", "employer_cdl": "cdl_verification",
                "researcher": "research_statistics",
                "federal_immigration": "civil_immigration_enforcement"}
    banned_values = {"DRIVER_PRIVILEGE_CARD", "REAL_ID", "STANDARD", "FOREIGN_PASSPORT",
                     "CONSULAR_ID", "ITIN_LETTER", "US_PASSPORT", "US_BIRTH_CERTIFICATE",
                     "PERMANENT_RESIDENT_CARD", "EMPLOYMENT_AUTHORIZATION"}
    permits = 0
    for i in range(1000):
        d = rng.choice(dpc) if i % 4 else rng.choice(drivers)
        u = who[i % len(who)]
        q = q_license(d["license_number"], purposes.get(u, "criminal_investigation"))
        if i % 7 == 0:
            q = {"type": "driver", "by": "name_dob", "last_name": d["last_name"],
                 "first_name": d["first_name"], "dob": d["dob"],
                 "purpose": q["purpose"], "reason": "r"}
        if i % 11 == 0:
            q["include"] = ["photo"]
        st, js, text = ask(world, u, q)
        assert st in (200, 403, 429), text    # 429: the household limit
        for k in SENSITIVE:
            assert f'"{k}"' not in text
        for v in banned_values:
            assert v not in text
        for rec in js.get("records", []):
            permits += 1
            src = by_lic.get(rec.get("license_number"), d)
            for k in ("ssn", "place_of_birth"):
                if src[k]:
                    assert src[k] not in text, (k, src[k])
            for doc in src["documents"].split(";"):
                assert doc == "" or doc not in text
            assert re.search(r"\d{3}-\d{2}-\d{4}", text) is None
    assert permits > 500


# ------------------------------------------------------------ legal process and notices

def register_process(w, kind, ori, subjects, items, max_uses=None):
    doc = w["base"] / "order.pdf"
    doc.write_bytes(b"%PDF-1.4 synthetic court order\n")
    args = ["process", "add", "--kind", kind, "--agency", ori, "--court", "Superior Court",
            "--case", "26-CV-1", "--judge", "J. Doe", "--issued", "2026-01-01",
            "--expires", "2099-01-01", "--subject", ",".join(subjects),
            "--items", ",".join(items), "--document", doc, "--data", w["data"]]
    if max_uses:
        args += ["--max-uses", max_uses]
    out = run(*args).stdout
    m = re.search(r"LP-\d+", out)
    assert m, out
    return m.group(0)


def test_immigration_with_court_order_releases_only_named_items(world):
    d, other = a_driver(world, 20), a_driver(world, 21)
    lp = register_process(world, "court_order", "DC0040000", [d["license_number"]],
                          ["last_name", "street", "city"], max_uses=2)
    time.sleep(1.1)
    q = q_license(d["license_number"], "civil_immigration_enforcement", legal_process=lp)
    st, js, text = ask(world, "federal_immigration", q)
    assert st == 200, text
    assert [r["id"] for r in js["rules"]] == ["immigration-with-judicial-process"]
    rec = js["records"][0]
    assert set(rec) <= {"last_name", "street", "city"}
    assert rec["last_name"] == d["last_name"]
    # the order does not name this subject
    st, js, _ = ask(world, "federal_immigration",
                    dict(q, license_number=other["license_number"]))
    assert st == 403 and "immigration-needs-judicial-process" in [r["id"] for r in js["rules"]]
    # an administrative warrant is not judicial process
    lp2 = register_process(world, "administrative_warrant", "DC0040000", [d["license_number"]],
                           ["last_name"])
    time.sleep(1.1)
    st, js, _ = ask(world, "federal_immigration", dict(q, legal_process=lp2))
    assert st == 403
    # max uses: the second use is the last one
    assert ask(world, "federal_immigration", q)[0] == 200
    st, js, _ = ask(world, "federal_immigration", q)
    assert st == 403 and "records" not in js
    # each of these immigration requests owes the subject a notice
    out = run("notices", "list", "--data", world["data"]).stdout
    assert d["license_number"] in out


# ------------------------------------------------------------ /v1/nlets

def nlets(world, who, text):
    gw = world["gw"]
    h = {"Content-Type": "text/plain"}
    if who:
        h["Authorization"] = "Bearer " + world["tok"][who]
    st, hd, body = gw.request("POST", "/v1/nlets", body=text, headers=h)
    m = re.search(r"AUD/(\d+)\n?$", body)
    if st != 401:
        assert m, body
        world["responses"].append((int(m.group(1)), body))
    return st, body


def test_nlets_dq_permit_deny_reject(world):
    d = a_driver(world, 7)
    st, body = nlets(world, "local_police",
                     f"DQ.CA0010000.CA.*T1.TXT\nOLN/{d['license_number']}.PUR/C.ATN/DET J RIVERA\n")
    assert st == 200, body
    assert body.startswith("DR.CAOLN0000.CA0010000.*T1.TXT")
    assert d["license_number"] in body
    for k in ("DRIVER_PRIVILEGE_CARD", "REAL_ID", "SSN/", "CONSULAR_ID"):
        assert k not in body
    # the sending ORI must be the authenticated agency's
    st, body = nlets(world, "local_police",
                     f"DQ.CA0020000.CA.TXT\nOLN/{d['license_number']}.PUR/C.ATN/X\n")
    assert st == 403 and "ORI NOT AUTHORIZED" in body
    # immigration purpose: denied by policy, in kind
    st, body = nlets(world, "local_police",
                     f"DQ.CA0010000.CA.TXT\nOLN/{d['license_number']}.PUR/I.ATN/X\n")
    assert st == 403 and "REJECT - DENIED BY POLICY" in body
    assert "immigration-needs-judicial-process" in body
    # malformed: a reject, audited
    st, body = nlets(world, "local_police", "DQ.CA0010000.CA.TXT\nOLN/D1.PUR/C.ATN/X.\n")
    assert st == 400 and body.startswith("ER.") and "REJECT - TRAILING PERIOD" in body
    # not on file
    st, body = nlets(world, "local_police", "DQ.CA0010000.CA.TXT\nOLN/Z9999999.PUR/C.ATN/X\n")
    assert st == 200 and "NOT ON FILE" in body
    # no token
    st, body = nlets(world, None, "DQ.CA0010000.CA.TXT\nOLN/Z9999999.PUR/C.ATN/X\n")
    assert st == 401 and body.startswith("REJECT - UNAUTHORIZED")


def test_nlets_rq_by_plate(world):
    v = next(v for v in world["vehicles"] if v["plate_state"] == "CA")
    st, body = nlets(world, "state_police",
                     f"RQ.CA0020000.CA.TXT\nLIC/{v['plate']}.LIY/NX.LIT/PC.PUR/T.ATN/OFC SMITH\n")
    assert st in (200, 400), body
    if st == 200:
        assert body.startswith("RR.") and (v["vin"] in body or "NOT ON FILE" in body)


# ------------------------------------------------------------ the audit trail

def audit_entries(data):
    """Every entry of the log, by index (`audit show` prints JSON lines)."""
    p = run("audit", "show", "--data", data, check=False)
    if p.returncode != 0 and "not implemented" in p.stderr:
        pytest.skip("audit show not available yet")
    assert p.returncode == 0, p.stderr
    entries = {}
    for line in p.stdout.splitlines():
        e = json.loads(line)
        entries[e["index"]] = e
    return entries


def test_zz_audit_matches_every_response(world):
    """Runs last in the module: every response's audit index resolves to an
    entry whose response hash matches the body received."""
    responses = [(i, t) for i, t in world["responses"] if i is not None]
    assert len(responses) > 1000
    time.sleep(1.2)
    entries = audit_entries(world["data"])
    for index, text in responses:
        e = entries[index]
        assert e["kind"] == "query"
        assert e["client_addr"] == "127.0.0.1"
        if text.startswith("{"):
            assert e["channel"] == "json"
            assert e["response_sha256"] == response_hash(text), (index, text[:200])
            assert e["leaf_hash"] == json.loads(text)["audit"]["leaf_hash"]
        else:                      # Nlets answers are hashed whole
            assert e["channel"] == "nlets"
            assert e["response_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    kinds = {e["kind"] for e in entries.values()}
    assert {"query", "auth_failure", "registry"} <= kinds
    p = run("audit", "verify", "--data", world["data"], check=False)
    assert p.returncode == 0, p.stdout + p.stderr


# ------------------------------------------------------------ signals

@pytest.fixture
def own_gateway(world, tmp_path):
    """A second gateway over a copy of the data, with a policy file we may
    break."""
    data = tmp_path / "data"
    shutil.copytree(world["data"], data, ignore=shutil.ignore_patterns("serve-*.err", "lock"))
    pol = tmp_path / "p.policy"
    shutil.copy(DEFAULT_POLICY, pol)
    # the copied log is not held by anyone: the new server takes it
    gw = Gateway(data, policy=pol)
    yield gw, pol, data
    gw.stop()


def test_sighup_broken_policy_keeps_the_old_one(world, own_gateway):
    gw, pol, _ = own_gateway
    tok = world["tok"]["insurer"]
    lic = a_driver(world)["license_number"]
    assert gw.query(tok, q_license(lic, "insurance_claim"))[0] == 200
    pol.write_text(pol.read_text() + "\npermit \"broken\" when nonsense ==\n")
    gw.reload()
    time.sleep(0.5)
    assert "policy reload failed" in gw.stderr()
    assert gw.query(tok, q_license(lic, "insurance_claim"))[0] == 200
    st, _, text = gw.request("GET", "/metrics")
    assert 'dmvgate_policy_reloads_total{result="error"} 1' in text
    # a good new policy without the insurers' permit takes effect
    text = open(DEFAULT_POLICY).read()
    text = re.sub(r'permit "insurers".*?\n\n', "", text, flags=re.S)
    pol.write_text(text)
    gw.reload()
    time.sleep(0.5)
    st, js, _ = gw.query(tok, q_license(lic, "insurance_claim"))
    assert st == 403 and js["rules"] == []


def test_sigterm_exits_cleanly_with_a_final_checkpoint(world, own_gateway):
    gw, _, data = own_gateway
    lic = a_driver(world)["license_number"]
    st, js, _ = gw.query(world["tok"]["local_police"], q_license(lic))
    assert st == 200
    last = js["audit"]["index"]
    assert gw.stop() == 0
    assert "final checkpoint" in gw.stderr()
    cp = open(os.path.join(data, "audit", "checkpoint")).read().split("\n")
    assert int(cp[1]) >= last + 1


def test_request_log_one_line_per_request_without_personal_data(world, own_gateway):
    """stderr carries one line per request naming its audit index (or "-"),
    written in batches: each line appears within about a third of a second,
    and every line is there after SIGTERM."""
    gw, _, _ = own_gateway
    d = a_driver(world, 3)
    tok = world["tok"]["local_police"]
    st, js, _ = gw.query(tok, q_license(d["license_number"]))
    assert st == 200 and js["records"]
    permit = js["audit"]["index"]
    name_q = {"type": "driver", "by": "name_dob", "last_name": d["last_name"],
              "first_name": d["first_name"], "dob": d["dob"], "purpose": "marketing",
              "reason": "a mailing list"}
    st, js, _ = gw.query(world["tok"]["insurer"], name_q)
    assert st == 403
    deny = js["audit"]["index"]
    assert gw.query("dmv_not-a-token", q_license(d["license_number"]))[0] == 401
    assert gw.request("GET", "/nowhere")[0] == 404
    # batched, but not held back: the permit's line shows up while serving
    deadline = time.time() + 3
    while f"POST /v1/query 200 audit={permit} " not in gw.stderr() and time.time() < deadline:
        time.sleep(0.05)
    assert f"POST /v1/query 200 audit={permit} " in gw.stderr()
    for _ in range(200):
        assert gw.query(tok, q_license(d["license_number"]))[0] == 200
    assert gw.stop() == 0
    err = gw.stderr()
    lines = [l for l in err.splitlines() if re.match(r"dmvgate: (GET|POST|HEAD|OTHER) ", l)]
    assert all(re.fullmatch(r"dmvgate: (GET|POST) \S+ \d{3} audit=(\d+|-) \d+us", l)
               for l in lines), lines
    queries = [l for l in lines if l.startswith("dmvgate: POST /v1/query ")]
    assert len(queries) == 203
    assert sum(1 for l in queries if " 200 audit=" in l) == 201
    assert f"dmvgate: POST /v1/query 403 audit={deny} " in err
    assert any(re.fullmatch(r"dmvgate: POST /v1/query 401 audit=- \d+us", l) for l in lines)
    assert any(l.startswith("dmvgate: GET (other) 404 audit=- ") for l in lines)
    for secret in (d["license_number"], d["last_name"], d["first_name"], d["dob"], tok):
        assert secret not in err



def test_import_while_serving_switches_to_the_new_records(world, own_gateway, tmp_path):
    gw, _, data = own_gateway
    tok = world["tok"]["local_police"]
    old = a_driver(world)["license_number"]
    assert gw.query(tok, q_license(old))[1]["records"] != []
    run("gen", "--drivers", 300, "--seed", 99, "--out", tmp_path / "new")
    run("import", "--data", data, tmp_path / "new")
    new = load_csv(tmp_path / "new" / "drivers.csv")[0]["license_number"]
    deadline = time.time() + 3
    while time.time() < deadline:
        st, js, _ = gw.query(tok, q_license(new))
        if st == 200 and js["records"]:
            break
        time.sleep(0.1)
    assert js["records"][0]["license_number"] == new
    if old not in {d["license_number"] for d in load_csv(tmp_path / "new" / "drivers.csv")}:
        assert gw.query(tok, q_license(old))[1]["records"] == []


def test_config_file_connection_cap_and_idle_timeout(world, tmp_path):
    """A --config file's limits apply: at max_connections a new connection
    waits (in the listen backlog) until a slot frees, an idle connection is
    closed after connection_timeout, and the server keeps serving."""
    data = tmp_path / "data"
    shutil.copytree(world["data"], data, ignore=shutil.ignore_patterns("serve-*.err", "lock"))
    conf = tmp_path / "dmvgate.conf"
    conf.write_text("# test\nmax_connections 4\nconnection_timeout 3\nthreads 1\n")
    gw = Gateway(data, config=conf)
    try:
        time.sleep(0.2)
        held = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(4)]
        t_open = time.time()
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", gw.port))
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(1)
        with pytest.raises(socket.timeout):
            extra.recv(100)                   # at the cap: not served yet
        held.pop().close()                    # a slot frees
        extra.settimeout(3)
        assert extra.recv(100).startswith(b"HTTP/1.1 200")
        extra.close()
        for s in held:                        # idle ones are closed by the server
            s.settimeout(6)
            try:
                assert s.recv(10) == b""
            except ConnectionResetError:
                pass
            s.close()
        assert 2.5 <= time.time() - t_open <= 6
        st, _, _ = gw.request("GET", "/healthz")
        assert st == 200
    finally:
        assert gw.stop() == 0
