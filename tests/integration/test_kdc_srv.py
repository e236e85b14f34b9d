"""KDC discovery by DNS SRV records for logins: krb5.conf names no KDC for
the realm (dns_lookup_kdc on), so sectxd finds it from
_kerberos._tcp/_udp.REALM, answered by resolv_wrapper from a hosts file
(which serves one SRV record a name; the ordering of several by priority
and weight is tests/unit/test_dns_srv.c's).  Logins go through real libpam
(pam_wrapper + pam_driver), pam_sectx.so, a real sectxd and the realm's
real KDC; with no SRV record the login is AUTHINFO_UNAVAIL at once."""

import os
import shutil
import time

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_bins, host_keytab, users)
from pam_harness import PamSectxd, PamStack, _needed_asan
from sectx_harness import close_all, make_public_tmpdir

RESOLV_WRAPPER = "/usr/lib/x86_64-linux-gnu/libresolv_wrapper.so"
SESSION = ("authenticate", "open_session", "env", "close_session")


class NoKdcRealm:
    """The realm seen through a krb5.conf with no kdc line for it and
    dns_lookup_kdc on (env() as Realm.env(), with KRB5_CONFIG pointing at it)."""

    def __init__(self, realm, preload_first=None):
        self.realm = realm
        # an ASan build's runtime must come first in the preload list
        self.preload = " ".join(p for p in (preload_first, RESOLV_WRAPPER) if p)
        self.dir = make_public_tmpdir("sectx-kdcsrv-")
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.hosts = os.path.join(self.dir, "dns-hosts")
        with open(realm.krb5_conf) as f:
            text = f.read()
        kdc = f"kdc = 127.0.0.1:{realm.kdc_port}\n"
        assert kdc in text and "dns_lookup_kdc = false" in text, text
        text = text.replace(kdc, "").replace("dns_lookup_kdc = false", "dns_lookup_kdc = true")
        with open(self.krb5_conf, "w") as f:
            f.write(text)

    def dns(self, text):
        with open(self.hosts, "w") as f:
            f.write(text)

    def env(self, base=None):
        env = self.realm.env(base)
        env.update(KRB5_CONFIG=self.krb5_conf, LD_PRELOAD=self.preload,
                   RESOLV_WRAPPER_HOSTS=self.hosts)
        return env

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def srv_realm(bins, pam_bins, realm, host_keytab):
    """make(dns_text) -> (helper, stack, conf) for the realm without a kdc
    line, resolv_wrapper answering from dns_text."""
    if not os.path.exists(RESOLV_WRAPPER):
        pytest.skip("libresolv-wrapper is not installed (scripts/install-deps)")
    made, stacks, confs = [], [], []

    def make(dns_text):
        conf = NoKdcRealm(realm, _needed_asan(bins.sectxd))
        confs.append(conf)
        conf.dns(dns_text)
        helper = PamSectxd(bins.sectxd, bins.sectxctl, conf, host_keytab,
                           kerberos={"kdc_timeout": "3s"})
        made.append(helper)
        helper.start()
        stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
        stacks.append(stack)
        return helper, stack, conf

    yield make
    for s in stacks:
        s.close()
    errors = close_all(made)
    for c in confs:
        c.close()
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


def assert_logs_in(helper, stack, user):
    r = stack.run(user.name, *SESSION, answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", (r, helper.log_tail(60))
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert "KRB5CCNAME" in r.env, r  # an online login: a TGT was obtained


def test_login_through_srv_found_kdc(srv_realm, users, realm):
    helper, stack, _ = srv_realm(
        f"SRV _kerberos._tcp.{realm.realm} 127.0.0.1 {realm.kdc_port} 1 10\n")
    assert_logs_in(helper, stack, users())
    log = helper.log_text()
    assert f"KDCs of realm {realm.realm} from DNS SRV records: 127.0.0.1:{realm.kdc_port} " \
        "first" in log, helper.log_tail(60)
    status = helper.status_json()
    assert status["kdc"].startswith(f"127.0.0.1:{realm.kdc_port}/"), status
    # kept for the TTL: the second login asks DNS no more
    assert_logs_in(helper, stack, users())
    assert helper.log_text().count("from DNS SRV records") == 1, helper.log_tail(60)


def test_udp_record_alone(srv_realm, users, realm):
    """Only _kerberos._udp: the same KDC (kdc_io.c tries it by UDP and TCP)."""
    helper, stack, _ = srv_realm(
        f"SRV _kerberos._udp.{realm.realm} 127.0.0.1 {realm.kdc_port} 1 10\n")
    assert_logs_in(helper, stack, users())


def test_no_srv_record_is_unavailable_at_once(srv_realm, users, realm):
    helper, stack, _ = srv_realm("A other.sectx.test 127.0.0.9\n")
    user = users()
    start = time.monotonic()
    r = stack.run(user.name, "authenticate", answers=[user.password])
    elapsed = time.monotonic() - start
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", (r, helper.log_tail(60))
    assert elapsed < 2.5, (elapsed, helper.log_tail(60))  # not the 3 s kdc_timeout
    assert f"no KDC for realm {realm.realm} in krb5.conf nor in DNS SRV records" in \
        helper.log_text(), helper.log_tail(60)
