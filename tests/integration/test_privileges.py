"""What an ordinary local user cannot make sectxd do, as root with real uids:
the red team's attempts of issue 12 that held, kept as tests so they stay
true.  Real local users (useradd), a real MIT realm, the real sectxd; each
attacker is a separate process running as its own uid (setpriv) that speaks
raw frames (common/proto.h) over pam.sock.

Each test asserts the refusal (the status the helper answers, the line it
logs) and that nothing happened: no KDC exchange for the victim, the
password unchanged, the handle still claimable by root, the tickets in place
and unchanged, the log level, the NSS cache and the contexts as they were.
Where a refusal could pass for a broken test client, the same client doing
the allowed thing (acting for itself) is checked first.

Then the client side: a user's socket posing as the helper is refused before
a byte is sent (SO_PEERCRED uid must be 0), by the PAM module, sectxctl and
the NSS module; a setuid program ignores SECTX_SOCKET_DIR (secure_getenv);
and the PAM module keeps no pam.sock connection across a PAM call, on every
path (success, refusal, helper gone, silent, garbled or busy), so a process
that setuid()s after a PAM call holds no connection carrying root's
credentials (SO_PEERCRED is the connecting process's, taken at connect).
"""

import hashlib
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading

import pytest

from nss_support import NOTFOUND, UNAVAIL, nss_lib  # noqa: F401  (nss_lib: a fixture)
from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_bins, host_keytab, pam_helper, users)
from pam_harness import PamSectxd, PamStack, klist_as, write_keytab
from sectx_harness import (E_PERM, OK, Conn, Frame, as_user, close_all, field, frame,
                           make_public_tmpdir, public_copies, run, u32, wait_until)

# --- the wire (common/proto.h) ---------------------------------------------------------

OP_DEBUG_LEVEL, OP_CACHE_FLUSH, OP_ID_MAP = 0x0003, 0x0004, 0x0005
OP_AUTH, OP_ACCT, OP_CHAUTHTOK, OP_SETCRED, OP_OPEN, OP_CLOSE = range(0x0201, 0x0207)
OP_ACCEPT, OP_INIT, OP_WRAP, OP_UNWRAP, OP_GET_MIC, OP_VERIFY_MIC, OP_RELEASE = range(
    0x0301, 0x0308)
T_LOG_LEVEL, T_ID_RANGE, T_GENERATION = 0x0015, 0x0110, 0x0115
(T_USER, T_PASSWORD, T_SERVICE, T_RHOST, T_TTY, T_HANDLE, T_PAM_RESULT, T_USER_INFO,
 T_USER_ERROR, T_PHASE, T_OLD_PASSWORD, T_NEW_PASSWORD, T_CRED_FLAG, T_CCACHE,
 T_RETAIN) = range(0x0201, 0x0210)
T_CTX, T_CTX_STATE, T_TOKEN, T_DATA = 0x0301, 0x0302, 0x0303, 0x0304
T_MECH, T_TARGET = 0x0306, 0x030c
E_BUSY, E_NOTFOUND = 5, 8
PAM_SUCCESS = 0
PRELIM, UPDATE = 1, 2
ESTABLISH, REINITIALIZE, REFRESH, DELETE = 1, 2, 3, 4
CONTINUE, FAILED = 0, 2
LOG_TRACE = 4

SERVICE = "login"
CTX_HOST = "host/sectx-priv.localdomain"
CTX_TARGET = "host@sectx-priv.localdomain"
REALM = "SECTX.TEST"
CLIENT_TIMEOUT = 30.0  # seconds an attacker process waits for one reply


def encode(fields):
    """(tag, value) pairs as field bytes: an int is a u32, a str its UTF-8."""
    out = []
    for tag, value in fields:
        if isinstance(value, int):
            out.append(u32(tag, value))
        else:
            out.append(field(tag, value.encode() if isinstance(value, str) else value))
    return out


def pam_fields(user, *extra, service=SERVICE):
    """USER, SERVICE, an empty RHOST (as pam_sectx sends), then extra."""
    return ((T_USER, user), (T_SERVICE, service), (T_RHOST, "")) + extra


def has(reply, tag):
    return any(t == tag for t, _ in reply.fields)


