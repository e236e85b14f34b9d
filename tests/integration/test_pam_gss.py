"""Authentication by the Kerberos tickets a user already holds, as sudo sees
it: real libpam (pam_wrapper) running the stack with the user's real uid and
euid 0, the real pam_sectx.so, the real sectxd with [pam] gssapi_services =
sudo, su, and a real MIT realm.  The module opens the user's ccache as the real
uid and passes the descriptor; sectxd accepts a context from it with the host
key.  Each test asserts what the service and the user observe (PAM codes and
prompts) and the one line the helper logs for the attempt.

pam_driver, not pamtester, runs the stack: a process exec'd with a real uid
other than its euid 0 is AT_SECURE, and ld.so would then drop pam_wrapper
(and run the host's own /etc/pam.d/sudo).  pam_driver --real-uid switches
after exec, as sudo itself runs with euid 0 and the invoking user's real uid.
"""

import ctypes
import errno
import os
import shutil
import stat
import struct
import threading
import time

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import PamSectxd, PamStack, write_keytab
from sectx_harness import Conn, close_all, field, u32

GSS_SERVICE = "sudo"
SU_SERVICE = "su"
RUN_TIMEOUT = 20  # seconds: a hang (a FIFO read) fails the test, not CI

OP_PAM_GSS_AUTH = 0x0207
TAG_USER, TAG_SERVICE, TAG_PAM_RESULT, TAG_REAL_UID = 0x0201, 0x0203, 0x0207, 0x0230
PAM_SUCCESS, PAM_AUTH_ERR = 0, 2


class GssSectxd(PamSectxd):
    """A PamSectxd whose config lists sudo and su in [pam] gssapi_services."""

    def config_text(self, **changes):
        return (super().config_text(**changes)
                + f"\n[pam]\ngssapi_services = {GSS_SERVICE}, {SU_SERVICE}\n")


class SudoStack(PamStack):
    """The test stack under the service name sudo."""

    SERVICE = GSS_SERVICE


class SuStack(PamStack):
    """The test stack under the service name su."""

    SERVICE = SU_SERVICE


@pytest.fixture
def gss_helper_factory(bins, realm, host_keytab):
    """make(keytab=host_keytab) -> a started GssSectxd."""
    made = []

    def make(keytab=host_keytab):
        d = GssSectxd(bins.sectxd, bins.sectxctl, realm, keytab)
        made.append(d)
        return d.start()

    yield make
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def gss_helper(gss_helper_factory):
    return gss_helper_factory()


@pytest.fixture
def stacks(pam_bins, gss_helper):
    """make(cls=SudoStack, options="", helper=gss_helper) -> a stack."""
    made = []

    def make(cls=SudoStack, options="", helper=None):
        s = cls(pam_bins.module, pam_bins.driver, (helper or gss_helper).socket_dir, options)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def ccache_of(user, realm, principal=None, password=None, suffix="gss"):
    """kinit principal (default: the user's) into /tmp/krb5cc_<uid>_<suffix>,
    a file owned by user (removed with the user).  Returns its path."""
    path = f"/tmp/krb5cc_{user.uid}_{suffix}"
    r = realm.kinit(principal or user.principal, password or user.password, f"FILE:{path}")
    assert r.returncode == 0, r.stderr
    os.chown(path, user.uid, user.gid)
    return path


def sudo(stack, user, *steps, ccname=None, answers=(), target=None):
    """Run steps as sudo (or su to target) run by user does: PAM_USER user
    (or target), real ids the user's, euid 0, and KRB5CCNAME=ccname in the
    environment if given."""
    env = {"KRB5CCNAME": ccname} if ccname is not None else None
    return stack.run((target or user).name, *steps, answers=answers,
                     real_ids=(user.uid, user.gid), env=env, timeout=RUN_TIMEOUT)


def ticket_lines(helper, user):
    """The helper's log lines about ticket attempts for user."""
    return [l for l in helper.log_text().splitlines() if "by tickets" in l and user.name in l]


