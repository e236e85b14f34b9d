"""libnss_sectx against a real sectxd serving static users and groups
([identity] users_file, groups_file): every lookup through nss_wrapper and,
as root, through the real glibc in a mount namespace; the fast path and the
socket path; NSS status and errno (NOTFOUND, UNAVAIL, TRYAGAIN/ERANGE); the
helper stopped; the recursion marker; uid 0 refused; cache flush."""

import json
import os
import subprocess
import sys

import pytest

from nss_support import (ENOENT, ERANGE, NOTFOUND, SUCCESS, TRYAGAIN, UNAVAIL, group_line,
                         make_helper, nss_lib, passwd_line, subprocess_ok)  # noqa: F401
from sectx_harness import wait_until

USERS = """\
# static users of the test
alice:5001:5001:Alice Example:/home/alice:/bin/bash
bob@SECTX.TEST:5002:5002:Bob:/home/bob:/bin/sh
carol@OTHER.REALM:5003:5003::/home/carol:/bin/sh
svc/web@SECTX.TEST:5004:5004::/srv/web:/usr/sbin/nologin
root2:0:0:would be root:/root:/bin/sh
lowid:500:5005::/home/lowid:/bin/sh
"""
GROUPS = """\
devs:6000:alice,bob,carol@OTHER.REALM
alice:5001:
ops:6001:bob
"""

ALICE = "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
BOB = "bob:*:5002:5002:Bob:/home/bob:/bin/sh"
CAROL = "carol@OTHER.REALM:*:5003:5003::/home/carol:/bin/sh"


@pytest.fixture
def helper(sectxd_factory, nss_lib):  # noqa: F811
    return make_helper(sectxd_factory, nss_lib, users=USERS, groups=GROUPS,
                       identity={"enumerate": "true"})


def test_nss_wrapper_every_lookup(helper):
    """getpwnam (short, qualified), getpwuid, getgrnam, getgrgid,
    initgroups and enumeration through glibc + nss_wrapper."""
    expect = {
        ("getent", "passwd", "alice"): ALICE,
        ("getent", "passwd", "alice@SECTX.TEST"): ALICE,
        ("getent", "passwd", "5002"): BOB,
        ("getent", "passwd", "carol@OTHER.REALM"): CAROL,
        ("getent", "passwd", "svc/web@SECTX.TEST"):
            "svc/web@SECTX.TEST:*:5004:5004::/srv/web:/usr/sbin/nologin",
        ("getent", "group", "devs"): "devs:*:6000:alice,bob,carol@OTHER.REALM",
        ("getent", "group", "6001"): "ops:*:6001:bob",
    }
    for argv, line in expect.items():
        r = helper.wrapped(*argv)
        assert r.returncode == 0 and r.stdout.strip() == line, f"{argv}: {subprocess_ok(r)}"
    for argv in (("getent", "passwd", "carol"), ("getent", "passwd", "svc/web"),
                 ("getent", "passwd", "nosuchuser"), ("getent", "group", "nosuchgroup"),
                 ("getent", "passwd", "root2"), ("getent", "passwd", "lowid")):
        r = helper.wrapped(*argv)
        assert r.returncode == 2, f"{argv}: {subprocess_ok(r)}"
    r = helper.wrapped("id", "bob")
    assert r.returncode == 0, subprocess_ok(r)
    assert r.stdout.strip() == "uid=5002(bob) gid=5002 groups=5002,6000(devs),6001(ops)"
    r = helper.wrapped("getent", "passwd")
    assert r.returncode == 0, subprocess_ok(r)
    for line in (ALICE, BOB, CAROL):
        assert line in r.stdout.splitlines()
    r = helper.wrapped("getent", "group")
    assert "devs:*:6000:alice,bob,carol@OTHER.REALM" in r.stdout.splitlines()