def as_root(d, op, *fields, fds=()):
    """One request on a fresh root connection to d's pam.sock."""
    with Conn(d.pam_sock, timeout=CLIENT_TIMEOUT) as c:
        return c.request(op, *encode(fields), fds=fds)


def root_login(d, user):
    """Root (a login service) authenticates user: the login handle."""
    r = as_root(d, OP_AUTH, *pam_fields(user.name, (T_PASSWORD, user.password)))
    assert r.status == OK and r.u32(T_PAM_RESULT) == PAM_SUCCESS, (r, d.log_tail())
    return r.get(T_HANDLE).decode()


def as_requests(realm, user):
    """AS exchanges the KDC logged for user's principal so far."""
    return realm.log_text().count(f"{user.principal} for krbtgt/")


# --- an attacker: a process of its own uid holding one connection --------------------

_CLIENT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from sectx_harness import Conn, field, frame
conn = Conn(sys.argv[2], timeout=float(sys.argv[3]))
for line in sys.stdin:
    op, fields, fds = json.loads(line)
    r = conn.request(op, *(bytes.fromhex(f) for f in fields), fds=fds)
    raw = None if r is None else frame(r.op, *(field(t, v) for t, v in r.fields),
                                       version=r.version, reqid=r.reqid).hex()
    print(json.dumps(raw), flush=True)
"""


class UserClient:
    """A Python process running as uid, connected once to sock; request()
    sends one frame through it and returns the helper's reply (a Frame, or
    None if the helper closed the connection)."""

    def __init__(self, libdir, uid, sock, pass_fds=()):
        self.proc = subprocess.Popen(
            as_user(uid) + [sys.executable, "-c", _CLIENT, libdir, sock, str(CLIENT_TIMEOUT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            pass_fds=tuple(pass_fds))

    def request(self, op, *fields, fds=()):
        line = json.dumps([op, [f.hex() for f in encode(fields)], list(fds)])
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], CLIENT_TIMEOUT + 5)
        answer = self.proc.stdout.readline() if ready else ""
        if not answer:
            self.close()
            raise AssertionError(f"the client died or hung: {self.proc.stderr.read()}")
        raw = json.loads(answer)
        return None if raw is None else Frame(bytes.fromhex(raw))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def client():
    """client(user_or_uid, sock, pass_fds=()) -> a UserClient; all closed at
    the end of the test."""
    here = os.path.dirname(os.path.abspath(__file__))
    made = []
    with public_copies([os.path.join(here, "sectx_harness.py")], "sectx-privpy-",
                       mode=0o644) as copies:
        libdir = os.path.dirname(copies[0])

        def make(who, sock, pass_fds=()):
            uid = who if isinstance(who, int) else who.uid
            c = UserClient(libdir, uid, sock, pass_fds)
            made.append(c)
            return c

        yield make
        for c in made:
            c.close()


# --- a helper with [service/NAME] sections ------------------------------------------


class ServicesSectxd(PamSectxd):
    """A PamSectxd (logins) with [service/NAME] sections (contexts)."""

    def __init__(self, *args, services, **kwargs):
        self.services = services
        super().__init__(*args, **kwargs)

    def config_text(self, **changes):
        text = super().config_text(**changes)
        for name, keys in self.services.items():
            text += f"\n[service/{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        return text


@pytest.fixture(scope="module")
def ctx_keytab(realm, host_keytab):
    """The host key that validates logins and the key of CTX_HOST, in one keytab."""
    directory, path = write_keytab(realm, CTX_HOST)
    r = run(["ktutil"], input=f"rkt {host_keytab}\nrkt {path}\nwkt {path}.all\nquit\n",
            timeout=30)
    assert r.returncode == 0 and os.path.exists(f"{path}.all"), r.stderr
    os.replace(f"{path}.all", path)
    os.chmod(path, 0o600)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def services_helper(bins, realm, ctx_keytab):
    """make({name: uid list}) -> a started ServicesSectxd whose services
    accept and initiate as CTX_HOST for those uids (krb5, spnego)."""
    made = []

    def make(grants):
        services = {name: {"uid": uids, "principal": f"{CTX_HOST}@{REALM}",
                           "mechs": "krb5, spnego"} for name, uids in grants.items()}
        d = ServicesSectxd(bins.sectxd, bins.sectxctl, realm, ctx_keytab, services=services)
        made.append(d)
        return d.start()

    yield make
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def user_ccache(realm):
    """make(user) -> path of a FILE ccache with user's TGT, owned by user, 0600."""
    d = make_public_tmpdir("sectx-privcc-")

    def make(user):
        path = os.path.join(d, f"cc_{user.name}")
        r = realm.kinit(user.principal, user.password, f"FILE:{path}")
        assert r.returncode == 0, r.stderr
        os.chown(path, user.uid, user.gid)
        os.chmod(path, 0o600)
        return path

    yield make
    shutil.rmtree(d, ignore_errors=True)