def gss_auth_request(helper, user, fd, real_uid=None):
    """One PAM_GSS_AUTH as root for user, passing fd (and REAL_UID if
    given).  Returns the reply."""
    fields = [field(TAG_USER, user.name.encode()), field(TAG_SERVICE, GSS_SERVICE.encode())]
    if real_uid is not None:
        fields.append(u32(TAG_REAL_UID, real_uid))
    with Conn(helper.pam_sock, timeout=RUN_TIMEOUT) as c:
        return c.request(OP_PAM_GSS_AUTH, *fields, fds=[fd])


# --- a user with a TGT ------------------------------------------------------------


def test_user_with_tgt_is_authenticated_without_a_password(stacks, gss_helper, users, realm):
    alice = users()
    path = ccache_of(alice, realm)
    r = sudo(stacks(), alice, "authenticate", "acct_mgmt", ccname=f"FILE:{path}")

    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.prompts == [], r
    # the login handle works for the account group as a password login's does
    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    assert any("by tickets" in line for line in r.log), r.log
    lines = ticket_lines(gss_helper, alice)
    assert len(lines) == 1 and "authenticated" in lines[0], lines
    assert "accepted with the host key, same name in the realm" in lines[0], lines
    # One TGS exchange, the helper's own on its event loop: the context then
    # finds the ticket in the cache and libgssapi never calls a KDC (blocking).
    tgs = [l for l in realm.log_text().splitlines()
           if "TGS_REQ" in l and f"{alice.principal} for host/" in l]
    assert len(tgs) == 1, tgs


def test_default_ccache_path_is_the_real_uids(stacks, gss_helper, users, realm):
    """Without KRB5CCNAME the module looks at /tmp/krb5cc_<real uid>."""
    alice = users()
    path = f"/tmp/krb5cc_{alice.uid}"
    try:
        os.rename(ccache_of(alice, realm), path)
        r = sudo(stacks(), alice, "authenticate")
        assert r.code("authenticate") == "PAM_SUCCESS", r
        assert r.prompts == [], r
    finally:
        if os.path.exists(path):
            os.unlink(path)


# --- no ticket, or a ticket that is not the user's -----------------------------------------


def test_without_tgt_the_password_is_asked(stacks, gss_helper, users):
    alice = users()
    stack = stacks()
    missing = f"FILE:/tmp/krb5cc_{alice.uid}_none"

    r = sudo(stack, alice, "authenticate", ccname=missing, answers=[alice.password])
    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_SUCCESS", r

    r = sudo(stack, alice, "authenticate", ccname=missing, answers=["not-" + alice.password])
    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r

    r = sudo(stack, alice, "authenticate", ccname=missing)  # no answer at all
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    # with no cache the helper is not even asked
    assert ticket_lines(gss_helper, alice) == []


def test_bobs_principal_in_alices_cache_is_refused(stacks, gss_helper, users, realm):
    alice, bob = users(), users()
    path = ccache_of(alice, realm, principal=bob.principal, password=bob.password)
    r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{path}")

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    lines = ticket_lines(gss_helper, alice)
    assert len(lines) == 1 and "failed" in lines[0] and bob.principal in lines[0], lines


def test_bobs_cache_readable_by_alice_is_not_used(stacks, gss_helper, users, realm):
    alice, bob = users(), users()
    path = ccache_of(bob, realm)
    os.chmod(path, 0o644)
    r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{path}")

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert any("not a regular file owned by uid" in line for line in r.log), r.log
    assert ticket_lines(gss_helper, alice) == []


def test_helper_refuses_a_cache_not_owned_by_the_invoking_user(gss_helper, users, realm):
    """Even from root (a module that would not check), the helper refuses a
    cache that is not the invoking user's, and one whose principal does not
    map to the PAM user."""
    alice, bob = users(), users()
    path = ccache_of(bob, realm)
    fd = os.open(path, os.O_RDONLY)
    try:
        # no REAL_UID: the invoking user is taken to be the PAM user
        reply = gss_auth_request(gss_helper, alice, fd)
        assert reply.status == 0 and reply.u32(TAG_PAM_RESULT) == PAM_AUTH_ERR, reply
        assert f"belongs to uid {bob.uid}" in ticket_lines(gss_helper, alice)[-1]
        # bob invoking, for alice: his cache, but his principal is not alice's
        reply = gss_auth_request(gss_helper, alice, fd, real_uid=bob.uid)
        assert reply.status == 0 and reply.u32(TAG_PAM_RESULT) == PAM_AUTH_ERR, reply
        assert f"{bob.principal}: the principal is not the user's" in \
            ticket_lines(gss_helper, alice)[-1]
    finally:
        os.close(fd)
    assert len(ticket_lines(gss_helper, alice)) == 2


