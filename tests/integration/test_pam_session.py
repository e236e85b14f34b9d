"""Credentials and sessions through pam_sectx.so: the login handle, the
credential cache the helper writes for the session, KRB5CCNAME, and the
cases where authenticate and the session run in different processes (sshd)
or for different users.  Real libpam (pam_wrapper), real sectxd, real realm."""

import os

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import ccache_path, klist_as

HANDLE = "SECTX_LOGIN_HANDLE"


def authenticate_elsewhere(stack, user, **kw):
    """Authenticate user in a process of its own (sshd's keyboard-interactive
    child) and return the handle it left in the PAM environment."""
    r = stack.run(user.name, "authenticate", "env", answers=[user.password], **kw)
    assert r.code("authenticate") == "PAM_SUCCESS", r
    handle = r.env.get(HANDLE)
    assert handle and len(handle) == 64 and int(handle, 16) >= 0, r
    return handle


def test_handle_is_in_env_after_authenticate_only(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "authenticate", "env", "acct_mgmt", "env", "open_session",
                        "env", "close_session", answers=[user.password])

    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert HANDLE in r.envs[0] and HANDLE in r.envs[1], r  # until a session is opened
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert HANDLE not in r.envs[2], r
    assert r.envs[2].get("KRB5CCNAME"), r


def test_close_session_removes_the_cache(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "authenticate", "open_session", "env", "close_session",
                        "env", answers=[user.password])
    assert r.code("open_session") == "PAM_SUCCESS", r
    path = ccache_path(r.envs[0]["KRB5CCNAME"])
    assert r.code("close_session") == "PAM_SUCCESS", r
    assert not os.path.lexists(path), f"{path} still exists after close_session"
    assert "KRB5CCNAME" not in r.envs[1], r


def test_setcred_delete_after_close_session_succeeds(pam_stack, users):
    """login and sshd end a session with close_session, then setcred
    DELETE: the helper destroyed the cache with the session, so there is
    nothing left to delete, which is success, not PAM_CRED_ERR; and the
    closed handle cannot open a session again."""
    user = users()
    r = pam_stack().run(user.name, "authenticate", "setcred", "open_session", "env",
                        "close_session", "setcred_delete", "setcred", "env",
                        answers=[user.password])
    assert [r.code(s) for s in ("authenticate", "setcred", "open_session", "close_session",
                                "setcred_delete")] == ["PAM_SUCCESS"] * 5, r
    assert not os.path.lexists(ccache_path(r.envs[0]["KRB5CCNAME"]))
    assert r.code("setcred", 1) == "PAM_IGNORE", r  # no handle left to establish from
    assert "KRB5CCNAME" not in r.envs[1], r


def test_retain_after_close_keeps_the_cache(pam_stack, users, realm):
    user = users()
    r = pam_stack("retain_after_close").run(
        user.name, "authenticate", "open_session", "env", "close_session",
        answers=[user.password])
    assert r.code("close_session") == "PAM_SUCCESS", r
    ccname = r.env["KRB5CCNAME"]
    assert os.path.exists(ccache_path(ccname))
    assert klist_as(user, ccname, realm).returncode == 0


def test_setcred_is_idempotent(pam_stack, users, realm):
    """sshd calls setcred again in each session child: the same cache."""
    user = users()
    r = pam_stack().run(user.name, "authenticate", "setcred", "env", "setcred", "env",
                        "open_session", "env", "setcred_refresh", "setcred_reinitialize",
                        "env", answers=[user.password])
    assert [r.code("setcred", i) for i in range(2)] == ["PAM_SUCCESS"] * 2, r
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert r.code("setcred_refresh") == "PAM_SUCCESS", r
    assert r.code("setcred_reinitialize") == "PAM_SUCCESS", r
    names = {env.get("KRB5CCNAME") for env in r.envs}
    assert len(names) == 1 and None not in names, r.envs
    assert klist_as(user, names.pop(), realm).returncode == 0