def contexts_open(d):
    return d.status_json()["contexts_open"]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --- PAM operations for another user ------------------------------------------------


def test_user_cannot_check_another_users_password(pam_helper, users, client, realm):
    """Not even with the right password: no oracle, no KDC exchange for the
    victim, and nothing counted against the victim's failed logins."""
    alice, bob = users(), users()
    before = as_requests(realm, bob)
    with client(alice, pam_helper.pam_sock) as c:
        own = c.request(OP_AUTH, *pam_fields(alice.name, (T_PASSWORD, alice.password)))
        assert own.status == OK and own.u32(T_PAM_RESULT) == PAM_SUCCESS, own
        replies = [c.request(OP_AUTH, *pam_fields(bob.name, (T_PASSWORD, pw)))
                   for pw in (bob.password, "Wrong-" + bob.password) * 3]
    for r in replies:
        assert r.status == E_PERM and not has(r, T_HANDLE) and not has(r, T_PAM_RESULT), r
    assert as_requests(realm, bob) == before, "the helper asked the KDC for the victim"
    assert re.search(rf"uid {alice.uid} pid \d+ may not authenticate another user; refused",
                     pam_helper.log_text())
    # the victim logs in at once: no failure was counted against bob
    r = as_root(pam_helper, OP_AUTH, *pam_fields(bob.name, (T_PASSWORD, bob.password)))
    assert r.status == OK and r.u32(T_PAM_RESULT) == PAM_SUCCESS, r
    assert as_requests(realm, bob) > before  # the count sees a real exchange


def test_refusals_a_user_provokes_are_logged_within_the_rate_limit(pam_helper, users, client):
    """Every refusal is worth a line, but any local uid can ask as often as it
    likes: the lines about refused requests go through the server's limit for
    lines about peers (peer_log_lines, 20 per 10 s by default), and the rest
    are counted in one line at the end of the window."""
    alice, bob = users(), users()
    line = re.compile(rf"uid {alice.uid} pid \d+ may not authenticate another user; refused")
    start = len(pam_helper.log_text())
    asked = 200
    with client(alice, pam_helper.pam_sock) as c:
        replies = [c.request(OP_AUTH, *pam_fields(bob.name, (T_PASSWORD, "x")))
                   for _ in range(asked)]
    assert all(r.status == E_PERM for r in replies), replies[:3]
    logged = len(line.findall(pam_helper.log_text()[start:]))
    print(f"\n{asked} refused requests from uid {alice.uid}: {logged} lines logged")
    assert 1 <= logged <= 20, logged
    summary = re.compile(r"(\d+) more lines about requests refused by their operation's checks "
                         r"suppressed")
    assert wait_until(lambda: summary.search(pam_helper.log_text()[start:]), 15, 0.2), \
        pam_helper.log_tail()
    counted = sum(int(n) for n in summary.findall(pam_helper.log_text()[start:]))
    assert counted >= asked - logged, (counted, asked, logged)


def test_user_cannot_change_another_users_password(pam_helper, users, client, realm, tmp_path):
    alice, bob = users(), users()
    new = "Stolen-" + bob.password
    handle = root_login(pam_helper, bob)  # a handle lying around cannot help
    with client(alice, pam_helper.pam_sock) as c:
        own = c.request(OP_CHAUTHTOK, *pam_fields(alice.name, (T_PHASE, PRELIM),
                                                  (T_OLD_PASSWORD, alice.password)))
        assert own.status == OK and own.u32(T_PAM_RESULT) == PAM_SUCCESS, own
        replies = [
            c.request(OP_CHAUTHTOK, *pam_fields(bob.name, (T_PHASE, PRELIM),
                                                (T_OLD_PASSWORD, bob.password))),
            c.request(OP_CHAUTHTOK, *pam_fields(bob.name, (T_PHASE, UPDATE),
                                                (T_OLD_PASSWORD, bob.password),
                                                (T_NEW_PASSWORD, new))),
            c.request(OP_CHAUTHTOK, *pam_fields(bob.name, (T_PHASE, UPDATE),
                                                (T_OLD_PASSWORD, ""), (T_NEW_PASSWORD, new),
                                                (T_HANDLE, handle))),
        ]
    for r in replies:
        assert r.status == E_PERM and not has(r, T_PAM_RESULT), r
    cc = f"FILE:{tmp_path}/cc"
    assert realm.kinit(bob.principal, bob.password, cc).returncode == 0, "password changed"
    assert realm.kinit(bob.principal, new, cc).returncode != 0
    assert "password of " + bob.name + " changed" not in pam_helper.log_text()


