"""The ccache writer writes and destroys a user's credential cache with the
user's own rights: mode 0600 and the user's uid and gid, never following a
link or writing where the user may not, refusing cache types that belong to
the login process, destroying only a cache with the expected principal, and
surviving a killed writer and a job that hangs; building every new cache
where no other user can take its name, and needing no Kerberos
configuration as the user.

The tests drive helper/ccache_writer/ through tests/integration/writer_driver
(built beside sectxd: $SECTX_BUILDDIR/tests/integration/writer_driver, or the
path in $SECTX_WRITER_DRIVER), as root, with users made by useradd for each
test and removed by userdel -r in the finalizer.
"""

import collections
import contextlib
import ctypes
import glob
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from sectx_harness import (as_user, make_public_tmpdir, pids_of_uid, require_root, run,
                           write_locked)

User = collections.namedtuple("User", "name uid gid principal source")

DRIVER_ENV = "SECTX_WRITER_DRIVER"


@pytest.fixture(scope="module")
def driver():
    """Path of the built writer_driver (missing is a failure, not a skip)."""
    require_root("writes caches as other users and creates them with useradd")
    path = os.environ.get(DRIVER_ENV)
    if not path:
        builddir = os.environ.get("SECTX_BUILDDIR")
        if not builddir:
            pytest.fail(f"neither {DRIVER_ENV} nor SECTX_BUILDDIR is set", pytrace=False)
        path = os.path.join(builddir, "tests", "integration", "writer_driver")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"not built: {path}", pytrace=False)
    return path


@pytest.fixture
def make_group():
    """make() -> name of a new group; all are removed at the end."""
    made = []

    def make():
        name = "sxg" + secrets.token_hex(4)
        r = run(["groupadd", name])
        assert r.returncode == 0, r.stderr
        made.append(name)
        return name

    yield make
    for name in made:
        run(["groupdel", name])


@pytest.fixture
def make_user(realm, make_group):
    """make(groups=()) -> a User with a home, a principal of the same name
    and that principal's TGT in a root-owned source ccache.  Every user is
    removed (userdel -r) with whatever it left in /tmp."""
    made = []

    def make(groups=()):
        name = "sxw" + secrets.token_hex(4)
        args = ["useradd", "-m", "-s", "/usr/sbin/nologin"]
        if groups:
            args += ["-G", ",".join(groups)]
        r = run(args + [name])
        assert r.returncode == 0, r.stderr
        made.append(name)
        pw = pwd.getpwnam(name)
        password = realm.addprinc(name)
        source = f"FILE:{realm.dir}/source-{name}"
        k = realm.kinit(name, password, source)
        assert k.returncode == 0, k.stderr
        return User(name, pw.pw_uid, pw.pw_gid, f"{name}@{realm.realm}", source)

    yield make
    for name in made:
        uid = pwd.getpwnam(name).pw_uid
        for pid in pids_of_uid(uid):
            os.kill(pid, signal.SIGKILL)
        for entry in os.scandir("/tmp"):
            try:  # other tests create and remove files in /tmp meanwhile
                if entry.stat(follow_symlinks=False).st_uid == uid and not entry.is_dir(
                        follow_symlinks=False):
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass
        r = run(["userdel", "-r", name])
        assert r.returncode == 0, r.stderr