def test_cache_owned_by_root_is_not_used(stacks, gss_helper, users, realm):
    alice = users()
    path = ccache_of(alice, realm)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{path}")

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert ticket_lines(gss_helper, alice) == []


def test_symlink_to_the_users_own_cache_is_not_followed(stacks, gss_helper, users, realm):
    alice = users()
    path = ccache_of(alice, realm)
    link = f"/tmp/krb5cc_{alice.uid}_link"
    os.symlink(path, link)
    os.lchown(link, alice.uid, alice.gid)
    r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{link}")

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert ticket_lines(gss_helper, alice) == []


# --- hostile cache names ----------------------------------------------------------------


def test_fifo_as_cache_fails_fast(stacks, gss_helper, users):
    """A FIFO neither blocks the module (opened O_NONBLOCK, refused by type)
    nor the helper (which refuses anything but a regular file before
    reading).  The run's timeout bounds the test if either hung."""
    alice = users()
    fifo = f"/tmp/krb5cc_{alice.uid}_fifo"
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, alice.uid, alice.gid)
    r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{fifo}")

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert ticket_lines(gss_helper, alice) == []

    # and the helper itself, handed the FIFO by root
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        reply = gss_auth_request(gss_helper, alice, fd)
    finally:
        os.close(fd)
    assert reply.status == 0 and reply.u32(TAG_PAM_RESULT) == PAM_AUTH_ERR, reply
    assert "not a regular file" in ticket_lines(gss_helper, alice)[0]
    assert gss_helper.status_json()  # still answering


# --- the host key ------------------------------------------------------------------------


def test_host_key_the_kdc_does_not_know_refuses_tickets(stacks, gss_helper_factory, users,
                                                         realm):
    """The context is accepted with the keytab: tickets the host cannot
    decrypt (a spoofed KDC's, or a stale key) let nobody in."""
    principal = f"host/stale-{os.urandom(3).hex()}.sectx.test"
    directory, keytab = write_keytab(realm, principal)
    try:
        realm.kadmin(f"cpw -randkey {principal}")  # the KDC's key moves on
        helper = gss_helper_factory(keytab=keytab)
        alice = users()
        path = ccache_of(alice, realm)
        r = sudo(stacks(helper=helper), alice, "authenticate", ccname=f"FILE:{path}")

        assert r.prompts == ["Password: "], r
        assert r.code("authenticate") == "PAM_AUTH_ERR", r
        lines = ticket_lines(helper, alice)
        assert len(lines) == 1 and "the host key refused it" in lines[0], lines
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- policy: which services, which principals --------------------------------------------


def test_service_not_listed_does_not_use_tickets(stacks, gss_helper, users, realm):
    alice = users()
    path = ccache_of(alice, realm)
    r = sudo(stacks(cls=PamStack), alice, "authenticate", ccname=f"FILE:{path}",
             answers=[alice.password])

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_SUCCESS", r
    lines = ticket_lines(gss_helper, alice)
    assert len(lines) == 1 and "not in [pam] gssapi_services" in lines[0], lines


def test_no_ticket_auth_option_asks_for_the_password(stacks, gss_helper, users, realm):
    alice = users()
    path = ccache_of(alice, realm)
    r = sudo(stacks(options="no_ticket_auth"), alice, "authenticate", ccname=f"FILE:{path}",
             answers=[alice.password])

    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert ticket_lines(gss_helper, alice) == []


