"""sectx_harness - processes and wire frames for the sectx integration tests.

Three concerns, one place each:
  * processes: run() for a short command, spawn()/terminate() for a daemon;
  * the wire format of common/proto.h: frame()/field()/u32() build, Frame parses,
    Conn speaks it over a raw Unix socket;
  * Sectxd: one real helper in its own directory under /tmp, with its config,
    optionally under valgrind memcheck (valgrind=True, or SECTX_VALGRIND=1 in
    the environment for every helper a run starts).

It never touches a system file and leaves no process or file behind: every
daemon lives in its own directory and process group, removed at close().
stdlib only (plus pytest in conftest.py).
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

# --- processes -------------------------------------------------------------


class HarnessError(AssertionError):
    """A process of the harness misbehaved (did not start, did not stop)."""


def wait_until(predicate, timeout, interval=0.05):
    """Call predicate until it returns a true value or timeout seconds pass.
    Returns that value, or the last (false) one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def as_user(uid):
    """argv prefix running a command as uid (a number or a user name) with
    that user's primary group and no supplementary groups (needs root)."""
    pw = pwd.getpwnam(uid) if isinstance(uid, str) else pwd.getpwuid(uid)
    return ["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(pw.pw_gid),
            "--clear-groups"]


def run(argv, *, timeout=15, env=None, input=None, uid=None):
    """Run a short command to completion and return its CompletedProcess
    (text stdout/stderr), as uid (number or name) if given.  Raises subprocess.TimeoutExpired (after killing it)
    when it outlives timeout."""
    if uid is not None:
        argv = as_user(uid) + list(argv)
    return subprocess.run(list(argv), input=input, capture_output=True, text=True,
                          timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL if input is None else None)


def spawn(argv, log_path, env=None):
    """Start a long-lived process in a process group of its own, stdin from
    /dev/null, stdout and stderr appended to log_path.  Returns the Popen."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, close_fds=True)


def _group_members(pgid):
    """Pids of live processes in process group pgid (read from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(name))
    return pids


def terminate(proc, sig=signal.SIGTERM, grace=10.0):
    """Send sig to proc and wait up to grace seconds; then SIGKILL it.  Any
    process left in its group (its workers) is killed by pid.  Returns
    (returncode, forced) where forced is True if anything had to be killed."""
    forced = False
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            forced = True
            os.killpg(proc.pid, signal.SIGKILL)  # leader not reaped: pgid is ours
            proc.wait()
    for pid in _group_members(proc.pid):
        forced = True
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode, forced


