"""Renewal of the TGT of open sessions, and the helper's durable state.

A realm whose KDC gives one-minute renewable tickets, a real sectxd renewing
every 2 s (renew_interval), sessions opened through pam_sectx.so (real
libpam under pam_wrapper): authenticate in one process, open_session in
another (as sshd does), so the session stays open between PAM runs, and
close_session later with the same login handle.  Every check is what the
user or the admin sees: `klist` as the user, `sectxctl status`, the
helper's log, the files in state_dir.
"""

import datetime
import glob
import os
import re
import signal
import time

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import ccache_path, klist_as
from realm import Realm
from sectx_harness import run, terminate, wait_until, write_locked, write_private

HANDLE = "SECTX_LOGIN_HANDLE"
RENEW_WAIT = 15.0  # seconds: a renewal is due every 2 s
_KLIST_TGT = re.compile(r"^(\S+ \S+)\s+(\S+ \S+)\s+krbtgt/", re.M)


@pytest.fixture(scope="module")
def realm():
    """A realm whose tickets live one minute, renewable for a day."""
    r = Realm(max_life="1m", max_renewable_life="1d")
    yield r
    r.stop()


@pytest.fixture
def helper(pam_helper_factory):
    return pam_helper_factory(renew_interval="2s", ticket_lifetime="1m")


def _parse_time(text):
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%d/%m/%y %H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise AssertionError(f"cannot parse klist time {text!r}")


def tgt_expiry(user, ccname, realm):
    """The TGT's expiry as klist, run as the user, shows it (None if klist
    fails)."""
    r = klist_as(user, ccname, realm)
    if r.returncode != 0:
        return None
    m = _KLIST_TGT.search(r.stdout)
    assert m, r.stdout
    return _parse_time(m.group(2))


