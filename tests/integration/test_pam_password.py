"""Password changes through pam_sectx.so: a password that expired at login
(authenticate, then acct_mgmt says NEW_AUTHTOK_REQD, then chauthtok), a
plain `passwd`, and the KDC's refusals as the user sees them.  Real libpam
(pam_wrapper), real sectxd, real realm (kadmind's kpasswd service)."""

import secrets

from pam_fixtures import *  # noqa: F401,F403  (fixtures)


def new_password():
    return "New-" + secrets.token_urlsafe(12)


def test_login_expired_password(pam_stack, users, realm):
    """The right expired password: authenticate succeeds, acct_mgmt asks for
    a new password, chauthtok reuses the password just typed as the old one
    (no second prompt for it) and changes it; then only the new one works."""
    user = users()
    realm.kadmin(f"modprinc +needchange {user.name}")
    stack = pam_stack()
    new = new_password()
    r = stack.run(user.name, "authenticate", "acct_mgmt", "chauthtok_expired", "acct_mgmt",
                  "open_session", "env", answers=[user.password, new, new])

    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt", 0) == "PAM_NEW_AUTHTOK_REQD", r
    assert r.code("chauthtok_expired") == "PAM_SUCCESS", r
    assert r.prompts == ["Password: ", "New password: ", "Retype new password: "], r
    assert r.code("acct_mgmt", 1) == "PAM_SUCCESS", r
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert r.env.get("KRB5CCNAME"), r

    old = stack.run(user.name, "authenticate", answers=[user.password])
    assert old.code("authenticate") == "PAM_AUTH_ERR", old
    fresh = stack.run(user.name, "authenticate", "acct_mgmt", answers=[new])
    assert fresh.code("authenticate") == "PAM_SUCCESS", fresh
    assert fresh.code("acct_mgmt") == "PAM_SUCCESS", fresh


def test_login_expired_password_no_session_before_change(pam_stack, users, realm):
    user = users()
    realm.kadmin(f"modprinc +needchange {user.name}")
    r = pam_stack().run(user.name, "authenticate", "acct_mgmt", "open_session", "env",
                        answers=[user.password])
    assert r.code("acct_mgmt") == "PAM_NEW_AUTHTOK_REQD", r
    assert r.code("open_session") != "PAM_SUCCESS", r
    assert "KRB5CCNAME" not in r.env, r


def test_login_expired_password_wrong_password_refused(pam_stack, users, realm):
    user = users()
    realm.kadmin(f"modprinc +needchange {user.name}")
    r = pam_stack().run(user.name, "authenticate", "acct_mgmt", "env",
                        answers=["Wrong-" + user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert r.code("acct_mgmt") == "PAM_IGNORE", r  # no handle: not sectx's login
    assert "SECTX_LOGIN_HANDLE" not in r.env, r


def test_passwd_changes_password(pam_stack, users):
    """`passwd`: no login behind it, the module asks for the old password."""
    user = users()
    stack = pam_stack()
    new = new_password()
    r = stack.run(user.name, "chauthtok", answers=[user.password, new, new])
    assert r.code("chauthtok") == "PAM_SUCCESS", r
    assert r.prompts == ["Current Kerberos password: ", "New password: ",
                         "Retype new password: "], r

    assert stack.run(user.name, "authenticate", answers=[new]).code("authenticate") == \
        "PAM_SUCCESS"
    assert stack.run(user.name, "authenticate", answers=[user.password]).code(
        "authenticate") == "PAM_AUTH_ERR"


def test_change_expired_only_leaves_a_valid_password(pam_stack, users):
    """PAM_CHANGE_EXPIRED_AUTHTOK (what login and sshd pass after acct_mgmt):
    a password that has not expired is not changed, nothing is prompted for,
    and the module steps aside (PAM_IGNORE, as pam_krb5)."""
    user = users()
    stack = pam_stack()
    new = new_password()
    r = stack.run(user.name, "authenticate", "acct_mgmt", "chauthtok_expired",
                  answers=[user.password, new, new])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    assert r.code("chauthtok_expired") != "PAM_SUCCESS", r
    assert r.prompts == ["Password: "], r  # no old or new password asked

    assert stack.run(user.name, "authenticate", answers=[user.password]).code(
        "authenticate") == "PAM_SUCCESS"
    assert stack.run(user.name, "authenticate", answers=[new]).code(
        "authenticate") == "PAM_AUTH_ERR"


def test_passwd_wrong_old_password_refused(pam_stack, users):
    user = users()
    new = new_password()
    r = pam_stack().run(user.name, "chauthtok", answers=["Wrong-" + user.password, new, new])
    assert r.code("chauthtok") == "PAM_AUTHTOK_RECOVERY_ERR", r
    assert len(r.prompts) == 1, r  # no new password asked for


def test_passwd_mismatched_new_passwords_refused(pam_stack, users):
    user = users()
    r = pam_stack().run(user.name, "chauthtok",
                        answers=[user.password, new_password(), new_password()])
    assert r.code("chauthtok") == "PAM_AUTHTOK_ERR", r
    assert ("error", "Sorry, passwords do not match.") in r.messages, r


def test_passwd_kdc_policy_rejection_text_is_shown(pam_stack, users, realm):
    """The KDC's reason for refusing the new password reaches the user."""
    policy = "strict" + secrets.token_hex(3)
    realm.kadmin(f"addpol -minlength 16 {policy}")
    user = users(password="Long-enough-Pw-" + secrets.token_hex(4))
    realm.kadmin(f"modprinc -policy {policy} {user.name}")
    r = pam_stack().run(user.name, "chauthtok", answers=[user.password, "Short-1", "Short-1"])

    assert r.code("chauthtok") == "PAM_AUTHTOK_ERR", r
    errors = r.texts("error")
    assert errors, r
    assert any("short" in e.lower() or "policy" in e.lower() for e in errors), errors


def test_passwd_below_minimum_uid_is_ignored(pam_stack, users):
    user = users()
    r = pam_stack(f"minimum_uid={user.uid + 1}").run(user.name, "chauthtok",
                                                     answers=[user.password])
    assert r.code("chauthtok") == "PAM_IGNORE", r
    assert r.prompts == [], r
