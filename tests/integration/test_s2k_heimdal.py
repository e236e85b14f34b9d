"""Password logins through sectxd against a Heimdal KDC: sectx's own
string-to-key (helper/login/s2k.c) takes the salt from Heimdal's
ETYPE-INFO2 too, for a principal with the default salt, a renamed one
(Heimdal keeps the old name's salt, explicitly), and one whose enctype
changed between two logins (aes256 then aes128-cts-hmac-sha1-96; Heimdal 7.8
has no RFC 8009 enctypes); FAST on (try) and off (never).  The KDC's log
must show every ENC-TS preauth succeeding, none failing.

Debian's heimdal-kdc conflicts with MIT's packages, so scripts/install-deps
unpacks its .debs aside in /opt/heimdal-aside (dpkg -x); the kdc runs from
there with LD_LIBRARY_PATH, on a loopback port, in a temp dir.  The test
skips, saying so, only when that directory is missing (the .debs could not
be fetched).
"""

import os
import re
import secrets
import shutil

import pytest

from pam_fixtures import host_keytab, pam_bins, users  # noqa: F401  (fixtures)
from pam_harness import REALM, PamSectxd, PamStack
from realm import RealmError, _pick_ports
from sectx_harness import close_all, make_public_tmpdir, run, spawn, terminate, wait_until

ASIDE = "/opt/heimdal-aside"
KDC = f"{ASIDE}/usr/lib/heimdal-servers/kdc"
KADMIN = f"{ASIDE}/usr/bin/kadmin.heimdal"
KSTASH = f"{ASIDE}/usr/sbin/kstash"
LIBS = f"{ASIDE}/usr/lib/x86_64-linux-gnu"
FAST_PATH = re.compile(r"string-to-key of enctype (\d+) on sectx's path")
SLOW_PATH = re.compile(r"string-to-key of enctype (\d+) on libk5crypto's path")


class HeimdalRealm:
    """A Heimdal KDC for REALM in a temp dir, with the methods of realm.Realm
    that the PAM fixtures use (env, addprinc, ktadd, kadmin, stop)."""

    def __init__(self):
        self.realm = REALM
        self.dir = make_public_tmpdir("sectx-heimdal-")
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.proc = None
        try:
            self.kdc_port = _pick_ports(1)[0]
            self.write_conf("aes256-cts-hmac-sha1-96:pw-salt")
            self._run([KSTASH, "--random-key", f"--key-file={self.dir}/m-key"])
            self.kadmin("init", "--realm-max-ticket-life=1d", "--realm-max-renewable-life=1w",
                        REALM)
            self.proc = spawn([KDC, "-c", self.krb5_conf, f"--ports={self.kdc_port}",
                               "--addresses=127.0.0.1"],
                              os.path.join(self.dir, "kdc.out"), env=self.env(heimdal=True))
            if wait_until(lambda: "KDC worker process started" in self.log_text(), 10) is None:
                raise RealmError(f"Heimdal's kdc did not start: {self.log_text()[-2000:]}")
        except BaseException:
            self.stop()
            raise

    def write_conf(self, default_keys):
        """krb5.conf for the kdc, kadmin -l and sectxd alike; default_keys
        are the enctypes kadmin gives a password."""
        d = self.dir
        with open(self.krb5_conf, "w") as f:
            f.write(f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{self.kdc_port}
    }}

[kdc]
    database = {{
        dbname = {d}/heimdal
        realm = {REALM}
        mkey_file = {d}/m-key
        acl_file = {d}/kadmind.acl
        log_file = {d}/iprop.log
    }}
    require-preauth = true
    enable-fast = true

[kadmin]
    default_keys = {default_keys}

[logging]
    kdc = FILE:{d}/kdc.log
    default = FILE:{d}/default.log
