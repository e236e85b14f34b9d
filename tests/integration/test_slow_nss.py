"""A slow passwd database does not stall sectxd: its account lookups
(getpwuid_r, getpwnam_r, getgrouplist, getgrgid_r) run on threads of their
own, so while one of them waits on a remote source the event loop keeps
serving every other login and every NSS and admin request.

The remote source is made real: sectxd runs in a mount namespace of its own
(unshare) where /etc/nsswitch.conf says `passwd: files slowtest`, and
libnss_slowtest.so.2, built by the test into a temp dir on sectxd's
LD_LIBRARY_PATH, takes SLOW_S seconds to answer for one uid that has no
local account (and one name), logging when each call starts and ends.
Nothing of the host is changed: the bind mount lives and dies with
sectxd's namespace.  A client running as that uid asks to authenticate:
the helper must look the uid up to decide whether it may act for the user
it names, and that lookup is the slow one.

Figures (`-s`): idle and under-stall latencies of a full login of another
user and of `sectxctl status`, and when the slow request got its answer.
"""

import concurrent.futures
import os
import pwd
import shutil
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from pam_fixtures import pam_bins, host_keytab  # noqa: F401  (fixtures)
from pam_harness import LocalUser, PamSectxd, PamStack
from sectx_harness import (Frame, field, frame, make_public_tmpdir, require_root, run,
                           wait_until)

SLOW_S = 4  # how long the slow source takes to answer
LOGIN = ("authenticate", "acct_mgmt", "setcred", "open_session", "close_session")
OP_PAM_AUTH, TAG_USER, TAG_PASSWORD, TAG_SERVICE = 0x0201, 0x0201, 0x0202, 0x0203
E_PERM, E_UNAVAIL = 4, 11

NSS_MODULE = r"""
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One line per slow call into CALLS: "start"/"end" and the monotonic time. */
static void note(const char *what)
{
	struct timespec ts;
	char line[96];
	int fd, n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "%s %lld.%03ld\n", what, (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000);
	fd = open(CALLS, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
}

static enum nss_status slow(void)
{
	note("start");
	sleep(SLOW_S);
	note("end");
	return NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_slowtest_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
					 int *errnop)
{
	(void)pw; (void)buf; (void)len; (void)errnop;
	return uid == SLOW_UID ? slow() : NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_slowtest_getpwnam_r(const char *name, struct passwd *pw, char *buf,
					 size_t len, int *errnop)
{
	(void)pw; (void)buf; (void)len; (void)errnop;
	return strcmp(name, SLOW_NAME) == 0 ? slow() : NSS_STATUS_NOTFOUND;
}
"""

# A client of uid SLOW_UID: send one frame (hex in argv[2]) to pam.sock
# (argv[1]), print the status of the reply and how long it took.
CLIENT = textwrap.dedent(r"""
    import socket, struct, sys, time
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sys.argv[1])
    t0 = time.monotonic()
    s.sendall(bytes.fromhex(sys.argv[2]))
    data = b""
    while len(data) < 4 or len(data) < struct.unpack(">I", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print(f"{time.monotonic() - t0:.3f} {data.hex()}", flush=True)
""")


