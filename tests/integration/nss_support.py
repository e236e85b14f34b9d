"""nss_support - what the NSS integration tests share: the built
libnss_sectx.so.2, a sectxd with an [identity] configuration, and three ways
to resolve through the module:

  * probe(): the module's entry points called directly (nss_probe.py), for
    exact NSS status and errno values and timings;
  * wrapped(): real glibc callers (getent, id) through nss_wrapper
    (NSS_WRAPPER_MODULE_SO_PATH, NSS_WRAPPER_MODULE_FN_PREFIX=sectx);
  * in_namespace(): as root, the real getent/id in a private mount namespace
    whose /etc/nsswitch.conf is a bind-mounted test file ("passwd: files
    sectx"), with LD_LIBRARY_PATH pointing at the built module.

Sanitizer builds: a module built with ASan must have libasan first in the
process, so every command that loads it gets LD_PRELOAD of the libasan the
module links (leak checks off: getent and python are not ours).

Nothing here touches a system file: the namespace's bind mount disappears
with the process, and every file lives in the daemon's own directory.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sectx_harness import make_public_tmpdir, require_root, run, wait_until, write_private

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "nss_probe.py")
NSS_WRAPPER = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"

SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN = 1, 0, -1, -2
ENOENT, EAGAIN, ERANGE = 2, 11, 34


def fnv1a64(s):
    """The documented auto_id hash (identity.h)."""
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def auto_uid(principal, lo, hi):
    return lo + fnv1a64(principal) % (hi - lo + 1)


def _needed_preload(lib):
    """LD_PRELOAD entries a sanitizer-built lib needs (empty otherwise)."""
    out = run(["ldd", lib]).stdout
    paths = []
    for name in ("libasan", ):
        m = re.search(rf"{name}\S*\s*=>\s*(\S+)", out)
        if m:
            paths.append(m.group(1))
    return paths


class NssLib:
    """A public copy of the built module (and of nss_probe.py): dir (for
    LD_LIBRARY_PATH), path, and the environment every process loading it
    needs."""

    def __init__(self, built):
        self.dir = make_public_tmpdir("sectx-nsslib-")
        self.path = os.path.join(self.dir, "libnss_sectx.so.2")
        shutil.copy2(built, self.path)
        os.chmod(self.path, 0o755)
        # the probe too: another uid may not read the source tree (0700 home)
        self.probe = os.path.join(self.dir, "nss_probe.py")
        shutil.copy2(PROBE, self.probe)
        os.chmod(self.probe, 0o755)
        self.preload = _needed_preload(self.path)

    def env(self, base=None, wrapper=False):
        env = dict(os.environ if base is None else base)
        preload = list(self.preload) + ([NSS_WRAPPER] if wrapper else [])
        if preload:
            env["LD_PRELOAD"] = " ".join(preload)
        if self.preload:
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        env.pop("_SECTX_IN_HELPER", None)
        return env

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def nss_lib():
    builddir = os.environ.get("SECTX_BUILDDIR")
    if not builddir:
        pytest.fail("SECTX_BUILDDIR is not set", pytrace=False)
    built = os.path.join(os.path.abspath(builddir), "nss", ".libs", "libnss_sectx.so.2")
    if not os.path.isfile(built):
        pytest.fail(f"not built: {built}", pytrace=False)
    lib = NssLib(built)
    yield lib
    lib.close()


def render(d, realm="SECTX.TEST", keytab=None, identity=None, sectxd=None):
    """sectx.conf text for the Sectxd d with [identity] keys."""
    lines = ["[sectxd]", f"socket_dir = {d.socket_dir}", f"state_dir = {d.state_dir}",
             "log_level = debug"]
    lines += [f"{k} = {v}" for k, v in (sectxd or {}).items()]
    lines += ["", "[kerberos]", f"realm = {realm}", "kdc_timeout = 3s"]
    if keytab:
        lines.append(f"keytab = {keytab}")
    lines += ["", "[identity]"] + [f"{k} = {v}" for k, v in (identity or {}).items()]
    return "\n".join(lines) + "\n"


class Helper:
    """A sectxd with an identity configuration, and ways to resolve through
    libnss_sectx against it."""

    def __init__(self, d, lib, realm=None):
        self.d, self.lib, self.realm = d, lib, realm
        self.files = {}

    # -- configuration -----------------------------------------------------------

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.d.dir, name)
        write_private(path, text, mode)
        self.files[name] = path
        return path

    def configure(self, users=None, groups=None, identity=None, keytab=None, sectxd=None):
        identity = dict(identity or {})
        if users is not None:
            identity.setdefault("users_file", self.write("users", users))
        if groups is not None:
            identity.setdefault("groups_file", self.write("groups", groups))
        self.identity, self.keytab, self.sectxd_keys = identity, keytab, sectxd
        write_private(self.d.config_file, self.config_text())
        return self

    def config_text(self, **identity_changes):
        ident = dict(self.identity, **identity_changes)
        return render(self.d, keytab=self.keytab, identity=ident, sectxd=self.sectxd_keys)

    def start(self):
        self.d.start()
        return self

    @property
    def cache_file(self):
        return os.path.join(self.d.socket_dir, "nss-cache", "cache")

    def env(self, wrapper=False, **extra):
        env = self.lib.env(wrapper=wrapper)
        env["SECTX_SOCKET_DIR"] = self.d.socket_dir
        env.update(extra)
        return env

    # -- resolving -----------------------------------------------------------------

    def probe(self, *calls, uid=None, env=None, timeout=30):
        """Results (dicts) of nss_probe.py calls, in a fresh process."""
        r = run([sys.executable, self.lib.probe, self.lib.path, *calls], uid=uid,
                env=env if env is not None else self.env(), timeout=timeout)
        assert r.returncode == 0, f"nss_probe failed ({r.returncode}): {r.stderr}"
        return [json.loads(line) for line in r.stdout.splitlines()]

    def probe1(self, call, **kw):
        return self.probe(call, **kw)[0]

    def wrapped(self, *argv, uid=None, timeout=30):
        """Run argv with nss_wrapper routing NSS to libnss_sectx (after a
        files backend holding only root)."""
        pw = os.path.join(self.d.dir, "wrapper-passwd")
        gr = os.path.join(self.d.dir, "wrapper-group")
        if not os.path.exists(pw):
            write_private(pw, "root:x:0:0:root:/root:/bin/sh\n", 0o644)
            write_private(gr, "root:x:0:\n", 0o644)
        env = self.env(wrapper=True, NSS_WRAPPER_PASSWD=pw, NSS_WRAPPER_GROUP=gr,
                       NSS_WRAPPER_MODULE_SO_PATH=self.lib.path,
                       NSS_WRAPPER_MODULE_FN_PREFIX="sectx")
        return run(list(argv), env=env, uid=uid, timeout=timeout)

    def namespace_command(self, *argv):
        """(argv, env) running argv as root in a private mount namespace where
        /etc/nsswitch.conf says "passwd: files sectx", "group: files sectx"
        (the process that runs is argv's own: unshare and sh exec it)."""
        require_root("bind-mounts a test nsswitch.conf in a mount namespace")
        conf = os.path.join(self.d.dir, "nsswitch.conf")
        if not os.path.exists(conf):
            write_private(conf, "passwd: files sectx\ngroup: files sectx\nshadow: files\n",
                          0o644)
        script = 'mount --bind "$1" /etc/nsswitch.conf || exit 99; shift; exec "$@"'
        env = self.env(LD_LIBRARY_PATH=self.lib.dir)
        return (["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                 conf, *argv], env)

    def in_namespace(self, *argv, timeout=30):
        """Run argv as root in the namespace of namespace_command()."""
        cmd, env = self.namespace_command(*argv)
        return run(cmd, env=env, timeout=timeout)

    def ctl(self, *args, uid=None):
        return self.d.ctl(*args, uid=uid)

    def wait_cache_has(self, call, timeout=5.0):
        """Wait until a probe of call is answered (SUCCESS or NOTFOUND)
        without the helper: used after lookups to let the publication land."""
        def published():
            return os.path.exists(self.cache_file) and os.stat(self.cache_file).st_mtime
        return wait_until(published, timeout)


class LoopProbe:
    """A long-running reader: nss_probe.py's loop, through the module's
    entry points (glibc=False) or through the real glibc in the namespace of
    Helper.namespace_command (glibc=True), making calls until finish()."""

    def __init__(self, helper, calls, glibc=False, name="probe", ready_timeout=30.0):
        self.stopfile = os.path.join(helper.d.dir, f"stop-{name}-{os.getpid()}")
        argv = [sys.executable, helper.lib.probe, "glibc" if glibc else helper.lib.path, "loop",
                self.stopfile, *calls]
        env = helper.env()
        if glibc:
            argv, env = helper.namespace_command(*argv)
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], ready_timeout)
        line = self.proc.stdout.readline().strip() if ready else ""
        if line != "ready":
            self.kill()
            raise AssertionError(f"{name} not ready ({line!r}): {self.proc.stderr.read()}")

    @property
    def pid(self):
        return self.proc.pid

    def maps(self):
        """The lines of /proc/PID/maps."""
        with open(f"/proc/{self.pid}/maps") as f:
            return f.read().splitlines()

    def memfd_inodes(self):
        """Inodes of the cache memfds this reader maps."""
        return sorted({int(line.split()[4]) for line in self.maps()
                       if "memfd:sectx-nss-cache" in line})

    def maps_path(self, path):
        return any(line.endswith(path) or f"{path} (deleted)" in line for line in self.maps())

    def alive(self):
        return self.proc.poll() is None

    def finish(self, timeout=30):
        """Stop the loop: (returncode, summary or None, stderr)."""
        with open(self.stopfile, "w"):
            pass
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
        summary = None
        for line in out.splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        return self.proc.returncode, summary, err

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def wait_for(pred, timeout, step=0.005):
    """Seconds until pred() held (None if it did not within timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(step)
    return None


def make_helper(sectxd_factory, nss_lib, realm=None, **config):
    """A configured, started Helper (realm: a realm.Realm whose KDC the
    helper may use; its environment is given to sectxd)."""
    d = sectxd_factory(start=False, env=realm.env() if realm is not None else None)
    h = Helper(d, nss_lib, realm)
    h.configure(**config)
    return h.start()


def host_keytab(realm, d, host="host/testhost.sectx.test"):
    """A keytab in d's directory holding a fresh host principal's key."""
    path = os.path.join(d.dir, "host.keytab")
    try:
        realm.addprinc(host, randkey=True)
    except Exception:  # already there (shared realm): keys stay valid
        pass
    realm.ktadd(host, path)
    os.chmod(path, 0o600)
    return path


def passwd_line(entry):
    """A probe's passwd entry as a getent line."""
    return ":".join(str(x) for x in entry)


def group_line(entry):
    return f"{entry[0]}:{entry[1]}:{entry[2]}:{','.join(entry[3])}"


def subprocess_ok(r):
    return f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}"