def test_user_cannot_claim_another_users_login_handle(pam_helper, users, client):
    """The handle root got for bob's login, presented by alice for bob or
    for herself: refused, and still bob's to claim afterwards."""
    alice, bob = users(), users()
    handle = root_login(pam_helper, bob)
    attempts = [(OP_ACCT, ()), (OP_OPEN, ()), (OP_SETCRED, ((T_CRED_FLAG, ESTABLISH),))]
    with client(alice, pam_helper.pam_sock) as c:
        for op, extra in attempts:
            r = c.request(op, *pam_fields(bob.name, (T_HANDLE, handle), *extra))
            assert r.status == E_PERM and not has(r, T_CCACHE), (hex(op), r)
            r = c.request(op, *pam_fields(alice.name, (T_HANDLE, handle), *extra))
            assert r.status == OK and r.u32(T_PAM_RESULT) != PAM_SUCCESS, (hex(op), r)
            assert not has(r, T_CCACHE), (hex(op), r)
    assert not bob.ccache_files() and not alice.ccache_files()
    assert (f"login handle of {bob.name} ({SERVICE}, rhost -) presented for {alice.name}"
            in pam_helper.log_text())
    # the handle is intact: the login service that got it opens bob's session
    o = as_root(pam_helper, OP_OPEN, *pam_fields(bob.name, (T_HANDLE, handle)))
    assert o.status == OK and o.u32(T_PAM_RESULT) == PAM_SUCCESS, o
    assert len(bob.ccache_files()) == 1
    c = as_root(pam_helper, OP_CLOSE, *pam_fields(bob.name, (T_HANDLE, handle)))
    assert c.u32(T_PAM_RESULT) == PAM_SUCCESS, c


def test_user_cannot_read_or_destroy_another_users_tickets(pam_helper, users, client, realm):
    alice, bob = users(), users()
    handle = root_login(pam_helper, bob)
    o = as_root(pam_helper, OP_OPEN, *pam_fields(bob.name, (T_HANDLE, handle)))
    assert o.u32(T_PAM_RESULT) == PAM_SUCCESS, o
    ccname = o.get(T_CCACHE).decode()
    path = ccname[len("FILE:"):]
    before = (os.stat(path).st_ino, digest(path))
    with client(alice, pam_helper.pam_sock) as c:
        for who in (bob.name, alice.name):
            for flag in (ESTABLISH, REINITIALIZE, REFRESH, DELETE):
                r = c.request(OP_SETCRED, *pam_fields(who, (T_HANDLE, handle),
                                                      (T_CRED_FLAG, flag)))
                assert r.status == (E_PERM if who == bob.name else OK), (who, flag, r)
                assert not has(r, T_CCACHE), (who, flag, r)
                assert r.status != OK or r.u32(T_PAM_RESULT) != PAM_SUCCESS, (who, flag, r)
            for retain in (0, 1):
                r = c.request(OP_CLOSE, *pam_fields(who, (T_HANDLE, handle),
                                                    (T_RETAIN, retain)))
                assert r.status == (E_PERM if who == bob.name else OK), (who, r)
                assert r.status != OK or r.u32(T_PAM_RESULT) != PAM_SUCCESS, (who, r)
    # the tickets are where they were, as they were, and still not hers to read
    assert (os.stat(path).st_ino, digest(path)) == before
    assert klist_as(bob, ccname, realm).returncode == 0
    assert run(["cat", path], uid=alice.name).returncode != 0
    log = pam_helper.log_text()
    assert f"session of {bob.name} closed" not in log
    assert f"renewal of the session of {bob.name}" not in log
    c = as_root(pam_helper, OP_CLOSE, *pam_fields(bob.name, (T_HANDLE, handle)))
    assert c.u32(T_PAM_RESULT) == PAM_SUCCESS, c
    assert not os.path.exists(path)


