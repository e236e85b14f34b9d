"""A real OpenSSH sshd with UsePAM yes and pam_sectx.so: password and
keyboard-interactive logins of a realm user, two sessions over one
connection (ControlMaster), the session's credential cache (KRB5CCNAME, owned
by the user, usable by klist, no SECTX_LOGIN_HANDLE beside it), the cache
destroyed at logout, and a wrong password refused.

sshd runs on a loopback port in a private mount namespace in which the test's
PAM service file is bind-mounted over /etc/pam.d/sshd (see sshd_harness);
real libpam, real sectxd, real MIT realm.  Needs root (sshd, useradd, mount
namespaces)."""

import os
import shutil
import signal
import subprocess

import pytest

from pam_harness import REALM, LocalUser, PamSectxd, ccache_path, write_keytab
from sectx_harness import make_public_tmpdir, pids_of_uid, public_copies, require_root, run, wait_until
from sshd_harness import SSHPASS, Sshd, client_env, ssh_argv

HANDLE = "SECTX_LOGIN_HANDLE"
HOST = "host/sshd-test.sectx.test"
CLIENT_TIMEOUT = 60      # bound on one ssh client run
LOGOUT_TIMEOUT = 15.0    # bound on the wait for sshd to close the PAM session

# What each session runs: its environment, klist, and the cache file's owner
# and mode as the user sees them, between markers.
SESSION_CMD = ('echo @@env; env; echo @@klist; klist; echo "@@klist_rc $?"; '
               'echo @@stat; stat -c "%u %a %F" "${KRB5CCNAME#FILE:}"; echo @@end')


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def needs_root():
    """Skip the whole module, before any realm or daemon starts, unless root."""
    require_root("runs sshd, creates a local user and a mount namespace")


@pytest.fixture(scope="module")
def module_path():
    """A public copy of the built pam_sectx.so ($SECTX_BUILDDIR/.libs)."""
    builddir = os.environ.get("SECTX_BUILDDIR")
    if not builddir:
        pytest.fail("SECTX_BUILDDIR is not set", pytrace=False)
    built = os.path.join(os.path.abspath(builddir), ".libs", "pam_sectx.so")
    if not os.path.isfile(built):
        pytest.fail(f"not built: {built}", pytrace=False)
    with public_copies([built], "sectx-sshmod-") as (dest,):
        yield dest


@pytest.fixture(scope="module")
def user(realm):
    """A local user (useradd -m) who is a realm principal with a known
    password.  Its processes are killed (by pid) and it is removed with
    userdel -r at the end, with any ccache its uid left in /tmp."""
    u = LocalUser(realm)
    yield u
    for _ in range(10):
        pids = pids_of_uid(u.uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not pids_of_uid(u.uid), 2.0)
    r = u.remove()
    assert r.returncode in (0, 12), f"userdel {u.name}: {r.returncode} {r.stderr}"


@pytest.fixture(scope="module")
def helper(bins, realm, user):
    """A started sectxd for the realm, with a host keytab for validation."""
    directory, keytab = write_keytab(realm, HOST)
    d = PamSectxd(bins.sectxd, bins.sectxctl, realm, keytab)
    try:
        d.start()
        yield d
    finally:
        try:
            d.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd(module_path, helper, user):
    """A private sshd whose PAM service `sshd` is pam_sectx.so talking to
    helper.  Stopped (with everything left in its namespace) at the end."""
    s = Sshd(module_path, helper.socket_dir)
    try:
        s.start()
        yield s
    finally:
        s.close()


