"""sshd_harness - a private OpenSSH sshd whose PAM service uses pam_sectx.so,
and ssh client runs against it, for test_sshd.py.

Sshd runs /usr/sbin/sshd -D as the main process of a private mount namespace
(unshare --mount --propagation private), in which a test file is bind-mounted
over /etc/pam.d/sshd: the system's PAM configuration is never edited and no
other process sees the test stack.  Everything else sshd reads or writes
(config, host key, pid file, log) lives in its own public directory under
/tmp; the only system path it needs is its privilege separation directory
/run/sshd, created if missing and removed afterwards only if created here.

stop() ends sshd and then every process left in its mount namespace (the
per-connection monitors and the user's session processes), by pid, so the
namespace ends with it.  stdlib only.
"""

import os
import shutil
import signal
import socket
import subprocess

from pam_harness import _needed_asan
from sectx_harness import HarnessError, log_tail, make_public_tmpdir, run, spawn, wait_until

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"
START_ATTEMPTS = 3     # a picked port may be taken before sshd binds it
START_TIMEOUT = 15.0   # seconds for sshd to listen


def free_port():
    """A 127.0.0.1 TCP port free right now (sshd must bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pam_service_text(module, socket_dir, options=""):
    """The test's /etc/pam.d/sshd: pam_sectx.so (by absolute path) alone in
    each group, `required`.  Every user these tests log in is a realm user,
    so the module answers SUCCESS or a failure and never PAM_IGNORE (a stack
    of ignores alone would be denied, which is the safe side anyway)."""
    args = " ".join(a for a in (f"socket_dir={socket_dir}", options) if a)
    return "".join(f"{group:<8} required {module} {args}\n"
                   for group in ("auth", "account", "password", "session"))


def _mount_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _pids_in_ns(ns, exclude=()):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in exclude and _mount_ns(name) == ns:
            pids.append(int(name))
    return pids


class Sshd:
    """One private sshd on 127.0.0.1:port.  Attributes: dir, port, log_file
    (sshd -E), config_file, pam_file, host_key."""

    def __init__(self, module, socket_dir, pam_options="", extra_config=()):
        self.module = module
        self.dir = make_public_tmpdir("sectx-sshd-")
        self.config_file = os.path.join(self.dir, "sshd_config")
        self.pam_file = os.path.join(self.dir, "pam.sshd")
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.log_file = os.path.join(self.dir, "sshd.log")
        self.out_file = os.path.join(self.dir, "sshd.out")
        self.extra_config = list(extra_config)
        self.proc = None
        self.ns = None
        self.port = None
        self.made_privsep_dir = False
        with open(self.pam_file, "w") as f:
            f.write(pam_service_text(module, socket_dir, pam_options))
        os.chmod(self.pam_file, 0o644)
        r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sectx-test",
                 "-f", self.host_key], timeout=30)
        if r.returncode != 0:
            raise HarnessError(f"ssh-keygen failed ({r.returncode}): {r.stderr}")

    def _write_config(self):
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            "UsePAM yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication yes",
            "PubkeyAuthentication no",
            "HostbasedAuthentication no",
            "GSSAPIAuthentication no",
            "PermitEmptyPasswords no",
            "AuthorizedKeysFile none",
            "StrictModes no",
            "PermitRootLogin no",
            "UseDNS no",
            "PermitTTY no",          # no pty: no utmp/wtmp/lastlog records
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "MaxSessions 10",
            "MaxAuthTries 3",
            "LoginGraceTime 60",
            "LogLevel DEBUG1",
        ] + self.extra_config
        with open(self.config_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.config_file, 0o644)
        r = run([SSHD, "-t", "-f", self.config_file], timeout=30)
        if r.returncode != 0:
            raise HarnessError(f"sshd -t rejects {self.config_file}: {r.stderr}")

    def _env(self):
        """sshd's environment.  A module built with AddressSanitizer can only
        be loaded into a process whose first library is the ASan runtime:
        then sshd gets it preloaded (leak checks off: sshd itself is not
        instrumented), so the module is checked inside a real sshd too."""
        env = dict(os.environ)
        asan = _needed_asan(self.module)
        if asan is not None:
            env["LD_PRELOAD"] = asan
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        return env

    def start(self):
        """Start sshd in its namespace and wait until it listens.  Raises
        HarnessError with the log if it does not."""
        if not os.path.isdir(PRIVSEP_DIR):
            os.mkdir(PRIVSEP_DIR, 0o755)
            self.made_privsep_dir = True
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self._write_config()
            script = ('mount --bind "$1" /etc/pam.d/sshd || exit 97; '
                      'exec "$2" -D -f "$3" -E "$4"')
            self.proc = spawn(["unshare", "--mount", "--propagation", "private", "--",
                               "/bin/sh", "-c", script, "sh", self.pam_file, SSHD,
                               self.config_file, self.log_file], self.out_file,
                              env=self._env())
            state = wait_until(self._listening, START_TIMEOUT, 0.05)
            if state == "up":
                return self
            self.stop()
            if "Address already in use" not in self.log_text():
                break
        raise HarnessError(f"sshd did not start:\n{self.logs()}")

    def _listening(self):
        if self.proc.poll() is not None:
            return "exited"
        if self.ns is None:
            # once sh has exec'd sshd, the namespace is the one sshd runs in
            try:
                with open(f"/proc/{self.proc.pid}/comm") as f:
                    if f.read().strip() != "sshd":
                        return None
            except OSError:
                return None
            self.ns = _mount_ns(self.proc.pid)
        if "Server listening on 127.0.0.1" not in self.log_text():
            return None
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return None
        return "up"

    def pam_file_seen_by_sshd(self):
        """The text of /etc/pam.d/sshd as sshd sees it (through its root)."""
        with open(f"/proc/{self.proc.pid}/root/etc/pam.d/sshd") as f:
            return f.read()

    def log_text(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def logs(self, lines=80):
        return (f"--- {self.log_file} ---\n{log_tail(self.log_file, lines)}"
                f"--- {self.out_file} ---\n{log_tail(self.out_file, 20)}")

    def children(self):
        """Pids of the processes in sshd's namespace other than sshd itself
        (connection monitors and session processes)."""
        if self.ns is None or self.proc is None:
            return []
        return _pids_in_ns(self.ns, exclude=(self.proc.pid,))

    def stop(self):
        """SIGTERM sshd (SIGKILL after 5 s), then SIGKILL whatever is left in
        its namespace.  Idempotent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.ns is not None:
                for _ in range(20):
                    left = _pids_in_ns(self.ns)
                    if not left:
                        break
                    for pid in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    wait_until(lambda: not _pids_in_ns(self.ns), 2.0)
            self.proc = None
        self.ns = None

    def close(self):
        """stop() and remove the directory (and /run/sshd if made here)."""
        self.stop()
        print(self.logs(200))
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.made_privsep_dir:
            shutil.rmtree(PRIVSEP_DIR, ignore_errors=True)
            self.made_privsep_dir = False


def ssh_argv(port, user, method, *extra):
    """argv of an ssh client logging in as user with only method
    ("password" or "keyboard-interactive"), with no config file, no known
    hosts and no key; extra options go before the destination."""
    return ["ssh", "-F", "/dev/null", "-p", str(port),
            "-o", f"PreferredAuthentications={method}",
            "-o", "PubkeyAuthentication=no", "-o", "GSSAPIAuthentication=no",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=none",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-T",
            *extra, f"{user}@127.0.0.1"]


SSHPASS = ["sshpass", "-e"]  # the password from $SSHPASS, not from argv


def client_env(password):
    """The ssh client's environment: no Kerberos or agent variables of ours,
    the password for sshpass -e."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRB5", "SSH_", "SECTX_"))}
    env["SSHPASS"] = password
    return env
