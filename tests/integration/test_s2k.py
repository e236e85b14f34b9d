"""sectx's own string-to-key (helper/login/s2k.c) in real logins: sectxd's
krb5_c_string_to_key_with_params answers libkrb5's call with the salt and
iteration count of the KDC's ETYPE-INFO2, so that a principal whose salt is
not the default one (a special salt, a renamed principal), or whose
enctypes changed between two logins (aes256/aes128-cts-hmac-sha1-96,
aes128-cts-hmac-sha256-128, aes256-cts-hmac-sha384-192), logs in on the
first try, and an MIT lockout policy (maxfailure 2) never counts a failure
for a correct password.  FAST on (try) and off (never); the expired-password
path and `passwd` still work.  Real MIT KDC, real sectxd (log_level trace,
whose log says which path derived each key), real libpam (pam_wrapper).
"""

import re
import secrets

import pytest

from pam_fixtures import host_keytab, pam_bins, users  # noqa: F401  (fixtures)
from pam_harness import PamSectxd, PamStack
from realm import Realm
from sectx_harness import close_all

ALL_AES = ("aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 "
           "aes128-cts-hmac-sha256-128")
ETYPE = {"aes128-cts-hmac-sha1-96": 17, "aes256-cts-hmac-sha1-96": 18,
         "aes128-cts-hmac-sha256-128": 19, "aes256-cts-hmac-sha384-192": 20}
FAST_PATH = re.compile(r"string-to-key of enctype (\d+) on sectx's path")
SLOW_PATH = re.compile(r"string-to-key of enctype (\d+) on libk5crypto's path")


@pytest.fixture(scope="module")
def realm():
    """A realm whose krb5.conf permits the four AES enctypes (the KDC and
    sectxd read the same file); the KDC is restarted to read it."""
    r = Realm()
    try:
        with open(r.krb5_conf) as f:
            text = f.read()
        text = re.sub(r"permitted_enctypes = .*", f"permitted_enctypes = {ALL_AES}", text)
        with open(r.krb5_conf, "w") as f:
            f.write(text)
        r.stop_kdc()
        r.start_kdc()
        r.kadmin("addpol -maxfailure 2 -failurecountinterval 0 -lockoutduration 0 lock2")
        yield r
    finally:
        r.stop()


@pytest.fixture(params=["try", "never"])
def fast(request):
    return request.param


@pytest.fixture
def helper(bins, realm, host_keytab, fast):  # noqa: F811
    """sectxd for the realm, FAST as the parameter says, logging at trace."""
    made = [PamSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab,
                      kerberos={"fast": fast}, log_level="trace")]
    made[0].start()
    yield made[0]
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def stack(pam_bins, helper):  # noqa: F811
    s = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
    yield s
    s.close()


def failures(realm, principal):
    """The KDC's count of failed password attempts of principal."""
    m = re.search(r"Failed password attempts: (\d+)", realm.kadmin(f"getprinc {principal}"))
    assert m, f"no failure count for {principal}"
    return int(m.group(1))


def paths(helper, since):
    """Enctypes derived on sectx's path and on libk5crypto's since log offset."""
    text = helper.log_text()[since:]
    return ([int(x) for x in FAST_PATH.findall(text)],
            [int(x) for x in SLOW_PATH.findall(text)])


