"""The helper's login engine, driven through pam.sock with raw frames: the
real sectxd against a real MIT KDC, no PAM module in between.  These tests
pin what the helper decides (results, validation, deadlines, throttling,
handle binding); the module's mapping to PAM codes is tested in
test_pam_*.py."""

import concurrent.futures
import os
import pwd
import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from sectx_harness import Conn, Sectxd, field, make_public_tmpdir, run, u32

OP_AUTH, OP_ACCT, OP_CHAUTHTOK, OP_SETCRED, OP_OPEN, OP_CLOSE = (
    0x0201, 0x0202, 0x0203, 0x0204, 0x0205, 0x0206)
T_USER, T_PASSWORD, T_SERVICE, T_RHOST, T_HANDLE, T_RESULT = (
    0x0201, 0x0202, 0x0203, 0x0204, 0x0206, 0x0207)
T_USER_INFO, T_USER_ERROR, T_PHASE, T_OLD, T_NEW, T_CRED_FLAG, T_CCACHE = (
    0x0208, 0x0209, 0x020a, 0x020b, 0x020c, 0x020d, 0x020e)
SUCCESS, IGNORE, AUTH_ERR, USER_UNKNOWN, AUTHINFO_UNAVAIL = 0, 1, 2, 3, 4
NEW_AUTHTOK_REQD, CRED_ERR, AUTHTOK_ERR, AUTHTOK_RECOVERY_ERR = 7, 12, 10, 11

HOST = "host/sectx-test.localdomain"


def s(tag, text):
    return field(tag, text.encode())


def authenticate(d, user, password, service="login", rhost="", timeout=15):
    with Conn(d.pam_sock, timeout=timeout) as c:
        return c.request(OP_AUTH, s(T_USER, user), s(T_PASSWORD, password),
                         s(T_SERVICE, service), s(T_RHOST, rhost))


def pam_op(d, op, user, handle, *extra, service="login"):
    with Conn(d.pam_sock, timeout=15) as c:
        fields = [s(T_USER, user), s(T_SERVICE, service)]
        if handle is not None:
            fields.append(s(T_HANDLE, handle))
        return c.request(op, *fields, *extra)


@pytest.fixture(scope="module")
def keytab(realm):
    """A host keytab with the current keys of HOST, in a public temp dir."""
    d = make_public_tmpdir("sectx-kt-")
    path = os.path.join(d, "krb5.keytab")
    realm.addprinc(HOST, randkey=True)
    realm.ktadd(HOST, path)
    yield path
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def helper(bins, realm, keytab):
    """make(**kerberos_keys) -> a started sectxd for the realm."""
    made = []

    def make(env=None, **kerberos):
        keys = {"keytab": keytab, "kdc_timeout": "3s"}
        keys.update(kerberos)
        d = Sectxd(bins.sectxd, bins.sectxctl, env=dict(realm.env(), **(env or {})),
                   sections={"kerberos": keys}, log_level="debug")
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.close()


