"""Helpers of the hardening tests (issue 10: test_hostile.py, test_tls.py,
test_privdrop.py): a small world of records and agencies, a throwaway
certificate authority made with openssl at test time, and a gateway that
may speak TLS."""
import http.client
import os
import ssl
import subprocess
import time

from conftest import BIN, run
from gateway import Gateway, add_agency, add_user, free_port

POLICE = ("CA0010000", "local_police")
INSURER = ("CA0060000", "insurer")
ICE = ("DC0040000", "federal_immigration")
OTHER = ("CA0020000", "state_police")


def make_world(base, drivers=300, seed=7):
    """init + gen + import + four agencies with one user each; returns a
    dict with data, csv, tokens (by category) and the drivers' rows."""
    import csv
    data, csvdir = base / "data", base / "csv"
    run("init", "--data", data)
    run("gen", "--drivers", drivers, "--seed", seed, "--out", csvdir)
    run("import", "--data", data, csvdir)
    tok = {}
    for ori, cat in (POLICE, INSURER, ICE, OTHER):
        add_agency(data, ori, cat)
        tok[cat] = add_user(data, ori, f"u-{cat}")
    with open(csvdir / "drivers.csv", newline="", encoding="utf-8") as f:
        drivers = list(csv.DictReader(f))
    return {"data": data, "csv": csvdir, "tok": tok, "drivers": drivers, "base": base}


def openssl(*args, cwd=None):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1, two client certificates
    signed by the CA (a, b) and one self-signed (rogue).  Returns paths."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=dmvgate test CA", cwd=d)
    (d / "srv.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "cli.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "srv.ext"), ("a", "cli.ext"), ("b", "cli.ext")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
            "-subj", "/CN=a", cwd=d)
    return {n: d / n for n in ("ca.pem", "server.pem", "server.key", "a.pem", "a.key",
                                "b.pem", "b.key", "rogue.pem", "rogue.key")}


def fingerprint(pem):
    """SHA-256 of the DER certificate, as openssl prints it (AB:CD:...)."""
    p = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"],
                       check=True, capture_output=True, text=True)
    return p.stdout.strip().split("=", 1)[1]


class TLSGateway(Gateway):
    """`dmvgate serve` with --tls-cert/--tls-key (and --tls-client-ca);
    request() goes over HTTPS with an optional client certificate."""

    def __init__(self, data, pki, client_ca=True, extra=()):
        self.pki = pki
        self.data = str(data)
        self.port = free_port()
        self.errpath = os.path.join(self.data, f"serve-{self.port}.err")
        args = [BIN, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}",
                "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"])]
        if client_ca:
            args += ["--tls-client-ca", str(pki["ca.pem"])]
        args += list(extra)
        env = dict(os.environ)
        env.pop("DMVGATE_DATA", None)
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        self.conn = None
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("serve exited early:\n" + self.stderr())
            try:
                c = self.connect()
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
            except (OSError, ssl.SSLError):
                time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("serve did not come up:\n" + self.stderr())

    def context(self, client=None):
        ctx = ssl.create_default_context(cafile=str(self.pki["ca.pem"]))
        if client is not None:
            ctx.load_cert_chain(str(self.pki[f"{client}.pem"]), str(self.pki[f"{client}.key"]))
        return ctx

    def connect(self, client=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                           context=self.context(client))


def audit_entries(data):
    """Every entry of the log, by index (`audit show` prints JSON lines)."""
    import json
    p = run("audit", "show", "--data", data)
    return {e["index"]: e for e in map(json.loads, p.stdout.splitlines())}