def test_su_to_bob_takes_bobs_tgt_from_the_invoking_users_cache(stacks, gss_helper, users,
                                                                realm):
    """su authenticates the target: alice holding bob's TGT in her own cache
    becomes bob without a password; her own TGT does not make her bob."""
    alice, bob = users(), users()
    stack = stacks(cls=SuStack)

    bobs = ccache_of(alice, realm, principal=bob.principal, password=bob.password)
    r = sudo(stack, alice, "authenticate", "acct_mgmt", ccname=f"FILE:{bobs}", target=bob)
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.prompts == [], r
    assert r.code("acct_mgmt") == "PAM_SUCCESS", r
    assert "authenticated" in ticket_lines(gss_helper, bob)[-1]

    own = ccache_of(alice, realm, suffix="own")
    r = sudo(stack, alice, "authenticate", ccname=f"FILE:{own}", target=bob)
    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert f"{alice.principal}: the principal is not the user's" in \
        ticket_lines(gss_helper, bob)[-1]


def test_k5login_decides_which_principals_map_to_the_user(stacks, gss_helper, users, realm):
    """With ~/.k5login present only the principals it lists map to the
    user, the user's own name included (as krb5_kuserok does)."""
    alice, bob = users(), users()
    k5login = os.path.join(os.path.expanduser(f"~{alice.name}"), ".k5login")
    with open(k5login, "w") as f:
        f.write(f"# who may be {alice.name}\n{bob.principal}\n")
    os.chown(k5login, alice.uid, alice.gid)
    os.chmod(k5login, 0o644)
    stack = stacks()

    own = ccache_of(alice, realm)
    r = sudo(stack, alice, "authenticate", ccname=f"FILE:{own}")
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert "not listed in the user's ~/.k5login" in ticket_lines(gss_helper, alice)[-1]

    bobs = ccache_of(alice, realm, principal=bob.principal, password=bob.password,
                     suffix="bob")
    r = sudo(stack, alice, "authenticate", ccname=f"FILE:{bobs}")
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert r.prompts == [], r
    assert "listed in ~/.k5login" in ticket_lines(gss_helper, alice)[-1]

    # a .k5login others may write is not trusted: refused, not ignored
    os.chmod(k5login, 0o666)
    r = sudo(stack, alice, "authenticate", ccname=f"FILE:{bobs}")
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert "cannot be trusted" in ticket_lines(gss_helper, alice)[-1]


# --- real uid 0 ---------------------------------------------------------------------------


def test_real_uid_0_never_authenticates_by_tickets(stacks, gss_helper, users, realm):
    """A cache of root's (a root daemon's, here holding alice's TGT) logs
    nobody in: the module run by real uid 0 does not even open it, and the
    helper refuses a root caller naming REAL_UID 0 before reading the cache."""
    alice = users()
    path = ccache_of(alice, realm, suffix="root")
    os.chown(path, 0, 0)
    r = stacks().run(alice.name, "authenticate", real_ids=(0, 0),
                     env={"KRB5CCNAME": f"FILE:{path}"}, timeout=RUN_TIMEOUT)
    assert r.prompts == ["Password: "], r
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert ticket_lines(gss_helper, alice) == []

    fd = os.open(path, os.O_RDONLY)
    try:
        reply = gss_auth_request(gss_helper, alice, fd, real_uid=0)
    finally:
        os.close(fd)
    assert reply.status == 0 and reply.u32(TAG_PAM_RESULT) == PAM_AUTH_ERR, reply
    lines = ticket_lines(gss_helper, alice)
    assert len(lines) == 1 and "the invoking user is root" in lines[0], lines
    tgs = [l for l in realm.log_text().splitlines()
           if "TGS_REQ" in l and f"{alice.principal} for host/" in l]
    assert tgs == [], tgs


# --- ~/.k5login on FUSE ----------------------------------------------------------------------


