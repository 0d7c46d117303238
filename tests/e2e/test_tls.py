"""HTTPS and client certificates (issue 10, docs/security.md): serve speaks
TLS with --tls-cert/--tls-key; with --tls-client-ca it asks for client
certificates; `agency bind-cert` makes an agency's tokens work only over a
connection presenting one of its bound certificates.  The CA and the
certificates are made with openssl at test time."""
import http.client
import json
import socket
import ssl

import pytest

from conftest import run
from gateway import Gateway, free_port, q_license, response_hash
from hostile_util import (INSURER, POLICE, TLSGateway, audit_entries, fingerprint, make_pki,
                          make_world)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    w = make_world(base, drivers=200)
    w["pki"] = make_pki(base / "pki")
    gw = TLSGateway(w["data"], w["pki"])
    w["gw"] = gw
    yield w
    rc = gw.stop()
    assert rc == 0, gw.stderr()


def ask(gw, token, q, client=None):
    c = gw.connect(client)
    try:
        c.request("POST", "/v1/query", body=json.dumps(q),
                  headers={"Authorization": f"Bearer {token}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read().decode()
        return r.status, json.loads(text), text
    finally:
        c.close()


def test_https_answers_and_audits(tls):
    lic = tls["drivers"][0]["license_number"]
    st, js, text = ask(tls["gw"], tls["tok"]["local_police"], q_license(lic))
    assert st == 200 and js["records"][0]["license_number"] == lic
    import time
    time.sleep(0.2)
    e = audit_entries(tls["data"])[js["audit"]["index"]]
    assert e["response_sha256"] == response_hash(text)


def test_plain_http_to_the_tls_port_gets_no_answer(tls):
    s = socket.create_connection(("127.0.0.1", tls["gw"].port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        data = b""
    s.close()
    assert not data.startswith(b"HTTP/1.1 200")


def test_wrong_ca_refused_by_client(tls):
    ctx = ssl.create_default_context()    # system CAs: the test CA is not one
    c = http.client.HTTPSConnection("127.0.0.1", tls["gw"].port, timeout=5, context=ctx)
    with pytest.raises(ssl.SSLError):
        c.request("GET", "/healthz")
    c.close()


def test_bind_cert_requires_the_certificate(tls):
    gw, data = tls["gw"], tls["data"]
    ori = INSURER[0]
    tok = tls["tok"]["insurer"]
    lic = tls["drivers"][1]["license_number"]
    q = q_license(lic, "insurance_claim")
    assert ask(gw, tok, q)[0] == 200          # not bound yet: any connection
    fp = fingerprint(tls["pki"]["a.pem"])
    out = run("agency", "bind-cert", ori, "--fingerprint", fp, "--data", data).stdout
    assert "bound to certificate sha256:" + fp.replace(":", "").lower() in out
    # --cert computes the same fingerprint: already bound
    p = run("agency", "bind-cert", ori, "--cert", tls["pki"]["a.pem"], "--data", data, check=False)
    assert p.returncode != 0 and "already bound" in p.stderr
    assert fp.replace(":", "").lower() in run("agency", "show", ori, "--data", data).stdout
    import time
    time.sleep(1.5)                            # the server reloads within a second
    for client, want in ((None, 401), ("b", 401), ("rogue", 401), ("a", 200)):
        st, js, _ = ask(gw, tok, q, client)
        assert st == want, (client, js)
        if st == 401:
            assert js["error"]["code"] == "certificate_required"
    # another agency's token over the bound certificate still works (its own
    # agency is not bound) -- the binding restricts the agency, not the cert
    st, _, _ = ask(gw, tls["tok"]["local_police"], q_license(lic), "a")
    assert st == 200
    # the refusals are audited as authentication failures
    assert any(e.get("detail") == "certificate_required" for e in audit_entries(data).values())
    # unbind: back to any connection
    run("agency", "unbind-cert", ori, "--fingerprint", fp, "--data", data)
    time.sleep(1.5)
    assert ask(gw, tok, q)[0] == 200


def test_bound_agency_never_works_over_plain_http(tmp_path):
    w = make_world(tmp_path, drivers=50)
    pki = make_pki(tmp_path / "pki")
    run("agency", "bind-cert", POLICE[0], "--cert", pki["a.pem"], "--data", w["data"])
    gw = Gateway(w["data"])
    try:
        st, js, _ = gw.query(w["tok"]["local_police"], q_license(w["drivers"][0]["license_number"]))
        assert st == 401 and js["error"]["code"] == "certificate_required"
        st, _, _ = gw.query(w["tok"]["insurer"],
                            q_license(w["drivers"][0]["license_number"], "insurance_claim"))
        assert st == 200
        # Nlets answers in kind
        st, _, body = gw.request("POST", "/v1/nlets",
                                 body="DQ.CA0010000.CA.TXT\nOLN/D1234567.PUR/C.ATN/DET X\n",
                                 headers={"Authorization": f"Bearer {w['tok']['local_police']}",
                                          "Content-Type": "text/plain"})
        assert st == 401 and "REJECT - CERTIFICATE REQUIRED" in body
    finally:
        assert gw.stop() == 0


@pytest.mark.parametrize("args,msg", [
    (["--tls-cert", "X"], "needs its key"),
    (["--tls-key", "X"], "needs its key"),
    (["--tls-client-ca", "X"], "need TLS"),
])
def test_tls_option_errors(tmp_path, args, msg):
    p = run("serve", "--data", tmp_path, *args, check=False)
    assert p.returncode != 0 and msg in p.stderr


def test_mismatched_key_refused(tmp_path):
    w = make_world(tmp_path, drivers=20)
    pki = make_pki(tmp_path / "pki")
    p = run("serve", "--data", w["data"], "--listen", f"127.0.0.1:{free_port()}", "--tls-cert",
            pki["server.pem"], "--tls-key", pki["a.key"], check=False, timeout=20)
    assert p.returncode != 0 and "TLS certificate" in p.stderr and "usage" not in p.stderr, p.stderr


@pytest.mark.parametrize("fp", ["", "zz", "AB:CD", "0" * 63, "0" * 65, "g" * 64])
def test_bind_cert_bad_fingerprint(tls, fp):
    p = run("agency", "bind-cert", POLICE[0], "--fingerprint", fp, "--data", tls["data"], check=False)
    assert p.returncode != 0 and "fingerprint" in p.stderr


def test_bind_cert_unknown_agency(tls):
    p = run("agency", "bind-cert", "CA9990000", "--fingerprint", "00" * 32, "--data", tls["data"],
            check=False)
    assert p.returncode != 0 and "no agency" in p.stderr
