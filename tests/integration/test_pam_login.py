"""Logging in through pam_sectx.so as a login service sees it: real libpam
(pam_wrapper), the real module, the real sectxd and a real MIT realm.  Each
test names the behaviour it proves and asserts what the service and the
user observe: PAM codes, prompts and messages, the PAM environment, the
credential cache, and what reaches the logs."""

import os
import stat

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import ccache_path, klist_as

LOGIN = ("authenticate", "acct_mgmt", "setcred", "open_session", "env")


def test_login_correct_password(pam_stack, users, realm):
    user = users()
    r = pam_stack().run(user.name, *LOGIN, answers=[user.password], tty="pts/7")

    assert [r.code(s) for s in ("authenticate", "acct_mgmt", "setcred", "open_session")] == \
        ["PAM_SUCCESS"] * 4, r
    assert r.prompts == ["Password: "], r
    # the handle served its purpose: it must not reach the user's session
    assert "SECTX_LOGIN_HANDLE" not in r.env, r
    ccname = r.env.get("KRB5CCNAME")
    assert ccname, r
    path = ccache_path(ccname)
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == user.uid, (ccname, st)
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)

    listing = klist_as(user, ccname, realm)
    assert listing.returncode == 0, listing.stderr
    assert f"Default principal: {user.principal}" in listing.stdout
    assert f"krbtgt/{realm.realm}@{realm.realm}" in listing.stdout