def login(stack, helper, user, password=None):
    """One authenticate + acct_mgmt; returns the enctypes sectx derived."""
    mark = len(helper.log_text())
    r = stack.run(user.name, "authenticate", "acct_mgmt", answers=[password or user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    fast, slow = paths(helper, mark)
    assert slow == [], f"libk5crypto derived keys for enctypes {slow}"
    return fast


def locked_user(users, realm, *extra):  # noqa: F811
    return users(extra_args=("-policy", "lock2") + tuple(extra))


def test_special_salt_login(stack, helper, users, realm):  # noqa: F811
    """A special (random) salt: the key comes from the KDC's salt, first try."""
    user = locked_user(users, realm, "-e", "aes256-cts-hmac-sha1-96:special")
    assert "special" in realm.kadmin(f"getprinc {user.name}")
    for _ in range(3):
        assert login(stack, helper, user) == [ETYPE["aes256-cts-hmac-sha1-96"]]
    assert failures(realm, user.name) == 0


def test_renamed_principal_login(stack, helper, users, realm):  # noqa: F811
    """A renamed principal keeps its old salt (old name): no preauth failure."""
    user = users(principal=False)
    user.password = "Pw-" + secrets.token_urlsafe(12)
    old = "old" + user.name
    realm.addprinc(old, password=user.password,
                   extra_args=("+requires_preauth", "-policy", "lock2"))
    realm.kadmin(f"renprinc -force {old} {user.name}")
    # the old name's salt, now explicit: not the new name's default salt
    assert "aes256-cts-hmac-sha1-96:special" in realm.kadmin(f"getprinc {user.name}")
    assert login(stack, helper, user) == [ETYPE["aes256-cts-hmac-sha1-96"]]
    assert login(stack, helper, user) == [ETYPE["aes256-cts-hmac-sha1-96"]]
    assert failures(realm, user.name) == 0


def test_enctypes_change_between_logins(stack, helper, users, realm):  # noqa: F811
    """The same password under each AES enctype in turn (cpw -e), a login
    after each: the new enctype's key on the first try, count still 0."""
    user = locked_user(users, realm)
    assert login(stack, helper, user) == [ETYPE["aes256-cts-hmac-sha1-96"]]
    for enctype in ("aes256-cts-hmac-sha384-192", "aes128-cts-hmac-sha256-128",
                    "aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96"):
        realm.kadmin(f"cpw -e {enctype}:normal -pw {user.password} {user.name}")
        assert login(stack, helper, user) == [ETYPE[enctype]], enctype
        assert failures(realm, user.name) == 0, enctype
    # a salt change alone (special) between two logins
    realm.kadmin(f"cpw -e aes256-cts-hmac-sha384-192:special -pw {user.password} {user.name}")
    assert login(stack, helper, user) == [ETYPE["aes256-cts-hmac-sha384-192"]]
    assert failures(realm, user.name) == 0


def test_lockout_never_counts_a_correct_login(stack, helper, users, realm):  # noqa: F811
    """maxfailure 2: ten correct logins, no failure counted; the count is
    live (a wrong password counts 1, the next correct login clears it)."""
    user = locked_user(users, realm)
    for _ in range(10):
        login(stack, helper, user)
    assert failures(realm, user.name) == 0
    r = stack.run(user.name, "authenticate", answers=["Wrong-" + user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert failures(realm, user.name) == 1
    login(stack, helper, user)
    assert failures(realm, user.name) == 0


def test_expired_password_and_passwd(stack, helper, users, realm):  # noqa: F811
    """The expired-password path (the kadmin/changepw exchange derives the
    old password's key too) and `passwd` of a special-salt principal."""
    user = locked_user(users, realm, "-e", "aes256-cts-hmac-sha1-96:special")
    realm.kadmin(f"modprinc +needchange {user.name}")
    new = "New-" + secrets.token_urlsafe(12)
    mark = len(helper.log_text())
    r = stack.run(user.name, "authenticate", "acct_mgmt", "chauthtok_expired", "acct_mgmt",
                  answers=[user.password, new, new])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt", 0) == "PAM_NEW_AUTHTOK_REQD", r
    assert r.code("chauthtok_expired") == "PAM_SUCCESS", r
    assert r.code("acct_mgmt", 1) == "PAM_SUCCESS", r
    fast, slow = paths(helper, mark)
    assert slow == [] and len(fast) >= 2, (fast, slow)
    assert failures(realm, user.name) == 0
    assert login(stack, helper, user, new)
    newer = "Newer-" + secrets.token_urlsafe(12)
    r = stack.run(user.name, "chauthtok", answers=[new, newer, newer])
    assert r.code("chauthtok") == "PAM_SUCCESS", r
    assert login(stack, helper, user, newer)
    assert failures(realm, user.name) == 0
