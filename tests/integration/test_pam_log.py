"""One line in sectxd's log per PAM call (issue 13, item 4): operation,
service, user, remote host, caller uid and pid, result, the PAM code and the
duration in ms, for successes and failures alike, and never the password.
Real libpam (pam_wrapper), real sectxd, real realm."""

import os
import pwd
import re
import time

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from sectx_harness import Conn, E_PERM, field, require_root, wait_until, write_private

OP_PAM_AUTHENTICATE = 0x0201
TAG_USER, TAG_PASSWORD, TAG_SERVICE = 0x0201, 0x0202, 0x0203

LINE = re.compile(r"pam call (?P<op>[a-z-]+): service=(?P<service>\S+) user=(?P<user>\S+) "
                  r"rhost=(?P<rhost>\S+) uid=(?P<uid>\d+) pid=(?P<pid>\d+) "
                  r"result=(?P<result>[a-z]+) pam=(?P<pam>\S+) ms=(?P<ms>\d+)$")


def calls(helper, user):
    """The parsed summary lines of user's PAM calls, in log order."""
    out = []
    for line in helper.log_text().splitlines():
        m = LINE.search(line)
        if m and m["user"] == user:
            out.append(m.groupdict())
    return out


def wait_calls(helper, user, n):
    """The first n lines of user (the line is written when the request is
    freed, just after the reply went out)."""
    wait_until(lambda: len(calls(helper, user)) >= n, timeout=10)
    got = calls(helper, user)
    assert len(got) >= n, f"{len(got)} pam call lines for {user}, want {n}:\n" \
        + helper.log_tail(60)
    return got


def test_a_login_logs_each_call_once(pam_stack, pam_helper, users):
    user = users()
    r = pam_stack().run(user.name, "authenticate", "acct_mgmt", "setcred", "open_session",
                        "close_session", answers=[user.password], rhost="192.0.2.9")
    for step in ("authenticate", "acct_mgmt", "setcred", "open_session", "close_session"):
        assert r.code(step) == "PAM_SUCCESS", r
    got = wait_calls(pam_helper, user.name, 5)
    time.sleep(0.2)  # nothing more may follow
    got = calls(pam_helper, user.name)
    assert [c["op"] for c in got] == ["authenticate", "acct-mgmt", "setcred", "open-session",
                                      "close-session"], got
    for c in got:
        assert c["service"] == "sectx-test" and c["rhost"] == "192.0.2.9", c
        assert c["uid"] == "0" and int(c["pid"]) > 0, c
        assert c["result"] == "success" and c["pam"] == "PAM_SUCCESS", c
    # the KDC exchange and TGT validation take real time; the others less
    assert all(int(c["ms"]) < 30000 for c in got), got
    assert user.password not in pam_helper.log_text()


def test_wrong_password_logs_the_pam_code(pam_stack, pam_helper, users):
    user = users()
    wrong = "Wr0ng-" + user.password[::-1]
    r = pam_stack().run(user.name, "authenticate", answers=[wrong])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    (c,) = wait_calls(pam_helper, user.name, 1)
    assert c["op"] == "authenticate" and c["rhost"] == "-", c
    assert c["result"] == "failed" and c["pam"] == "PAM_AUTH_ERR", c
    log = pam_helper.log_text()
    assert wrong not in log and user.password not in log


def test_account_denied_by_access_logs_perm_denied(pam_stack, pam_helper_factory, users):
    user, other = users(), users()
    helper = pam_helper_factory(start=False)
    write_private(helper.config_file,
                  helper.config_text() + f"\n[access]\nallow_users = {other.name}\n")
    helper.start()
    r = pam_stack(helper=helper).run(user.name, "authenticate", "acct_mgmt",
                                     answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt") == "PAM_PERM_DENIED", r
    got = wait_calls(helper, user.name, 2)
    assert got[1]["op"] == "acct-mgmt", got
    assert got[1]["result"] == "failed" and got[1]["pam"] == "PAM_PERM_DENIED", got
    assert user.password not in helper.log_text()


def test_session_without_a_valid_handle_logs_its_code(pam_stack, pam_helper, users):
    """open_session with a handle the helper does not know: the line has
    sectxd's answer (CRED_ERR: no credentials under that handle), which the
    module turns into its session group's PAM_SESSION_ERR (pam_sectx(8))."""
    user = users()
    r = pam_stack().run(user.name, "open_session",
                        putenv=["SECTX_LOGIN_HANDLE=" + "ab" * 32])
    assert r.code("open_session") == "PAM_SESSION_ERR", r
    (c,) = wait_calls(pam_helper, user.name, 1)
    assert c["op"] == "open-session" and c["result"] == "failed", c
    assert c["pam"] == "PAM_CRED_ERR", c


def test_unknown_user_is_not_named(pam_stack, pam_helper):
    """A name the realm does not know is often a password typed into the
    login field: the line has user=? and the PAM code."""
    name = "Sx-Secret-" + os.urandom(6).hex()
    r = pam_stack().run(name, "authenticate", answers=["some-Pw-1"])
    assert r.code("authenticate") == "PAM_USER_UNKNOWN", r
    (c,) = wait_calls(pam_helper, "?", 1)
    assert c["op"] == "authenticate" and c["pam"] == "PAM_USER_UNKNOWN", c
    assert c["result"] == "failed", c
    log = pam_helper.log_text()
    assert name not in log and "some-Pw-1" not in log


def test_a_users_own_calls_cannot_flood_the_log(sectxd_factory):
    """Any uid may call pam.sock as often as it likes: the lines of non-root
    callers go through the peer-line limit (peer_log_lines per
    peer_log_interval, the rest counted in one line)."""
    require_root("calls as user nobody")
    d = sectxd_factory(peer_log_lines="5", peer_log_interval="1h")
    nobody = pwd.getpwnam("nobody")
    calls = 40
    pid = os.fork()
    if pid == 0:  # the child: nobody asks to authenticate root, again and again
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            refused = 0
            for i in range(calls):
                with Conn(d.pam_sock, timeout=5) as c:
                    r = c.request(OP_PAM_AUTHENTICATE, field(TAG_USER, b"root"),
                                  field(TAG_SERVICE, b"login"),
                                  field(TAG_PASSWORD, b"not-a-password"), reqid=i + 1)
                    refused += r is not None and r.status == E_PERM
            code = 0 if refused == calls else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert wait_until(lambda: len(calls_of(d, nobody.pw_uid)) >= 5, timeout=10), d.log_tail()
    time.sleep(0.3)
    lines = calls_of(d, nobody.pw_uid)
    assert len(lines) == 5, lines
    assert all(c["result"] == "refused" and c["pam"] == "-" and c["user"] == "?"
               for c in lines), lines
    assert "not-a-password" not in d.log_text()


def calls_of(helper, uid):
    """The summary lines of caller uid."""
    out = []
    for line in helper.log_text().splitlines():
        m = LINE.search(line)
        if m and m["uid"] == str(uid):
            out.append(m.groupdict())
    return out
