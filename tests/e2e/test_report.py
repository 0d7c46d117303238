"""End-to-end tests of the transparency report (issue 9): a scripted run of
a few hundred requests of known outcomes against the real daemon, then
/transparency.json, /transparency.csv and /transparency (HTML) must agree
with each other, with `dmvgate report` and with the audit log itself
(`dmvgate audit show`); small counts are suppressed at k-1 and not at k;
the page loads in headless Chromium, its DOM holds the expected numbers and
a screenshot is written to the test's temporary folder."""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from html.parser import HTMLParser

import pytest

from conftest import run
from gateway import Gateway, add_agency, add_user, load_csv, q_license

K = 10
OUTCOMES = ["permit", "deny", "limited", "invalid", "error", "total"]


def add_process(data, base, ori, subjects, items):
    doc = base / "order.pdf"
    doc.write_bytes(b"%PDF-1.4 order\n")
    p = run("process", "add", "--data", data, "--kind", "court_order", "--agency", ori,
            "--court", "U.S. District Court, S.D.N.Y.", "--case", "1:26-cv-01234",
            "--judge", "Hon. A. Smith", "--issued", "2026-01-01", "--expires", "2099-12-31",
            "--subject", *subjects, "--items", *items, "--document", doc)
    return p.stdout.splitlines()[0]


def distinct_address_drivers(drivers, n):
    """n drivers with pairwise distinct addresses (so the policy's household
    limit never stops the scripted requests)."""
    seen, out = set(), []
    for d in drivers:
        a = (d["street"], d["city"], d["zip"])
        if a in seen or not d["street"]:
            continue
        seen.add(a)
        out.append(d)
        if len(out) == n:
            return out
    raise AssertionError("not enough distinct addresses")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 2000, "--seed", 5, "--out", csvdir)
    run("import", "--data", data, csvdir)
    agencies = [("CA0010000", "local_police"), ("CA0050000", "court"),
                ("CA0060000", "insurer"), ("DC0040000", "federal_immigration"),
                ("CA0100000", "researcher")]
    tok = {}
    for ori, cat in agencies:
        add_agency(data, ori, cat)
        tok[cat] = add_user(data, ori, f"u-{cat}")
    tok["police2"] = add_user(data, "CA0010000", "u-police2")
    add_agency(data, "CA0110000", "state_police", until="2020-01-01")
    tok["expired"] = add_user(data, "CA0110000", "u-expired")
    drivers = distinct_address_drivers(load_csv(csvdir / "drivers.csv"), 200)
    lp = add_process(data, base, "DC0040000", [drivers[0]["license_number"],
                                               drivers[1]["license_number"]],
                     ["last_name", "first_name"])
    gw = Gateway(data)
    w = {"data": data, "base": base, "gw": gw, "tok": tok, "drivers": drivers, "lp": lp,
         "statuses": Counter()}
    try:
        script(w)
        w["json_text"] = fetch(w, "/transparency.json")
        w["csv_text"] = fetch(w, "/transparency.csv")
        w["html_text"] = fetch(w, "/transparency")
        yield w
    finally:
        gw.stop()


def fetch(w, path):
    st, hd, body = w["gw"].request("GET", path)
    assert st == 200, body
    return body


def ask(w, who, q, expect):
    st, js, text = w["gw"].query(w["tok"][who] if who else None, q)
    assert st == expect, (who, q, text)
    w["statuses"][(who, st)] += 1


def nlets(w, who, text, expect):
    h = {"Content-Type": "text/plain", "Authorization": "Bearer " + w["tok"][who]}
    st, hd, body = w["gw"].request("POST", "/v1/nlets", body=text, headers=h)
    assert st == expect, body


