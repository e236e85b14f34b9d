"""The host realm's online/offline state belongs to the host realm's KDCs.

sectx_realm_note() (realm_state.c) used to be told the outcome of every KDC
exchange, for whatever realm, and "no KDC for that realm" (ENOENT) counts as
unreachable.  An unprivileged user then passed, to PAM_GSS_AUTH for itself,
a ccache of its own with a TGT of a realm krb5.conf does not know: the
helper's TGS exchange found no KDC and the host realm went offline, so the
next password login of any user was checked only against the cached hash and
a password the KDC no longer accepts logged in.  This test makes that attack
(real KDC, real sectxd, a real local user connecting as itself) and asserts
the realm stays online and the old password is refused.
"""

import os
import secrets
import struct

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from sectx_harness import close_all
from test_contexts import as_client  # noqa: F401  (fixture)
from test_offline import OfflineSectxd, online_login, stack_for  # noqa: F401

import pytest

OP_PAM_GSS_AUTH = 0x0207
TAG_USER, TAG_SERVICE = 0x0201, 0x0203
FOREIGN = "NOWHERE.INVALID"


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        size = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        size = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + size + content


def _ticket(realm):
    """A syntactically valid Ticket for krbtgt/realm@realm (garbage cipher)."""
    gs = lambda s: _der(0x1B, s.encode())  # noqa: E731
    sname = _der(0x30, _der(0xA0, _der(0x02, b"\x02"))
                 + _der(0xA1, _der(0x30, gs("krbtgt") + gs(realm))))
    enc = _der(0x30, _der(0xA0, _der(0x02, b"\x12")) + _der(0xA1, _der(0x02, b"\x01"))
               + _der(0xA2, _der(0x04, secrets.token_bytes(96))))
    body = (_der(0xA0, _der(0x02, b"\x05")) + _der(0xA1, gs(realm)) + _der(0xA2, sname)
            + _der(0xA3, enc))
    return _der(0x61, _der(0x30, body))


def _princ(realm, *comps, ntype=1):
    d = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
    return (struct.pack(">II", ntype, len(comps)) + d(realm.encode())
            + b"".join(d(c.encode()) for c in comps))


def foreign_ccache(path, user_name, realm=FOREIGN):
    """A FILE ccache (v4) with a forged TGT of user_name@realm."""
    d = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
    client = _princ(realm, user_name)
    cred = (client + _princ(realm, "krbtgt", realm, ntype=2)
            + struct.pack(">HI", 18, 32) + secrets.token_bytes(32)
            + struct.pack(">IIII", 1, 1, 0x7FFFFFF0, 0) + b"\x00"
            + struct.pack(">III", 0x40e00000, 0, 0) + d(_ticket(realm)) + d(b""))
    with open(path, "wb") as f:
        f.write(struct.pack(">HH", 0x0504, 0) + client + cred)


class GssOfflineSectxd(OfflineSectxd):
    """An OfflineSectxd that also lets sudo authenticate by tickets."""

    def config_text(self, **changes):
        return super().config_text(**changes) + "\n[pam]\ngssapi_services = sudo\n"


@pytest.fixture
def helper(bins, realm, host_keytab):
    d = GssOfflineSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab,
                         kerberos={"failure_delay_after": "1000"},
                         offline={"cache_credentials": "true", "offline_probe": "30s",
                                  "offline_probe_max": "5m"})
    yield d.start()
    errors = close_all([d])
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


def test_a_user_cannot_force_the_realm_offline(helper, stack_for, users, realm,  # noqa: F811
                                               as_client):  # noqa: F811
    stack = stack_for(helper)
    bob, mallory = users(), users()
    old_password = bob.password
    online_login(helper, stack, bob)  # bob's hash is cached
    realm.kadmin(f"cpw -pw New-{secrets.token_hex(8)} {bob.principal}")  # password changed
    assert helper.realm_state() == "online"

    path = f"/tmp/krb5cc_{mallory.uid}_forged"
    foreign_ccache(path, mallory.name)
    os.chown(path, mallory.uid, mallory.gid)
    code = (
        "import os\nfrom sectx_harness import Conn, field\n"
        f"fd = os.open({path!r}, os.O_RDONLY)\n"
        f"with Conn({helper.pam_sock!r}, timeout=20) as c:\n"
        f"    r = c.request({OP_PAM_GSS_AUTH}, field({TAG_USER}, {mallory.name!r}.encode()),"
        f" field({TAG_SERVICE}, b'sudo'), fds=[fd])\n"
        "print(r.status)\n")
    r = as_client(mallory.uid, code)
    assert r.returncode == 0, r.stderr

    # The unprivileged request must not change the host realm's state...
    assert helper.realm_state() == "online", helper.log_tail(30)
    # ...and bob's old password must not log in.
    r = stack.run(bob.name, "authenticate", answers=[old_password])
    assert r.code("authenticate") != "PAM_SUCCESS", (r, helper.log_tail(30))