def test_real_glibc_in_mount_namespace(helper):
    """As root: nsswitch.conf "passwd: files sectx" bind-mounted in a
    private namespace; the real getent and id."""
    r = helper.in_namespace("getent", "passwd", "alice")
    assert r.returncode == 0 and r.stdout.strip() == ALICE, subprocess_ok(r)
    r = helper.in_namespace("getent", "passwd", "alice@SECTX.TEST")
    assert r.returncode == 0 and r.stdout.strip() == ALICE, subprocess_ok(r)
    r = helper.in_namespace("id", "alice")
    assert r.returncode == 0, subprocess_ok(r)
    assert r.stdout.strip() == "uid=5001(alice) gid=5001(alice) groups=5001(alice),6000(devs)"
    r = helper.in_namespace("getent", "group")
    assert r.returncode == 0, subprocess_ok(r)
    lines = r.stdout.splitlines()
    assert "devs:*:6000:alice,bob,carol@OTHER.REALM" in lines
    assert "ops:*:6001:bob" in lines
    assert lines[0].startswith("root:"), "files first, then sectx"
    r = helper.in_namespace("getent", "passwd", "nosuchuser")
    assert r.returncode == 2, subprocess_ok(r)
    # root still comes from files; sectx never serves uid 0
    r = helper.in_namespace("getent", "passwd", "0")
    assert r.stdout.startswith("root:x:0:0:"), subprocess_ok(r)


def test_status_and_errno(helper):
    """The module's own answers: SUCCESS, NOTFOUND/ENOENT, TRYAGAIN/ERANGE."""
    r = helper.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS and passwd_line(r["entry"]) == ALICE
    r = helper.probe1("getpwnam:nosuchuser")
    assert (r["status"], r["errno"]) == (NOTFOUND, ENOENT)
    r = helper.probe1("getpwuid:0")
    assert (r["status"], r["errno"]) == (NOTFOUND, ENOENT)
    for call in ("getpwnam:alice:10", "getpwuid:5001:0", "getgrnam:devs:16",
                 "getgrgid:6000:40"):
        r = helper.probe1(call)
        assert (r["status"], r["errno"]) == (TRYAGAIN, ERANGE), r
    # exactly big enough works (passwd: the strings with NULs and "*")
    need = len("alice") + 2 + len("Alice Example") + len("/home/alice") + len("/bin/bash") + 4
    assert helper.probe1(f"getpwnam:alice:{need}")["status"] == SUCCESS
    assert helper.probe1(f"getpwnam:alice:{need - 1}")["status"] == TRYAGAIN
    r = helper.probe1("getgrnam:devs")
    assert group_line(r["entry"]) == "devs:*:6000:alice,bob,carol@OTHER.REALM"
    r = helper.probe1("initgroups:bob:5002")
    assert r["status"] == SUCCESS and sorted(r["entry"]) == [6000, 6001]
    r = helper.probe1("initgroups:root:0")
    assert r["status"] == NOTFOUND


def test_socket_path_and_erange_without_cache(helper):
    """With the cache file gone the module asks the helper: same answers,
    ERANGE included."""
    os.rename(helper.cache_file, helper.cache_file + ".away")
    try:
        r = helper.probe1("getpwnam:alice")
        assert r["status"] == SUCCESS and passwd_line(r["entry"]) == ALICE
        r = helper.probe1("getpwnam:alice:8")
        assert (r["status"], r["errno"]) == (TRYAGAIN, ERANGE)
        r = helper.probe1("getgrgid:6000:8")
        assert (r["status"], r["errno"]) == (TRYAGAIN, ERANGE)
        r = helper.probe1("getgrgid:6000")
        assert group_line(r["entry"]) == "devs:*:6000:alice,bob,carol@OTHER.REALM"
        r = helper.probe1("getpwnam:nosuchuser")
        assert (r["status"], r["errno"]) == (NOTFOUND, ENOENT)
        r = helper.probe1("initgroups:alice:5001")
        assert r["entry"] == [6000]
        # many threads share the one connection
        results = helper.probe("threads:16:getpwuid:5002")
        assert all(x["status"] == SUCCESS and x["entry"][0] == "bob" for x in results)
        # a forked child opens its own connection; the parent keeps its one
        results = helper.probe("getpwnam:alice", "fork:getpwnam:bob", "getpwnam:alice",
                               "fork:getgrnam:devs")
        assert [x["status"] for x in results] == [SUCCESS] * 4, results
        assert results[1]["forked"] and results[1]["entry"][0] == "bob"
    finally:
        os.rename(helper.cache_file + ".away", helper.cache_file)


