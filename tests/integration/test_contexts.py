"""Security contexts through the helper (helper/ops/ctx.c): the real sectxd
initiates with a user's ccache passed as a descriptor (or, for root, a login
handle) and accepts with the host keytab, against a real MIT KDC, driven
with raw frames.  Covers the token loop for krb5 and SPNEGO, mutual
authentication and peer names, corrupted / replayed / truncated tokens,
service policy by uid and principal, ccache ownership, per-connection
ownership and cap, message protection and release.  The NTLM rules of the
library (three legs, never mutual, no silent SPNEGO fallback) are checked
with both ends in gss_driver; NTLM between the sample programs and the
helper is tested with samples/."""

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading

import pytest

from pam_fixtures import users  # noqa: F401 (fixture)
from pam_harness import write_keytab
from sectx_harness import (E_INVAL, E_PERM, OK, OP_STATUS, Conn, Sectxd, field, frame,
                           make_public_tmpdir, public_copies, run, u32, wait_until, as_user)

OP_ACCEPT, OP_INIT, OP_WRAP, OP_UNWRAP, OP_GET_MIC, OP_VERIFY_MIC, OP_RELEASE = range(
    0x0301, 0x0308)
T_SERVICE = 0x0203
(T_HANDLE, T_STATE, T_TOKEN, T_DATA, T_CONF, T_MECH, T_FLAGS, T_MUTUAL, T_PEER, T_LOCAL,
 T_LIFETIME, T_TARGET, T_CTX_OPEN) = range(0x0301, 0x030e)
E_BUSY, E_NOTFOUND, E_UNAVAIL = 5, 8, 11
CONTINUE, COMPLETE, FAILED = 0, 1, 2
GSS_C_DELEG_FLAG, GSS_C_MUTUAL_FLAG = 1, 2

HOST = "host/sectx-test.localdomain"
TARGET = "host@sectx-test.localdomain"
HTTP_SVC = "HTTP/sectx-test.localdomain"
REALM = "SECTX.TEST"


def s(tag, text):
    return field(tag, text.encode())


# --- a client of the context operations ------------------------------------------


class Ctx:
    """One connection to pam.sock speaking the context operations."""

    def __init__(self, d, timeout=15):
        self.conn = Conn(d.pam_sock, timeout=timeout)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def init(self, service, fd, target=TARGET, mech=None, flags=None):
        fields = [s(T_SERVICE, service), s(T_TARGET, target)]
        if mech is not None:
            fields.append(s(T_MECH, mech))
        if flags is not None:
            fields.append(u32(T_FLAGS, flags))
        return self.conn.request(OP_INIT, *fields, fds=[fd] if fd is not None else ())

    def init_step(self, handle, token):
        return self.conn.request(OP_INIT, u32(T_HANDLE, handle), field(T_TOKEN, token))

    def accept(self, service, token, handle=None):
        fields = [s(T_SERVICE, service), field(T_TOKEN, token)]
        if handle is not None:
            fields.append(u32(T_HANDLE, handle))
        return self.conn.request(OP_ACCEPT, *fields)

    def wrap(self, handle, data, conf=True):
        return self.conn.request(OP_WRAP, u32(T_HANDLE, handle), field(T_DATA, data),
                                 u32(T_CONF, 1 if conf else 0))

    def unwrap(self, handle, token):
        return self.conn.request(OP_UNWRAP, u32(T_HANDLE, handle), field(T_TOKEN, token))

    def get_mic(self, handle, data):
        return self.conn.request(OP_GET_MIC, u32(T_HANDLE, handle), field(T_DATA, data))

    def verify_mic(self, handle, data, mic):
        return self.conn.request(OP_VERIFY_MIC, u32(T_HANDLE, handle), field(T_DATA, data),
                                 field(T_TOKEN, mic))

    def release(self, handle):
        return self.conn.request(OP_RELEASE, u32(T_HANDLE, handle))


def token_of(reply):
    values = [v for t, v in reply.fields if t == T_TOKEN]
    return values[0] if values else b""


def establish(ini, acc, service, fd, mech=None, flags=None, legs=6):
    """Run the token loop between an initiator and an acceptor connection.
    Returns (last init reply, last accept reply)."""
    r_ini = ini.init(service, fd, mech=mech, flags=flags)
    assert r_ini.status == OK, (r_ini, r_ini.message)
    r_acc = None
    for _ in range(legs):
        assert r_ini.u32(T_STATE) != FAILED, r_ini.message
        tok = token_of(r_ini)
        if not tok:
            break
        r_acc = acc.accept(service, tok, None if r_acc is None else r_acc.u32(T_HANDLE))
        assert r_acc.status == OK and r_acc.u32(T_STATE) != FAILED, (r_acc, r_acc.message)
        tok = token_of(r_acc)
        if r_ini.u32(T_STATE) == COMPLETE or not tok:
            break
        r_ini = ini.init_step(r_ini.u32(T_HANDLE), tok)
        assert r_ini.status == OK, (r_ini, r_ini.message)
    return r_ini, r_acc


