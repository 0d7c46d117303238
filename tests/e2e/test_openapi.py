"""docs/openapi.yaml against the live gateway (issue 11): every example
request in the description is sent to a running `dmvgate serve`, and the
answer's status must be documented for that operation and its body must
validate against the schema documented for that status and media type.
The same holds for the public GET endpoints and for requests that draw the
other documented answers (401, 400, 403, 413).  Uses python3-yaml and
python3-jsonschema (Debian packages, scripts/deps.sh)."""
import os

import pytest

from conftest import ROOT, run
from gateway import Gateway, add_agency, add_user, load_csv

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
NLETS_ORI = "CA0340000"    # the ORI of the description's /v1/nlets example


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_PATH) as f:
        s = yaml.safe_load(f)
    assert s["openapi"].startswith("3.")
    return s


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("oa")
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", 500, "--seed", 3, "--out", csvdir)
    run("import", "--data", data, csvdir)
    add_agency(data, NLETS_ORI, "local_police")
    token = add_user(data, NLETS_ORI, "dev1")
    conf = base / "c.conf"
    conf.write_text("max_body 4k\ncheckpoint_interval 1\n")
    gw = Gateway(data, config=conf)
    drivers = load_csv(csvdir / "drivers.csv")
    yield {"gw": gw, "token": token, "drivers": drivers}
    gw.stop()


def validator(spec, schema):
    """OpenAPI 3.1 schemas are JSON Schema 2020-12 (3.0's are close to
    draft 7); $refs resolve against the whole description."""
    resolver = jsonschema.RefResolver.from_schema(spec)
    if spec["openapi"].startswith("3.1"):
        cls = jsonschema.Draft202012Validator
    else:
        cls = jsonschema.Draft7Validator
    return cls(schema, resolver=resolver)


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                yield path, method.upper(), op


def needs_auth(spec, op):
    sec = op.get("security", spec.get("security", []))
    return bool(sec)


def check_answer(spec, path, method, op, status, headers, body):
    """The status is documented, the media type matches, the body validates."""
    responses = op["responses"]
    doc = responses.get(str(status), responses.get("default"))
    assert doc is not None, f"{method} {path}: status {status} is not documented: {body[:200]}"
    content = doc.get("content")
    if not content:
        return
    ctype = headers.get("Content-Type", "").split(";")[0].strip()
    assert ctype in content, f"{method} {path} {status}: {ctype} not in {list(content)}"
    schema = content[ctype].get("schema")
    if schema is None:
        return
    if ctype == "application/json":
        import json
        instance = json.loads(body)
    else:
        instance = body
    errors = sorted(validator(spec, schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5])


def send(world, method, path, body=None, ctype=None, auth=True):
    h = {}
    if ctype:
        h["Content-Type"] = ctype
    if auth:
        h["Authorization"] = f"Bearer {world['token']}"
    if isinstance(body, dict):
        import json
        body = json.dumps(body)
    return world["gw"].request(method, path, body=body, headers=h)


def examples(content):
    """(media type, example) pairs of a requestBody's content."""
    for ctype, media in content.items():
        if "example" in media:
            yield ctype, media["example"]
        for ex in media.get("examples", {}).values():
            if "value" in ex:
                yield ctype, ex["value"]


def test_every_example_request_gets_a_documented_answer(spec, world):
    sent = 0
    for path, method, op in operations(spec):
        rb = op.get("requestBody")
        if not rb:
            continue
        for ctype, ex in examples(rb["content"]):
            # the example satisfies its own request schema
            schema = rb["content"][ctype].get("schema")
            if schema is not None:
                errs = list(validator(spec, schema).iter_errors(ex))
                assert not errs, f"{method} {path} example: {errs[0].message}"
            st, hd, body = send(world, method, path, ex, ctype, needs_auth(spec, op))
            # a valid request from a registered local police user: answered
            assert st == 200, (path, st, body)
            check_answer(spec, path, method, op, st, hd, body)
            sent += 1
    assert sent >= 2


def test_public_get_endpoints(spec, world):
    got = 0
    for path, method, op in operations(spec):
        if method != "GET" or "{" in path:
            continue
        st, hd, body = send(world, method, path, auth=needs_auth(spec, op))
        assert st == 200, (path, st, body)
        check_answer(spec, path, method, op, st, hd, body)
        got += 1
    assert got >= 3


def query_op(spec):
    return spec["paths"]["/v1/query"]["post"]


def base_query(spec):
    return dict(query_op(spec)["requestBody"]["content"]["application/json"]["example"])


@pytest.mark.parametrize("case", ["permit_with_records", "deny", "bad_request",
                                  "unauthorized", "too_large", "vehicle"])
def test_other_documented_answers(spec, world, case):
    op = query_op(spec)
    q = base_query(spec)
    auth = True
    body = None
    expect = None
    if case == "permit_with_records":
        q["license_number"] = world["drivers"][0]["license_number"]
        expect = 200
    elif case == "vehicle":
        q = {"type": "vehicle", "by": "license",
             "license_number": world["drivers"][1]["license_number"],
             "purpose": "criminal_investigation", "reason": "case 1"}
        expect = 200
    elif case == "deny":
        q = {"type": "driver", "by": "address", "street": "1 MAIN ST", "city": "X",
             "zip": "90001", "purpose": "criminal_investigation", "reason": "case 1"}
        expect = 403
    elif case == "bad_request":
        del q["reason"]
        expect = 400
    elif case == "unauthorized":
        auth = False
        expect = 401
    elif case == "too_large":
        q["reason"] = "x" * 200
        body = '{"pad":"' + "y" * 5000 + '"}'
        expect = 413
    st, hd, text = send(world, "POST", "/v1/query", body if body else q, "application/json",
                        auth)
    assert st == expect, (st, text)
    check_answer(spec, "/v1/query", "POST", op, st, hd, text)
    if case == "permit_with_records":
        import json
        assert json.loads(text)["records"], text


def test_schemas_are_valid_json_schema(spec):
    cls = jsonschema.Draft202012Validator if spec["openapi"].startswith("3.1") \
        else jsonschema.Draft7Validator
    for name, schema in spec["components"]["schemas"].items():
        cls.check_schema(schema)
    for path, method, op in operations(spec):
        for status, resp in op["responses"].items():
            for ctype, media in resp.get("content", {}).items():
                if "schema" in media:
                    cls.check_schema(media["schema"])
