"""End-to-end tests of the records foundation: init, import and lookup run
as the real binary against a temporary data directory."""
import json
import os
import stat

from conftest import run

DHDR = ("license_number,last_name,first_name,middle_name,suffix,dob,sex,height_in,weight_lb,"
        "eye_color,hair_color,street,city,state,zip,license_class,license_kind,status,"
        "restrictions,endorsements,issued,expires,photo_id,ssn,place_of_birth,documents\r\n")
GOOD = ("D1234567,García-López,José,,,1980-02-29,M,70,180,BRO,BLK,123 Main St,Los Angeles,CA,"
        "90012,C,DRIVER_PRIVILEGE_CARD,VALID,,,2020-01-02,2028-02-29,P000000001,,"
        "\"JALISCO, MEXICO\",FOREIGN_PASSPORT;PROOF_OF_RESIDENCY\r\n")


def write_csv(d, drivers):
    d.mkdir(exist_ok=True)
    (d / "drivers.csv").write_text(DHDR + drivers, encoding="utf-8")


def test_init_creates_private_layout(tmp_path):
    d = tmp_path / "data"
    run("init", "--data", d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d / "checkpoint.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "audit").st_mode) == 0o700
    for f in ("records.db", "registry.db", "checkpoint.key.pub"):
        assert (d / f).exists()
    # The public key file holds a verifier, never the private key.
    pub = (d / "checkpoint.key.pub").read_text()
    assert pub.startswith("dmvgate.local/audit+") and "PRIVATE" not in pub


def test_init_refuses_to_overwrite(tmp_path):
    d = tmp_path / "data"
    run("init", "--data", d)
    key = (d / "checkpoint.key").read_text()
    p = run("init", "--data", d, check=False)
    assert p.returncode != 0
    assert "--force" in p.stderr
    assert (d / "checkpoint.key").read_text() == key
    run("init", "--data", d, "--force")
    assert (d / "checkpoint.key").read_text() != key


def test_data_dir_from_environment(tmp_path):
    d = tmp_path / "envdata"
    run("init", env={"DMVGATE_DATA": str(d)})
    assert (d / "records.db").exists()


def test_import_and_lookup(datadir, tmp_path):
    csv = tmp_path / "csv"
    write_csv(csv, GOOD)
    p = run("import", "--data", datadir, csv)
    assert "imported 1 drivers" in p.stdout
    p = run("lookup", "--data", datadir, "--license", "D1234567")
    rec = json.loads(p.stdout.splitlines()[0])
    assert rec["last_name"] == "García-López"
    assert rec["license_kind"] == "DRIVER_PRIVILEGE_CARD"  # the administrator sees everything
    assert "not a disclosure path" in p.stderr
    # Name + DOB is exact on the normalized name.
    p = run("lookup", "--data", datadir, "--name", "GARCIA LOPEZ,jose", "--dob", "1980-02-29")
    assert json.loads(p.stdout)["license_number"] == "D1234567"
    p = run("lookup", "--data", datadir, "--name", "GARCIA,JOSE", "--dob", "1980-02-29",
            check=False)
    assert p.returncode != 0 and "no matching record" in p.stderr


def test_bad_rows_report_file_and_line(datadir, tmp_path):
    csv = tmp_path / "csv"
    bad_date = GOOD.replace("D1234567", "D2222222").replace("1980-02-29", "1981-02-29", 1)
    bad_kind = GOOD.replace("D1234567", "D3333333").replace("DRIVER_PRIVILEGE_CARD", "MARKED")
    short = "D4444444,Smith,Ann\r\n"
    write_csv(csv, GOOD + bad_date + bad_kind + short)
    p = run("import", "--data", datadir, csv, check=False)
    assert p.returncode == 1
    err = p.stderr
    assert "drivers.csv:3: dob: not a date" in err
    assert "drivers.csv:4: license_kind:" in err
    assert "drivers.csv:5: expected 26 fields, found 3" in err
    assert "imported 1 drivers" in p.stdout and "3 rows rejected" in p.stdout


def test_strict_import_keeps_previous_records(datadir, tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_csv(good, GOOD)
    run("import", "--data", datadir, good)
    write_csv(bad, GOOD.replace("D1234567", "D5555555") + "D6,x\r\n")
    p = run("import", "--data", datadir, "--strict", bad, check=False)
    assert p.returncode == 1 and "drivers.csv:3:" in p.stderr
    # The previous load is untouched.
    run("lookup", "--data", datadir, "--license", "D1234567")
    assert run("lookup", "--data", datadir, "--license", "D5555555", check=False).returncode != 0


def test_bad_header_and_missing_file(datadir, tmp_path):
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "drivers.csv").write_text("license_number,last_name\r\n")
    p = run("import", "--data", datadir, csv, check=False)
    assert p.returncode == 1 and "drivers.csv:1: header: missing column 'first_name'" in p.stderr
    p = run("import", "--data", datadir, tmp_path / "nowhere", check=False)
    assert p.returncode == 1 and "drivers.csv" in p.stderr


def test_invalid_utf8_is_a_bad_row(datadir, tmp_path):
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "drivers.csv").write_bytes(DHDR.encode() + GOOD.encode().replace(b"Jos\xc3\xa9", b"Jos\xc3"))
    p = run("import", "--data", datadir, csv, check=False)
    assert "drivers.csv:2: invalid UTF-8" in p.stderr


def test_uninitialized_data_dir(tmp_path):
    p = run("lookup", "--data", tmp_path / "none", "--license", "D1", check=False)
    assert p.returncode == 1 and "dmvgate init" in p.stderr


def test_usage_errors():
    for args in (["lookup"], ["import"], ["init", "extra"], ["nosuchcommand"]):
        p = run(*args, check=False)
        assert p.returncode == 2, args
    for cmd in ("init", "import", "lookup"):
        p = run(cmd, "--help")
        assert p.stdout.startswith("usage: dmvgate " + cmd)
    assert "lookup" in run("--help").stdout


def test_lookup_is_audited_before_it_prints(datadir, tmp_path):
    csv = tmp_path / "csv"
    write_csv(csv, GOOD)
    run("import", "--data", datadir, csv)
    p = run("lookup", "--data", datadir, "--license", "D1234567")
    assert "audited as entry" in p.stderr
    entries = [json.loads(l) for l in run("audit", "show", "--data", datadir).stdout.splitlines()]
    mine = [e for e in entries if e["channel"] == "cli" and e["kind"] == "query"]
    assert mine and "license:D1234567" in mine[-1]["subjects"]
    assert mine[-1]["user"].startswith("os:")
    assert "verified" in run("audit", "verify", "--data", datadir).stdout


def test_lookup_refused_when_it_cannot_be_audited(datadir, tmp_path):
    import fcntl
    csv = tmp_path / "csv"
    write_csv(csv, GOOD)
    run("import", "--data", datadir, csv)
    # A running server holds the audit log's lock: the lookup must show nothing.
    with open(datadir / "audit" / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = run("lookup", "--data", datadir, "--license", "D1234567", check=False)
    assert p.returncode == 1
    assert p.stdout == ""
    assert "nothing is shown" in p.stderr