def open_contexts(d):
    with Conn(d.pam_sock) as c:
        r = c.request(OP_STATUS)
        assert r.status == OK, r
        return r.u32(T_CTX_OPEN)


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def keytab(realm):
    """The keys of HOST and HTTP_SVC, in one keytab."""
    directory, path = write_keytab(realm, HOST)
    realm.addprinc(HTTP_SVC, randkey=True)
    realm.ktadd(HTTP_SVC, path)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def helper(bins, realm, keytab):
    """make(services={name: {key: value}}, kerberos=None, **sectxd_keys) -> a
    started sectxd with [kerberos] keytab (and the kerberos keys given) and
    those [service/NAME] sections."""
    made = []

    def make(services, kerberos=None, **settings):
        sections = {"kerberos": dict({"keytab": keytab, "kdc_timeout": "3s"}, **(kerberos or {}))}
        sections.update({f"service/{n}": v for n, v in services.items()})
        d = Sectxd(bins.sectxd, bins.sectxctl, env=realm.env(), sections=sections,
                   log_level="debug", **settings)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.close()


@pytest.fixture
def ccache(realm):
    """make(user) -> path of a FILE ccache with user's forwardable TGT, owned
    by user (0600) in a public temp dir."""
    d = make_public_tmpdir("sectx-ctxcc-")

    def make(user, owner=None):
        path = os.path.join(d, f"cc_{user.name}_{len(os.listdir(d))}")
        r = realm.kinit(user.principal, user.password, f"FILE:{path}", extra_args=("-f",))
        assert r.returncode == 0, r.stderr
        owner = user.uid if owner is None else owner
        os.chown(path, owner, owner)
        os.chmod(path, 0o600)
        return path

    yield make
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def as_client():
    """run(uid, code, pass_fds=()) -> CompletedProcess of a Python snippet run
    as uid (setpriv), with a public copy of sectx_harness importable (Conn,
    field); the snippet prints its result."""
    here = os.path.dirname(os.path.abspath(__file__))
    with public_copies([os.path.join(here, "sectx_harness.py")], "sectx-ctxpy-",
                       mode=0o644) as copies:
        libdir = os.path.dirname(copies[0])

        def go(uid, code, pass_fds=()):
            prog = f"import sys; sys.path.insert(0, {libdir!r})\n" + code
            return subprocess.run(as_user(uid) + [sys.executable, "-c", prog],
                                  capture_output=True, text=True, timeout=30,
                                  pass_fds=tuple(pass_fds))

        yield go


def service(uid="", mechs="krb5, spnego", **extra):
    svc = {"uid": uid, "principal": f"{HOST}@{REALM}", "mechs": mechs}
    svc.update(extra)
    return svc


# --- the token loop -------------------------------------------------------------------


def tgs_requests(realm):
    """TGS exchanges the KDC logged for HOST so far."""
    return realm.log_text().count(f"for {HOST}@{REALM}")


@pytest.mark.parametrize("mech,mechs", [("krb5", "krb5, spnego"), ("spnego", "krb5, spnego"),
                                        ("spnego", "spnego, krb5, ntlm")])
def test_init_and_accept_through_the_helper(helper, users, ccache, realm, tmp_path, mech,
                                            mechs):
    alice = users()
    ntlm_users = tmp_path / "ntlm_users"
    ntlm_users.write_text("SECTX:bob:bob-Pw-1\n")
    d = helper({"web": service(mechs=mechs, ntlm_user_file=str(ntlm_users))})
    path = ccache(alice)
    ini, acc = Ctx(d), Ctx(d)
    try:
        before = tgs_requests(realm)
        with open(path, "rb") as f:
            r_ini, r_acc = establish(ini, acc, "web", f.fileno(), mech=mech)
        # one TGS exchange, made by the helper on its loop: the GSS-API
        # initiator found the ticket in the context's ccache
        assert wait_until(lambda: tgs_requests(realm) > before, 5)
        assert tgs_requests(realm) == before + 1, realm.log_text()[-2000:]
        assert r_ini.u32(T_STATE) == COMPLETE and r_acc.u32(T_STATE) == COMPLETE
        for r in (r_ini, r_acc):
            assert r.get(T_MECH) == b"krb5"
            assert r.u32(T_MUTUAL) == 1
            assert r.u32(T_FLAGS) & GSS_C_MUTUAL_FLAG
            assert r.u32(T_LIFETIME) > 0
        assert r_acc.get(T_PEER).decode() == alice.principal
        assert r_acc.get(T_LOCAL).decode() == f"{HOST}@{REALM}"
        assert r_ini.get(T_LOCAL).decode() == alice.principal
        assert r_ini.get(T_PEER).decode().startswith(HOST)
        assert open_contexts(d) == 2
        log = d.log_text()
        assert (f"context accept: service web uid 0 mech krb5"
                f"{' (spnego)' if mech == 'spnego' else ''} peer {alice.principal}: "
                "complete, mutual") in log
        assert f"context init: service web uid 0 as uid {alice.uid} mech krb5" in log
    finally:
        ini.close()
        acc.close()
    assert wait_until(lambda: open_contexts(d) == 0, 5)