@pytest.fixture
def scratch():
    """A public (0755, root-owned) directory, removed at the end."""
    path = make_public_tmpdir("sectx-writer-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def user_dir(parent, user, mode=0o700):
    """A directory under parent owned by user."""
    path = os.path.join(parent, user.name)
    os.mkdir(path)
    os.chown(path, user.uid, user.gid)
    os.chmod(path, mode)
    return path


def store(user, template, source=None):
    return ("store", user.name, source or user.source, template)


def destroy(user, name, principal=None):
    return ("destroy", user.name, name, principal or user.principal)


def drive(driver, realm, *jobs, timeout_ms=None, concurrent=False, log_level=None, env=None,
          cpu=None):
    """Run the driver with jobs (in realm.env() updated with env; on that
    cpu only if given); returns (CompletedProcess, stdout lines)."""
    argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [driver]
    argv += ["--concurrent"] if concurrent else []
    if timeout_ms is not None:
        argv += ["--timeout-ms", str(timeout_ms)]
    if log_level is not None:
        argv += ["--log-level", log_level]
    for job in jobs:
        argv += [str(a) for a in job]
    r = run(argv, env=dict(realm.env(), **(env or {})), timeout=120)
    assert r.returncode in (0, 1), f"driver failed ({r.returncode}): {r.stderr}"
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    return r, r.stdout.splitlines()


def stored_name(line):
    m = re.fullmatch(r"store ok (\S+)", line)
    assert m, line
    return m.group(1)


def klist_as(realm, user, name, *args):
    """klist of cache name (or of the collection KRB5CCNAME=name with -l/-A),
    run as user."""
    env = realm.env()
    env["KRB5CCNAME"] = name
    return run(["klist", *args], env=env, uid=user.name)


def assert_user_cache_file(path, user):
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)


def assert_lists(realm, user, name):
    listing = klist_as(realm, user, name)
    assert listing.returncode == 0, listing.stderr
    assert f"Default principal: {user.principal}" in listing.stdout
    assert f"krbtgt/{realm.realm}@{realm.realm}" in listing.stdout