# --- the admin operations ---------------------------------------------------------------


def test_admin_operations_are_root_only(pam_helper, users, client):
    """debug-level, cache flush and id-map: E_PERM for a user, and the log
    level, the NSS cache and the log as they were; root's own requests
    show what the refused ones would have done."""
    alice = users()
    cache = os.path.join(pam_helper.socket_dir, "nss-cache")
    level = pam_helper.status_json()["log_level"]

    def cache_state():
        return sorted((n, os.stat(os.path.join(cache, n)).st_ino, digest(os.path.join(cache, n)))
                      for n in os.listdir(cache) if os.path.isfile(os.path.join(cache, n)))

    published = cache_state()
    with client(alice, pam_helper.pam_sock) as c:
        replies = [c.request(OP_DEBUG_LEVEL, (T_LOG_LEVEL, LOG_TRACE)),
                   c.request(OP_CACHE_FLUSH), c.request(OP_ID_MAP)]
    for r in replies:
        assert r.status == E_PERM and [t for t, _ in r.fields] in ([1], [1, 2]), r
    assert pam_helper.status_json()["log_level"] == level
    assert cache_state() == published
    log = pam_helper.log_text()
    assert "log level set to" not in log and "identity caches flushed" not in log

    # root: the same requests do change things (so the checks above can fail)
    assert as_root(pam_helper, OP_ID_MAP).status == OK
    assert has(as_root(pam_helper, OP_ID_MAP), T_ID_RANGE)
    flushed = as_root(pam_helper, OP_CACHE_FLUSH)
    assert flushed.status == OK and has(flushed, T_GENERATION), flushed
    assert wait_until(lambda: cache_state() != published, 5)
    assert as_root(pam_helper, OP_DEBUG_LEVEL, (T_LOG_LEVEL, LOG_TRACE)).status == OK
    assert pam_helper.status_json()["log_level"] == "trace"


# --- contexts -------------------------------------------------------------------------------


def test_user_cannot_use_a_service_granted_to_another_uid(services_helper, users, client,
                                                          user_ccache):
    alice, bob = users(), users()
    d = services_helper({"web": bob.name})
    handle = root_login(d, bob)
    cc = user_ccache(alice)
    fd = os.open(cc, os.O_RDONLY)
    try:
        with client(alice, d.pam_sock, pass_fds=[fd]) as c:
            refused = [
                c.request(OP_ACCEPT, (T_SERVICE, "web"), (T_TOKEN, b"\x60\x00")),
                c.request(OP_INIT, (T_SERVICE, "web"), (T_TARGET, CTX_TARGET), fds=[fd]),
                c.request(OP_INIT, (T_SERVICE, "web"), (T_TARGET, CTX_TARGET),
                          (T_HANDLE, handle)),
            ]
    finally:
        os.close(fd)
    for r in refused:
        assert r.status == E_PERM and not has(r, T_CTX) and not has(r, T_TOKEN), r
    assert contexts_open(d) == 0
    assert f"context refused: uid {alice.uid} may not use service web" in d.log_text()
    # bob, whom the service names, gets past the policy to the mechanism
    with client(bob, d.pam_sock) as c:
        r = c.request(OP_ACCEPT, (T_SERVICE, "web"), (T_TOKEN, b"\x60\x00"))
    assert r.status == OK and r.u32(T_CTX_STATE) == FAILED, r


def test_user_cannot_initiate_with_a_login_handle(services_helper, users, client):
    """Only root may initiate from the TGT of a login it made, even on a
    service the user may use and with the handle of the user's own login."""
    alice = users()
    d = services_helper({"web": alice.name})
    handle = root_login(d, alice)
    with client(alice, d.pam_sock) as c:
        r = c.request(OP_INIT, (T_SERVICE, "web"), (T_TARGET, CTX_TARGET), (T_HANDLE, handle))
    assert r.status == E_PERM and not has(r, T_CTX), r
    assert contexts_open(d) == 0
    assert f"service web uid {alice.uid} offered a login handle: refused" in d.log_text()
    # root may
    r = as_root(d, OP_INIT, (T_SERVICE, "web"), (T_TARGET, CTX_TARGET), (T_HANDLE, handle))
    assert r.status == OK and r.u32(T_CTX_STATE) == CONTINUE, (r, r.message)