def test_messages_wrap_unwrap_mic_and_release(helper, users, ccache):
    alice = users()
    d = helper({"web": service()})
    ini, acc = Ctx(d), Ctx(d)
    try:
        with open(ccache(alice), "rb") as f:
            r_ini, r_acc = establish(ini, acc, "web", f.fileno())
        hi, ha = r_ini.u32(T_HANDLE), r_acc.u32(T_HANDLE)

        # wrap with confidentiality, both directions
        w = ini.wrap(hi, b"secret message", conf=True)
        assert w.status == OK and w.u32(T_CONF) == 1, (w, w.message)
        assert b"secret message" not in token_of(w)
        u = acc.unwrap(ha, token_of(w))
        assert u.status == OK and u.get(T_DATA) == b"secret message" and u.u32(T_CONF) == 1
        u = acc.unwrap(ha, token_of(w))  # the same token again: a replay
        assert u.status == E_INVAL and "unwrap failed" in u.message, (u, u.message)
        w = ini.wrap(hi, b"", conf=True)  # an empty message is a message too
        u = acc.unwrap(ha, token_of(w))
        assert u.status == OK and u.get(T_DATA) == b"", (u, u.message)
        w = acc.wrap(ha, b"reply", conf=False)
        assert w.status == OK and w.u32(T_CONF) == 0
        u = ini.unwrap(hi, token_of(w))
        assert u.status == OK and u.get(T_DATA) == b"reply" and u.u32(T_CONF) == 0

        # one flipped byte is detected, and the context survives it
        w = ini.wrap(hi, b"do not touch", conf=True)
        bad = bytearray(token_of(w))
        bad[len(bad) // 2] ^= 0x01
        u = acc.unwrap(ha, bytes(bad))
        assert u.status == E_INVAL and u.message, (u, u.message)
        assert "unwrap failed" in u.message

        # MICs: a good one verifies, a tampered one or a changed message does not
        m = acc.get_mic(ha, b"signed text")
        assert m.status == OK and token_of(m)
        assert ini.verify_mic(hi, b"signed text", token_of(m)).status == OK
        m2 = acc.get_mic(ha, b"signed text 2")
        bad = bytearray(token_of(m2))
        bad[-1] ^= 0x80
        v = ini.verify_mic(hi, b"signed text 2", bytes(bad))
        assert v.status == E_INVAL and "verify_mic failed" in v.message, (v, v.message)
        m3 = acc.get_mic(ha, b"original")
        v = ini.verify_mic(hi, b"forged", token_of(m3))
        assert v.status == E_INVAL, v

        # a handle is only good on its own connection
        assert acc.wrap(hi if hi != ha else hi + 1000, b"x").status == E_NOTFOUND

        # release
        assert ini.release(hi).status == OK
        assert ini.wrap(hi, b"gone").status == E_NOTFOUND
        assert ini.release(hi).status == E_NOTFOUND
        assert open_contexts(d) == 1
    finally:
        ini.close()
        acc.close()


# --- bad tokens ----------------------------------------------------------------------


def first_token(d, alice_cc, service_name="web"):
    """The initiator's first token (a krb5 AP-REQ), from the helper."""
    ini = Ctx(d)
    with open(alice_cc, "rb") as f:
        r = ini.init(service_name, f.fileno(), mech="krb5")
    assert r.status == OK and r.u32(T_STATE) == CONTINUE, (r, r.message)
    return ini, token_of(r)


def test_corrupted_replayed_truncated_tokens_fail_with_the_reason(helper, users, ccache):
    alice = users()
    d = helper({"web": service()})
    ini, tok = first_token(d, ccache(alice))
    acc = Ctx(d)
    try:
        # corrupted: one byte of the encrypted authenticator flipped
        bad = bytearray(tok)
        bad[-20] ^= 0x55
        r = acc.accept("web", bytes(bad))
        assert r.status == OK and r.u32(T_STATE) == FAILED, r
        assert r.message.startswith("accept failed: ") and "; " in r.message, r.message
        assert acc.accept("web", tok, handle=r.u32(T_HANDLE)).status == E_NOTFOUND

        # truncated
        r = acc.accept("web", tok[: len(tok) // 2])
        assert r.u32(T_STATE) == FAILED and r.message.startswith("accept failed: "), r.message

        # the genuine token once, then its replay
        r = acc.accept("web", tok)
        assert r.u32(T_STATE) == COMPLETE, r.message
        r = acc.accept("web", tok)
        assert r.u32(T_STATE) == FAILED, r
        assert "replay" in r.message.lower(), r.message
        # remembered in the helper's state directory, not in /var/tmp
        assert os.path.isfile(os.path.join(d.state_dir, "contexts.rcache2"))

        # garbage
        r = acc.accept("web", b"\x60\x03\x06\x01\x00")
        assert r.u32(T_STATE) == FAILED and r.message, r
        assert "context accept: service web uid 0 mech - peer -: accept failed" in d.log_text()
        assert open_contexts(d) == 2  # the init and the one completed accept
    finally:
        ini.close()
        acc.close()


def test_ntlm_refused_where_the_service_did_not_allow_it(helper, tmp_path):
    """A raw NTLMSSP NEGOTIATE is refused by a krb5/spnego service before the
    mechanism runs, and answered with a CHALLENGE where ntlm is allowed."""
    users_file = tmp_path / "ntlm_users"
    users_file.write_text("SECTX:bob:bob-Pw-1\n")
    os.chmod(users_file, 0o600)
    d = helper({"web": service(),
                "ntlm": service(mechs="ntlm, spnego, krb5", ntlm_user_file=str(users_file))})
    # NEGOTIATE_MESSAGE: signature, type 1, flags (unicode, NTLM, seal, sign,
    # extended security), empty domain and workstation, version
    negotiate = b"NTLMSSP\0" + struct.pack("<II", 1, 0x00088235) + bytes(24)
    with Ctx(d) as c:
        r = c.accept("web", negotiate)
        assert r.status == OK and r.u32(T_STATE) == FAILED, r
        assert "mechanism ntlm is not allowed" in r.message, r.message
        r = c.accept("ntlm", negotiate)
        assert r.status == OK and r.u32(T_STATE) == CONTINUE, (r, r.message)
        challenge = token_of(r)
        assert challenge[:12] == b"NTLMSSP\0\x02\0\0\0", challenge[:12]
        assert open_contexts(d) == 1


# --- policy ----------------------------------------------------------------------------


def test_uid_not_granted_is_refused(helper, users, as_client):
    alice, bob = users(), users()
    d = helper({"web": service(uid=alice.name)})
    code = f"""
from sectx_harness import Conn, field
with Conn({d.pam_sock!r}) as c:
    r = c.request(0x0301, field(0x0203, b"web"), field(0x0303, b"\\x60\\x00"))
    print(r.status, r.message)
"""
    r = as_client(bob.uid, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == str(E_PERM), r.stdout
    assert f"uid {bob.uid} may not use service web" in d.log_text()
    # the granted user gets past the policy (to the mechanism, which fails)
    r = as_client(alice.uid, code)
    assert r.returncode == 0 and r.stdout.split()[0] == str(OK), (r.stdout, r.stderr)


def test_service_without_principal_is_root_only(helper, users, as_client):
    """A service that names no principal would accept with any keytab key,
    the host key included: only root may use it so."""
    alice = users()
    svc = service(uid=alice.name)
    svc["principal"] = ""
    d = helper({"web": svc})
    code = f"""
from sectx_harness import Conn, field
with Conn({d.pam_sock!r}) as c:
    r = c.request(0x0301, field(0x0203, b"web"), field(0x0303, b"\\x60\\x00"))
    print(r.status, r.message)
"""
    r = as_client(alice.uid, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == str(E_PERM), r.stdout
    assert "service web names no principal" in d.log_text()
    with Ctx(d) as c:  # root: past the policy, to the mechanism
        r = c.accept("web", b"\x60\x00")
        assert r.status == OK and r.u32(T_STATE) == FAILED, r


def test_init_only_with_a_ccache_of_the_caller(helper, users, ccache, as_client):
    alice, bob = users(), users()
    d = helper({"web": service(uid=f"{alice.name}, {bob.uid}")})
    code = f"""
import os, sys
from sectx_harness import Conn, field
with Conn({d.pam_sock!r}) as c:
    r = c.request(0x0302, field(0x0203, b"web"), field(0x030c, {TARGET!r}.encode()),
                  fds=[int(sys.argv[1])])
    states = [v for t, v in r.fields if t == 0x0302]
    print(r.status, int.from_bytes(states[0], "big") if states else -1, r.message)
"""
    own = ccache(alice)
    bobs = ccache(bob)
    fifo = os.path.join(os.path.dirname(own), "fifo")
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, alice.uid, alice.gid)
    fd_own = os.open(own, os.O_RDONLY)
    fd_bob = os.open(bobs, os.O_RDONLY)
    fd_fifo = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        # alice with her own ccache: the first leg runs (a token to send)
        r = as_client(alice.uid, code.replace("sys.argv[1]", str(fd_own)), pass_fds=[fd_own])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[:2] == [str(OK), str(CONTINUE)], r.stdout
        # alice passing bob's ccache (a descriptor she got hold of): refused
        r = as_client(alice.uid, code.replace("sys.argv[1]", str(fd_bob)), pass_fds=[fd_bob])
        assert r.stdout.split()[0] == str(E_PERM), r.stdout
        assert f"uid {alice.uid} passed a ccache owned by uid {bob.uid}" in d.log_text()
        # a FIFO of hers: refused without reading it (no hang)
        r = as_client(alice.uid, code.replace("sys.argv[1]", str(fd_fifo)), pass_fds=[fd_fifo])
        assert r.stdout.split()[0] == str(E_INVAL), r.stdout
        # no descriptor at all
        with Ctx(d) as c:
            r = c.init("web", None)
            assert r.status == E_INVAL, r
    finally:
        for fd in (fd_own, fd_bob, fd_fifo):
            os.close(fd)


def test_init_never_delegates(helper, users, ccache, realm):
    """The helper never asks for delegation when it initiates (libgssapi would
    fetch a forwarded TGT from the KDC inside gss_init_sec_context, off the
    loop), not even for a service with allow_delegation: one TGS exchange,
    the helper's own, and the acceptor gets no delegated credential."""
    alice = users()
    d = helper({"web": service(), "deleg": service(allow_delegation="true")})
    path = ccache(alice)  # a forwardable TGT
    for name in ("web", "deleg"):
        ini, acc = Ctx(d), Ctx(d)
        try:
            before = tgs_requests(realm)
            flags = GSS_C_DELEG_FLAG | GSS_C_MUTUAL_FLAG | 0x3c
            with open(path, "rb") as f:
                r_ini, r_acc = establish(ini, acc, name, f.fileno(), mech="krb5", flags=flags)
            assert r_acc.u32(T_STATE) == COMPLETE, r_acc.message
            assert r_acc.u32(T_FLAGS) & GSS_C_DELEG_FLAG == 0, (name, r_acc.u32(T_FLAGS))
            assert r_ini.u32(T_FLAGS) & GSS_C_DELEG_FLAG == 0, (name, r_ini.u32(T_FLAGS))
            assert tgs_requests(realm) == before + 1, realm.log_text()[-2000:]
        finally:
            ini.close()
            acc.close()
    assert "asked for delegation: dropped" in d.log_text()


# --- ownership by the connection --------------------------------------------------------


def test_disconnect_mid_loop_frees_the_contexts(helper, users, ccache):
    alice = users()
    d = helper({"web": service()})
    path = ccache(alice)
    c = Ctx(d)
    with open(path, "rb") as f:
        for _ in range(3):
            r = c.init("web", f.fileno(), mech="krb5")
            assert r.status == OK and r.u32(T_STATE) == CONTINUE, (r, r.message)
    assert open_contexts(d) == 3
    assert d.status_json()["contexts_open"] == 3
    c.close()  # mid-loop: every context waits for the acceptor's reply
    assert wait_until(lambda: open_contexts(d) == 0, 5), open_contexts(d)
    assert d.status_json()["contexts_open"] == 0


def test_per_connection_cap(helper, users, ccache):
    alice = users()
    d = helper({"web": service()}, max_contexts_per_connection="2")
    path = ccache(alice)
    c, other = Ctx(d), Ctx(d)
    try:
        with open(path, "rb") as f:
            handles = [c.init("web", f.fileno()).u32(T_HANDLE) for _ in range(2)]
            r = c.init("web", f.fileno())
            assert r.status == E_BUSY, r
            assert "per-connection context cap reached" in d.log_text()
            # another connection has its own allowance
            assert other.init("web", f.fileno()).status == OK
            # releasing one makes room again
            assert c.release(handles[0]).status == OK
            assert c.init("web", f.fileno()).status == OK
        assert open_contexts(d) == 3
    finally:
        c.close()
        other.close()


def test_per_uid_cap_across_connections(helper, users, ccache, as_client):
    """A uid's contexts are capped over all its connections; another uid has
    its own allowance; contexts freed by release or by a disconnect count
    down again."""
    alice, bob = users(), users()
    d = helper({"web": service(uid=f"{alice.name}, {bob.name}")},
               max_contexts_per_connection="2", max_contexts_per_uid="3")
    cc_alice, cc_bob = ccache(alice), ccache(bob)
    # two contexts on one connection, one on another, the fourth (on a
    # connection below its own cap) refused; once the first connection went
    # away a third connection gets one.
    code = """
from sectx_harness import Conn, field, u32
fd = int(sys.argv[1])
def init(c):
    return c.request(0x0302, field(0x0203, b"web"), field(0x030c, b"TARGET"), fds=[fd]).status
a, b, c = Conn(PAM_SOCK), Conn(PAM_SOCK), Conn(PAM_SOCK)
out = [init(a), init(a), init(b), init(b)]
a.close()
import time
deadline = time.time() + 5
while time.time() < deadline:
    out.append(init(c))
    if out[-1] == 0:
        break
    time.sleep(0.05)
print(" ".join(map(str, out[:4])), out[-1])
""".replace("PAM_SOCK", repr(d.pam_sock)).replace("TARGET", TARGET)
    for user, path in ((alice, cc_alice), (bob, cc_bob)):
        fd = os.open(path, os.O_RDONLY)
        try:
            r = as_client(user.uid, code.replace("sys.argv[1]", str(fd)), pass_fds=[fd])
        finally:
            os.close(fd)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [str(OK)] * 3 + [str(E_BUSY), str(OK)], (user, r.stdout)
    assert f"context init: service web uid {alice.uid}: per-uid context cap reached" in \
        d.log_text()
    assert wait_until(lambda: open_contexts(d) == 0, 5), open_contexts(d)


def test_init_to_an_unknown_service_fails_with_the_kdc_reason(helper, users, ccache):
    alice = users()
    d = helper({"web": service()})
    with Ctx(d) as c, open(ccache(alice), "rb") as f:
        r = c.init("web", f.fileno(), target="HTTP@nowhere.sectx.test")
        assert r.status == OK and r.u32(T_STATE) == FAILED, (r, r.message)
        assert r.message.startswith("cannot get a ticket for HTTP@nowhere.sectx.test: "), \
            r.message
        assert "not found" in r.message.lower(), r.message
        assert c.release(r.u32(T_HANDLE)).status == E_NOTFOUND
    assert open_contexts(d) == 0


def test_acceptor_answers_only_as_its_principal(helper, users, ccache):
    """A service whose principal is HTTP/... does not accept a ticket for
    host/..., though the keytab holds both keys (with and without NTLM in its
    set, where SPNEGO acquires by host-based name and the principal is
    checked after completion)."""
    alice = users()
    d = helper({"http": service(principal=f"{HTTP_SVC}@{REALM}"),
                "http_ntlm": service(principal=f"{HTTP_SVC}@{REALM}",
                                     mechs="krb5, spnego, ntlm")})
    path = ccache(alice)
    for name, mech in (("http", "krb5"), ("http", "spnego"), ("http_ntlm", "spnego")):
        with Ctx(d) as ini, Ctx(d) as acc, open(path, "rb") as f:
            r = ini.init(name, f.fileno(), mech=mech)  # TARGET is host@...
            assert r.status == OK and r.u32(T_STATE) == CONTINUE, (r, r.message)
            a = acc.accept(name, token_of(r))
            assert a.status == OK and a.u32(T_STATE) == FAILED, (name, mech, a)
            assert a.message, a
            assert HTTP_SVC in a.message, a.message


def test_root_may_initiate_with_a_login_handle(helper, users, as_client):
    """A login service (root) initiates for the user it has just logged in,
    from the TGT the helper holds under the login handle; nobody else may."""
    alice = users()
    d = helper({"web": service(uid=alice.name)})
    with Conn(d.pam_sock) as c:
        r = c.request(0x0201, s(0x0201, alice.name), s(0x0202, alice.password),
                      s(T_SERVICE, "login"), s(0x0204, ""))
    assert r.status == OK and r.u32(0x0207) == 0, (r, r.message)
    handle = r.get(0x0206)
    with Ctx(d) as ini, Ctx(d) as acc:
        r = ini.conn.request(OP_INIT, s(T_SERVICE, "web"), s(T_TARGET, TARGET),
                             field(0x0206, handle))
        assert r.status == OK and r.u32(T_STATE) == CONTINUE, (r, r.message)
        a = acc.accept("web", token_of(r))
        assert a.u32(T_STATE) == COMPLETE, a.message
        assert a.get(T_PEER).decode() == alice.principal
        r = ini.init_step(r.u32(T_HANDLE), token_of(a))
        assert r.u32(T_STATE) == COMPLETE and r.u32(T_MUTUAL) == 1, r
    assert f"context init: service web uid 0 as user {alice.name} mech krb5" in d.log_text()
    code = f"""
from sectx_harness import Conn, field
with Conn({d.pam_sock!r}) as c:
    r = c.request(0x0302, field(0x0203, b"web"), field(0x030c, {TARGET!r}.encode()),
                  field(0x0206, {handle!r}))
    print(r.status, r.message)
"""
    r = as_client(alice.uid, code)
    assert r.returncode == 0 and r.stdout.split()[0] == str(E_PERM), (r.stdout, r.stderr)
    with Ctx(d) as c:
        r = c.conn.request(OP_INIT, s(T_SERVICE, "web"), s(T_TARGET, TARGET),
                           field(0x0206, b"0" * 64))
        assert r.status == E_NOTFOUND, r


# --- NTLM (gss-ntlmssp), both ends in one process through the library -----------------

GSS_C_CONF_FLAG, GSS_C_INTEG_FLAG = 0x10, 0x20


@pytest.fixture
def gss_driver(bins, keytab, tmp_path):
    """run(init_mech, req_flags, accept_mechs) -> (returncode, {side: fields},
    output) from tests/integration/gss_driver, with bob's NTLM password in a
    user file that both ends use, no Kerberos credentials on the initiator's
    side, and the module's keytab for the acceptor."""
    driver = os.path.join(os.environ["SECTX_BUILDDIR"], "tests", "integration", "gss_driver")
    if not os.access(driver, os.X_OK):
        pytest.fail(f"not built: {driver} (make check builds it)", pytrace=False)
    users_file = tmp_path / "ntlm_users"
    users_file.write_text("SECTX:bob:bob-Pw-1\n")
    env = dict(os.environ, NTLM_USER_FILE=str(users_file), NTLMUSER="bob",
               KRB5CCNAME=f"FILE:{tmp_path}/no-ccache")
    # gss-ntlmssp leaks OpenSSL objects of its own; in a sanitizer build the
    # driver would exit non-zero for them at exit
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))

    def go(init_mech, req_flags, accept_mechs):
        r = run([driver, init_mech, str(req_flags), accept_mechs, keytab, f"{HOST}@{REALM}",
                 str(users_file), TARGET], env=env, timeout=30)
        sides = {}
        for line in r.stdout.splitlines():
            words = line.split()
            if len(words) > 2 and words[1] == "complete":
                sides[words[0]] = dict(w.split("=", 1) for w in words[2:])
        return r.returncode, sides, r.stdout + r.stderr

    return go


def test_ntlm_three_legs_never_mutual(gss_driver):
    rc, sides, out = gss_driver("ntlm", GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG, "ntlm")
    assert rc == 0, out
    assert out.count(" accept ") == 2 and "leg 1 init 1" in out, out  # negotiate, challenge, auth
    assert sides["accept"]["peer"] == "SECTX\\bob", out
    assert sides["init"]["mech"] == "ntlm" and sides["init"]["spnego"] == "0"
    assert sides["init"]["mutual"] == "0" and sides["accept"]["mutual"] == "0"
    assert "wrap ok" in out


def test_ntlm_under_spnego_echoes_mutual_but_is_not_mutual(gss_driver):
    """SPNEGO asks for mutual authentication; gss-ntlmssp grants the flag,
    the library still reports the context as not mutual."""
    rc, sides, out = gss_driver("spnego", 0, "spnego, ntlm")
    assert rc == 0, out
    init = sides["init"]
    assert init["mech"] == "ntlm" and init["spnego"] == "1", out
    assert int(init["flags"], 16) & GSS_C_MUTUAL_FLAG, out  # what the mechanism claims
    assert init["mutual"] == "0" and sides["accept"]["mutual"] == "0", out


def test_ntlm_refused_when_mutual_is_required(gss_driver):
    rc, _, out = gss_driver("ntlm", GSS_C_MUTUAL_FLAG, "ntlm")
    assert rc == 1, out
    assert "init failed mutual authentication was asked for, but ntlm cannot" in out, out


def test_spnego_does_not_fall_back_to_ntlm_where_not_allowed(gss_driver):
    """The initiator has only NTLM credentials; an acceptor allowing krb5 and
    spnego refuses rather than negotiating NTLM."""
    rc, sides, out = gss_driver("spnego", 0, "krb5, spnego")
    assert rc == 1 and not sides, out
    assert "accept failed accept failed: An unsupported mechanism was requested" in out, out


def test_init_waits_for_the_kdc_on_the_loop_only(helper, users, ccache, realm):
    """While the KDC is silent, an init step waits for its service ticket
    without holding up the helper: status is answered meanwhile, and the init
    step ends with E_UNAVAIL at kdc_timeout."""
    alice = users()
    d = helper({"web": service()}, kerberos={"kdc_timeout": "4s"})
    path = ccache(alice)
    kdc = realm.procs["krb5kdc"]
    c = Ctx(d)
    os.kill(kdc.pid, signal.SIGSTOP)
    try:
        with open(path, "rb") as f:
            data = frame(OP_INIT, s(T_SERVICE, "web"), s(T_TARGET, TARGET))
            sent = socket.send_fds(c.conn.sock, [data], [f.fileno()])
            assert c.conn.send(data[sent:])
        assert open_contexts(d) == 1  # answered while the init step waits
        assert select.select([c.conn.sock], [], [], 0)[0] == [], "init answered already"
        r = c.conn.recv_frame()
        assert r.status == E_UNAVAIL and "no KDC answered" in r.message, (r, r.message)
    finally:
        os.kill(kdc.pid, signal.SIGCONT)
        c.close()
    assert wait_until(lambda: open_contexts(d) == 0, 5)


# --- no DNS for a caller's host name ------------------------------------------------------


class SilentDns:
    """A DNS server on 127.a.b.c:53 that records every question and never
    answers: a resolver asking it waits for its whole timeout."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            self.addr = "127.%d.%d.%d" % tuple(os.urandom(3))
            try:
                self.sock.bind((self.addr, 53))
                break
            except OSError:
                continue
        self.sock.settimeout(0.2)
        self.names, self.stop = [], False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except OSError:
                continue
            labels, i = [], 12
            while i < len(data) and data[i] != 0:
                labels.append(data[i + 1:i + 1 + data[i]].decode(errors="replace"))
                i += 1 + data[i]
            self.names.append(".".join(labels))

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_init_names_the_target_without_dns(bins, realm, keytab, users, ccache, tmp_path):
    """With krb5.conf asking for DNS canonicalization (MIT 1.20's default) and
    a resolver that never answers, an init step never asks DNS about the
    caller's host (a blocking lookup on the helper's only loop): the helper
    builds SERVICE/HOST@REALM itself and initiates to exactly that principal,
    so the context completes with one TGS exchange, the helper's own."""
    alice = users()
    dns = SilentDns()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {dns.addr}\noptions timeout:3 attempts:1\n")
    conf = tmp_path / "krb5.conf"
    with open(realm.krb5_conf) as f:
        conf.write_text(f.read().replace("dns_canonicalize_hostname = false",
                                         "dns_canonicalize_hostname = true")
                        .replace("rdns = false", "rdns = true"))
    # sectxd in a mount namespace of its own whose /etc/resolv.conf is ours
    wrapper = tmp_path / "sectxd"
    wrapper.write_text("#!/bin/sh\nexec unshare -m -- sh -c "
                       "'mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"' "
                       f"sh {resolv} {bins.sectxd} \"$@\"\n")
    wrapper.chmod(0o755)
    sections = {"kerberos": {"keytab": keytab, "kdc_timeout": "3s"},
                "service/web": service()}
    d = Sectxd(str(wrapper), bins.sectxctl, env=dict(realm.env(), KRB5_CONFIG=str(conf)),
               sections=sections, log_level="debug")
    ini = acc = None
    try:
        d.start()
        ini, acc = Ctx(d), Ctx(d)
        before = tgs_requests(realm)
        with open(ccache(alice), "rb") as f:
            r_ini, r_acc = establish(ini, acc, "web", f.fileno(), mech="krb5")
        assert r_ini.u32(T_STATE) == COMPLETE and r_acc.u32(T_STATE) == COMPLETE
        assert r_acc.get(T_PEER).decode() == alice.principal
        assert tgs_requests(realm) == before + 1, realm.log_text()[-2000:]
        asked = [n for n in dns.names if "sectx-test" in n]
        assert asked == [], asked
        # a HOST or SERVICE that would make another principal is refused
        with open(ccache(alice), "rb") as f:
            for bad in ("host@sectx-test.localdomain/x", "host/x@sectx-test.localdomain",
                        "host@a@b", "@sectx-test.localdomain", "host@"):
                r = ini.init("web", f.fileno(), target=bad)
                assert r.status == E_INVAL, (bad, r, r.message)
    finally:
        for c in (ini, acc):
            if c is not None:
                c.close()
        d.close()
        dns.close()
