"""The manual pages (issue 11): they render without warnings (mandoc -T lint,
groff -ww, man -l), and dmvgate(1) keeps up with the binary: every command
that `dmvgate --help` lists has a subsection, every audit subcommand and
every long option a command's --help names appears in it; dmvgate.conf(5)
documents every setting of etc/dmvgate.conf."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, run

MAN = os.path.join(ROOT, "man")
PAGES = ["dmvgate.1", "dmvgate.conf.5", "dmvgate-policy.5", "dmvgate-audit.5"]


def page(name):
    return os.path.join(MAN, name)


def rendered(name):
    env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat")
    p = subprocess.run(["man", "-l", page(name)], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "", p.stderr
    return p.stdout


def commands():
    out = run("--help").stdout
    names = re.findall(r"^  ([a-z][a-z-]*) ", out.split("commands:", 1)[1], re.M)
    assert len(names) >= 11, out
    return names


def section(src, name):
    """The source text of the `.Ss name` subsection of dmvgate.1."""
    m = re.search(r"^\.Ss %s\n(.*?)(?=^\.S[sh] )" % re.escape(name), src, re.M | re.S)
    return m.group(1) if m else None


@pytest.mark.parametrize("name", PAGES)
def test_mandoc_lint_clean(name):
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc not installed")
    p = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page(name)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stdout + p.stderr


@pytest.mark.parametrize("name", PAGES)
def test_groff_no_warnings(name):
    if shutil.which("groff") is None:
        pytest.skip("groff not installed")
    p = subprocess.run(["groff", "-ww", "-mandoc", "-Tutf8", "-z", page(name)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr


@pytest.mark.parametrize("name", PAGES)
def test_man_l_renders(name):
    if shutil.which("man") is None:
        pytest.skip("man not installed")
    text = rendered(name)
    assert "NAME" in text and "DESCRIPTION" in text


def test_every_command_has_a_section():
    src = open(page("dmvgate.1")).read()
    missing = [c for c in commands() if section(src, c) is None]
    assert not missing, f"dmvgate(1) has no `.Ss NAME` section for: {missing}"
    if shutil.which("man"):
        text = rendered("dmvgate.1")
        for c in commands():
            assert re.search(r"^   %s$" % re.escape(c), text, re.M), c


def test_every_option_is_documented():
    """Every --option a command's --help shows is named in its section."""
    src = open(page("dmvgate.1")).read()
    gaps = []
    for c in commands():
        sec = section(src, c) or ""
        helptext = run(c, "--help").stdout
        for opt in sorted(set(re.findall(r"--([a-z][a-z-]+)", helptext))):
            if opt == "help":
                continue
            if not re.search(r"(?<![\w-])-%s(?![\w-])" % re.escape(opt), sec):
                gaps.append(f"{c} --{opt}")
    assert not gaps, f"options missing from dmvgate(1): {gaps}"


def test_audit_subcommands_documented():
    src = section(open(page("dmvgate.1")).read(), "audit")
    subs = re.findall(r"^  ([a-z][a-z-]+) ", run("audit", "--help").stdout, re.M)
    assert subs
    missing = [s for s in subs if not re.search(r"^\.It Cm %s\b" % re.escape(s), src, re.M)]
    assert not missing, missing


def test_conf_page_documents_every_setting():
    keys = re.findall(r"^#?([a-z_]+) \S", open(os.path.join(ROOT, "etc", "dmvgate.conf")).read(),
                      re.M)
    assert "listen" in keys and "checkpoint_interval" in keys
    src = open(page("dmvgate.conf.5")).read()
    missing = [k for k in keys if not re.search(r"^\.It Ic %s\b" % k, src, re.M)]
    assert not missing, missing
