"""KDC failover: krb5.conf lists a dead KDC first and the realm's real KDC
second; logins through real libpam (pam_wrapper + pam_driver) and a real
sectxd must succeed through the second within [kerberos] kdc_timeout, for a
dead KDC that refuses (closed port) and for one that never answers (a UDP
socket that reads nothing, a TCP listener that never accepts)."""

import os
import re
import shutil
import socket

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_bins, host_keytab, users)
from pam_harness import PamSectxd, PamStack
from realm import _pick_ports
from sectx_harness import close_all, make_public_tmpdir

SESSION = ("authenticate", "open_session", "env", "close_session")
STAGGER_LINE = "no answer yet from 127.0.0.1:{port}; trying the next KDC too"


class TwoKdcRealm:
    """The realm seen through a krb5.conf whose first KDC is 127.0.0.1:dead_port
    (env() as Realm.env(), with KRB5_CONFIG pointing at it)."""

    def __init__(self, realm, dead_port):
        self.realm, self.dead_port = realm, dead_port
        self.dir = make_public_tmpdir("sectx-failover-")
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        with open(realm.krb5_conf) as f:
            text = f.read()
        real = f"kdc = 127.0.0.1:{realm.kdc_port}"
        assert real in text, text
        with open(self.krb5_conf, "w") as f:
            f.write(text.replace(real, f"kdc = 127.0.0.1:{dead_port}\n        {real}", 1))

    def env(self, base=None):
        env = self.realm.env(base)
        env["KRB5_CONFIG"] = self.krb5_conf
        return env

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def black_hole():
    """A port with a UDP socket that never reads and a TCP listener that
    never accepts (the kernel completes the handshake; nobody answers)."""
    port = _pick_ports(1)[0]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp.bind(("127.0.0.1", port))
    tcp.bind(("127.0.0.1", port))
    tcp.listen(16)
    yield port
    udp.close()
    tcp.close()


@pytest.fixture
def failover(bins, pam_bins, realm, host_keytab):
    """make(dead_port) -> (helper, stack) for a krb5.conf with the dead KDC
    first."""
    made, stacks, confs = [], [], []

    def make(dead_port):
        conf = TwoKdcRealm(realm, dead_port)
        confs.append(conf)
        helper = PamSectxd(bins.sectxd, bins.sectxctl, conf, host_keytab,
                           kerberos={"kdc_timeout": "3s"})
        made.append(helper)
        helper.start()
        stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
        stacks.append(stack)
        return helper, stack

    yield make
    for s in stacks:
        s.close()
    errors = close_all(made)
    for c in confs:
        c.close()
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


def assert_logged_in(r, user):
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.code("open_session") == "PAM_SUCCESS", r
    assert "KRB5CCNAME" in r.env, r  # an online login: a TGT was obtained


def test_failover_first_kdc_refuses(failover, users, realm):
    dead = _pick_ports(1)[0]  # nothing listens there: UDP and TCP refused
    helper, stack = failover(dead)
    user = users()
    r = stack.run(user.name, *SESSION, answers=[user.password])
    assert_logged_in(r, user)
    log = helper.log_text()
    assert f"KDC 127.0.0.1:{dead}: Connection refused" in log, helper.log_tail(60)
    status = helper.status_json()
    assert status["kdc"].startswith(f"127.0.0.1:{realm.kdc_port}/"), status
    assert status["realm_state"] == "online", status


def test_failover_first_kdc_black_holed(failover, users, realm, black_hole):
    helper, stack = failover(black_hole)
    first, second = users(), users()
    r = stack.run(first.name, *SESSION, answers=[first.password])
    assert_logged_in(r, first)
    waited = STAGGER_LINE.format(port=black_hole)
    log = helper.log_text()
    assert waited in log, helper.log_tail(60)
    status = helper.status_json()
    assert status["kdc"].startswith(f"127.0.0.1:{realm.kdc_port}/"), status
    assert status["realm_state"] == "online", status

    # the KDC that answered is asked first from now on: the black hole is
    # not waited for again, by this login's later exchanges or the next login
    count = log.count(waited)
    r = stack.run(second.name, *SESSION, answers=[second.password])
    assert_logged_in(r, second)
    assert helper.log_text().count(waited) == count, helper.log_tail(60)
    assert count == 1, helper.log_tail(80)
    assert not re.search(r"realm \S+ is offline", helper.log_text())
