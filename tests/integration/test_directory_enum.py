"""[directory] enumerate against a real slapd (slapd_harness.py): every
user and group fetched with paged searches (RFC 2696 simple paged results,
page_size entries a page) at start and every enumerate_interval, stored as
lookups store them, and listed by getent passwd / getent group through real
glibc NSS (nss_wrapper routing to libnss_sectx's setpwent/getpwent_r).
Without it, enumeration lists only the directory entries some lookup
fetched."""

import time

from directory_support import (ALICE_UID, ALL_GID, BOB_UID, DEVS_GID, STAFF_GID,  # noqa: F401
                               USERS_GID, dir_helper, slapd_factory)
from nss_support import SUCCESS, nss_lib, subprocess_ok  # noqa: F401
from slapd_harness import posix_user


def wait_enumerated(h, timeout=15.0, count=1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if h.d.log_text().count("directory: enumerated ") >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no enumeration: " + h.d.log_tail(60))


def names(lines):
    return {line.split(":")[0] for line in lines.splitlines() if line}


def test_enumerate_lists_every_directory_entry(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s, enumerate="true", page_size="2")
    wait_enumerated(h)
    log = h.d.log_text()
    # 4 user entries (2 refused: uid 0, below min_id) and 5 groups
    assert "directory: enumerated 4 users and 5 groups (2 and 5 stored)" in log, h.d.log_tail()
    # two entries a page: more than one search for each of users and groups
    assert s.log_text().count("SRCH ") >= 5, s.log_text()
    searches = s.log_text().count("SRCH ")

    r = h.wrapped("getent", "passwd")
    assert r.returncode == 0, subprocess_ok(r) + h.d.log_tail()
    users = [line for line in r.stdout.splitlines() if not line.startswith("root:")]
    assert sorted(users) == sorted([
        f"alice:*:{ALICE_UID}:{USERS_GID}:Alice Liddell:/home/alice:/bin/sh",
        f"bob:*:{BOB_UID}:{USERS_GID}:bob:/home/bob:/bin/sh",
    ]), subprocess_ok(r)
    r = h.wrapped("getent", "group")
    assert r.returncode == 0, subprocess_ok(r)
    assert names(r.stdout) == {"root", "users", "devs", "ops", "all", "staff"}, r.stdout
    assert f"devs:*:{DEVS_GID}:alice,bob" in r.stdout.splitlines(), r.stdout
    # what the enumeration stored is served without asking the directory
    assert h.probe1("getpwnam:bob")["status"] == SUCCESS
    assert h.probe1(f"getgrgid:{STAFF_GID}")["status"] == SUCCESS
    # a user only enumerated is in the groups that name it directly
    r = h.in_namespace("id", "-G", "alice")
    assert {USERS_GID, DEVS_GID, STAFF_GID} <= {int(x) for x in r.stdout.split()}, \
        subprocess_ok(r)
    assert s.log_text().count("SRCH ") == searches, s.log_text()


def test_without_enumerate_only_looked_up_entries_are_listed(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s, identity={"enumerate": "true"})
    r = h.wrapped("getent", "passwd")
    assert r.returncode == 0, subprocess_ok(r) + h.d.log_tail()
    assert names(r.stdout) == {"root"}, r.stdout
    assert "SRCH " not in s.log_text()
    assert h.probe1("getpwnam:alice")["status"] == SUCCESS
    r = h.wrapped("getent", "passwd")
    assert names(r.stdout) == {"root", "alice"}, r.stdout  # not bob
    assert "directory: enumerated" not in h.d.log_text()


def test_enumeration_runs_again_every_interval(dir_helper, slapd_factory):
    """A user added to the directory is listed after the next run; the
    server restarted meanwhile (the connection the first run used is gone)."""
    s = slapd_factory()
    h = dir_helper(s, enumerate="true", enumerate_interval="10s")
    wait_enumerated(h)
    assert "carol" not in names(h.wrapped("getent", "passwd").stdout)
    s.stop_server()
    s.load([posix_user("carol", 5003, USERS_GID)])
    s.start()
    wait_enumerated(h, timeout=25.0, count=2)
    assert "directory: enumerated 5 users and 5 groups (3 and 5 stored)" in h.d.log_text(), \
        h.d.log_tail()
    r = h.wrapped("getent", "passwd")
    assert names(r.stdout) == {"root", "alice", "bob", "carol"}, subprocess_ok(r)