def test_context_handle_belongs_to_its_connection(services_helper, users, client,
                                                  user_ccache):
    """bob's context, named by its handle on alice's connection (a service
    both may use) or on another root connection, is not found; bob's
    context is untouched and still his to release."""
    alice, bob = users(), users()
    d = services_helper({"shared": f"{alice.name}, {bob.name}"})
    fd = os.open(user_ccache(bob), os.O_RDONLY)
    try:
        owner = client(bob, d.pam_sock, pass_fds=[fd])
        r = owner.request(OP_INIT, (T_SERVICE, "shared"), (T_TARGET, CTX_TARGET),
                          (T_MECH, "krb5"), fds=[fd])
    finally:
        os.close(fd)
    assert r.status == OK and r.u32(T_CTX_STATE) == CONTINUE, (r, r.message)
    theirs, token = r.u32(T_CTX), r.get(T_TOKEN)
    assert contexts_open(d) == 1
    attempts = [(OP_WRAP, (T_CTX, theirs), (T_DATA, b"x")),
                (OP_UNWRAP, (T_CTX, theirs), (T_TOKEN, b"x")),
                (OP_GET_MIC, (T_CTX, theirs), (T_DATA, b"x")),
                (OP_VERIFY_MIC, (T_CTX, theirs), (T_DATA, b"x"), (T_TOKEN, b"x")),
                (OP_INIT, (T_CTX, theirs), (T_TOKEN, token)),
                (OP_ACCEPT, (T_SERVICE, "shared"), (T_CTX, theirs), (T_TOKEN, token)),
                (OP_RELEASE, (T_CTX, theirs))]
    with client(alice, d.pam_sock) as c:
        for op, *fields in attempts:
            r = c.request(op, *fields)
            assert r.status == E_NOTFOUND, (hex(op), r, r.message)
    with Conn(d.pam_sock, timeout=CLIENT_TIMEOUT) as root:
        for op, *fields in attempts:
            r = root.request(op, *encode(fields))
            assert r.status == E_NOTFOUND, (hex(op), r, r.message)
    assert contexts_open(d) == 1
    r = owner.request(OP_RELEASE, (T_CTX, theirs))
    assert r.status == OK, (r, r.message)
    assert contexts_open(d) == 0


# --- a socket that is not the helper's ------------------------------------------------