class OneFileFuse:
    """A FUSE file system served from this process over /dev/fuse, mounted
    at mountpoint: a root directory with one file, name, of content, owned by
    uid:gid.  ops lists the opcodes the kernel sent (a READ is 15)."""

    LOOKUP, GETATTR, OPEN, READ, STATFS, RELEASE, FLUSH, INIT, OPENDIR, RELEASEDIR, DESTROY = (
        1, 3, 14, 15, 17, 18, 25, 26, 27, 29, 38)
    IN_HDR, OUT_HDR = struct.Struct("<IIQQIIII"), struct.Struct("<IiQ")

    def __init__(self, mountpoint, name, content, uid, gid):
        self.mountpoint, self.name, self.content = mountpoint, name.encode(), content
        self.uid, self.gid, self.ops = uid, gid, []
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        data = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
        if self.libc.mount(b"sectx-test", mountpoint.encode(), b"fuse", 6, data) != 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, os.strerror(err))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _attr(self, ino):
        mode, size = ((stat.S_IFDIR | 0o755, 0) if ino == 1
                      else (stat.S_IFREG | 0o644, len(self.content)))
        now = int(time.time())
        return struct.pack("<QQQQQQIIIIIIIIII", ino, size, (size + 511) // 512, now, now, now,
                           0, 0, 0, mode, 1, self.uid, self.gid, 0, 4096, 0)

    def _reply(self, unique, err=0, body=b""):
        try:
            os.write(self.fd, self.OUT_HDR.pack(self.OUT_HDR.size + len(body), -err, unique)
                     + body)
        except OSError:
            pass

    def _serve(self):
        while True:
            try:
                req = os.read(self.fd, (1 << 20) + 4096)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return
            length, op, unique, node = self.IN_HDR.unpack_from(req)[:4]
            body = req[self.IN_HDR.size:length]
            self.ops.append(op)
            if op == self.INIT:
                self._reply(unique, 0, struct.pack("<IIIIHHIIHHI7I", 7, 31, 0, 0, 0, 0, 4096,
                                                   1, 0, 0, 0, *[0] * 7))
            elif op == self.LOOKUP and body.rstrip(b"\0") == self.name:
                self._reply(unique, 0, struct.pack("<QQQQII", 2, 0, 0, 0, 0, 0) + self._attr(2))
            elif op == self.GETATTR:
                self._reply(unique, 0, struct.pack("<QII", 0, 0, 0) + self._attr(node))
            elif op in (self.OPEN, self.OPENDIR):
                self._reply(unique, 0, struct.pack("<QII", 0, 0, 0))
            elif op == self.READ:
                off, size = struct.unpack_from("<QI", body, 8)
                self._reply(unique, 0, self.content[off:off + size])
            elif op == self.STATFS:
                self._reply(unique, 0, struct.pack("<5Q4I6I", 0, 0, 0, 0, 0, 4096, 255, 4096, 0,
                                                   *[0] * 6))
            elif op in (self.RELEASE, self.FLUSH, self.RELEASEDIR, self.DESTROY):
                self._reply(unique)
            else:
                self._reply(unique, errno.ENOENT if op == self.LOOKUP else errno.ENOSYS)

    def close(self):
        self.libc.umount2(self.mountpoint.encode(), 2)  # MNT_DETACH
        os.close(self.fd)
        self.thread.join(5)


def test_k5login_on_fuse_is_not_read(stacks, gss_helper, users, realm):
    """A ~/.k5login on FUSE is answered by a user's process, so a read of it
    could hold up the helper for ever: it is refused unread (untrusted), even
    when it would list the principal."""
    alice, bob = users(), users()
    home = os.path.expanduser(f"~{alice.name}")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this machine: cannot serve a FUSE file system")
    try:
        fs = OneFileFuse(home, ".k5login", f"{bob.principal}\n".encode(), alice.uid, alice.gid)
    except OSError as e:
        pytest.skip(f"cannot mount a FUSE file system here: {e}")
    try:
        bobs = ccache_of(alice, realm, principal=bob.principal, password=bob.password,
                         suffix="bob")
        r = sudo(stacks(), alice, "authenticate", ccname=f"FILE:{bobs}")
        assert r.code("authenticate") == "PAM_AUTH_ERR", r
        assert r.prompts == ["Password: "], r
        lines = ticket_lines(gss_helper, alice)
        assert len(lines) == 1 and "cannot be trusted or read" in lines[0], lines
        assert OneFileFuse.LOOKUP in fs.ops, fs.ops  # the helper did look
        assert OneFileFuse.READ not in fs.ops, fs.ops
    finally:
        fs.close()