@pytest.fixture
def tmp_public():
    d = make_public_tmpdir("sectx-sshcli-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- helpers -----------------------------------------------------------------------------


class Session:
    """What SESSION_CMD printed: env (dict), klist (text), klist_rc, stat."""

    def __init__(self, out):
        self.out = out
        parts, current = {}, None
        for line in out.splitlines():
            if line.startswith("@@klist_rc "):
                parts["klist_rc"] = [line.split()[1]]
                continue
            if line.startswith("@@"):
                current = line[2:]
                parts.setdefault(current, [])
                continue
            if current is not None:
                parts[current].append(line)
        assert "end" in parts, f"the session command did not finish:\n{out}"
        self.env = dict(l.split("=", 1) for l in parts["env"] if "=" in l)
        self.klist = "\n".join(parts["klist"])
        self.klist_rc = int(parts["klist_rc"][0])
        self.stat = " ".join(parts["stat"]).split()


def login(sshd, user, method, password, command=SESSION_CMD):
    """One ssh login with sshpass answering the password prompt; returns the
    CompletedProcess of the client."""
    argv = SSHPASS + ssh_argv(sshd.port, user.name, method) + [command]
    return run(argv, env=client_env(password), timeout=CLIENT_TIMEOUT)


def check_session(session, user, sshd, helper):
    """The session has a ccache of its own in KRB5CCNAME, owned by the user,
    with the user's TGT, and no login handle in its environment."""
    context = f"{session.out}\n{sshd.logs()}\n--- sectxd ---\n{helper.log_tail()}"
    ccname = session.env.get("KRB5CCNAME")
    assert ccname, f"no KRB5CCNAME in the session environment:\n{context}"
    assert HANDLE not in session.env, (
        f"{HANDLE} leaked into the session environment:\n{context}")
    assert not any(HANDLE in line for line in session.out.splitlines()), context
    assert session.env.get("USER") == user.name, context
    assert session.klist_rc == 0, f"klist failed in the session:\n{context}"
    assert f"Default principal: {user.name}@{REALM}" in session.klist, context
    assert f"krbtgt/{REALM}@{REALM}" in session.klist, context
    uid, mode, *_ = session.stat
    assert int(uid) == user.uid and mode == "600", f"cache stat {session.stat}:\n{context}"
    return ccname


def assert_cache_removed(ccname, sshd, helper):
    path = ccache_path(ccname)
    assert wait_until(lambda: not os.path.lexists(path), LOGOUT_TIMEOUT), (
        f"{path} still exists after logout (close_session should destroy it):\n"
        f"{sshd.logs()}\n--- sectxd ---\n{helper.log_tail()}")


def new_log(sshd, mark):
    return sshd.log_text()[mark:]


# --- tests ----------------------------------------------------------------------------------


def test_pam_service_is_private(sshd, module_path):
    """sshd sees the test stack as /etc/pam.d/sshd; the system file is
    untouched."""
    seen = sshd.pam_file_seen_by_sshd()
    assert module_path in seen and "session  required" in seen
    with open("/etc/pam.d/sshd") as f:
        assert module_path not in f.read()


@pytest.mark.parametrize("method,accepted", [
    ("password", "Accepted password for"),
    ("keyboard-interactive", "Accepted keyboard-interactive/pam for"),
])
def test_login_gives_a_session_with_the_users_cache(sshd, helper, user, method, accepted):
    mark = len(sshd.log_text())
    r = login(sshd, user, method, user.password)
    assert r.returncode == 0, (f"ssh {method} failed ({r.returncode}): {r.stderr}\n"
                               f"{sshd.logs()}\n--- sectxd ---\n{helper.log_tail()}")
    assert f"{accepted} {user.name} from 127.0.0.1" in new_log(sshd, mark), sshd.logs()
    ccname = check_session(Session(r.stdout), user, sshd, helper)
    assert_cache_removed(ccname, sshd, helper)


def test_two_sessions_over_one_connection(sshd, helper, user, tmp_public):
    """ControlMaster: one authentication, one PAM session, two session
    channels each running klist on the connection's cache."""
    control = os.path.join(tmp_public, "cm")
    master_log = os.path.join(tmp_public, "master.log")
    mark = len(sshd.log_text())
    argv = SSHPASS + ssh_argv(sshd.port, user.name, "password", "-M", "-S", control, "-N")
    with open(master_log, "wb") as log:
        master = subprocess.Popen(argv, env=client_env(user.password), stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    mux = ["ssh", "-F", "/dev/null", "-S", control, "-o", "ControlMaster=no",
           "-o", "BatchMode=yes", "-p", str(sshd.port), f"{user.name}@127.0.0.1"]
    try:
        def ready():
            if master.poll() is not None:
                return "exited"
            return os.path.exists(control) and run(mux[:-1] + ["-O", "check", mux[-1]],
                                                   timeout=CLIENT_TIMEOUT).returncode == 0
        state = wait_until(ready, CLIENT_TIMEOUT, 0.1)
        assert state is True, (f"ControlMaster not up ({state}):\n"
                               + open(master_log, errors="replace").read()
                               + sshd.logs() + "\n--- sectxd ---\n" + helper.log_tail())

        sessions = []
        for _ in range(2):
            r = run(mux + [SESSION_CMD], env=client_env(""), timeout=CLIENT_TIMEOUT)
            assert r.returncode == 0, f"session over the master failed: {r.stderr}\n{sshd.logs()}"
            sessions.append(Session(r.stdout))
        names = [check_session(s, user, sshd, helper) for s in sessions]
        assert names[0] == names[1], names  # one connection, one PAM session, one cache
        assert os.path.exists(ccache_path(names[0])), "cache gone while the master is up"
        log = new_log(sshd, mark)
        assert log.count(f"Accepted password for {user.name}") == 1, sshd.logs()

        r = run(mux[:-1] + ["-O", "exit", mux[-1]], timeout=CLIENT_TIMEOUT)
        assert r.returncode == 0, r.stderr
        master.wait(CLIENT_TIMEOUT)
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait()
    assert_cache_removed(names[0], sshd, helper)


@pytest.mark.parametrize("method,failed", [
    ("password", "Failed password for"),
    ("keyboard-interactive", "Failed keyboard-interactive/pam for"),
])
def test_wrong_password_is_refused(sshd, helper, user, method, failed):
    before = set(user.ccache_files())
    mark = len(sshd.log_text())
    r = login(sshd, user, method, user.password + "-wrong")
    assert r.returncode != 0, f"logged in with a wrong password: {r.stdout}"
    assert "@@env" not in r.stdout
    # sshd logs the failure after PAM's fail delay, which can outlast the
    # client (sshpass gives up at the second prompt): wait for the line
    line = f"{failed} {user.name} from 127.0.0.1"
    wait_until(lambda: line in new_log(sshd, mark), 15, 0.1)
    log = new_log(sshd, mark)
    assert line in log, sshd.logs()
    assert "Accepted" not in log, sshd.logs()
    assert set(user.ccache_files()) <= before