def script(w):
    """The scripted run: 271 requests whose outcomes are known in advance."""
    d = w["drivers"]
    for i in range(150):      # police permits, two users (under the sweep limit)
        ask(w, "local_police" if i % 2 else "police2", q_license(d[i]["license_number"]), 200)
    for i in range(9):        # bulk: denied by no-bulk, 9 = k-1
        ask(w, "local_police", {"type": "driver", "by": "address", "street": d[i]["street"],
                                "city": d[i]["city"], "zip": d[i]["zip"],
                                "purpose": "criminal_investigation", "reason": "sweep"}, 403)
    for i in range(10):       # court permits: exactly k
        ask(w, "court", q_license(d[100 + i]["license_number"], purpose="court_proceeding"), 200)
    for i in range(25):       # insurer asking for criminal investigation: default deny
        ask(w, "insurer", q_license(d[110 + i]["license_number"]), 403)
    for i in range(12):       # immigration without judicial process: denied, notices owed
        ask(w, "federal_immigration",
            q_license(d[2 + i]["license_number"], purpose="civil_immigration_enforcement"), 403)
    for i in range(2):        # immigration under a court order naming the person
        ask(w, "federal_immigration",
            q_license(d[i]["license_number"], purpose="civil_immigration_enforcement",
                      legal_process=w["lp"]), 200)
    for i in range(30):       # research
        ask(w, "researcher", q_license(d[140 + i]["license_number"],
                                       purpose="research_statistics"), 200)
    for i in range(11):       # expired certification
        ask(w, "expired", q_license(d[170 + i]["license_number"]), 403)
    for i in range(5):        # malformed
        ask(w, "court", {"type": "driver", "by": "license", "purpose": "court_proceeding",
                         "reason": "x"}, 400)
    w["tok"]["bogus"] = "dmv_000000000000_" + "A" * 43
    for i in range(7):        # failed authentication
        ask(w, "bogus", q_license("D1"), 401)
    for i in range(10):       # Nlets permits
        nlets(w, "local_police", f"DQ.CA0010000.CA.TXT\nOLN/{d[181 + i]['license_number']}"
                                 ".PUR/C.ATN/DET J RIVERA\n", 200)
    w["expected"] = {
        ("local_police", "criminal_investigation"): {"permit": 160, "deny": 9},
        ("court", "court_proceeding"): {"permit": 10},
        ("court", "(none)"): {"invalid": 5},
        ("insurer", "criminal_investigation"): {"deny": 25},
        ("federal_immigration", "civil_immigration_enforcement"): {"permit": 2, "deny": 12},
        ("researcher", "research_statistics"): {"permit": 30},
        ("state_police", "criminal_investigation"): {"deny": 11},
    }


# ------------------------------------------------------------ helpers

def shown(v, k=K):
    return f"<{k}" if 0 < v < k else str(v)


def json_cells(js):
    """{(table, key tuple, measure): displayed string} from the JSON report."""
    out = {}
    for t in js["tables"]:
        for row in t["rows"]:
            for m, v in zip(t["measures"], row["values"]):
                out[(t["id"], tuple(row["key"]), m)] = str(v)
        if "total" in t:
            for m, v in zip(t["measures"], t["total"]):
                out[(t["id"], ("(total)",) + ("",) * (len(t["keys"]) - 1), m)] = str(v)
    return out


def csv_cells(text):
    out = {}
    for r in csv.DictReader(io.StringIO(text)):
        if r["table"] == "meta":
            continue
        keys = tuple(r[f"key{i}"] for i in range(1, 5))
        out[(r["table"], keys, r["measure"])] = r["value"]
    return out