def test_login_correct_password_with_pamtester(pam_stack, users):
    """pamtester, the stock PAM test tool, logs in too (its conversation
    reads the password from standard input)."""
    user = users()
    proc, _ = pam_stack().pamtester(user.name, "authenticate", "acct_mgmt", "open_session",
                                    "close_session", password=user.password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "successfully authenticated" in proc.stdout + proc.stderr, proc.stdout


def test_login_wrong_password(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "authenticate", "acct_mgmt", "open_session", "env",
                        answers=["not-" + user.password])

    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert r.delays and max(r.delays) > 0, "no fail delay requested"
    # no handle was issued: the later groups have nothing of sectx's to act on
    assert r.code("acct_mgmt") == "PAM_IGNORE", r
    assert r.code("open_session") == "PAM_IGNORE", r
    assert "SECTX_LOGIN_HANDLE" not in r.env and "KRB5CCNAME" not in r.env, r
    assert not user.ccache_files()


def test_login_unknown_user_looks_like_wrong_password(pam_stack, users):
    """A local user without a principal and a wrong password get the same
    prompts and messages; only the PAM code for the service differs."""
    stack = pam_stack()
    known = users()
    unknown = users(principal=False)
    wrong = stack.run(known.name, "authenticate", answers=["Wrong-pw-1"])
    nouser = stack.run(unknown.name, "authenticate", answers=["Wrong-pw-1"])

    assert wrong.code("authenticate") == "PAM_AUTH_ERR", wrong
    assert nouser.code("authenticate") == "PAM_USER_UNKNOWN", nouser
    assert nouser.messages == wrong.messages, (nouser, wrong)
    assert nouser.delays and max(nouser.delays) > 0, "no fail delay requested"


def test_login_unknown_user_ignored_with_ignore_unknown_user(pam_stack, users):
    unknown = users(principal=False)
    r = pam_stack("ignore_unknown_user").run(unknown.name, "authenticate", answers=["x-Pw-1"])
    assert r.code("authenticate") == "PAM_IGNORE", r


def test_login_unknown_name_is_not_logged(pam_stack, pam_helper):
    """A name that matches no principal is often a password typed into the
    login field: neither the module nor the helper logs it."""
    name = "Sx-Secret-" + os.urandom(6).hex()
    r = pam_stack("debug").run(name, "authenticate", answers=["some-Pw-1"])

    assert r.code("authenticate") == "PAM_USER_UNKNOWN", r
    assert r.log, "the module logged nothing (pam_wrapper shows its syslog lines)"
    assert any("unknown user" in line for line in r.log), r.log
    assert not [line for line in r.log if name in line], r.log
    assert name not in pam_helper.log_text()


def test_login_disabled_principal_refused(pam_stack, users, realm):
    user = users()
    realm.kadmin(f"modprinc -allow_tix {user.name}")
    r = pam_stack().run(user.name, "authenticate", "open_session", "env",
                        answers=[user.password])

    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert r.code("open_session") == "PAM_IGNORE", r
    assert "KRB5CCNAME" not in r.env, r


def test_login_helper_stopped_is_authinfo_unavail_fast(pam_stack, pam_helper, users):
    """No helper: the module answers at once (a refused connection is not a
    reason to wait for the 10 s deadline).  The bound is generous: this
    proves nothing hangs, it is not a benchmark."""
    user = users()
    stack = pam_stack()
    pam_helper.stop()
    r = stack.run(user.name, "authenticate", answers=[user.password], real_delay=True)

    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
    assert r.elapsed < 5.0, f"took {r.elapsed:.1f} s"
    assert any("cannot reach sectxd" in line for line in r.log), r.log


def test_login_helper_stopped_ignored_with_ignore_authinfo_unavail(pam_stack, pam_helper,
                                                                   users):
    user = users()
    stack = pam_stack("ignore_authinfo_unavail")
    pam_helper.stop()
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_IGNORE", r


def test_login_below_minimum_uid_is_ignored(pam_stack, users):
    """minimum_uid: a local account below it is not sectx's business; the
    module does not even ask for a password."""
    user = users()
    r = pam_stack(f"minimum_uid={user.uid + 1}").run(
        user.name, "authenticate", "acct_mgmt", "setcred", "open_session", "close_session",
        answers=[user.password])

    assert all(code == "PAM_IGNORE" for _, code in
               [(s, r.code(s)) for s in ("authenticate", "acct_mgmt", "setcred",
                                          "open_session", "close_session")]), r
    assert r.prompts == [], r

    r = pam_stack(f"minimum_uid={user.uid}").run(user.name, "authenticate",
                                                 answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r


def test_login_root_is_ignored_by_default(pam_stack):
    r = pam_stack().run("root", "authenticate", "acct_mgmt", "open_session",
                        answers=["root-Pw-1"])
    assert [r.code(s) for s in ("authenticate", "acct_mgmt", "open_session")] == \
        ["PAM_IGNORE"] * 3, r
    assert r.prompts == [], r

    # minimum_uid=0 hands root to the helper like anyone else
    r = pam_stack("minimum_uid=0").run("root", "authenticate", answers=["root-Pw-1"])
    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") != "PAM_IGNORE", r


def test_user_not_authenticated_by_sectx_is_ignored(pam_stack, users):
    """ssh keys, root's su: sectx did not authenticate this login, so it has
    no handle, and account, setcred and session return PAM_IGNORE without a
    word to the user."""
    user = users()
    r = pam_stack().run(user.name, "acct_mgmt", "setcred", "open_session", "close_session",
                        "setcred_delete", "env")
    for step in ("acct_mgmt", "setcred", "open_session", "close_session", "setcred_delete"):
        assert r.code(step) == "PAM_IGNORE", (step, r)
    assert r.messages == [], r
    assert "KRB5CCNAME" not in r.env, r


# pam_unix prompts first and stores what was typed as PAM_AUTHTOK (the test
# users have no local password, so it fails: `optional` lets the stack go on).
UNIX_FIRST = {"auth": ["optional pam_unix.so"]}


def test_login_use_first_pass_takes_the_stored_password(pam_stack, users):
    user = users()
    r = pam_stack("use_first_pass", before=UNIX_FIRST).run(
        user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert len(r.prompts) == 1, r  # pam_unix's only


def test_login_use_first_pass_without_stored_password_fails(pam_stack, users):
    user = users()
    r = pam_stack("use_first_pass").run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert r.prompts == [], r


def test_login_try_first_pass_prompts_when_the_stored_password_fails(pam_stack, users):
    user = users()
    r = pam_stack("try_first_pass", before=UNIX_FIRST).run(
        user.name, "authenticate", answers=["Not-the-pw-1", user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert len(r.prompts) == 2, r