def open_session(stack, user):
    """authenticate in one PAM run, open_session in another; returns
    (handle, KRB5CCNAME).  The session stays open."""
    r = stack.run(user.name, "authenticate", "env", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    handle = r.env[HANDLE]
    r = stack.run(user.name, "open_session", "env", putenv=[f"{HANDLE}={handle}"])
    assert r.code("open_session") == "PAM_SUCCESS", r
    return handle, r.env["KRB5CCNAME"]


def close_session(stack, user, handle):
    r = stack.run(user.name, "close_session", putenv=[f"{HANDLE}={handle}"])
    return r.code("close_session")


def renewal_status(helper):
    return helper.status_json()["renewal"]


def wait_renewed_after(user, ccname, realm, before):
    """Wait until klist shows an expiry later than before; return it."""
    seen = {}

    def later():
        seen["t"] = tgt_expiry(user, ccname, realm)
        return seen["t"] is not None and seen["t"] > before

    assert wait_until(later, RENEW_WAIT, 0.2), f"expiry stayed {seen.get('t')} (was {before})"
    return seen["t"]


def test_session_ticket_renewed_until_close(helper, pam_stack, users, realm):
    user = users()
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    first = tgt_expiry(user, ccname, realm)
    assert first is not None

    wait_renewed_after(user, ccname, realm, first)
    # the writer's child has rewritten the file before the helper hears the
    # job is done and counts the renewal: wait for the count
    assert wait_until(lambda: renewal_status(helper)["renewed"] >= 1, RENEW_WAIT, 0.1), \
        renewal_status(helper)
    st = renewal_status(helper)
    assert st["sessions"] == 1 and st["renewed"] >= 1, st
    assert f"{user.name}: renewed until" in st["last"], st
    r = helper.ctl("status")
    assert "renewal: 1 session(s)" in r.stdout, r.stdout
    # the cache is still the user's own file, rewritten as the user
    path = ccache_path(ccname)
    assert os.lstat(path).st_uid == user.uid and os.lstat(path).st_mode & 0o777 == 0o600

    assert close_session(stack, user, handle) == "PAM_SUCCESS"
    assert not os.path.lexists(path)
    assert renewal_status(helper)["sessions"] == 0
    assert f"renewal of the session of {user.name} ({ccname}) stops: session closed" \
        in helper.log_text()
    # nothing brings the cache back
    renewed = renewal_status(helper)["renewed"]
    assert not wait_until(lambda: os.path.lexists(path), 4.0, 0.2)
    assert renewal_status(helper)["renewed"] == renewed


def test_kdestroy_stops_renewal(helper, pam_stack, users, realm):
    user = users()
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    r = run(["kdestroy", "-c", ccname], uid=user.name, env=realm.env())
    assert r.returncode == 0, r.stderr
    line = f"renewal of the session of {user.name} ({ccname}) stops: the ccache is gone"
    assert wait_until(lambda: line in helper.log_text(), RENEW_WAIT, 0.2), helper.log_tail()
    assert renewal_status(helper)["sessions"] == 0
    assert not os.path.lexists(ccache_path(ccname)), "renewal recreated a destroyed cache"
    assert close_session(stack, user, handle) == "PAM_SUCCESS"


def test_kinit_as_someone_else_stops_renewal(helper, pam_stack, users, realm):
    user = users()
    other = "other" + user.name
    password = realm.addprinc(other)
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    env = realm.env()
    env["KRB5CCNAME"] = ccname
    r = run(["kinit", "-c", ccname, other], uid=user.name, env=env, input=password + "\n")
    assert r.returncode == 0, r.stderr
    line = (f"renewal of the session of {user.name} ({ccname}) stops: the ccache now holds "
            f"{other}@{realm.realm}")
    assert wait_until(lambda: line in helper.log_text(), RENEW_WAIT, 0.2), helper.log_tail()
    assert renewal_status(helper)["sessions"] == 0
    r = klist_as(user, ccname, realm)
    assert f"Default principal: {other}@{realm.realm}" in r.stdout, r.stdout
    # close_session leaves the other principal's cache alone
    close_session(stack, user, handle)
    assert os.path.exists(ccache_path(ccname))


def test_failed_renewal_is_logged_and_retried(helper, pam_stack, users, realm):
    """The KDC stops answering (SIGSTOP: a black hole): the renewal worker
    is killed at kdc_timeout, the failure logged and counted, and the next
    attempt after the backoff renews once the KDC answers again."""
    user = users()
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    first = tgt_expiry(user, ccname, realm)
    kdc = realm.procs["krb5kdc"]
    line = f"renewal of the TGT of {user.name} ({ccname}) failed (attempt 1): no KDC answered"
    kdc.send_signal(signal.SIGSTOP)
    try:
        assert wait_until(lambda: line in helper.log_text(), RENEW_WAIT, 0.2), helper.log_tail()
    finally:
        kdc.send_signal(signal.SIGCONT)
    st = renewal_status(helper)
    assert st["failed"] >= 1 and st["sessions"] == 1, st
    assert "renewal failed" in st["last"], st
    wait_renewed_after(user, ccname, realm, first)
    assert close_session(stack, user, handle) == "PAM_SUCCESS"


def test_locked_cache_is_retried_and_delays_no_other_user(helper, pam_stack, users, realm):
    """A user holds a write lock on their own session's cache, as any user
    can: libkrb5 would wait for it without limit in the one ccache writer,
    and every other user's open, renewal and close would queue behind it.
    The renewal fails at once saying why, is retried, and renews once the
    lock is gone; meanwhile another user's session opens and closes
    promptly."""
    locked, other = users(), users()
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, locked)
    first = tgt_expiry(locked, ccname, realm)
    line = (f"renewal of the TGT of {locked.name} ({ccname}) failed (attempt 1): the ccache "
            "is locked by another process (not waited for); retrying")
    with write_locked(ccache_path(ccname), locked.name):
        assert wait_until(lambda: line in helper.log_text(), RENEW_WAIT, 0.1), helper.log_tail()
        started = time.monotonic()
        other_handle, other_ccname = open_session(stack, other)
        assert close_session(stack, other, other_handle) == "PAM_SUCCESS"
        elapsed = time.monotonic() - started
    assert elapsed < 5, f"{elapsed:.1f} s: another user's locked cache held the writer"
    assert not os.path.lexists(ccache_path(other_ccname))
    assert "is locked by another process: not waiting for it" in helper.log_text()
    wait_renewed_after(locked, ccname, realm, first)
    assert close_session(stack, locked, handle) == "PAM_SUCCESS"
    assert not os.path.lexists(ccache_path(ccname))