_FAKE_HELPER = r"""
import os, socket, struct, sys, threading
log, paths = sys.argv[1], sys.argv[2:]
lock = threading.Lock()
def note(text):
    with lock, open(log, "a") as f:
        f.write(text + "\n")
def serve(c, name):
    c.settimeout(10)
    got, total = b"", 0
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            got, total = got + chunk, total + len(chunk)
            while len(got) >= 12 and len(got) >= struct.unpack(">I", got[:4])[0]:
                n, version, op, reqid = struct.unpack(">IHHI", got[:12])
                got = got[max(n, 12):]
                # what a naive client would believe: OK, PAM_SUCCESS, an entry
                body = (struct.pack(">HII", 1, 4, 0) + struct.pack(">HII", 0x207, 4, 0)
                        + struct.pack(">HI", 0x101, 5) + b"alice"
                        + struct.pack(">HII", 0x102, 4, 5001))
                c.sendall(struct.pack(">IHHI", 12 + len(body), version, op | 0x8000, reqid) + body)
    except OSError:
        pass
    note(f"{name} bytes {total}")
    c.close()
def listen(path):
    name = os.path.basename(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o666)
    s.listen(64)
    while True:
        c, _ = s.accept()
        note(f"{name} connection")
        threading.Thread(target=serve, args=(c, name), daemon=True).start()
for p in paths:
    threading.Thread(target=listen, args=(p,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


class FakeHelper:
    """A process of uid listening on DIR/pam.sock and DIR/nss.sock (DIR its
    own, 0755) and answering every frame with a success; log() is what it
    saw: "<socket> connection" and "<socket> bytes N" lines."""

    def __init__(self, uid, gid):
        self.dir = make_public_tmpdir("sectx-fake-")
        os.chown(self.dir, uid, gid)
        self.log_path = os.path.join(self.dir, "seen")
        self.proc = subprocess.Popen(
            as_user(uid) + [sys.executable, "-c", _FAKE_HELPER, self.log_path,
                            os.path.join(self.dir, "pam.sock"),
                            os.path.join(self.dir, "nss.sock")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.proc.stdout.readline() != "ready\n":
            self.close()
            raise AssertionError(f"the fake helper did not start: {self.proc.stderr.read()}")
        wait_until(lambda: all(os.path.exists(os.path.join(self.dir, s))
                               for s in ("pam.sock", "nss.sock")), 5)

    def log(self):
        """Lines seen so far, once every connection it accepted has ended."""
        def lines():
            try:
                with open(self.log_path) as f:
                    return f.read().splitlines()
            except FileNotFoundError:
                return []
        wait_until(lambda: sum(" connection" in l for l in lines()) ==
                   sum(" bytes " in l for l in lines()), 15)
        return lines()

    def close(self):
        self.proc.kill()
        self.proc.communicate(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake_helper(users):
    """A FakeHelper run by a new local user."""
    owner = users(principal=False)
    f = FakeHelper(owner.uid, owner.gid)
    yield f
    f.close()


def test_pam_module_refuses_a_helper_that_is_not_root(fake_helper, pam_bins, users, bins,
                                                     nss_lib):  # noqa: F811
    """A root login service pointed at a user's socket dir (socket_dir=, a
    wrong SECTX_SOCKET_DIR): the module, sectxctl and the NSS module all
    refuse the server by its uid before sending anything; the user never
    sees the password."""
    victim = users()
    stack = PamStack(pam_bins.module, pam_bins.driver, fake_helper.dir)
    try:
        r = stack.run(victim.name, "authenticate", "open_session", "fds",
                      answers=[victim.password])
    finally:
        stack.close()
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
    assert any("cannot reach sectxd" in line and "not permitted" in line for line in r.log), \
        r.log
    ctl = run([bins.sectxctl, "--socket-dir", fake_helper.dir, "--timeout", "2000", "status"])
    assert ctl.returncode != 0 and "not owned by root" in ctl.stderr, ctl
    env = dict(nss_lib.env(), SECTX_SOCKET_DIR=fake_helper.dir)
    probe = run([sys.executable, nss_lib.probe, nss_lib.path, "getpwnam:alice", "getpwuid:5001"],
                env=env, timeout=30)
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.splitlines():
        assert json.loads(line)["status"] in (NOTFOUND, UNAVAIL), line
    seen = fake_helper.log()
    print(f"the fake helper saw: {seen}")
    connections = [l for l in seen if l.endswith(" connection")]
    assert any(l.startswith("pam.sock") for l in connections), seen
    assert any(l.startswith("nss.sock") for l in connections), seen
    assert all(l.endswith(" bytes 0") for l in seen if " bytes " in l), seen
    assert victim.password not in open(fake_helper.log_path).read()


def _nosuid(path):
    return bool(os.statvfs(path).f_flag & os.ST_NOSUID)


def test_setuid_program_ignores_sectx_socket_dir(fake_helper, bins, users):
    """sectxctl made setuid root and run by a user with SECTX_SOCKET_DIR
    pointing at that user's socket: secure_getenv hides the variable, so it
    goes to the compiled-in directory and never near the user's socket.
    The same copy without the set-uid bit does follow the variable (so the
    test can see the difference)."""
    alice = users(principal=False)
    d = make_public_tmpdir("sectx-setuid-")
    try:
        if _nosuid(d):
            pytest.skip(f"{d} is on a nosuid file system")
        ctl = os.path.join(d, "sectxctl")
        shutil.copy2(bins.sectxctl, ctl)
        os.chown(ctl, 0, 0)
        env = dict(os.environ, SECTX_SOCKET_DIR=fake_helper.dir)

        os.chmod(ctl, 0o755)
        plain = run([ctl, "--timeout", "2000", "status"], uid=alice.name, env=env)
        assert plain.returncode != 0 and fake_helper.dir in plain.stderr, plain
        followed = [l for l in fake_helper.log() if l == "pam.sock connection"]
        assert len(followed) == 1, followed

        os.chmod(ctl, 0o4755)
        setuid = run([ctl, "--timeout", "2000", "status"], uid=alice.name, env=env)
        print(f"setuid sectxctl: rc {setuid.returncode}: {setuid.stderr.strip()}")
        assert fake_helper.dir not in setuid.stdout + setuid.stderr, setuid
        if setuid.returncode != 0:
            assert "cannot reach sectxd at /" in setuid.stderr, setuid
        assert [l for l in fake_helper.log() if l == "pam.sock connection"] == followed
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- no pam.sock connection outlives a PAM call ---------------------------------------


def pam_sock_fds(r, sock_path):
    """Per `fds` step of r, the descriptors connected to sock_path."""
    return [[fd for fd, peer in listing if peer == sock_path] for listing in r.fds]


def test_no_pam_sock_connection_outlives_a_pam_call(pam_stack, pam_helper, users):
    """After every PAM call of a whole login, a password change and a failed
    login, the process holds no connection to pam.sock: a login service
    that setuid()s to the user after a PAM call passes on nothing that
    carries root's credentials."""
    user = users()
    new = "New-" + user.password
    steps = ["fds"]
    for step in ("authenticate", "acct_mgmt", "setcred", "open_session", "setcred_refresh",
                 "chauthtok", "close_session", "setcred_delete", "authenticate"):
        steps += [step, "fds"]
    r = pam_stack().run(user.name, *steps, answers=[user.password, user.password, new, new,
                                                     "Wrong-" + new])
    assert [r.code(s) for s in ("authenticate", "acct_mgmt", "setcred", "open_session",
                                "chauthtok", "close_session")] == ["PAM_SUCCESS"] * 6, r
    assert r.code("authenticate", 1) == "PAM_AUTH_ERR", r
    assert len(r.fds) == 10, r
    held = pam_sock_fds(r, pam_helper.pam_sock)
    print(f"pam.sock descriptors after each call: {held}; all sockets: {r.fds}")
    assert held == [[]] * 10, (held, r)
    # the calls did talk to the helper: one connection each
    assert pam_helper.log_text().count("pam-authenticate for uid 0 pid ") >= 2