def test_session_opened_by_another_process(pam_stack, users, realm):
    """sshd: authenticate runs in the keyboard-interactive child, whose PAM
    environment is copied back to the monitor, which opens the session."""
    user = users()
    stack = pam_stack()
    handle = authenticate_elsewhere(stack, user, rhost="192.0.2.7")
    r = stack.run(user.name, "acct_mgmt", "open_session", "setcred", "env", rhost="192.0.2.7",
                  putenv=[f"{HANDLE}={handle}"])

    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert r.code("setcred") == "PAM_SUCCESS", r
    assert HANDLE not in r.env, r
    assert klist_as(user, r.env["KRB5CCNAME"], realm).returncode == 0


def test_handle_cannot_be_claimed_from_another_remote_host(pam_stack, users):
    """A handle is bound to the remote host it was issued for: a session
    claiming it with another PAM_RHOST (or none) gets nothing."""
    user = users()
    stack = pam_stack()
    handle = authenticate_elsewhere(stack, user, rhost="192.0.2.7")
    for rhost in ("198.51.100.9", None):
        r = stack.run(user.name, "open_session", "setcred", "env", rhost=rhost,
                      putenv=[f"{HANDLE}={handle}"])
        assert r.code("open_session") not in ("PAM_SUCCESS", "PAM_IGNORE"), r
        assert "KRB5CCNAME" not in r.env, r
    assert not user.ccache_files()
    # the right host still can: the refusals did not consume the handle
    r = stack.run(user.name, "open_session", "env", rhost="192.0.2.7",
                  putenv=[f"{HANDLE}={handle}"])
    assert r.code("open_session") == "PAM_SUCCESS", r


def test_handle_of_alice_cannot_be_claimed_for_bob(pam_stack, users):
    alice, bob = users(), users()
    stack = pam_stack()
    handle = authenticate_elsewhere(stack, alice)
    r = stack.run(bob.name, "acct_mgmt", "setcred", "open_session", "env",
                  putenv=[f"{HANDLE}={handle}"])

    assert r.code("acct_mgmt") != "PAM_SUCCESS", r
    assert r.code("setcred") not in ("PAM_SUCCESS", "PAM_IGNORE"), r
    assert r.code("open_session") not in ("PAM_SUCCESS", "PAM_IGNORE"), r
    assert "KRB5CCNAME" not in r.env, r
    assert not bob.ccache_files() and not alice.ccache_files()


def test_handle_cannot_be_claimed_after_changing_pam_user(pam_stack, users):
    """The same process: authenticate alice, then PAM_USER becomes bob."""
    alice, bob = users(), users()
    r = pam_stack().run(alice.name, "authenticate", f"user={bob.name}", "open_session", "env",
                        answers=[alice.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("open_session") == "PAM_SESSION_ERR", r
    assert "KRB5CCNAME" not in r.env, r


def test_malformed_handle_in_env_is_ignored(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "open_session", "env", putenv=[f"{HANDLE}=../../etc"])
    assert r.code("open_session") == "PAM_IGNORE", r
    assert "KRB5CCNAME" not in r.env, r


def test_unknown_handle_is_refused(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "open_session", "env", putenv=[f"{HANDLE}={'ab' * 32}"])
    assert r.code("open_session") == "PAM_SESSION_ERR", r
    assert "KRB5CCNAME" not in r.env, r


def test_session_helper_stopped_fails_closed(pam_stack, pam_helper, users):
    user = users()
    stack = pam_stack()
    handle = authenticate_elsewhere(stack, user)
    pam_helper.stop()
    r = stack.run(user.name, "acct_mgmt", "setcred", "open_session", "env",
                  putenv=[f"{HANDLE}={handle}"])
    assert r.code("acct_mgmt") == "PAM_AUTHINFO_UNAVAIL", r
    assert r.code("setcred") == "PAM_CRED_UNAVAIL", r
    assert r.code("open_session") == "PAM_SESSION_ERR", r
    assert r.elapsed < 5.0, f"took {r.elapsed:.1f} s"
