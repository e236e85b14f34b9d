"""Concurrent logins through the real PAM stack: the helper serves many
logins at once (its KDC I/O runs on the event loop), and every one of them
gets its own handle and its own credential cache."""

import concurrent.futures
import datetime
import os
import re
import secrets

from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_stack, users, ...)
from sectx_harness import Conn, field, frame

PARALLEL = 16


def test_16_concurrent_logins_all_succeed(pam_stack, users):
    people = [users() for _ in range(4)]
    stack = pam_stack()

    def login(i):
        user = people[i % len(people)]
        proc, _ = stack.pamtester(user.name, "authenticate", "acct_mgmt", "open_session",
                                  password=user.password, timeout=60)
        return user, proc

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(login, range(PARALLEL)))

    failed = [(u.name, p.stdout + p.stderr) for u, p in results if p.returncode != 0]
    assert not failed, failed
    # pamtester exits without close_session: every login left its own cache
    caches = [c for u in people for c in u.ccache_files()]
    assert len(caches) == PARALLEL, caches
    for user in people:
        for path in user.ccache_files():
            st = os.stat(path)
            assert (st.st_uid, st.st_mode & 0o777) == (user.uid, 0o600)


OP_PAM_AUTH, TAG_USER, TAG_PASSWORD, TAG_SERVICE, TAG_RHOST, TAG_RESULT = (
    0x0201, 0x0201, 0x0202, 0x0203, 0x0204, 0x0207)
PAM_SUCCESS, PAM_AUTH_ERR = 0, 2
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")


def _log_times(d, text):
    """Times (seconds) of the helper's log lines that contain text, in order."""
    times = []
    for line in d.log_text().splitlines():
        m = LOG_TIME.match(line)
        if m and text in line:
            times.append(datetime.datetime.fromisoformat(m.group(1)).timestamp())
    return times


def test_parallel_wrong_passwords_are_delayed_as_serial_ones(pam_helper_factory, realm):
    """[kerberos] failure_delay_after counts an attempt as it starts, so wrong
    passwords sent at once for one user are spaced by the delay as if typed
    one after the other, instead of all passing the check before the first
    failure is in.  A right password then clears the count."""
    d = pam_helper_factory(failure_delay_after="1", failure_delay_max="1s")
    name = f"thr{secrets.token_hex(3)}"
    password = realm.addprinc(name, password="Thr-right-pw-1")
    n = 4

    def auth(c, pw, rhost):
        c.send(frame(OP_PAM_AUTH, field(TAG_USER, name.encode()), field(TAG_PASSWORD, pw),
                     field(TAG_SERVICE, b"login"), field(TAG_RHOST, rhost.encode())))

    conns = [Conn(d.pam_sock, timeout=30) for _ in range(n)]
    try:
        # every request is in before the KDC can have answered the first
        for i, c in enumerate(conns):
            auth(c, b"Thr-wrong-pw", f"10.0.0.{i + 1}")
        results = [c.recv_frame().u32(TAG_RESULT) for c in conns]
    finally:
        for c in conns:
            c.close()
    assert results == [PAM_AUTH_ERR] * n, results
    failed = _log_times(d, f"authentication of {name} for login (uid 0, rhost 10.0.0.")
    assert len(failed) == n, d.log_tail()
    # each attempt after the first waited for the delay after the one before
    # (a lower bound the delay guarantees, however loaded the machine)
    gaps = [b - a for a, b in zip(failed, failed[1:])]
    assert all(g >= 0.9 for g in gaps), (gaps, d.log_tail())
    assert len(_log_times(d, f"delaying authentication of {name} ")) >= n - 1, d.log_tail()

    # a right password (after its own delay) clears the count: the next
    # wrong one is not delayed
    with Conn(d.pam_sock, timeout=30) as c:
        auth(c, password.encode(), "10.0.0.9")
        assert c.recv_frame().u32(TAG_RESULT) == PAM_SUCCESS
    delayed = len(_log_times(d, f"delaying authentication of {name} "))
    with Conn(d.pam_sock, timeout=30) as c:
        auth(c, b"Thr-wrong-pw", "10.0.0.10")
        assert c.recv_frame().u32(TAG_RESULT) == PAM_AUTH_ERR
    assert len(_log_times(d, f"delaying authentication of {name} ")) == delayed, d.log_tail()


def test_parallel_right_passwords_are_never_penalised(pam_helper_factory, realm):
    """Attempts in flight are not failures: one user's logins made at once
    with the right password all succeed, and none meets the failure delay
    (they only wait for one another: at most failure_delay_after at a
    time)."""
    d = pam_helper_factory(failure_delay_after="1", failure_delay_max="5s")
    name = f"par{secrets.token_hex(3)}"
    password = realm.addprinc(name, password="Par-right-pw-1")
    n = 8
    conns = [Conn(d.pam_sock, timeout=30) for _ in range(n)]
    try:
        for i, c in enumerate(conns):
            c.send(frame(OP_PAM_AUTH, field(TAG_USER, name.encode()),
                         field(TAG_PASSWORD, password.encode()), field(TAG_SERVICE, b"login"),
                         field(TAG_RHOST, f"10.0.1.{i + 1}".encode())))
        results = [c.recv_frame().u32(TAG_RESULT) for c in conns]
    finally:
        for c in conns:
            c.close()
    assert results == [PAM_SUCCESS] * n, results
    waits = [int(m.group(1)) for m in re.finditer(
        rf"delaying authentication of {name} from uid 0 by (\d+) ms", d.log_text())]
    assert all(w < 500 for w in waits), (waits, d.log_tail())
