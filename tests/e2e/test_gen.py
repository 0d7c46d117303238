"""End-to-end tests of `dmvgate gen`: files and headers, RFC 4180 parsing,
determinism, the --dpc-share option, VIN check digits recomputed here, and
bad arguments (non-zero exit, message on stderr)."""
import collections
import csv
import hashlib
import re

from conftest import run

DRIVER_COLS = ("license_number,last_name,first_name,middle_name,suffix,dob,sex,"
               "height_in,weight_lb,eye_color,hair_color,street,city,state,zip,"
               "license_class,license_kind,status,restrictions,endorsements,issued,"
               "expires,photo_id,ssn,place_of_birth,documents").split(",")
HISTORY_COLS = ["license_number", "date", "kind", "code", "description"]
VEHICLE_COLS = ("plate,plate_state,plate_type,plate_expires,vin,make,model,"
                "model_year,color,body_style,owner_license_number,owner_name,"
                "owner_street,owner_city,owner_state,owner_zip,"
                "registration_status").split(",")

VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
VIN_VALUES = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ",
                      [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9]))
VIN_VALUES.update({str(i): i for i in range(10)})


def vin_ok(v):
    if len(v) != 17 or any(c not in VIN_VALUES for c in v):
        return False
    s = sum(VIN_VALUES[c] * w for c, w in zip(v, VIN_WEIGHTS)) % 11
    return v[8] == ("X" if s == 10 else str(s))


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def digest(d):
    return {n: hashlib.sha256((d / n).read_bytes()).hexdigest()
            for n in ("drivers.csv", "history.csv", "vehicles.csv")}


def test_gen_writes_three_files(tmp_path):
    out = tmp_path / "out" / "nested"
    p = run("gen", "--drivers", 3000, "--seed", 9, "--out", out)
    assert "3000 drivers" in p.stdout and "3150 vehicles" in p.stdout
    h, drivers = read(out / "drivers.csv")
    assert h == DRIVER_COLS and len(drivers) == 3000
    assert all(len(r) == 26 for r in drivers)
    h, hist = read(out / "history.csv")
    assert h == HISTORY_COLS and all(len(r) == 5 for r in hist)
    assert 0.3 * 3000 <= len(hist) <= 0.6 * 3000
    h, veh = read(out / "vehicles.csv")
    assert h == VEHICLE_COLS and len(veh) == 3150
    assert all(len(r) == 17 for r in veh)
    # RFC 4180 line ends
    raw = (out / "drivers.csv").read_bytes()
    assert raw.count(b"\r\n") == 3001 and b"\n" not in raw.replace(b"\r\n", b"")
    # keys
    lic = {r[0] for r in drivers}
    assert len(lic) == 3000
    assert len({(r[0], r[1]) for r in veh}) == len(veh)
    assert all(vin_ok(r[4]) for r in veh)
    assert len({r[4] for r in veh}) == len(veh)
    by_lic = {r[0]: r for r in drivers}
    for r in veh:
        if r[10]:
            d = by_lic[r[10]]
            assert r[11] == f"{d[1]}, {d[2]}"
            assert (r[12], r[13], r[15]) == (d[11], d[12], d[14])
    # households: some address shared by three or more people
    addr = collections.Counter((r[11], r[12], r[14]) for r in drivers)
    assert max(addr.values()) >= 3
    # history refers to drivers, in drivers.csv order
    order = {r[0]: i for i, r in enumerate(drivers)}
    idx = [order[r[0]] for r in hist]
    assert idx == sorted(idx)


def test_gen_is_deterministic(tmp_path):
    run("gen", "--drivers", 20000, "--seed", 123, "--out", tmp_path / "a")
    run("gen", "--drivers", 20000, "--seed", 123, "--out", tmp_path / "b",
        "--threads", 1)
    run("gen", "--drivers", 20000, "--seed", 124, "--out", tmp_path / "c")
    a, b, c = (digest(tmp_path / x) for x in "abc")
    assert a == b
    assert all(a[n] != c[n] for n in a)


def test_gen_dpc_share(tmp_path):
    run("gen", "--drivers", 10000, "--out", tmp_path, "--dpc-share", "0.25")
    _, drivers = read(tmp_path / "drivers.csv")
    dpc = [r for r in drivers if r[16] == "DRIVER_PRIVILEGE_CARD"]
    assert 2200 <= len(dpc) <= 2800
    assert all(r[23] == "" and "SSN_CARD" not in r[25].split(";") for r in dpc)
    others = [r for r in drivers if r[16] != "DRIVER_PRIVILEGE_CARD"]
    assert all(re.fullmatch(r"\d{3}-\d{2}-\d{4}", r[23]) for r in others)


def test_gen_vehicle_count_option(tmp_path):
    p = run("gen", "--drivers", 100, "--vehicles", 0, "--out", tmp_path)
    assert "0 vehicles" in p.stdout
    h, veh = read(tmp_path / "vehicles.csv")
    assert h == VEHICLE_COLS and veh == []


def test_gen_help():
    p = run("gen", "--help")
    assert "usage: dmvgate gen" in p.stdout and "--drivers" in p.stdout


def test_gen_bad_arguments(tmp_path):
    out = tmp_path / "o"
    bad = [
        [],
        ["--out", out],
        ["--drivers", 10],
        ["--drivers", 0, "--out", out],
        ["--drivers", "ten", "--out", out],
        ["--drivers", -5, "--out", out],
        ["--drivers", 10, "--out", out, "--dpc-share", "1.5"],
        ["--drivers", 10, "--out", out, "--dpc-share", "x"],
        ["--drivers", 10, "--out", out, "--seed", "abc"],
        ["--drivers", 10, "--out", out, "--vehicles", "100000"],
        ["--drivers", 10, "--out", out, "--bogus"],
        ["--drivers", 10, "--out", out, "extra"],
        ["--drivers"],
    ]
    for args in bad:
        p = run("gen", *args, check=False)
        assert p.returncode != 0, args
        assert p.stderr.strip(), args
    # an output path that cannot be a directory
    f = tmp_path / "file"
    f.write_text("x")
    p = run("gen", "--drivers", 10, "--out", f / "sub", check=False)
    assert p.returncode != 0 and "dmvgate" in p.stderr