def free_uid():
    """A uid no local account has (the slow source is asked for it)."""
    for uid in range(47000, 48000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    pytest.skip("no free uid in 47000-47999")


class SlowNss:
    """The slow NSS module and an nsswitch.conf naming it, in a public temp
    dir, and a wrapper that runs sectxd in a mount namespace of its own with
    that nsswitch.conf bound over /etc/nsswitch.conf."""

    def __init__(self, sectxd_bin):
        self.dir = make_public_tmpdir("sectx-slownss-")
        self.uid = free_uid()
        self.name = "sxslow" + str(self.uid)
        self.calls = os.path.join(self.dir, "calls")
        src = os.path.join(self.dir, "slowtest.c")
        with open(src, "w") as f:
            f.write(NSS_MODULE)
        lib = os.path.join(self.dir, "libnss_slowtest.so.2")
        r = run(["cc", "-shared", "-fPIC", "-O2", f"-DSLOW_S={SLOW_S}",
                 f"-DSLOW_UID={self.uid}", f'-DSLOW_NAME="{self.name}"',
                 f'-DCALLS="{self.calls}"', "-o", lib, src], timeout=60)
        assert r.returncode == 0, f"cannot build the NSS module: {r.stderr}"
        nsswitch = os.path.join(self.dir, "nsswitch.conf")
        with open("/etc/nsswitch.conf") as f:
            lines = [l for l in f.read().splitlines()
                     if not l.split(":")[0].strip() in ("passwd", "group")]
        with open(nsswitch, "w") as f:
            f.write("\n".join(["passwd: files slowtest", "group: files"] + lines) + "\n")
        self.wrapper = os.path.join(self.dir, "sectxd-in-ns")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "exec unshare --mount --propagation private /bin/sh -c "
                    "'mount --bind \"$0\" /etc/nsswitch.conf && exec \"$@\"' "
                    f"'{nsswitch}' '{sectxd_bin}' \"$@\"\n")
        os.chmod(self.wrapper, 0o755)
        self.env = {"LD_LIBRARY_PATH": self.dir}

    def events(self):
        """[(start|end, monotonic seconds)] of the slow calls so far."""
        try:
            with open(self.calls) as f:
                return [(w, float(t)) for w, t in (l.split() for l in f if l.strip())]
        except FileNotFoundError:
            return []

    def pending(self):
        """Slow calls started and not yet ended."""
        ev = self.events()
        return sum(1 for w, _ in ev if w == "start") - sum(1 for w, _ in ev if w == "end")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def slow_nss(bins):
    require_root("runs sectxd in a mount namespace of its own (unshare, mount --bind)")
    for tool in ("unshare", "cc"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    probe = run(["unshare", "--mount", "--propagation", "private", "true"])
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    s = SlowNss(bins.sectxd)
    yield s
    s.close()


@pytest.fixture
def slow_helper(bins, realm, host_keytab, slow_nss):  # noqa: F811
    """make(**sectxd_keys) -> a started PamSectxd whose glibc sees the slow
    source.  Closed (killed, its namespace with it) at the end."""
    made = []

    def make(**settings):
        d = PamSectxd(slow_nss.wrapper, bins.sectxctl, realm, host_keytab, **settings)
        d.env.update(slow_nss.env)
        made.append(d)
        return d.start()

    yield make
    died = []
    for d in made:
        try:
            d.close()
        except AssertionError as e:
            died.append(str(e))
    if died:
        pytest.fail("; ".join(died), pytrace=False)


@pytest.fixture
def user(realm):
    require_root("creates a local user with useradd")
    u = LocalUser(realm)
    yield u
    u.remove()


def slow_client(helper, slow_nss):
    """Start a client of the slow uid asking to authenticate someone: sectxd
    must look its uid up first.  Returns the Popen (prints elapsed + reply)."""
    req = frame(OP_PAM_AUTH, field(TAG_USER, b"root"), field(TAG_PASSWORD, b"x"),
                field(TAG_SERVICE, b"login"))
    return subprocess.Popen(
        ["setpriv", "--reuid", str(slow_nss.uid), "--regid", str(slow_nss.uid),
         "--clear-groups", sys.executable, "-c", CLIENT, helper.pam_sock, req.hex()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")


def client_reply(proc):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    elapsed, hexdata = out.split()
    return float(elapsed), Frame(bytes.fromhex(hexdata))


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return time.monotonic() - t0, result


def login(stack, user):
    r = stack.run(user.name, *LOGIN, answers=[user.password])
    assert [r.code(s) for s in LOGIN] == ["PAM_SUCCESS"] * len(LOGIN), r
    return r


def status(helper):
    r = helper.ctl("--timeout", "10000", "status")
    assert r.returncode == 0, r.stderr
    return r


def test_logins_and_status_answer_while_a_passwd_lookup_blocks(slow_helper, slow_nss, user,
                                                                pam_bins):  # noqa: F811
    helper = slow_helper()
    stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
    try:
        # idle figures (twice each: the first login warms the KDC path up)
        login(stack, user)
        idle_login, _ = timed(lambda: login(stack, user))
        idle_status, _ = timed(lambda: status(helper))
        assert slow_nss.pending() == 0

        client = slow_client(helper, slow_nss)
        assert wait_until(lambda: slow_nss.pending() == 1, 10), \
            f"the slow lookup never started: {slow_nss.events()}\n{helper.log_tail()}"
        # both at once, while the lookup waits on the source
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            f_status = pool.submit(timed, lambda: status(helper))
            f_login = pool.submit(timed, lambda: login(stack, user))
            stalled_status, _ = f_status.result(timeout=60)
            stalled_login, _ = f_login.result(timeout=60)
        still_pending = slow_nss.pending() == 1
        waited, reply = client_reply(client)
        print(f"\nslow passwd source: {SLOW_S} s per lookup")
        print(f"login of {user.name}: idle {idle_login:.3f} s, while a lookup blocks "
              f"{stalled_login:.3f} s")
        print(f"sectxctl status: idle {idle_status:.3f} s, while a lookup blocks "
              f"{stalled_status:.3f} s")
        print(f"the slow uid's request answered after {waited:.3f} s: status {reply.status}")
        assert still_pending, slow_nss.events()
        assert stalled_status < 1.0, stalled_status
        assert stalled_login < 2 * idle_login + 0.5, (stalled_login, idle_login)
        # the decision is the one it always was: a uid nobody knows may not
        # act for root
        assert reply.status == E_PERM, reply
        assert SLOW_S - 0.5 <= waited < SLOW_S + 3, waited
        assert helper.alive()
    finally:
        stack.close()


def test_a_lookup_past_its_deadline_is_unavailable_not_refused(slow_helper, slow_nss,
                                                               pam_bins, user):  # noqa: F811
    """client_timeout 2 s: a lookup gives up after 1 s.  The caller is told
    the helper cannot answer now (E_UNAVAIL), not that it may not act; the
    thread's late answer is dropped, and the helper keeps serving."""
    helper = slow_helper(client_timeout="2s")
    stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
    try:
        client = slow_client(helper, slow_nss)
        waited, reply = client_reply(client)
        print(f"\nlookup deadline 1 s, source {SLOW_S} s: answered after {waited:.3f} s, "
              f"status {reply.status}")
        assert reply.status == E_UNAVAIL, reply
        assert 0.8 <= waited < SLOW_S - 1, waited
        assert slow_nss.pending() == 1  # its thread still waits on the source
        login(stack, user)
        status(helper)
        # the late answer comes back and is dropped; the helper lives on
        assert wait_until(lambda: slow_nss.pending() == 0, SLOW_S + 5), slow_nss.events()
        time.sleep(0.2)
        status(helper)
        assert helper.alive()
        assert "cannot tell whether it may act for that user" in helper.log_text()
    finally:
        stack.close()