def require_root(why):
    """Skip the calling test, saying why, unless it runs as root."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip(f"needs root: {why}")


def pid_alive(pid):
    """True if a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def log_tail(path, lines=40):
    """The last lines of a log file, or a note that it is missing."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({path}: {e.strerror})"


def make_public_tmpdir(prefix):
    """A fresh directory under /tmp, mode 0755 (pytest's are 0700), so a
    non-root uid can reach sockets and files inside it."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def public_copies(paths, prefix, mode=0o755):
    """Copies of paths in a new public 0755 temp dir (the build tree may sit
    under a 0700 home, and another uid or libpam must read them), each with
    mode; yields the list of copies and removes the dir afterwards."""
    public = make_public_tmpdir(prefix)
    try:
        copies = []
        for path in paths:
            dest = os.path.join(public, os.path.basename(path))
            shutil.copy2(path, dest)
            os.chmod(dest, mode)
            copies.append(dest)
        yield copies
    finally:
        shutil.rmtree(public, ignore_errors=True)


def pids_of_uid(uid):
    """Pids of the processes whose real uid is uid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(name))
                        break
        except OSError:
            continue
    return pids


_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def write_locked(path, uid):
    """A process running as uid (number or name) holds an fcntl write lock on
    the whole of path, as any user can on a file of theirs (MIT's FILE
    ccache waits for such a lock without limit), for the duration of the
    with block.  Yields its Popen once the lock is held."""
    proc = subprocess.Popen(as_user(uid) + [sys.executable, "-c", _HOLD_LOCK, path],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if line != "locked\n":
            raise HarnessError(f"cannot lock {path} as {uid}: {proc.stderr.read()}")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def close_all(daemons):
    """close() each daemon, all of them whatever fails; returns the errors
    (a daemon that died during its test) as strings."""
    errors = []
    for d in daemons:
        try:
            d.close()
        except AssertionError as e:
            errors.append(str(e))
    return errors


def write_private(path, text, mode=0o600):
    """Write text to path atomically (temp file + rename) with mode."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- wire format (common/proto.h) ------------------------------------------

PROTO_VERSION = 1
HDR = struct.Struct(">IHHI")      # length, version, op, reqid
FIELD_HDR = struct.Struct(">HI")  # tag, length
FRAME_MAX = 128 * 1024

OP_PING, OP_STATUS, OP_DEBUG_LEVEL = 0x0001, 0x0002, 0x0003
OP_REPLY = 0x8000

TAG_STATUS, TAG_MESSAGE, TAG_MIN_VERSION, TAG_MAX_VERSION = 1, 2, 3, 4
TAG_LOG_LEVEL = 0x0015

OK, E_PROTO, E_VERSION, E_NOOP, E_PERM = 0, 1, 2, 3, 4
E_BUSY, E_INTERNAL, E_INVAL = 5, 6, 7


def field(tag, value):
    """One field: u16 tag, u32 length, value bytes (length not checked, so a
    test can send anything)."""
    return FIELD_HDR.pack(tag, len(value)) + value


def u32(tag, value):
    """A u32 field."""
    return field(tag, struct.pack(">I", value))


def frame(op, *fields, version=PROTO_VERSION, reqid=1, length=None):
    """A whole frame: header then the given raw field bytes.  length
    overrides the header's length (to announce what is not there)."""
    body = b"".join(fields)
    return HDR.pack(HDR.size + len(body) if length is None else length,
                    version, op, reqid) + body


class Frame:
    """A received frame, parsed strictly: raises ValueError on any
    inconsistency (a helper must never send one)."""

    def __init__(self, data):
        if len(data) < HDR.size:
            raise ValueError(f"short frame ({len(data)} bytes)")
        self.length, self.version, self.op, self.reqid = HDR.unpack_from(data)
        if self.length != len(data):
            raise ValueError(f"header says {self.length} bytes, got {len(data)}")
        self.fields = []
        off = HDR.size
        while off < len(data):
            if off + FIELD_HDR.size > len(data):
                raise ValueError("truncated field header")
            tag, n = FIELD_HDR.unpack_from(data, off)
            off += FIELD_HDR.size
            if off + n > len(data):
                raise ValueError(f"field {tag:#x} overruns the frame")
            self.fields.append((tag, data[off:off + n]))
            off += n

    def get(self, tag):
        values = [v for t, v in self.fields if t == tag]
        if len(values) != 1:
            raise ValueError(f"tag {tag:#x} appears {len(values)} times in {self!r}")
        return values[0]

    def u32(self, tag):
        value = self.get(tag)
        if len(value) != 4:
            raise ValueError(f"tag {tag:#x} is {len(value)} bytes, not a u32")
        return struct.unpack(">I", value)[0]

    @property
    def status(self):
        return self.u32(TAG_STATUS)

    @property
    def message(self):
        values = [v for t, v in self.fields if t == TAG_MESSAGE]
        return values[0].decode(errors="replace") if values else ""

    def __repr__(self):
        return (f"Frame(op={self.op:#x}, version={self.version}, reqid={self.reqid}, "
                f"fields={[(hex(t), v[:32]) for t, v in self.fields]})")


class Conn:
    """A raw client connection to one of the helper's sockets."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        """Send everything; False if the peer closed or stopped reading first."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return buf
            buf += chunk
        return buf

    def recv_frame(self):
        """The next frame, or None at end of file.  A helper that stays silent
        beyond the socket timeout raises socket.timeout."""
        hdr = self._recv_exact(HDR.size)
        if not hdr:
            return None
        if len(hdr) < HDR.size:
            raise ValueError(f"connection closed inside a header: {hdr!r}")
        length = HDR.unpack(hdr)[0]
        if not HDR.size <= length <= FRAME_MAX:
            raise ValueError(f"helper announced a frame of {length} bytes")
        body = self._recv_exact(length - HDR.size)
        if len(body) < length - HDR.size:
            raise ValueError("connection closed inside a frame")
        return Frame(hdr + body)

    def request(self, op, *fields, version=PROTO_VERSION, reqid=1, fds=()):
        """Send one frame and return the reply (None if the helper closed).
        fds: descriptors passed with the frame's first byte (SCM_RIGHTS)."""
        data = frame(op, *fields, version=version, reqid=reqid)
        if fds:
            try:
                sent = socket.send_fds(self.sock, [data], list(fds))
            except (BrokenPipeError, ConnectionResetError):
                return None
            self.send(data[sent:])
        else:
            self.send(data)
        return self.recv_frame()

    def wait_eof(self, timeout):
        """Read and parse frames until the helper closes the connection.
        Returns (closed_within_timeout, frames received before)."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, frames
            self.sock.settimeout(left)
            try:
                f = self.recv_frame()
            except socket.timeout:
                return False, frames
            if f is None:
                return True, frames
            frames.append(f)


# --- valgrind ---------------------------------------------------------------

VALGRIND_ENV = "SECTX_VALGRIND"  # "1": every Sectxd of the run under memcheck
VALGRIND_ERROR_EXIT = 99         # sectxd's exit status when memcheck found errors
VALGRIND_SLOWDOWN = 6            # the harness waits this many times longer for start and stop
VALGRIND_TIMEOUTS = {"client_timeout": "60s"}  # [sectxd] keys under valgrind unless set


def valgrind_requested(valgrind=None):
    """valgrind if given, else whether $SECTX_VALGRIND is 1."""
    return os.environ.get(VALGRIND_ENV) == "1" if valgrind is None else bool(valgrind)


def sanitizer_runtime(path):
    """The sanitizer a binary was built with ("libasan.so.8", "__asan_init",
    ...), or None: valgrind cannot run a program built with ASan.  Looks at
    the libraries it needs (gcc links libasan dynamically) and at its symbols
    (clang links the runtime in)."""
    r = run(["ldd", path])
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(("libasan.", "libtsan.", "libubsan.", "libmsan.")):
            return name
    r = run(["nm", "-D", "--defined-only", path])
    for line in r.stdout.splitlines():
        symbol = line.split()[-1] if line.split() else ""
        if symbol in ("__asan_init", "__tsan_init", "__msan_init", "__ubsan_handle_add_overflow"):
            return symbol
    return None


# What memcheck reports in the libraries sectxd uses and not in sectxd, each
# narrowed to its allocation site.  Every entry says why it is not ours.
VALGRIND_SUPPRESSIONS = """\
{
   MIT libgssapi_krb5 (1.20): the handle of each mechanism module loaded from /etc/gss/mech.d (gss-ntlmssp), once per process; a 5-line program calling gss_indicate_mechs() shows it too
   Memcheck:Leak
   match-leak-kinds: definite
   fun:calloc
   fun:krb5int_open_plugin
   obj:*/libgssapi_krb5.so*
}
{
   resolv_wrapper 1.1.8 (test-only interposition, test_directory.py::test_srv_discovery): res_ninit through it leaks glibc's resolv_conf once per call; a 10-line program doing res_ninit, res_nquery, res_nclose shows it with the wrapper preloaded and not without
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   ...
   fun:__res_ninit
   obj:*/libresolv_wrapper.so*
}
"""


def valgrind_argv(log_pattern, suppressions):
    """argv prefix running a program under memcheck: every error and every
    definitely lost block counts (exit status VALGRIND_ERROR_EXIT) but those
    of the suppressions file (VALGRIND_SUPPRESSIONS written there), the
    report goes to log_pattern (%p: the pid).  Children are not traced:
    sectxd's forked workers stay under memcheck but silent, and what it
    re-executes (the ccache writer, by a descriptor of its own image) runs
    natively."""
    return ["valgrind", "--tool=memcheck", f"--error-exitcode={VALGRIND_ERROR_EXIT}",
            "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--track-fds=no", "--trace-children=no",
            "--child-silent-after-fork=yes", "--num-callers=30",
            f"--suppressions={suppressions}", f"--log-file={log_pattern}"]


class ValgrindReport:
    """What memcheck said at the end of one process, parsed from its log:
    errors (the ERROR SUMMARY count, definite leaks included), definitely_lost
    and definitely_lost_blocks, complete (whether the summary was written:
    the process ended normally), and text (the whole log)."""

    _ERRORS = re.compile(r"ERROR SUMMARY: ([\d,]+) errors? from")
    _DEFINITE = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks?")

    def __init__(self, text):
        self.text = text
        errors = self._ERRORS.findall(text)
        self.complete = bool(errors)
        self.errors = int(errors[-1].replace(",", "")) if errors else None
        lost = self._DEFINITE.findall(text)
        # no LEAK SUMMARY at all: "All heap blocks were freed -- no leaks are possible"
        self.definitely_lost = int(lost[-1][0].replace(",", "")) if lost else 0
        self.definitely_lost_blocks = int(lost[-1][1].replace(",", "")) if lost else 0

    @classmethod
    def read(cls, path):
        with open(path, errors="replace") as f:
            return cls(f.read())

    def __repr__(self):
        return (f"ValgrindReport(errors={self.errors}, definitely_lost={self.definitely_lost} "
                f"bytes in {self.definitely_lost_blocks} blocks)")


# --- the helper -------------------------------------------------------------

CONFIG_DEFAULTS = {
    "log_level": "info",
    "max_connections": "1024",
    "max_connections_per_uid": "256",
    "client_timeout": "10s",
    "idle_timeout": "5m",
}


def render_config(socket_dir, state_dir, realm="SECTX.TEST", sections=None, **sectxd):
    """Text of a sectx.conf: socket_dir and state_dir, the [sectxd] keys of
    CONFIG_DEFAULTS overridden by sectxd, [kerberos] realm, and the keys of
    sections ({"kerberos": {"keytab": ...}, "access": {...}})."""
    keys = dict(CONFIG_DEFAULTS, **sectxd)
    sections = {k: dict(v) for k, v in (sections or {}).items()}
    lines = ["[sectxd]", f"socket_dir = {socket_dir}", f"state_dir = {state_dir}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    lines += ["", "[kerberos]", f"realm = {realm}"]
    lines += [f"{k} = {v}" for k, v in sections.pop("kerberos", {}).items()]
    for name, values in sections.items():
        lines += ["", f"[{name}]"] + [f"{k} = {v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


class Sectxd:
    """One sectxd in its own directory DIR (mode 0755): DIR/sectx.conf
    (0600), DIR/run (socket_dir, made by the daemon), DIR/state (0700),
    DIR/sectxd.log (its stderr).  start() waits until it answers; close()
    kills it and removes DIR whatever happened.  With valgrind (default:
    $SECTX_VALGRIND == "1") it runs under memcheck, reporting to
    DIR/valgrind.<pid>.log (valgrind_report() once stopped), with the
    timeouts of VALGRIND_TIMEOUTS unless settings give them, and start and
    stop wait VALGRIND_SLOWDOWN times longer."""

    def __init__(self, sectxd_bin, sectxctl_bin, env=None, valgrind=None, **settings):
        self.sectxd_bin, self.sectxctl_bin = sectxd_bin, sectxctl_bin
        self.dir = make_public_tmpdir("sectx-")
        self.socket_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.config_file = os.path.join(self.dir, "sectx.conf")
        self.log_file = os.path.join(self.dir, "sectxd.log")
        self.nss_sock = os.path.join(self.socket_dir, "nss.sock")
        self.pam_sock = os.path.join(self.socket_dir, "pam.sock")
        os.mkdir(self.state_dir, 0o700)
        self.valgrind = valgrind_requested(valgrind)
        self.slowdown = VALGRIND_SLOWDOWN if self.valgrind else 1
        self.settings = dict(VALGRIND_TIMEOUTS, **settings) if self.valgrind else settings
        write_private(self.config_file, self.config_text())
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.stopped = False

    def config_text(self, **changes):
        """This daemon's config with some [sectxd] keys changed."""
        return render_config(self.socket_dir, self.state_dir, **dict(self.settings, **changes))

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait=True, timeout=10.0):
        """Start sectxd in the foreground (with env) and, if wait, wait until
        both sockets exist and `sectxctl status` answers.  Raises
        HarnessError with the log tail if it exits or is not ready within
        timeout seconds."""
        argv = [self.sectxd_bin, "--config", self.config_file, "--foreground"]
        if self.valgrind:
            suppressions = os.path.join(self.dir, "valgrind.supp")
            write_private(suppressions, VALGRIND_SUPPRESSIONS, 0o644)
            argv = valgrind_argv(os.path.join(self.dir, "valgrind.%p.log"), suppressions) + argv
            timeout *= self.slowdown
        self.proc = spawn(argv, self.log_file, env=self.env)
        if not wait:
            return self

        def ready():
            if self.proc.poll() is not None:
                self.stopped = True  # reported here, not again at close()
                raise HarnessError(f"sectxd exited with {self.proc.returncode} at start:\n"
                                   + self.log_tail())
            if not (os.path.exists(self.nss_sock) and os.path.exists(self.pam_sock)):
                return False
            return self.ctl("--timeout", "1000", "status").returncode == 0

        if not wait_until(ready, timeout):
            raise HarnessError(f"sectxd not ready within {timeout} s:\n" + self.log_tail())
        return self

    def ctl(self, *args, uid=None, timeout=15):
        """Run `sectxctl --socket-dir SOCKDIR ARGS`, as uid (a number or a
        user name; needs root) if given.  Returns the CompletedProcess."""
        return run([self.sectxctl_bin, "--socket-dir", self.socket_dir, *args],
                   uid=uid, timeout=timeout)

    def status_json(self, uid=None):
        """`sectxctl status --json`, parsed; fails the test if it does not answer."""
        r = self.ctl("--timeout", "2000", "status", "--json", uid=uid)
        assert r.returncode == 0, f"status failed ({r.returncode}): {r.stderr}"
        return json.loads(r.stdout)

    def log_text(self):
        with open(self.log_file, errors="replace") as f:
            return f.read()

    def log_tail(self, lines=40):
        return log_tail(self.log_file, lines)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self, key="VmRSS"):
        """Resident set size of the daemon in KiB (or another /proc status
        key such as VmHWM)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise HarnessError(f"no {key} in /proc/{self.pid}/status")

    def reload(self, config_text):
        """Replace the config file atomically (0600) and send SIGHUP."""
        write_private(self.config_file, config_text)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, grace=10.0):
        """SIGTERM and wait up to grace seconds; returns the exit code.
        Raises HarnessError if it had to be killed."""
        self.stopped = True
        grace *= self.slowdown
        rc, forced = terminate(self.proc, signal.SIGTERM, grace)
        if forced:
            raise HarnessError(f"sectxd (or a child) still ran {grace} s after SIGTERM:\n"
                               + self.log_tail())
        return rc

    @property
    def valgrind_log(self):
        """memcheck's log of the helper process (not of its children)."""
        return os.path.join(self.dir, f"valgrind.{self.pid}.log")

    def valgrind_report(self):
        """memcheck's ValgrindReport on the helper: complete once it stopped."""
        return ValgrindReport.read(self.valgrind_log)

    def close(self):
        """Kill whatever is left and remove the directory.  Raises
        HarnessError afterwards if the daemon had died by itself (a crash the
        test did not look for).  Under valgrind a helper still running is
        first stopped with SIGTERM, so that memcheck writes its summary, and
        HarnessError is raised too if that summary shows any error or
        definitely lost block."""
        died = memcheck = None
        if self.proc is not None:
            if not self.stopped and self.proc.poll() is not None:
                died = self.proc.returncode
            if self.valgrind and self.proc.poll() is None:
                terminate(self.proc, signal.SIGTERM, 10.0 * self.slowdown)
            terminate(self.proc, signal.SIGKILL, 5.0)
        print(f"--- {self.log_file} ---\n{self.log_tail(200)}")
        if self.valgrind and self.proc is not None:
            print(f"--- {self.valgrind_log} ---\n{log_tail(self.valgrind_log, 200)}")
            if os.path.exists(self.valgrind_log):
                report = self.valgrind_report()
                if report.errors or report.definitely_lost:
                    memcheck = report
        shutil.rmtree(self.dir, ignore_errors=True)
        if died is not None:
            raise HarnessError(f"sectxd died during the test with status {died}")
        if memcheck is not None:
            raise HarnessError(f"memcheck on sectxd: {memcheck!r} (its log is printed above)")