@pytest.fixture
def user(realm):
    """A local user (useradd) whose name is a principal of the realm with a
    known password.  Removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creates a local user with useradd")
    name = "sx" + secrets.token_hex(4)
    password = "Pw-" + secrets.token_urlsafe(12)
    realm.addprinc(name, password=password)
    run(["useradd", "--no-create-home", "--shell", "/bin/sh", name]).check_returncode()
    yield name, password
    run(["userdel", name])


def test_correct_password_gives_a_handle(helper, realm):
    realm.addprinc("alice", password="alice-Pw-1")
    d = helper()
    r = authenticate(d, "alice", "alice-Pw-1")
    assert r.status == 0 and r.u32(T_RESULT) == SUCCESS, r
    handle = r.get(T_HANDLE).decode()
    assert len(handle) == 64 and int(handle, 16) >= 0
    assert "validated with the host key of " + HOST in d.log_text()


def test_wrong_password_and_unknown_user_look_the_same(helper, realm):
    realm.addprinc("bob", password="bob-Pw-1")
    d = helper()
    wrong = authenticate(d, "bob", "not-bobs-password")
    unknown = authenticate(d, "nosuchuser-Tr1ckyPassw0rd", "whatever")
    assert wrong.u32(T_RESULT) == AUTH_ERR, wrong
    assert unknown.u32(T_RESULT) == USER_UNKNOWN, unknown
    assert wrong.get(T_USER_ERROR) == unknown.get(T_USER_ERROR)
    # an unknown name may be a password typed into the wrong field
    assert "nosuchuser-Tr1ckyPassw0rd" not in d.log_text()


def test_disabled_principal_refused(helper, realm):
    realm.addprinc("carol", password="carol-Pw-1", extra_args=("-allow_tix",))
    d = helper()
    r = authenticate(d, "carol", "carol-Pw-1")
    assert r.u32(T_RESULT) == AUTH_ERR, r
    assert "revoked" in d.log_text().lower() or "disabled" in d.log_text().lower()


def test_keytab_with_wrong_key_refuses_login(helper, realm, keytab, tmp_path):
    """Validation: a TGT the host cannot verify with its own key (as from a
    spoofed KDC) logs nobody in, and the log says why."""
    realm.addprinc("dave", password="dave-Pw-1")
    stale = make_public_tmpdir("sectx-stalekt-")
    try:
        path = os.path.join(stale, "krb5.keytab")
        shutil.copy(keytab, path)
        realm.kadmin(f"cpw -randkey {HOST}")  # the KDC's key moves on; ours is stale
        d = helper(keytab=path)
        r = authenticate(d, "dave", "dave-Pw-1")
        assert r.u32(T_RESULT) == AUTH_ERR, r
        assert "TGT validation failed with the host key of " + HOST in d.log_text()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        realm.ktadd(HOST, keytab)  # later tests use the current key again


def test_keytab_with_current_key_still_works_after_rekey(helper, realm, keytab):
    realm.addprinc("erin", password="erin-Pw-1")
    d = helper()
    assert authenticate(d, "erin", "erin-Pw-1").u32(T_RESULT) == SUCCESS


def test_expired_password_right_password_then_change(helper, realm):
    realm.addprinc("frank", password="frank-Pw-1", extra_args=("+needchange",))
    d = helper()
    r = authenticate(d, "frank", "frank-Pw-1")
    assert r.u32(T_RESULT) == SUCCESS, r
    handle = r.get(T_HANDLE).decode()
    acct = pam_op(d, OP_ACCT, "frank", handle)
    assert acct.u32(T_RESULT) == NEW_AUTHTOK_REQD, acct
    # no session before the password is changed
    assert pam_op(d, OP_OPEN, "frank", handle).u32(T_RESULT) == CRED_ERR
    upd = pam_op(d, OP_CHAUTHTOK, "frank", handle, u32(T_PHASE, 2),
                 s(T_OLD, "frank-Pw-1"), s(T_NEW, "frank-New-Pw-2"))
    assert upd.u32(T_RESULT) == SUCCESS, upd
    assert pam_op(d, OP_ACCT, "frank", handle).u32(T_RESULT) == SUCCESS
    assert authenticate(d, "frank", "frank-New-Pw-2").u32(T_RESULT) == SUCCESS
    assert authenticate(d, "frank", "frank-Pw-1").u32(T_RESULT) == AUTH_ERR


def test_expired_password_wrong_password_refused(helper, realm):
    """KEY_EXP comes before preauth: it must not let a wrong password in."""
    realm.addprinc("gina", password="gina-Pw-1", extra_args=("+needchange",))
    d = helper()
    r = authenticate(d, "gina", "not-ginas-password")
    assert r.u32(T_RESULT) == AUTH_ERR, r


def test_expired_password_on_host_with_wrong_key_refused(helper, realm, keytab):
    """The expired-password login ends with a fresh, validated TGT: with a
    stale host key the change may happen but the login is refused."""
    realm.addprinc("hank", password="hank-Pw-1", extra_args=("+needchange",))
    stale = make_public_tmpdir("sectx-stalekt-")
    try:
        path = os.path.join(stale, "krb5.keytab")
        shutil.copy(keytab, path)
        realm.kadmin(f"cpw -randkey {HOST}")
        d = helper(keytab=path)
        r = authenticate(d, "hank", "hank-Pw-1")
        handle = r.get(T_HANDLE).decode()
        upd = pam_op(d, OP_CHAUTHTOK, "hank", handle, u32(T_PHASE, 2),
                     s(T_OLD, "hank-Pw-1"), s(T_NEW, "hank-New-Pw-2"))
        assert upd.u32(T_RESULT) != SUCCESS, upd
        assert pam_op(d, OP_OPEN, "hank", handle).u32(T_RESULT) != SUCCESS
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        realm.ktadd(HOST, keytab)


def test_policy_rejection_text_reaches_the_user(helper, realm):
    realm.kadmin("addpol -minlength 12 -minclasses 3 strict")
    realm.addprinc("ivan", password="ivan-Pw-1-long", extra_args=("-policy", "strict"))
    d = helper()
    r = pam_op(d, OP_CHAUTHTOK, "ivan", None, u32(T_PHASE, 2),
               s(T_OLD, "ivan-Pw-1-long"), s(T_NEW, "short"))
    assert r.u32(T_RESULT) == AUTHTOK_ERR, r
    text = r.get(T_USER_ERROR).decode()
    assert "too short" in text.lower() or "policy" in text.lower(), text


def test_password_expiring_soon_is_announced_at_account(helper, realm):
    def days_ahead(n):  # a date kadmin parses, midnight n days from now
        return time.strftime("%Y-%m-%d", time.localtime(time.time() + n * 86400))

    realm.addprinc("pat", password="pat-Pw-1", extra_args=("-pwexpire", days_ahead(3)))
    realm.addprinc("quin", password="quin-Pw-1", extra_args=("-pwexpire", days_ahead(30)))
    d = helper(pwd_expire_warning="7")
    h = authenticate(d, "pat", "pat-Pw-1").get(T_HANDLE).decode()
    acct = pam_op(d, OP_ACCT, "pat", h)
    assert acct.u32(T_RESULT) == SUCCESS, acct
    info = acct.get(T_USER_INFO).decode()
    assert "password will expire in 2 days" in info or "expire in 3 days" in info, info
    h = authenticate(d, "quin", "quin-Pw-1").get(T_HANDLE).decode()
    acct = pam_op(d, OP_ACCT, "quin", h)
    assert acct.u32(T_RESULT) == SUCCESS and T_USER_INFO not in dict(acct.fields), acct


def test_wrong_old_password_refused_for_change(helper, realm):
    realm.addprinc("judy", password="judy-Pw-1")
    d = helper()
    r = pam_op(d, OP_CHAUTHTOK, "judy", None, u32(T_PHASE, 1), s(T_OLD, "wrong"))
    assert r.u32(T_RESULT) == AUTHTOK_RECOVERY_ERR, r


def test_fast_armour_used_when_the_kdc_supports_it(helper, realm):
    realm.addprinc("kim", password="kim-Pw-1")
    d = helper(fast="demand")
    r = authenticate(d, "kim", "kim-Pw-1")
    assert r.u32(T_RESULT) == SUCCESS, r
    assert "FAST armour ticket obtained with the host keytab" in d.log_text()


def test_concurrent_logins_share_the_fast_armour_safely(helper, realm):
    """32 logins at once on a fresh helper, FAST demanded: they all fetch
    the armour ticket together, and a login must never lose the armour it
    armours with when another replaces it."""
    # preauth required: a second AS round trip, for which libkrb5 reads the
    # armour ccache again
    realm.addprinc("rita", password="rita-Pw-1", extra_args=("+requires_preauth",))
    # An armour ticket shorter than the helper's 5-minute margin: every login
    # fetches a fresh one and replaces the shared one while others use it.
    realm.kadmin(f"modprinc -maxlife 4m {HOST}")
    try:
        d = helper(fast="demand")
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            replies = list(pool.map(lambda _: authenticate(d, "rita", "rita-Pw-1"), range(64)))
        assert [r.u32(T_RESULT) for r in replies] == [SUCCESS] * 64, d.log_tail()
    finally:
        realm.kadmin(f"modprinc -maxlife 10h {HOST}")


def test_kdc_stopped_gives_authinfo_unavail_within_the_timeout(bins, realm, keytab):
    """A dead realm (port closed): AUTHINFO_UNAVAIL, well within kdc_timeout
    plus slack; this proves the bound, it is not a benchmark."""
    realm.addprinc("lena", password="lena-Pw-1")
    env = dict(realm.env())
    # a krb5.conf whose KDC port nobody listens on
    dead = make_public_tmpdir("sectx-dead-")
    try:
        conf = open(realm.krb5_conf).read().replace(f":{realm.kdc_port}", ":1")
        path = os.path.join(dead, "krb5.conf")
        open(path, "w").write(conf)
        env["KRB5_CONFIG"] = path
        d = Sectxd(bins.sectxd, bins.sectxctl, env=env,
                   sections={"kerberos": {"keytab": keytab, "kdc_timeout": "2s"}}).start()
        try:
            t0 = time.monotonic()
            r = authenticate(d, "lena", "lena-Pw-1")
            assert r.u32(T_RESULT) == AUTHINFO_UNAVAIL, r
            assert time.monotonic() - t0 < 2 + 3
        finally:
            d.close()
    finally:
        shutil.rmtree(dead, ignore_errors=True)


class StallFirstProxy:
    """A KDC in front of the real one (TCP, loopback) that swallows the first
    connection (accepts it and never answers: a black hole) and relays every
    later one to the real KDC."""

    def __init__(self, kdc_port):
        self.kdc_port = kdc_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _relay(self, c):
        with c, socket.create_connection(("127.0.0.1", self.kdc_port), timeout=10) as k:
            c.settimeout(10)
            n = struct.unpack(">I", c.recv(4, socket.MSG_WAITALL))[0]
            k.sendall(struct.pack(">I", n) + c.recv(n, socket.MSG_WAITALL))
            m = struct.unpack(">I", k.recv(4, socket.MSG_WAITALL))[0]
            c.sendall(struct.pack(">I", m) + k.recv(m, socket.MSG_WAITALL))

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            if not self.held:
                self.held.append(c)  # the black hole
            else:
                threading.Thread(target=self._relay, args=(c,), daemon=True).start()

    def close(self):
        self.stop = True
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


def test_black_hole_kdc_does_not_delay_other_logins_or_status(bins, realm, keytab):
    """One login waits on a KDC connection that never answers; a second
    login and sectxctl status are served meanwhile, and the first ends in
    AUTHINFO_UNAVAIL at its deadline."""
    realm.addprinc("mia", password="mia-Pw-1")
    realm.addprinc("noah", password="noah-Pw-1")
    proxy = StallFirstProxy(realm.kdc_port)
    d = make_public_tmpdir("sectx-hole-")
    try:
        conf = open(realm.krb5_conf).read().replace(f"kdc = 127.0.0.1:{realm.kdc_port}",
                                                     f"kdc = 127.0.0.1:{proxy.port}")
        path = os.path.join(d, "krb5.conf")
        open(path, "w").write(conf)
        helper_ = Sectxd(bins.sectxd, bins.sectxctl, env=dict(realm.env(), KRB5_CONFIG=path),
                         sections={"kerberos": {"keytab": keytab, "kdc_timeout": "5s",
                                                "fast": "never"}}).start()
        try:
            stuck = {}
            t = threading.Thread(
                target=lambda: stuck.setdefault("r", authenticate(helper_, "mia", "mia-Pw-1")))
            t0 = time.monotonic()
            t.start()
            while not proxy.held and time.monotonic() - t0 < 5:
                time.sleep(0.02)
            assert proxy.held, "the first login never reached the black hole"
            r = helper_.ctl("--timeout", "1000", "status")
            assert r.returncode == 0, r.stderr
            other = authenticate(helper_, "noah", "noah-Pw-1")
            assert other.u32(T_RESULT) == SUCCESS, other
            assert time.monotonic() - t0 < 4, "the second login waited for the first"
            t.join(15)
            assert stuck["r"].u32(T_RESULT) == AUTHINFO_UNAVAIL, stuck["r"]
        finally:
            helper_.close()
    finally:
        proxy.close()
        shutil.rmtree(d, ignore_errors=True)


def test_repeated_failures_are_delayed_in_the_helper(helper, realm):
    """After failure_delay_after failures the next attempt waits in the
    helper before it reaches the KDC (so sshd brute force does not lock the
    account at the KDC)."""
    realm.addprinc("ned", password="ned-Pw-1")
    d = helper(failure_delay_after="2", failure_delay_max="2s")
    for _ in range(2):
        assert authenticate(d, "ned", "wrong").u32(T_RESULT) == AUTH_ERR
    t0 = time.monotonic()
    assert authenticate(d, "ned", "wrong").u32(T_RESULT) == AUTH_ERR
    assert time.monotonic() - t0 >= 0.9
    assert "delaying authentication of ned" in d.log_text()


def test_session_writes_ccache_as_the_user(helper, user):
    name, password = user
    d = helper()
    r = authenticate(d, name, password)
    handle = r.get(T_HANDLE).decode()
    o = pam_op(d, OP_OPEN, name, handle)
    assert o.u32(T_RESULT) == SUCCESS, o
    ccache = o.get(T_CCACHE).decode()
    assert ccache.startswith("FILE:/tmp/krb5cc_")
    path = ccache[5:]
    st = os.stat(path)
    pw = pwd.getpwnam(name)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (pw.pw_uid, pw.pw_gid, 0o600)
    k = run(["klist", "-c", ccache], uid=name)
    assert f"{name}@SECTX.TEST" in k.stdout, k.stderr
    # open again (sshd's session child): same cache, idempotent
    again = pam_op(d, OP_SETCRED, name, handle, u32(T_CRED_FLAG, 1))
    assert again.get(T_CCACHE).decode() == ccache
    c = pam_op(d, OP_CLOSE, name, handle)
    assert c.u32(T_RESULT) == SUCCESS, c
    assert not os.path.exists(path)


def test_handle_of_one_user_cannot_be_claimed_for_another(helper, realm, user):
    name, password = user
    d = helper()
    handle = authenticate(d, name, password).get(T_HANDLE).decode()
    other = pam_op(d, OP_OPEN, "root", handle)
    assert other.u32(T_RESULT) != SUCCESS, other
    other = pam_op(d, OP_OPEN, name, handle, service="sshd")
    assert other.u32(T_RESULT) != SUCCESS, other
    assert "refused" in d.log_text()


def test_no_handle_means_ignore(helper, user):
    name, _ = user
    d = helper()
    assert pam_op(d, OP_OPEN, name, None).u32(T_RESULT) == IGNORE
    assert pam_op(d, OP_ACCT, name, None).u32(T_RESULT) == IGNORE


def test_non_root_may_authenticate_only_itself(helper, realm, user):
    name, password = user
    realm.addprinc("olga", password="olga-Pw-1")
    d = helper()
    me = run(["/usr/bin/python3", "-c", _AS_CLIENT, d.pam_sock, name, password], uid=name)
    assert me.stdout.strip() == "0", me.stderr
    other = run(["/usr/bin/python3", "-c", _AS_CLIENT, d.pam_sock, "olga", "olga-Pw-1"],
                uid=name)
    assert other.stdout.strip() == "E4", other.stderr  # SECTX_E_PERM


def test_planted_symlink_at_the_ccache_path_is_not_followed(helper, user, tmp_path):
    """A user cannot make the helper write through a link: the cache is
    written as the user, at a fresh random name."""
    name, password = user
    target = tmp_path / "root-owned"
    target.write_text("precious")
    d = helper()
    handle = authenticate(d, name, password).get(T_HANDLE).decode()
    pw = pwd.getpwnam(name)
    # plant links at every plausible name before the session opens
    planted = []
    for i in range(20):
        p = f"/tmp/krb5cc_{pw.pw_uid}_{i:06d}"
        try:
            os.symlink(str(target), p)
            planted.append(p)
        except FileExistsError:
            pass
    try:
        o = pam_op(d, OP_OPEN, name, handle)
        assert o.u32(T_RESULT) == SUCCESS, o
        assert target.read_text() == "precious"
        assert not os.path.islink(o.get(T_CCACHE).decode()[5:])
    finally:
        for p in planted:
            os.unlink(p)
        pam_op(d, OP_CLOSE, name, handle)


def test_realm_user_without_local_account_gets_a_session(bins, realm, keytab):
    """A realm user mapped by [identity] auto_id, with no entry in /etc/passwd:
    the helper resolves it through its identity store (the NSS module does not
    answer inside the helper) and writes the ccache as the mapped uid."""
    if os.geteuid() != 0:
        pytest.skip("reads a ccache as the mapped uid with setpriv")
    realm.addprinc("uma", password="uma-Pw-1")
    d = Sectxd(bins.sectxd, bins.sectxctl, env=realm.env(),
               sections={"kerberos": {"keytab": keytab, "kdc_timeout": "3s"},
                         "identity": {"auto_id": "true", "id_range": "700000-799999"}},
               log_level="debug").start()
    try:
        with pytest.raises(KeyError):
            pwd.getpwnam("uma")  # not a local account
        handle = authenticate(d, "uma", "uma-Pw-1").get(T_HANDLE).decode()
        o = pam_op(d, OP_OPEN, "uma", handle)
        assert o.u32(T_RESULT) == SUCCESS, (o, d.log_tail())
        path = o.get(T_CCACHE).decode()[5:]
        st = os.stat(path)
        assert 700000 <= st.st_uid <= 799999 and st.st_mode & 0o777 == 0o600, st
        k = subprocess.run(["setpriv", f"--reuid={st.st_uid}", f"--regid={st.st_gid}",
                            "--clear-groups", "klist", "-c", "FILE:" + path],
                           capture_output=True, text=True, timeout=30)
        assert "uma@SECTX.TEST" in k.stdout, k.stderr
        assert pam_op(d, OP_CLOSE, "uma", handle).u32(T_RESULT) == SUCCESS
        assert not os.path.exists(path)
    finally:
        d.close()


_AS_CLIENT = r"""
import socket, struct, sys
sock, user, pw = sys.argv[1:4]
def f(t, v): return struct.pack(">HI", t, len(v)) + v
body = f(0x0201, user.encode()) + f(0x0202, pw.encode()) + f(0x0203, b"login")
s = socket.socket(socket.AF_UNIX); s.connect(sock)
s.sendall(struct.pack(">IHHI", 12 + len(body), 1, 0x0201, 9) + body)
hdr = s.recv(12, socket.MSG_WAITALL); n = struct.unpack(">I", hdr[:4])[0]
data = s.recv(n - 12, socket.MSG_WAITALL); off = 0; fields = {}
while off < len(data):
    t, l = struct.unpack_from(">HI", data, off); fields[t] = data[off+6:off+6+l]; off += 6 + l
st = struct.unpack(">I", fields[1])[0]
print(struct.unpack(">I", fields[0x0207])[0] if st == 0 else "E%d" % st)
"""
