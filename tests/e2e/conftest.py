"""Shared fixtures for the end-to-end tests: they run the real ./dmvgate
binary (DMVGATE_BIN) against a temporary data directory."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DMVGATE_BIN", os.path.join(ROOT, "dmvgate"))


def run(*args, check=True, env=None, input=None, timeout=120):
    """Runs dmvgate with args; returns the CompletedProcess (text mode)."""
    e = dict(os.environ)
    e.pop("DMVGATE_DATA", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True,
                       env=e, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dmvgate {' '.join(map(str, args))} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


@pytest.fixture
def datadir(tmp_path):
    """A fresh, initialized data directory."""
    d = tmp_path / "data"
    run("init", "--data", d)
    return d


@pytest.fixture(scope="session")
def root():
    return ROOT