class Tables(HTMLParser):
    """Collects the data tables of the page: {(table, key tuple, measure): text}."""

    def __init__(self):
        super().__init__()
        self.cells, self.table, self.row, self.cell, self.m = {}, None, None, None, None
        self.measures_seen = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-table" in a:
            self.table = a["data-table"]
        elif tag == "tr" and self.table:
            self.row = []
        elif tag in ("th", "td") and self.row is not None:
            self.cell, self.m = "", a.get("data-m")

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.cell is not None:
            self.row.append((self.m, self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            keys = tuple(v for m, v in self.row if m is None)
            for m, v in self.row:
                if m is not None:
                    self.cells[(self.table, keys, m)] = v
            self.row = None
        elif tag == "table":
            self.table = None


def html_cells(text):
    p = Tables()
    p.feed(text)
    return p.cells


def norm(cells):
    """Drops empty trailing key parts, so that formats compare equal."""
    out = {}
    for (t, keys, m), v in cells.items():
        keys = tuple(keys)
        while keys and keys[-1] == "":
            keys = keys[:-1]
        out[(t, keys, m)] = v
    return out


def log_entries(data):
    p = run("audit", "show", "--data", data)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def outcome(e):
    if e["status"] == 429:
        return "limited"
    if e["status"] in (400, 413):
        return "invalid"
    if e["status"] >= 500:
        return "error"
    return "permit" if e["decision"] == "permit" else "deny"


# ------------------------------------------------------------ tests

def test_formats_agree(world):
    js = json.loads(world["json_text"])
    j = norm(json_cells(js))
    c = norm(csv_cells(world["csv_text"]))
    h = norm(html_cells(world["html_text"]))
    assert j, "no cells"
    assert j == c
    assert j == h
    # same period and generation time in all three
    assert js["period"]["label"] in world["html_text"]
    assert f"meta,generated,,,,value,{js['generated']}" in world["csv_text"]
    assert js["generated"] in world["html_text"]


def test_agrees_with_the_log(world):
    js = json.loads(world["json_text"])
    cells = norm(json_cells(js))
    entries = [e for e in log_entries(world["data"])
               if e["index"] <= js["audit"]["period_last_index"]]
    assert len(entries) == js["audit"]["entries_in_period"]
    req = defaultdict(Counter)
    chan = defaultdict(Counter)
    rules = Counter()
    auth = Counter()
    for e in entries:
        if e["kind"] == "auth_failure":
            auth[e["detail"]] += 1
        if e["kind"] != "query":
            continue
        o = outcome(e)
        key = (e["category"], e["purpose"] or "(none)")
        req[key][o] += 1
        req[key]["total"] += 1
        chan[e["channel"]][o] += 1
        if o == "deny":
            for r in e["rules"] or ["(no rule named)"]:
                rules[r] += 1
    # the scripted outcomes are what the log holds
    for key, want in world["expected"].items():
        for o, n in want.items():
            assert req[key][o] == n, (key, o, req[key])
    # and what the report shows, suppressed
    for key, cnt in req.items():
        for o in OUTCOMES:
            assert cells[("requests", key, o)] == shown(cnt[o]), (key, o)
    for ch, cnt in chan.items():
        assert cells[("requests_by_channel", (ch,), "permit")] == shown(cnt["permit"])
    assert chan["nlets"]["permit"] == 10
    for r, n in rules.items():
        k = [k for k in cells if k[0] == "denials_by_rule" and k[1][0] == r]
        assert k and cells[k[0]] == shown(n), r
    assert sum(auth.values()) == 7
    for why, n in auth.items():
        assert cells[("authentication_failures", (why,), "requests")] == shown(n)
    assert cells[("summary", ("requests decided",), "count")] == shown(sum(
        c["total"] for c in req.values()))


def test_suppression_at_k_minus_1_and_k(world):
    cells = norm(json_cells(json.loads(world["json_text"])))
    # exactly k court permits: shown; k-1 bulk denials: hidden; 0 stays 0
    assert cells[("requests", ("court", "court_proceeding"), "permit")] == "10"
    assert cells[("requests", ("local_police", "criminal_investigation"), "deny")] == "<10"
    assert cells[("denials_by_rule", ("no-bulk", "NILC 2016 rec. 2; C.R.S. 24-74-103"),
                  "denials")] == "<10"
    assert cells[("requests", ("court", "court_proceeding"), "deny")] == "0"
    assert cells[("requests", ("insurer", "criminal_investigation"), "deny")] == "25"
    assert cells[("denials_by_rule", ("certification-expired",
                                      "18 USC 2721(c); NY VTL 201(12)(b); C.R.S. 24-74-105"),
                  "denials")] == "11"
    # the legal process: 2 accepted, hidden; notices: 12 + 2 created
    assert cells[("legal_process", ("court_order",), "accepted")] == "<10"
    assert cells[("notices", ("federal_immigration",), "created")] == "14"
    # the same report from the CLI with k = 11 hides the 10, k = 1 hides nothing
    p = run("report", "--data", world["data"], "--format", "json", "--k", 11)
    c11 = norm(json_cells(json.loads(p.stdout)))
    assert c11[("requests", ("court", "court_proceeding"), "permit")] == "<11"
    p = run("report", "--data", world["data"], "--format", "csv", "--k", 1)
    assert "requests,local_police,criminal_investigation,,,deny,9\n" in p.stdout


def test_no_person_no_agency_in_public_outputs(world):
    d = world["drivers"]
    for text in (world["json_text"], world["csv_text"], world["html_text"]):
        for ori in ("CA0010000", "CA0050000", "DC0040000", "CA0110000"):
            assert ori not in text
        for x in d[:200]:
            assert x["license_number"] not in text
        assert "u-local_police" not in text and "case 26-01234" not in text
        assert world["lp"] not in text
    # the internal report names agencies and shows every count
    p = run("report", "--data", world["data"], "--internal", "--format", "csv")
    assert "requests_by_agency,CA0010000,Agency CA0010000,local_police,,permit,160" in p.stdout
    assert "meta,suppression_k,,,,value,1" in p.stdout


def test_cli_matches_server(world):
    srv = json.loads(world["json_text"])
    p = run("report", "--data", world["data"], "--format", "json")
    cli = json.loads(p.stdout)
    # registry and notice snapshots can only have grown; the request tables
    # come from the same entries
    for tid in ("requests", "requests_by_category", "requests_by_channel", "denials_by_rule",
                "legal_process", "authentication_failures"):
        a = [t for t in srv["tables"] if t["id"] == tid][0]
        b = [t for t in cli["tables"] if t["id"] == tid][0]
        assert a["rows"] == b["rows"], tid
    assert cli["period"] == srv["period"]
    out = world["base"] / "r.html"
    run("report", "--data", world["data"], "--out", out)
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_server_routes(world):
    gw = world["gw"]
    st, hd, body = gw.request("GET", "/transparency.json?quarter=1999Q1")
    assert st == 400 and "invalid_quarter" in body
    js = json.loads(world["json_text"])
    y, q = int(js["period"]["label"][:4]), int(js["period"]["label"][5])
    prev = f"{y - 1}Q4" if q == 1 else f"{y}Q{q - 1}"
    st, hd, body = gw.request("GET", f"/transparency.csv?quarter={prev}")
    assert st == 200 and f"meta,period,,,,value,{prev}" in body
    assert hd["Content-Type"].startswith("text/csv")
    st, hd, body = gw.request("POST", "/transparency", body="x")
    assert st == 405
    # the page is cached: a new request does not show up for up to 60 s
    before = fetch(world, "/transparency.json")
    world["gw"].query(world["tok"]["court"], q_license(world["drivers"][199]["license_number"],
                                                      purpose="court_proceeding"))
    assert fetch(world, "/transparency.json") == before
    # nothing external, no script
    html = world["html_text"]
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert '<html lang="en">' in html and 'role="img"' in html and "<caption>" in html
    # the checkpoint: the one the gateway serves, or a later one
    js = json.loads(world["json_text"])
    cp = js["checkpoint"]
    assert cp["signature"].startswith("\u2014 ") and cp["signature"] in cp["note"]
    assert cp["signature"] in html and cp["root_hash"] in html and cp["verifier"] in html
    st, hd, note = gw.request("GET", "/v1/checkpoint")
    assert st == 200 and int(note.splitlines()[1]) >= cp["tree_size"]
    pub = (world["data"] / "checkpoint.key.pub").read_text().strip()
    assert cp["verifier"] == pub


def test_page_in_headless_chromium(world, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed")
    url = f"http://127.0.0.1:{world['gw'].port}/transparency"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    for attempt in range(2):
        want = norm(json_cells(json.loads(fetch(world, "/transparency.json"))))
        p = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True,
                           text=True, timeout=60)
        dom = p.stdout
        assert "<h1>" in dom, p.stderr[-2000:]
        cells = norm(html_cells(dom))
        if cells == want:
            break     # else the 60 s cache was refreshed in between: once more
    assert cells == want
    assert cells[("requests_by_category", ("local_police",), "permit")] == "160"
    assert cells[("requests", ("local_police", "criminal_investigation"), "deny")] == "<10"
    assert cells[("requests", ("insurer", "criminal_investigation"), "deny")] == "25"
    shot = tmp_path / "page.png"
    p = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000",
                        url], capture_output=True, text=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 10000, p.stderr[-2000:]
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DMVGATE_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["DMVGATE_KEEP_SCREENSHOT"])


