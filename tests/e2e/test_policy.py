"""End-to-end tests of `dmvgate policy check|test|explain` (issue 3): the
shipped policy passes its own case table, errors are reported as
FILE:LINE:COL, and explain names the deciding condition of every rule."""
import os
import re

from conftest import ROOT, run

POLICY = os.path.join(ROOT, "policy", "default.policy")
CASES = os.path.join(ROOT, "policy", "default.cases")


def test_default_policy_passes_its_cases():
    p = run("policy", "test", POLICY, CASES)
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, 0 failed", last)
    assert m and int(m.group(1)) >= 40, p.stdout
    # every rule is exercised both ways: no coverage note
    assert "note:" not in p.stderr, p.stderr


def test_check_ok():
    p = run("policy", "check", POLICY)
    assert re.fullmatch(rf"{re.escape(POLICY)}: ok \(\d+ rules, \d+ limits\)\n", p.stdout)
    p = run("policy", "check", os.path.join(ROOT, "bench", "cedar-equivalent.policy"))
    assert "ok (18 rules, 0 limits)" in p.stdout


def test_check_reports_every_error(tmp_path):
    f = tmp_path / "bad.policy"
    f.write_text("categories police\npurposes crim\n"
                 "forbid \"a\" cite \"x\" when category == polic\n"
                 "permit \"b\" cite \"y\" when purpose == crim release ssn\n"
                 "never ssn\n"
                 "limit \"l\" per user 5 queries per 1 hour\n")
    p = run("policy", "check", f, check=False)
    assert p.returncode == 1
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert f"{f}:3:38: unknown category 'polic'" in lines
    assert f"{f}:4:50: 'ssn' is a never item and cannot be released" in lines
    assert any(l.startswith(f"{f}:6:34: expected a window") for l in lines)
    assert len(lines) == 3


def test_check_missing_file(tmp_path):
    p = run("policy", "check", tmp_path / "nope.policy", check=False)
    assert p.returncode == 1
    assert "nope.policy:1:1: cannot read" in p.stderr


def test_test_reports_failures_and_case_errors(tmp_path):
    c = tmp_path / "x.cases"
    c.write_text("# comment\n"
                 "category=local_police purpose=criminal_investigation -> permit rules=law-enforcement\n"
                 "category=local_police purpose=criminal_investigation -> deny\n"
                 "category=local_police purpose=criminal_investigation -> permit release=ssn notify=3bd\n"
                 "category=local_polise purpose=criminal_investigation -> deny\n"
                 "category=court purpose=court_proceeding colour=red -> deny\n"
                 "category=court purpose=court_proceeding -> maybe\n"
                 "category=court purpose=court_proceeding -> permit rules=nosuch\n"
                 "category=court purpose=court_proceeding\n")
    p = run("policy", "test", POLICY, c, check=False)
    assert p.returncode == 1
    assert p.stdout.splitlines()[-1] == "1 passed, 7 failed"
    assert f"{c}:3: FAIL: expected deny, got permit (rules law-enforcement)" in p.stdout
    assert f"{c}:4: FAIL: expected release=ssn, got release=" in p.stdout
    err = p.stderr
    assert f"{c}:5:1: unknown category 'local_polise'" in err
    assert f"{c}:6:41: unknown request key 'colour'" in err
    assert f"{c}:7:44: expected permit, deny or error after '->', found 'maybe'" in err
    assert f"{c}:8:51: unknown rule 'nosuch' in rules=" in err
    assert f"{c}:9:1: a case is:" in err


def test_test_broken_policy(tmp_path):
    f = tmp_path / "bad.policy"
    f.write_text("permit x\n")
    p = run("policy", "test", f, CASES, check=False)
    assert p.returncode == 1
    assert f"{f}:1:8: expected the rule id in quotes, found 'x'" in p.stderr


def test_explain_inline():
    p = run("policy", "explain", POLICY, "category=federal_immigration",
            "purpose=civil_immigration_enforcement", "process=administrative_subpoena",
            "process.ok=yes", "process.items=identity")
    out = p.stdout
    assert re.search(r'^forbid "immigration-needs-judicial-process" \(line \d+\): matched: '
                     r'when \d+:\d+ `category == federal_immigration` is true; '
                     r'unless \d+:\d+ `process in \{judicial_warrant, court_order\}` is false$', out, re.M), out
    assert re.search(r'^permit "law-enforcement" \(line \d+\): not matched: when \d+:\d+ '
                     r'`category in \{local_police, state_police, federal_criminal\}` is false$', out, re.M), out
    assert "decision: deny\n" in out
    assert "notify: subject within 3 business days (rule immigration-needs-judicial-process)" in out
    # one line per rule
    assert len(re.findall(r'^(forbid|permit) "', out, re.M)) == 13
    # one argument may hold several words; errors name the argument and column
    p = run("policy", "explain", POLICY, "category=court purpose=court_proceeding", "by=vin")
    assert "  permit courts (18 USC 2721(b)(4))\n" in p.stdout
    p = run("policy", "explain", POLICY, "category=court purpose=court_procedure", check=False)
    assert p.returncode == 1
    assert "argument:1:16: unknown purpose 'court_procedure'" in p.stderr


def test_explain_request_file(tmp_path):
    r = tmp_path / "req"
    r.write_text("# a police lookup with photo\ncategory=local_police\n"
                 "purpose=criminal_investigation include=photo\n")
    p = run("policy", "explain", POLICY, r)
    assert "decision: permit\n" in p.stdout
    assert "  permit law-enforcement (18 USC 2721(b)(1))\n" in p.stdout
    assert re.search(r"^released: .*photo", p.stdout, re.M)
    r.write_text("category=local_police\npurpose=criminal_investigation by=telepathy\n")
    p = run("policy", "explain", POLICY, r, check=False)
    assert p.returncode == 1
    assert f"{r}:2:32: unknown by 'telepathy'" in p.stderr
    r.write_text("category=local_police\n\n\npurpose=criminal_investigation by=license ori=CA03400000\n")
    p = run("policy", "explain", POLICY, r, check=False)
    assert f"{r}:4:43: ORI longer than 9 characters" in p.stderr


def test_help():
    for sub in ("check", "test", "explain"):
        p = run("policy", sub, "--help")
        assert p.stdout.startswith(f"usage: dmvgate policy {sub}")
    p = run("policy", "--help")
    assert "dmvgate policy explain" in p.stdout
    p = run("policy", "frobnicate", check=False)
    assert p.returncode == 2