def test_file_cache_is_written_as_the_user_with_mode_0600(driver, realm, make_user):
    u = make_user()

    r, out = drive(driver, realm, store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"))

    assert len(out) == 1, r.stderr
    name = stored_name(out[0])
    m = re.fullmatch(rf"FILE:/tmp/krb5cc_{u.uid}_([A-Za-z0-9]{{6}})", name)
    assert m and "X" not in m.group(1), name
    assert_user_cache_file(name[5:], u)
    assert_lists(realm, u, name)
    assert not glob.glob("/tmp/.sectx-cc.*"), "a temp file was left behind"


def test_exact_file_name_is_replaced_by_rename(driver, realm, make_user, scratch):
    u = make_user()
    d = user_dir(scratch, u)
    expected = f"FILE:{d}/cc_{u.name}"

    _, out = drive(driver, realm, store(u, f"FILE:{d}/cc_%u"))
    assert out == [f"store ok {expected}"]
    first = os.lstat(expected[5:]).st_ino
    _, out = drive(driver, realm, store(u, expected))

    assert out == [f"store ok {expected}"]
    assert os.lstat(expected[5:]).st_ino != first, "rewritten in place, not renamed"
    assert_user_cache_file(expected[5:], u)
    assert_lists(realm, u, expected)
    assert os.listdir(d) == [f"cc_{u.name}"], "a temp file was left behind"


def test_cache_of_another_principal_is_neither_replaced_nor_destroyed(driver, realm, make_user,
                                                                       scratch):
    u, other = make_user(), make_user()
    d = user_dir(scratch, u)
    name = f"FILE:{d}/cc"
    # u's cache now holds other's tickets (as if u had run kinit other).
    _, out = drive(driver, realm, store(u, name, source=other.source))
    assert out == [f"store ok {name}"]

    _, out = drive(driver, realm, store(u, name), destroy(u, name),
                   destroy(u, name, principal=other.principal), destroy(u, name))

    assert out[0].startswith("store error ESTALE"), out
    assert out[1].startswith("destroy error ESTALE"), out
    assert out[2] == "destroy ok"
    assert out[3].startswith("destroy error ENOENT"), out
    assert not os.path.exists(name[5:])


@pytest.mark.parametrize("where", ["user-dir", "sticky-dir"])
def test_symlink_at_exact_path_is_not_followed(driver, realm, make_user, scratch, where):
    u = make_user()
    if where == "user-dir":
        d = user_dir(scratch, u)
    else:
        d = os.path.join(scratch, "sticky")
        os.mkdir(d)
        os.chmod(d, 0o1777)
    precious = os.path.join(scratch, "precious")
    with open(precious, "w") as f:
        f.write("root's file\n")
    os.chmod(precious, 0o644)
    before = os.stat(precious)
    link = os.path.join(d, "cc")
    os.symlink(precious, link)

    _, out = drive(driver, realm, store(u, f"FILE:{link}"), destroy(u, f"FILE:{link}"))

    with open(precious) as f:
        assert f.read() == "root's file\n"
    after = os.stat(precious)
    assert (after.st_mode, after.st_uid, after.st_size, after.st_mtime_ns) == \
        (before.st_mode, before.st_uid, before.st_size, before.st_mtime_ns)
    if out[0].startswith("store ok"):
        assert_user_cache_file(link, u)  # only the link was replaced
    else:
        assert out[0].startswith("store error EEXIST"), out
        assert os.path.islink(link)
        assert out[1].startswith("destroy error ESTALE"), out


def test_directory_the_user_cannot_write_fails_cleanly(driver, realm, make_user, scratch):
    u = make_user()

    _, out = drive(driver, realm, store(u, f"FILE:{scratch}/cc_%U_XXXXXX"),
                   store(u, f"FILE:{scratch}/cc_%U"), store(u, f"DIR:{scratch}/coll"))

    assert [line.split(":")[0] for line in out] == ["store error EACCES"] * 3, out
    assert os.listdir(scratch) == []


def test_job_has_the_users_supplementary_groups(driver, realm, make_user, make_group,
                                                scratch):
    g = make_group()
    member, outsider = make_user(groups=[g]), make_user()
    d = os.path.join(scratch, "shared")
    os.mkdir(d)
    os.chown(d, 0, grp.getgrnam(g).gr_gid)
    os.chmod(d, 0o770)

    _, out = drive(driver, realm, store(member, f"FILE:{d}/cc_%U_XXXXXX"),
                   store(outsider, f"FILE:{d}/cc_%U_XXXXXX"))

    assert_user_cache_file(stored_name(out[0])[5:], member)
    assert out[1].startswith("store error EACCES"), out


def test_dir_collection_gets_a_new_primary_subsidiary(driver, realm, make_user):
    u = make_user()
    collection = f"/home/{u.name}/krb5cc"

    _, out = drive(driver, realm, store(u, "DIR:/home/%u/krb5cc"), store(u, f"DIR:{collection}"))

    first, second = stored_name(out[0]), stored_name(out[1])
    assert first != second
    for name in (first, second):
        assert re.fullmatch(rf"DIR::{collection}/tkt\w+", name), name
        assert_user_cache_file(name[5:], u)
    st = os.lstat(collection)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert (st.st_uid, st.st_gid) == (u.uid, u.gid)
    primary = klist_as(realm, u, f"DIR:{collection}")
    assert primary.returncode == 0, primary.stderr
    assert f"Ticket cache: {second}" in primary.stdout
    assert f"Default principal: {u.principal}" in primary.stdout

    _, out = drive(driver, realm, destroy(u, first), destroy(u, f"DIR:{collection}"))

    assert out[0] == "destroy ok"
    assert out[1].startswith("destroy error EINVAL"), out  # never a whole collection
    assert not os.path.exists(first[5:])
    assert os.path.exists(second[5:])
    assert_lists(realm, u, second)


def test_keyring_persistent_is_written_and_destroyed(driver, realm, make_user):
    u = make_user()
    try:
        r, out = drive(driver, realm, store(u, "KEYRING:persistent:%U"))
        if out[0].startswith("store error EOPNOTSUPP"):
            reason = [l for l in r.stderr.splitlines() if "keyrings are not available" in l]
            pytest.skip(reason[0].split(": ", 1)[-1] if reason else out[0])
        name = stored_name(out[0])
        assert re.fullmatch(rf"KEYRING:persistent:{u.uid}:[\w.-]+", name), name
        assert_lists(realm, u, name)

        _, out = drive(driver, realm, store(u, name), destroy(u, name, principal="nobody"),
                       destroy(u, name))

        assert out[0] == f"store ok {name}"
        assert out[1].startswith("destroy error ESTALE"), out
        assert out[2] == "destroy ok"
        assert klist_as(realm, u, name).returncode != 0
    finally:
        env = realm.env()
        env["KRB5CCNAME"] = f"KEYRING:persistent:{u.uid}"
        run(["kdestroy", "-A"], env=env, uid=u.name)


REFUSED = [
    "KEYRING:session", "KEYRING:session:x", "KEYRING:user:x", "KEYRING:process:x",
    "KEYRING:thread:x", "KEYRING:legacy", "KEYRING:persistent:0", "MEMORY:x", "API:x", "KCM:",
    "/tmp/krb5cc_plain", "FILE:relative", "FILE:/tmp/../etc/cc", "DIR:tmp/x", "FILE:/tmp/%x",
]


def test_caches_the_user_does_not_own_are_refused(driver, realm, make_user):
    u = make_user()

    r, out = drive(driver, realm, *[store(u, name) for name in REFUSED])

    assert len(out) == len(REFUSED), r.stderr
    for name, line in zip(REFUSED, out):
        assert line.startswith("store error EINVAL"), (name, line)
    assert "session, user, process and thread keyrings belong to the login process" in r.stderr
    assert not pids_of_uid(u.uid)


def test_root_is_never_written_as(driver, realm, make_user):
    u = make_user()

    r, out = drive(driver, realm, ("store", "root", u.source, "FILE:/tmp/krb5cc_%U_XXXXXX"))

    assert out[0].startswith("store error EINVAL"), out
    assert "never written as root" in r.stderr
    assert not glob.glob("/tmp/krb5cc_0_*")


def test_killed_writer_is_restarted_on_the_next_job(driver, realm, make_user):
    u = make_user()

    r, out = drive(driver, realm, ("pid",), ("kill-writer",), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                   ("pid",), ("kill-writer",), ("pid",), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"))

    first = int(out[0].split()[1])
    assert out[1] == f"kill-writer ok {first}"
    assert_lists(realm, u, stored_name(out[2]))
    second = int(out[3].split()[1])
    assert second not in (first, -1)
    assert out[4] == f"kill-writer ok {second}"
    assert_lists(realm, u, stored_name(out[6]))
    assert r.stderr.count("ccache writer restarted") == 2, r.stderr


def test_writer_runs_in_a_fresh_image_even_after_a_restart(driver, realm, make_user):
    """A restarted writer is forked from a helper that may hold other users'
    TGTs by then: it must re-execute the program, so nothing of the helper's
    memory reaches the processes that run as users."""
    u = make_user()
    # each look follows a served job: the writer is up in its image by then
    _, out = drive(driver, realm, store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"), ("writer-cmdline",),
                   ("kill-writer",), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                   ("writer-cmdline",))
    for line in (out[1], out[4]):
        assert line.startswith("cmdline sectxd-writer --sectx-ccache-writer "), out


def test_unresponsive_writer_is_killed_and_replaced(driver, realm, make_user):
    u = make_user()

    started = time.monotonic()
    r, out = drive(driver, realm, ("stop-writer",), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                   store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"), timeout_ms=1000)
    elapsed = time.monotonic() - started

    assert out[0].startswith("stop-writer ok"), out
    assert out[1].startswith("store error ETIMEDOUT"), out
    assert_lists(realm, u, stored_name(out[2]))
    assert "did not answer before the job's deadline" in r.stderr, r.stderr
    assert "ccache writer restarted" in r.stderr, r.stderr
    assert elapsed < 10, elapsed


def test_queued_jobs_of_several_users_all_complete(driver, realm, make_user, scratch):
    users = [make_user() for _ in range(3)]
    d = user_dir(scratch, users[0])

    _, out = drive(driver, realm, *[store(u, "FILE:/tmp/krb5cc_%U_XXXXXX") for u in users],
                   store(users[0], f"DIR:{d}/coll"), store(users[0], f"DIR:{d}/coll"),
                   concurrent=True)

    names = [stored_name(line) for line in out]
    assert len(set(names)) == 5, names
    for u, name in zip(users, names):
        assert_user_cache_file(name[5:], u)
        assert_lists(realm, u, name)


def _exact_cache(driver, realm, user, scratch):
    """Store user's cache at an exact path in a directory of theirs; its name."""
    d = user_dir(scratch, user)
    name = f"FILE:{d}/cc"
    _, out = drive(driver, realm, store(user, name))
    assert out == [f"store ok {name}"]
    return name


_AT_FDCWD = -100
_FAN_CLOEXEC, _FAN_CLASS_CONTENT = 0x1, 0x4
_FAN_MARK_ADD, _FAN_OPEN_PERM = 0x1, 0x10000


@contextlib.contextmanager
def _opens_blocked(path):
    """Every open(2) of path waits, in the kernel, until the with block ends
    (a fanotify permission event nobody answers; closing the group allows
    them all): a job that hangs, whatever else the writer checks first."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int,
                                   ctypes.c_char_p]
    fd = libc.fanotify_init(_FAN_CLASS_CONTENT | _FAN_CLOEXEC, os.O_RDONLY)
    if fd < 0:
        pytest.skip(f"no fanotify permission events here: {os.strerror(ctypes.get_errno())}")
    try:
        if libc.fanotify_mark(fd, _FAN_MARK_ADD, _FAN_OPEN_PERM, _AT_FDCWD,
                              os.fsencode(path)) != 0:
            pytest.fail(f"fanotify_mark {path}: {os.strerror(ctypes.get_errno())}")
        yield
    finally:
        os.close(fd)


def test_locked_cache_fails_at_once_and_delays_no_other_user(driver, realm, make_user, scratch):
    """A user holds a write lock on their own cache: libkrb5 would wait for
    it without limit, holding the one writer (and every other user's jobs
    queued behind) until the job's deadline.  The job fails at once instead,
    says why, leaves the cache alone, and the next user is served."""
    locked, other = make_user(), make_user()
    name = _exact_cache(driver, realm, locked, scratch)
    oname = f"FILE:{user_dir(scratch, other)}/cc"
    with write_locked(name[5:], locked.name):
        started = time.monotonic()
        r, out = drive(driver, realm, destroy(locked, name), store(locked, name),
                       store(other, oname), destroy(other, oname), timeout_ms=10000,
                       concurrent=True)
        elapsed = time.monotonic() - started

    assert out[0].startswith("destroy error EBUSY"), out
    assert out[1].startswith("store error EBUSY"), out
    assert out[2:] == [f"store ok {oname}", "destroy ok"], out
    assert f"{name[5:]} is locked by another process: not waiting for it" in r.stderr, r.stderr
    assert elapsed < 5, f"{elapsed:.1f} s: the locked cache held the writer"
    assert_lists(realm, locked, name)  # left alone, and readable once the lock is gone


def test_hung_job_is_killed_at_its_deadline(driver, realm, make_user, scratch):
    u = make_user()
    name = _exact_cache(driver, realm, u, scratch)
    with _opens_blocked(name[5:]):
        started = time.monotonic()
        _, out = drive(driver, realm, destroy(u, name), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                       timeout_ms=1500)
        elapsed = time.monotonic() - started

    assert out[0].startswith("destroy error ETIMEDOUT"), out
    assert_lists(realm, u, stored_name(out[1]))  # the same writer goes on
    assert elapsed < 10, elapsed
    assert os.path.exists(name[5:]), "destroyed although the job was killed"
    assert not pids_of_uid(u.uid), "the hung job's process survived"


def test_hung_job_holds_the_writer_for_a_short_bound_only(driver, realm, make_user, scratch):
    """Whatever holds a user's job up (a lock taken after the writer looked,
    a stopped process: the job runs as the user), the writer kills it after
    a short per-job bound, well before a long deadline, and serves the next
    user."""
    u, other = make_user(), make_user()
    name = _exact_cache(driver, realm, u, scratch)
    with _opens_blocked(name[5:]):
        started = time.monotonic()
        r, out = drive(driver, realm, destroy(u, name), store(other, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                       timeout_ms=30000, concurrent=True)
        elapsed = time.monotonic() - started

    assert out[0].startswith("destroy error ETIMEDOUT"), out
    assert "did not finish within 2000 ms" in r.stderr, r.stderr
    assert_lists(realm, other, stored_name(out[1]))
    assert elapsed < 10, f"{elapsed:.1f} s: the hung job held the writer to its deadline"
    assert os.path.exists(name[5:]), "destroyed although the job was killed"


def test_other_users_jobs_run_beside_a_hung_one(driver, realm, make_user, scratch):
    """Jobs of different users run in different writers at once: while one
    user's job hangs, other users' jobs finish; that user's next job waits
    for the hung one (one job per user at a time, in order)."""
    u, others = make_user(), [make_user() for _ in range(2)]
    name = _exact_cache(driver, realm, u, scratch)
    with _opens_blocked(name[5:]):
        r, out = drive(driver, realm, destroy(u, name), store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                       *[store(o, "FILE:/tmp/krb5cc_%U_XXXXXX") for o in others],
                       timeout_ms=30000, concurrent=True, log_level="debug")

    assert out[0].startswith("destroy error ETIMEDOUT"), out
    for who, line in zip([u] + others, out[1:]):
        assert_lists(realm, who, stored_name(line))
    log = r.stderr.splitlines()

    def first(text):
        return next(i for i, line in enumerate(log) if text in line)

    hung = first(f"cannot destroy {name} for user {u.name}")
    for o in others:
        assert first(f"for user {o.name} (uid") < hung, r.stderr
    assert first(f"wrote FILE:/tmp/krb5cc_{u.uid}_") > hung, r.stderr


def _proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _fd_targets(pid):
    return {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def test_job_runs_as_the_user_undumpable_without_the_helpers_descriptors(driver, realm,
                                                                          make_user, make_group,
                                                                          scratch):
    g = make_group()
    u = make_user(groups=[g])
    name = _exact_cache(driver, realm, u, scratch)
    with _opens_blocked(name[5:]):  # the job waits until the end of the block
        proc = subprocess.Popen([driver, "--timeout-ms", "20000", *destroy(u, name)],
                                env=realm.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while not pids_of_uid(u.uid) and time.monotonic() < deadline:
                time.sleep(0.02)
            (child,) = pids_of_uid(u.uid)
            status = _proc_status(child)
            writer = int(status["PPid"])
            writer_status = _proc_status(writer)
            child_fds, writer_fds = _fd_targets(child), _fd_targets(writer)
            child_owner = os.stat(f"/proc/{child}/status").st_uid
        except BaseException:
            proc.kill()
            proc.communicate(timeout=30)
            raise
    out, err = proc.communicate(timeout=30)

    assert status["Uid"].split() == [str(u.uid)] * 4
    assert status["Gid"].split() == [str(u.gid)] * 4
    assert set(status["Groups"].split()) == {str(u.gid), str(grp.getgrnam(g).gr_gid)}
    assert status["CapEff"] == "0000000000000000"
    assert child_owner == 0, "the user's job process is dumpable (ptrace-able by the user)"
    assert int(writer_status["PPid"]) == proc.pid
    assert int(writer_status["Threads"]) == 1
    # Its end of the pair, stdio, and (while a job runs) the job's result pipe.
    assert sorted(writer_fds) == [0, 1, 2, 3, 4], writer_fds
    assert writer_fds[3].startswith("socket:") and writer_fds[4].startswith("pipe:")
    assert writer_fds[0] == writer_fds[1] == "/dev/null"
    assert not [t for t in child_fds.values() if t.startswith("socket:")], child_fds
    assert out.strip() == "destroy ok", err  # the open went on, the job finished


# A local user racing the writer for the names it uses in a directory every
# user may write (a sticky /tmp).  It watches the directory with inotify and,
# as soon as a name it did not make is removed or renamed away, creates that
# name itself, in turn as an empty file and as a symlink to its bait file.
# It prints "ready" once watching, and on EOF on stdin one line of figures
# (JSON: names seen appearing and going, names taken, taken files someone
# wrote to), then removes what it made.  Run as the racing user.
_RACER = r"""
import ctypes, json, os, select, stat, struct, sys

IN_CREATE, IN_DELETE, IN_MOVED_FROM = 0x100, 0x200, 0x40
directory, bait = sys.argv[1], sys.argv[2]
dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
libc = ctypes.CDLL(None, use_errno=True)
ifd = libc.inotify_init1(os.O_CLOEXEC)
if ifd < 0 or libc.inotify_add_watch(ifd, os.fsencode(directory),
                                     IN_CREATE | IN_DELETE | IN_MOVED_FROM) < 0:
    print("error", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(2)
print("ready", flush=True)
mine, seen, gone, taken = set(), 0, 0, []


def take(name):
    if len(taken) % 2:
        os.symlink(bait, name, dir_fd=dfd)
    else:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dfd))


while True:
    ready, _, _ = select.select([ifd, 0], [], [])
    if ifd in ready:
        buf, off = os.read(ifd, 1 << 16), 0
        while off + 16 <= len(buf):
            _, mask, _, n = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16:off + 16 + n].split(b"\0", 1)[0].decode()
            off += 16 + n
            if not name or name in mine:
                continue
            if mask & IN_CREATE:
                seen += 1
                continue
            gone += 1
            try:
                take(name)
            except OSError:
                continue
            mine.add(name)
            taken.append(name)
    if 0 in ready and not os.read(0, 1):
        break