def test_k_from_the_config_file(tmp_path):
    """The served report suppresses with the configuration's report_k."""
    data, csvdir = tmp_path / "data", tmp_path / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 50, "--seed", 9, "--out", csvdir)
    run("import", "--data", data, csvdir)
    add_agency(data, "CA0010000", "local_police")
    tok = add_user(data, "CA0010000", "u1")
    drivers = distinct_address_drivers(load_csv(csvdir / "drivers.csv"), 5)
    conf = tmp_path / "dmvgate.conf"
    conf.write_text("report_k 4\n")
    gw = Gateway(data, config=conf)
    try:
        for d in drivers[:3]:
            st, _, text = gw.query(tok, {"type": "driver", "by": "license",
                                         "license_number": d["license_number"],
                                         "purpose": "criminal_investigation", "reason": "r"})
            assert st == 200, text
        st, _, body = gw.request("GET", "/transparency.json")
        assert st == 200
        cells = norm(json_cells(json.loads(body)))
        assert cells[("requests", ("local_police", "criminal_investigation"), "permit")] == "<4"
    finally:
        gw.stop()
    conf.write_text("report_k 1\n")
    p = run("serve", "--data", data, "--config", conf, "--check", check=False)
    assert p.returncode != 0 and "report_k" in p.stderr