def test_helper_stopped(helper):
    """Cached users still resolve; anything else is UNAVAIL at once."""
    assert helper.probe1("getpwnam:alice")["status"] == SUCCESS
    helper.d.stop()
    results = helper.probe("getpwnam:alice", "getpwuid:5002", "getgrnam:devs",
                           "getpwnam:nosuchuser")
    assert [r["status"] for r in results[:3]] == [SUCCESS, SUCCESS, SUCCESS]
    # static tables are complete: an unknown name is NOTFOUND from the file
    assert results[3]["status"] == NOTFOUND
    os.rename(helper.cache_file, helper.cache_file + ".away")
    r = helper.probe1("getpwnam:alice")
    assert (r["status"], r["errno"]) == (UNAVAIL, ENOENT)
    assert r["ms"] < 500, f"UNAVAIL took {r['ms']} ms with no helper"


def test_recursion_marker(helper):
    """Inside sectxd (marker set) the module answers UNAVAIL without asking."""
    r = helper.probe1("getpwnam:alice", env=helper.env(_SECTX_IN_HELPER="1"))
    assert (r["status"], r["errno"]) == (UNAVAIL, ENOENT)


def test_uid0_refused_and_reported(helper):
    r = helper.wrapped("getent", "passwd", "root2")
    assert r.returncode == 2
    assert "id 0 is never served" in helper.d.log_text()
    r = helper.ctl("id-map")
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "root2@SECTX.TEST: uid 0 gid 0 refused" in r.stdout
    assert "lowid@SECTX.TEST: uid 500 gid 5005 refused (id below min_id)" in r.stdout


def test_cache_flush(helper, nobody):
    """flush flags the old file stale, publishes a new generation; root only."""
    fd = os.open(helper.cache_file, os.O_RDONLY)
    try:
        header = os.pread(fd, 32, 0)
        gen = int.from_bytes(header[16:24], "little")
        assert int.from_bytes(header[12:16], "little") == 0
        r = helper.ctl("cache", "flush")
        assert r.returncode == 0, r.stderr
        assert f"generation {gen + 1}" in r.stdout
        assert int.from_bytes(os.pread(fd, 4, 12), "little") == 1, "old file not stale"
    finally:
        os.close(fd)
    assert helper.probe1("getpwnam:alice")["status"] == SUCCESS
    r = helper.ctl("cache", "flush", uid=nobody)
    assert r.returncode == 1 and "permission denied" in r.stderr


def test_reload_keeps_serving(helper):
    """A reload with a new users file republishes; the old file goes stale."""
    helper.write("users", USERS + "dave:5010:5010::/home/dave:/bin/sh\n")
    helper.d.reload(helper.config_text())
    assert wait_until(lambda: helper.probe1("getpwnam:dave")["status"] == SUCCESS, 10)
    assert helper.probe1("getpwnam:alice")["status"] == SUCCESS
    assert "configuration reloaded" in helper.d.log_text()


def test_cache_file_is_public_and_root_owned(helper):
    st = os.stat(helper.cache_file)
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o644
    d = os.stat(os.path.dirname(helper.cache_file))
    assert (d.st_mode & 0o777) == 0o755


def test_enumeration_off_by_default(sectxd_factory, nss_lib):  # noqa: F811
    """Without [identity] enumerate, getent passwd lists no sectx user (and
    lookups by name still work)."""
    h = make_helper(sectxd_factory, nss_lib, users=USERS, groups=GROUPS)
    r = h.wrapped("getent", "passwd")
    assert r.returncode == 0, subprocess_ok(r)
    assert "alice" not in r.stdout and r.stdout.startswith("root:")
    r = h.wrapped("getent", "group")
    assert "devs" not in r.stdout
    assert h.wrapped("getent", "passwd", "alice").stdout.strip() == ALICE


def test_threads_while_republishing(helper):
    """Reader threads on the mmap path while the helper republishes (flush
    after flush): every answer is complete and right, remaps included."""
    proc = subprocess.Popen([sys.executable, helper.lib.probe, helper.lib.path,
                             "threads:8:repeat:3000:getpwnam:alice"],
                            env=helper.env(), stdout=subprocess.PIPE, text=True)
    flushes = 0
    while proc.poll() is None and flushes < 40:
        assert helper.ctl("cache", "flush").returncode == 0
        flushes += 1
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 8
    for r in results:
        assert r["statuses"] == {"1": 3000}, r
        assert [passwd_line(e) for e in r["entries"]] == [ALICE]
    assert flushes >= 2