written = []  # its files (not links) that someone wrote to
for name in taken:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and st.st_size > 0:
            written.append(name)
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass
print(json.dumps({"seen": seen, "gone": gone, "taken": taken, "written": written}), flush=True)
"""


def _first_cpu():
    return min(os.sched_getaffinity(0))


@contextlib.contextmanager
def _racer(racer, directory, bait):
    """Run _RACER as user racer on directory, with real-time priority on
    _first_cpu() if this host allows it (then a job pinned to that CPU is
    preempted by the racer the moment a name goes, and a race there is won
    every time, not one time in thirty).  Yields a dict that gets the
    racer's figures (seen, gone, taken, written, realtime) when the block
    ends."""
    rt = ["chrt", "-f", "10", "taskset", "-c", str(_first_cpu())]
    figures = {"realtime": run(rt + ["true"]).returncode == 0}
    argv = (rt if figures["realtime"] else []) + as_user(racer.name)
    proc = subprocess.Popen(argv + [sys.executable, "-c", _RACER, directory, bait],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if line != "ready":
            pytest.skip(f"no inotify for the racer: {line}")
        yield figures
        proc.stdin.close()
        out = proc.stdout.read()
        assert proc.wait(timeout=30) == 0, out
        figures.update(json.loads(out))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


RACED_UNIQUE = 32  # new caches (FILE:...XXXXXX)
RACED_EXACT = 8    # rewrites of one exact name


def test_another_user_racing_for_names_in_a_sticky_dir_changes_nothing(driver, realm, make_user,
                                                                      scratch):
    """Issue 12, 5: libkrb5 creates a FILE cache by unlinking its name and
    creating it again (O_EXCL); in a directory every user may write, another
    user who takes the name in between made the session fail.  Now every
    name libkrb5 opens is in a directory of the user's own (mode 0700): the
    racer takes no name that matters, every cache is written, the user's,
    0600, holding the user's principal, within twice the time the same
    stores take with no racer, and the racer's bait is never written
    (O_EXCL: no link is followed)."""
    u, racer = make_user(), make_user()
    d = os.path.join(scratch, "sticky")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    bait = os.path.join(scratch, "bait")  # the racer's, writable by anybody
    with open(bait, "w"):
        pass
    os.chown(bait, racer.uid, racer.gid)
    os.chmod(bait, 0o666)
    jobs = [store(u, f"FILE:{d}/krb5cc_%U_XXXXXX")] * RACED_UNIQUE
    jobs += [store(u, f"FILE:{d}/cc_%U")] * RACED_EXACT

    started = time.monotonic()
    _, idle = drive(driver, realm, *jobs, cpu=_first_cpu())
    idle_s = time.monotonic() - started
    assert [line.split()[:2] for line in idle] == [["store", "ok"]] * len(jobs), idle
    with _racer(racer, d, bait) as figures:
        started = time.monotonic()
        r, out = drive(driver, realm, *jobs, cpu=_first_cpu())
        elapsed = time.monotonic() - started

    failed = [line for line in out if not line.startswith("store ok ")]
    print(f"stores: idle {len(idle)} in {idle_s:.2f} s; raced {len(out)} in {elapsed:.2f} s, "
          f"{len(failed)} failed; the racer (real-time: {figures['realtime']}) saw "
          f"{figures['seen']} names appear and {figures['gone']} go, and took "
          f"{len(figures['taken'])} of them")
    assert len(out) == len(jobs), r.stderr
    assert os.path.getsize(bait) == 0, "a cache was written through the racer's link"
    assert not figures["written"], f"a cache was written into the racer's file: {figures}"
    assert not failed, f"{len(failed)} of {len(jobs)} failed: {failed}\n{r.stderr}"
    names = [stored_name(line) for line in out]
    assert len(set(names[:RACED_UNIQUE])) == RACED_UNIQUE, names
    assert set(names[RACED_UNIQUE:]) == {f"FILE:{d}/cc_{u.uid}"}, names
    for name in set(names):
        assert_user_cache_file(name[5:], u)
        assert_lists(realm, u, name)
    names += [stored_name(line) for line in idle]
    assert sorted(e.name for e in os.scandir(d) if e.stat(follow_symlinks=False).st_uid == u.uid) \
        == sorted(n[len(d) + 6:] for n in set(names)), "a temp file or directory was left behind"
    assert elapsed <= 2 * idle_s + 1, f"{elapsed:.2f} s raced against {idle_s:.2f} s idle"


def test_kerberos_config_readable_by_root_only_is_not_needed(driver, realm, make_user, scratch):
    """Issue 13, 5: KRB5_CONFIG (or /etc/krb5.conf) readable by root only
    (mode 0600) failed every job, as the child read it after dropping to
    the user.  The child reads no configuration: stores of every kind, a
    read with its TGT (renewal) and a destroy all work."""
    u = make_user()
    conf = os.path.join(scratch, "krb5.conf")
    shutil.copyfile(realm.krb5_conf, conf)
    os.chmod(conf, 0o600)
    assert run(["cat", conf], uid=u.name).returncode != 0, "the user can read the config"
    d = user_dir(scratch, u)

    r, out = drive(driver, realm, store(u, "FILE:/tmp/krb5cc_%U_XXXXXX"),
                   store(u, f"FILE:{d}/cc"), store(u, f"DIR:{d}/coll"), env={"KRB5_CONFIG": conf})

    assert [line.split()[:2] for line in out] == [["store", "ok"]] * 3, r.stderr
    unique, exact, member = (stored_name(line) for line in out)
    for name in (unique, exact, member):
        assert_user_cache_file(name[5:], u)
        assert_lists(realm, u, name)

    r, out = drive(driver, realm, ("read", u.name, exact), store(u, exact),
                   destroy(u, unique), destroy(u, member), env={"KRB5_CONFIG": conf})

    assert out == [f"read ok {u.principal} tgt", f"store ok {exact}", "destroy ok",
                   "destroy ok"], r.stderr
    assert not os.path.exists(unique[5:]) and not os.path.exists(member[5:])
