"""`sectxctl check-config FILE` works offline and names the file and line of
every problem, and refuses a file it must not trust."""

import os
import subprocess

import pytest

from sectx_harness import render_config, require_root, run, write_private


@pytest.fixture
def conf_dir(tmp_path):
    (tmp_path / "state").mkdir(mode=0o700)
    return tmp_path


def check(bins, path):
    return run([bins.sectxctl, "check-config", str(path)])


def test_valid_config_is_ok(bins, conf_dir):
    path = conf_dir / "sectx.conf"
    write_private(path, render_config(conf_dir / "run", conf_dir / "state"))
    r = check(bins, path)
    assert r.returncode == 0, r.stderr
    assert f"{path}: OK" in r.stdout


def test_every_problem_is_reported_with_its_line(bins, conf_dir):
    path = conf_dir / "sectx.conf"
    write_private(path, "\n".join([
        "[sectxd]",                           # 1
        f"state_dir = {conf_dir}/state",      # 2
        "max_connections = abc",              # 3
        "log_level = info",                   # 4
        "sokcet_dir = /x",                    # 5
        "[kerberos]",                         # 6
        "realm = SECTX.TEST",                 # 7
        ""]))
    r = check(bins, path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "OK" not in r.stdout
    lines = r.stderr.splitlines()
    line3 = [l for l in lines if l.startswith(f"{path}:3:")]
    line5 = [l for l in lines if l.startswith(f"{path}:5:")]
    assert line3 and "invalid value for max_connections" in line3[0], r.stderr
    assert line5 and "unknown key 'sokcet_dir' in [sectxd]" in line5[0], r.stderr
    assert "did you mean 'socket_dir'" in line5[0], r.stderr


def test_missing_file_is_an_error(bins, conf_dir):
    path = conf_dir / "absent.conf"
    r = check(bins, path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert str(path) in r.stderr


@pytest.mark.parametrize("mode", [0o620, 0o602], ids=["group-writable", "world-writable"])
def test_writable_by_others_is_refused(bins, conf_dir, mode):
    path = conf_dir / "sectx.conf"
    write_private(path, render_config(conf_dir / "run", conf_dir / "state"), mode=mode)
    r = check(bins, path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert str(path) in r.stderr


def test_owned_by_another_user_is_refused(bins, conf_dir):
    require_root("gives the file to another user")
    path = conf_dir / "sectx.conf"
    write_private(path, render_config(conf_dir / "run", conf_dir / "state"))
    os.chown(path, 65534, 65534)
    r = check(bins, path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)


def test_shipped_example_config_is_valid(bins, tmp_path):
    """config/sectx.conf.example documents every section; it must stay a file
    sectxd accepts, with every commented key uncommented too."""
    import re
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config",
                       "sectx.conf.example")
    text = open(src).read()
    for name, body in (("as-shipped.conf", text),
                       ("uncommented.conf", re.sub(r"(?m)^#(\w+ = )", r"\1", text))):
        path = tmp_path / name
        path.write_text(body)
        os.chmod(path, 0o600)
        r = subprocess.run([bins.sectxctl, "check-config", str(path)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, (name, r.stderr)

