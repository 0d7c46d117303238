"""End-to-end tests of the Nlets text channel (issue 7): POST /v1/nlets on
the live daemon, against POST /v1/query on the same gateway.

test_server.py checks the endpoint's basic outcomes; these check that the
two channels are one: the same decision and rules for the same request,
the released fields and only those as tags, every search form, the same
form for DRIVER_PRIVILEGE_CARD and REAL_ID holders over many people, the
spoofing reject as an audited entry of channel "nlets", and every answer
hashed whole in its audit entry."""
import hashlib
import json
import re
import unicodedata

import pytest

from conftest import run
from gateway import AGENCIES, Gateway, add_agency, add_user, load_csv, q_license

AUD_RE = re.compile(r"\nAUD/(\d+)\n$")
ORI = {cat: ori for ori, cat in AGENCIES}

# JSON field -> Nlets tag (docs/nlets.md, "DR"), for the fields one tag carries.
DR_TAGS = {"dob": "DOB", "sex": "SEX", "height_in": "HGT", "weight_lb": "WGT",
           "eye_color": "EYE", "hair_color": "HAI", "license_number": "OLN",
           "status": "STATUS", "issued": "ISS", "expires": "EXP", "license_class": "CLS",
           "restrictions": "RES", "endorsements": "ENS", "street": "ADR", "city": "CTY",
           "state": "STA", "zip": "ZIP"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("nl")
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 1500, "--seed", 23, "--dpc-share", 0.5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    tok = {}
    for ori, cat in AGENCIES:
        add_agency(data, ori, cat)
        tok[cat] = add_user(data, ori, f"nl-{cat}")
    gw = Gateway(data)
    drivers = load_csv(csvdir / "drivers.csv")
    # people alone at their address: the policy's "household" limit (3 people
    # at one address per agency a day) must not stop these tests
    homes = {}
    for d in drivers:
        homes.setdefault((d["street"], d["city"], d["zip"]), []).append(d)
    alone = [v[0] for v in homes.values() if len(v) == 1]
    w = {"gw": gw, "tok": tok, "data": data, "drivers": alone,
         "vehicles": load_csv(csvdir / "vehicles.csv"), "answers": []}
    yield w
    gw.stop()


def nlets(w, who, text):
    h = {"Content-Type": "text/plain"}
    if who:
        h["Authorization"] = "Bearer " + w["tok"][who]
    st, _, body = w["gw"].request("POST", "/v1/nlets", body=text.encode(), headers=h)
    if st != 401:
        m = AUD_RE.search(body)
        assert m, body
        w["answers"].append((int(m.group(1)), body))
    return st, body


def dq(who, data, ctl="T1"):
    return f"DQ.{ORI[who]}.CA.*{ctl}.TXT\r\n{data}"


def tags(body):
    """The tags of an answer's data lines, in order (header and AUD/ left out)."""
    out = []
    for line in body.split("\n")[1:]:
        if not line or line.startswith("AUD/"):
            continue
        out.append(tuple(f.split("/", 1)[0] for f in line.split(".")))
    return out


def ascii_name(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).upper()
    return s if re.fullmatch(r"[A-Z][A-Z '-]*", s) else None


def rules_of(body):
    m = re.search(r"^RULES/(.*)$", body, re.M)
    return m.group(1).split(",") if m else []


# ------------------------------------------------------------ one decision for both channels

@pytest.mark.parametrize("who,pur,purpose", [
    ("local_police", "C", "criminal_investigation"),
    ("state_police", "T", "traffic_enforcement"),
    ("local_police", "I", "civil_immigration_enforcement"),
    ("local_police", "U", "civil_immigration_enforcement"),
    ("federal_immigration", "C", "criminal_investigation"),
    ("federal_immigration", "I", "civil_immigration_enforcement"),
    ("insurer", "C", "criminal_investigation"),
    ("researcher", "C", "criminal_investigation"),
])
def test_same_decision_and_rules_as_json(world, who, pur, purpose):
    d = world["drivers"][11]
    lic = d["license_number"]
    st_j, js, _ = world["gw"].query(world["tok"][who], q_license(lic, purpose=purpose,
                                                                   reason="DET J RIVERA"))
    st_n, body = nlets(world, who, dq(who, f"OLN/{lic}.PUR/{pur}.ATN/DET J RIVERA"))
    assert st_n == st_j, body
    if st_j == 200:
        assert body.startswith(f"DR.CAOLN0000.{ORI[who]}.*T1.TXT\n")
    else:
        assert "\nREJECT - DENIED BY POLICY\n" in body
        assert rules_of(body) == [r["id"] for r in js["rules"]]


def test_released_fields_and_only_those(world):
    for d in world["drivers"][20:40]:
        lic = d["license_number"]
        st, js, _ = world["gw"].query(world["tok"]["local_police"], q_license(lic))
        assert st == 200
        rec = js["records"][0]
        st, body = nlets(world, "local_police", dq("local_police", f"OLN/{lic}.PUR/C.ATN/X"))
        assert st == 200
        flat = [t for line in tags(body) for t in line]
        vals = dict(f.split("/", 1) for line in body.split("\n")[1:] for f in line.split(".")
                    if "/" in f)
        for field, tag in DR_TAGS.items():
            # every field of this release has its tag, empty or not (the
            # form depends on the release alone); JSON leaves empty ones out
            assert tag in flat, (field, body)
            assert (vals[tag] != "") == (field in rec), (field, body)
        assert f"OLN/{lic}.OLS/CA" in body
        if rec.get("dob"):
            assert "DOB/" + rec["dob"].replace("-", "") in body
        for never in ("REAL_ID", "STANDARD", "DRIVER_PRIVILEGE", "PASSPORT", "CONSULAR",
                      "ITIN", "SOC/", "SSN/", "POB/"):
            assert never not in body
        if d.get("ssn"):
            assert d["ssn"] not in body and d["ssn"].replace("-", "") not in body


def test_privilege_card_and_real_id_answers_have_one_form(world):
    """Over many people of both kinds, every DR has the same lines and tags
    (history lines aside, whose number is each person's record)."""
    forms = {}
    seen = {"REAL_ID": 0, "DRIVER_PRIVILEGE_CARD": 0}
    for d in world["drivers"]:
        kind = d["license_kind"]
        if kind not in seen or seen[kind] >= 25:
            continue
        seen[kind] += 1
        st, body = nlets(world, "local_police",
                         dq("local_police", f"OLN/{d['license_number']}.IMQ/Y.PUR/C.ATN/X"))
        assert st == 200
        form = tuple(t for t in tags(body) if t[0] != "HIS")
        forms.setdefault(form, set()).add(kind)
    assert seen == {"REAL_ID": 25, "DRIVER_PRIVILEGE_CARD": 25}
    assert len(forms) == 1, forms


# ------------------------------------------------------------ search forms

def test_dq_by_name_dob_sex_both_date_forms(world):
    d = next(d for d in world["drivers"]
             if ascii_name(d["last_name"]) and ascii_name(d["first_name"])
             and " " not in d["first_name"] and len(d["last_name"] + d["first_name"]) < 28)
    nam = f"{ascii_name(d['last_name'])},{ascii_name(d['first_name'])}"
    y, m, dd = d["dob"].split("-")
    for dob in (y + m + dd, m + dd + y[2:]):
        st, body = nlets(world, "local_police",
                         dq("local_police", f"NAM/{nam}.DOB/{dob}.SEX/{d['sex']}.PUR/C.ATN/X"))
        assert st == 200 and f"OLN/{d['license_number']}." in body, body


def test_rq_by_plate_and_by_vin(world):
    v = next(v for v in world["vehicles"]
             if v["plate_state"] == "CA" and re.fullmatch(r"[A-Z0-9]{1,10}", v["plate"]))
    who = "state_police"
    st, body = nlets(world, who, f"RQ.{ORI[who]}.CA.TXT\nLIC/{v['plate']}.LIY/NX.LIT/PC.PUR/T.ATN/X")
    assert st == 200 and body.startswith(f"RR.CALIC0000.{ORI[who]}.TXT\n")
    assert f"VIN/{v['vin']}." in body
    st, body = nlets(world, who, f"RQ.{ORI[who]}.NL.*V1.TXT\nVIN/{v['vin']}.PUR/C.ATN/X")
    assert st == 200 and f"LIC/{v['plate']}." in body


def test_not_on_file(world):
    st, body = nlets(world, "local_police", dq("local_police", "OLN/Q0000000.PUR/C.ATN/X", "NF"))
    assert st == 200 and body.split("\n")[1] == "NOT ON FILE"


# ------------------------------------------------------------ rejects

@pytest.mark.parametrize("data,text", [
    ("OLN/D1.PUR/C.ATN/X.", "REJECT - TRAILING PERIOD"),
    ("OLN/D1.ATN/X", "REJECT - MISSING PUR"),
    ("OLN/D1.PUR/C", "REJECT - MISSING ATN"),
    ("OLN/D1.PUR/J.ATN/X", "REJECT - PUR CODE NOT ACCEPTED"),
    ("NAM/SMITH,JOHN.PUR/C.ATN/X", "REJECT - MISSING OLN OR NAM/DOB/SEX"),
    ("VIN/1HGCM82633A004352.PUR/C.ATN/X", "REJECT - TAG NOT VALID FOR MESSAGE KEY"),
])
def test_malformed_is_an_audited_400_in_kind(world, data, text):
    st, body = nlets(world, "local_police", dq("local_police", data, "E1"))
    assert st == 400
    assert body.startswith(f"ER.CAOLN0000.{ORI['local_police']}.*E1.TXT\n{text}\n"), body


def test_bulk_keys_are_refused(world):
    who = "local_police"
    st, body = nlets(world, who, f"DNQ.{ORI[who]}.CA.TXT\nNAM/SMITH,JOHN.PUR/C.ATN/X")
    assert st == 400 and "REJECT - NAME-ONLY QUERY NOT SUPPORTED" in body
    st, body = nlets(world, who, f"RPQ.{ORI[who]}.CA.TXT\nLIC/7AB.PUR/C.ATN/X")
    assert st == 400 and "REJECT - PARTIAL PLATE QUERY NOT SUPPORTED" in body


def test_spoofed_ori_is_refused_and_audited(world):
    d = world["drivers"][3]
    me, other = "local_police", "federal_criminal"
    st, body = nlets(world, me, f"DQ.{ORI[other]}.CA.*SP.TXT\nOLN/{d['license_number']}.PUR/C.ATN/X")
    assert st == 403
    assert "REJECT - ORI NOT AUTHORIZED FOR THIS CONNECTION" in body
    assert d["license_number"] not in body
    idx = int(AUD_RE.search(body).group(1))
    p = run("audit", "show", "--data", world["data"], "--agency", ORI[me], check=False)
    assert p.returncode == 0, p.stderr
    e = next(json.loads(x) for x in p.stdout.splitlines() if json.loads(x)["index"] == idx)
    assert e["channel"] == "nlets" and e["decision"] == "deny"
    assert e["ori"] == ORI[me]
    assert "ORI NOT AUTHORIZED" in e.get("detail", "")


def test_401_without_a_token(world):
    st, _ = nlets(world, None, "DQ.CA0010000.CA.TXT\nOLN/D1.PUR/C.ATN/X")
    assert st == 401


# ------------------------------------------------------------ the audit trail

def test_zz_every_answer_is_hashed_whole_in_its_entry(world):
    p = run("audit", "show", "--data", world["data"], check=False)
    assert p.returncode == 0, p.stderr
    entries = {json.loads(x)["index"]: json.loads(x) for x in p.stdout.splitlines()}
    assert len(world["answers"]) > 80
    for idx, body in world["answers"]:
        e = entries[idx]
        assert e["channel"] == "nlets"
        assert e["response_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert run("audit", "verify", "--data", world["data"], check=False).returncode == 0