""")

    def env(self, base=None, heimdal=False):
        """The environment of a program of this realm: sectxd (MIT's
        libraries), or with heimdal Heimdal's own tools (LD_LIBRARY_PATH)."""
        env = dict(os.environ if base is None else base)
        env.update(KRB5_CONFIG=self.krb5_conf, KRB5CCNAME=f"FILE:{self.dir}/ccache",
                   KRB5RCACHEDIR=self.dir)
        if heimdal:
            env["LD_LIBRARY_PATH"] = LIBS
        env.pop("KRB5_TRACE", None)
        return env

    def _run(self, argv):
        r = run(argv, env=self.env(heimdal=True), timeout=30)
        if r.returncode != 0 or "error" in r.stderr.lower() or "failed" in r.stderr.lower():
            shown = [re.sub(r"--password=\S+", "--password=***", a) for a in argv]
            raise RealmError(f"{shown} failed ({r.returncode}): {r.stderr}")
        return r.stdout

    def kadmin(self, *args):
        return self._run([KADMIN, "-l", "-c", self.krb5_conf, *args])

    def addprinc(self, name, password=None, randkey=False, extra_args=()):
        """As Realm.addprinc; "+requires_preauth" is the KDC's default here."""
        if randkey:
            self.kadmin("add", "--random-key", "--use-defaults", name)
            return None
        password = password if password is not None else secrets.token_urlsafe(18)
        self.kadmin("add", f"--password={password}", "--use-defaults", name)
        return password

    def ktadd(self, principal, keytab_path):
        self.kadmin("ext_keytab", "-k", keytab_path, principal)

    def log_text(self, name="kdc.log"):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def realm():
    if not os.access(KDC, os.X_OK):
        pytest.skip(f"Heimdal is not unpacked in {ASIDE}: scripts/install-deps could not "
                    "apt-get download heimdal-kdc and its libraries")
    r = HeimdalRealm()
    yield r
    r.stop()


@pytest.fixture(params=["try", "never"])
def helper(request, bins, realm, host_keytab):  # noqa: F811
    made = [PamSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab,
                      kerberos={"fast": request.param}, log_level="trace")]
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


def login(stack, helper, realm, user):
    """One authenticate + acct_mgmt, which must succeed with the key derived
    on sectx's path and no failed preauth in Heimdal's log.  Returns the
    enctypes derived."""
    mark, kdc_mark = len(helper.log_text()), len(realm.log_text())
    r = stack.run(user.name, "authenticate", "acct_mgmt", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", (r, realm.log_text()[kdc_mark:])
    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    text = helper.log_text()[mark:]
    assert SLOW_PATH.findall(text) == [], text
    kdc = realm.log_text()[kdc_mark:]
    assert re.search(r"(?i)ENC-TS pre-authentication succeeded -- " + user.name, kdc), kdc
    assert not re.search(r"(?i)failed to decrypt|pre-authentication failed|"
                         r"ENC-TS.*failed", kdc), kdc
    return [int(x) for x in FAST_PATH.findall(text)]


def test_heimdal_default_salt(stack, helper, users, realm):  # noqa: F811
    user = users()
    assert login(stack, helper, realm, user) == [18]
    assert login(stack, helper, realm, user) == [18]


def test_heimdal_renamed_principal(stack, helper, users, realm):  # noqa: F811
    user = users(principal=False)
    user.password = "Pw-" + secrets.token_urlsafe(12)
    old = "old" + user.name
    realm.addprinc(old, password=user.password)
    realm.kadmin("rename", old, user.name)
    assert f"pw-salt({REALM}{old})" in realm.kadmin("get", user.name)
    assert login(stack, helper, realm, user) == [18]


def test_heimdal_enctype_changes(stack, helper, users, realm):  # noqa: F811
    user = users()
    assert login(stack, helper, realm, user) == [18]
    realm.write_conf("aes128-cts-hmac-sha1-96:pw-salt")
    try:
        realm.kadmin("cpw", f"--password={user.password}", user.name)
        assert "aes128-cts-hmac-sha1-96" in realm.kadmin("get", user.name)
        assert login(stack, helper, realm, user) == [17]
    finally:
        realm.write_conf("aes256-cts-hmac-sha1-96:pw-salt")
    realm.kadmin("cpw", f"--password={user.password}", user.name)
    assert login(stack, helper, realm, user) == [18]