class RootFakeHelper:
    """A root-owned pam.sock in a directory of its own that misbehaves in
    one way: "silent" (reads, never answers), "garbage" (answers bytes that
    are no frame), "busy" (answers E_BUSY), "close" (closes at once)."""

    def __init__(self, mode):
        self.dir = make_public_tmpdir("sectx-rootfake-")
        self.path = os.path.join(self.dir, "pam.sock")
        self.mode, self.conns, self.stop = mode, [], threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns.append(c)
            if self.mode == "close":
                c.close()
                continue
            c.settimeout(5)
            try:
                hdr = c.recv(12, socket.MSG_WAITALL)
                n, version, op, reqid = struct.unpack(">IHHI", hdr)
                c.recv(n - 12, socket.MSG_WAITALL)
            except (OSError, struct.error):
                continue
            if self.mode == "garbage":
                c.sendall(b"\xff" * 64)
            elif self.mode == "busy":
                c.sendall(frame(op | 0x8000, u32(1, E_BUSY), version=version, reqid=reqid))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.parametrize("mode", ["gone", "silent", "garbage", "busy", "close"])
def test_no_pam_sock_connection_outlives_a_failed_call(pam_bins, users, mode):
    """Every error path of the module's call closes its connection: no
    helper, one that never answers (the module's timeout), one that sends
    garbage, one that says busy, one that hangs up."""
    user = users()
    fake = RootFakeHelper(mode)
    if mode == "gone":
        fake.close()
        os.makedirs(fake.dir, exist_ok=True)
    stack = PamStack(pam_bins.module, pam_bins.driver, fake.dir, "timeout=1000")
    try:
        r = stack.run(user.name, "authenticate", "fds", "open_session", "fds", "chauthtok",
                      "fds", answers=[user.password, user.password, "New-1-pw", "New-1-pw"])
    finally:
        stack.close()
        fake.close()
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
    held = pam_sock_fds(r, fake.path)
    print(f"{mode}: pam.sock descriptors after each call: {held}; all sockets: {r.fds}")
    assert held == [[]] * 3, (held, r)
    if mode != "gone":
        assert len(fake.conns) >= 1, "the module never connected"