def test_renewal_stops_at_renewable_lifetime_end(helper, pam_stack, users, realm):
    """A principal whose tickets are renewable for 68 s: a few renewals
    reach the renew-till time, then renewal stops; close still works."""
    user = users()
    realm.kadmin(f"modprinc -maxrenewlife 0:01:08 {user.name}")
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    line = f"the renewable lifetime of the TGT of {user.name} has ended"
    assert wait_until(lambda: line in helper.log_text(), RENEW_WAIT, 0.2), helper.log_tail()
    st = renewal_status(helper)
    assert st["sessions"] == 0 and st["renewed"] >= 1, st
    r = klist_as(user, ccname, realm)
    m = re.search(r"(\S+ \S+)\s+krbtgt/\S+\s+renew until (\S+ \S+)", r.stdout)
    assert m and m.group(1) == m.group(2), r.stdout  # expires at renew-till
    assert close_session(stack, user, handle) == "PAM_SUCCESS"
    assert not os.path.lexists(ccache_path(ccname))


def test_restart_after_kill_picks_sessions_up(helper, pam_stack, users, realm):
    user = users()
    stack = pam_stack(helper=helper)
    handle, ccname = open_session(stack, user)
    wait_renewed_after(user, ccname, realm, tgt_expiry(user, ccname, realm))
    state = os.path.join(helper.state_dir, "sessions")
    with open(state, "rb") as f:
        data = f.read()
    assert data.startswith(b"SECTXSTF") and b"SESS" in data[:16]
    assert os.stat(state).st_mode & 0o777 == 0o600
    assert b"krbtgt" not in data, "a ticket in the state file"

    terminate(helper.proc, signal.SIGKILL, 5.0)
    before = tgt_expiry(user, ccname, realm)
    helper.start()
    assert "1 session(s) to renew picked up from sessions" in helper.log_text()
    wait_renewed_after(user, ccname, realm, before)
    assert renewal_status(helper)["sessions"] == 1

    # the restarted helper has no login handle, yet close_session works
    assert close_session(stack, user, handle) == "PAM_SUCCESS"
    assert not os.path.lexists(ccache_path(ccname))
    assert renewal_status(helper)["sessions"] == 0


def test_sessions_durable_across_repeated_kills(helper, pam_stack, users, realm):
    """A session is on disk before open_session answers: kill -9 right after
    each open, restart, and every session opened so far is picked up; no
    state file is ever found corrupt."""
    stack = pam_stack(helper=helper)
    opened = []
    for i in range(3):
        user = users()
        opened.append((user, *open_session(stack, user)))
        terminate(helper.proc, signal.SIGKILL, 5.0)
        helper.start()
        assert f"{i + 1} session(s) to renew picked up from sessions" in helper.log_text()
        assert renewal_status(helper)["sessions"] == i + 1
    assert "is corrupt" not in helper.log_text()
    for user, handle, ccname in opened:
        assert close_session(stack, user, handle) == "PAM_SUCCESS"
        assert not os.path.lexists(ccache_path(ccname))
    assert renewal_status(helper)["sessions"] == 0


def test_corrupt_state_files_moved_aside(pam_helper_factory):
    h = pam_helper_factory(start=False, renew_interval="2s")
    garbage = {"sessions": b"SECTXSTF\0\0\0\0not a header at all",
               "idmap": b"range 200000-300000\nmap 1 x@SECTX.TEST\n"}
    for name, data in garbage.items():
        path = os.path.join(h.state_dir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
    write_private(h.config_file, h.config_text() + "\n[identity]\nauto_id = true\n"
                  "id_range = 200000-300000\n")
    h.start()
    log = h.log_text()
    for name, what in (("sessions", "sessions to renew"), ("idmap", "id map")):
        assert re.search(rf"state file {name} \({what}\) is corrupt: .*; moved aside to "
                         rf"{name}\.corrupt-\d{{8}}T\d{{6}}Z, starting empty", log), log
        aside = glob.glob(os.path.join(h.state_dir, f"{name}.corrupt-*"))
        assert len(aside) == 1
        with open(aside[0], "rb") as f:
            assert f.read() == garbage[name]
        assert not os.path.exists(os.path.join(h.state_dir, name))
    assert renewal_status(h)["sessions"] == 0
