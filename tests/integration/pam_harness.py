"""pam_harness - drive pam_sectx.so through real libpam for the integration
tests: local test users, a sectxd configured for the test realm, a PAM
service directory for pam_wrapper, and runs of the scripted PAM application
(tests/integration/pam_driver.c) or pamtester.

  * LocalUser: a real account made with useradd (unique name sx<hex>, whose
    principal is <name>@SECTX.TEST), removed with userdel -r, with any
    credential cache left under /tmp by its uid.
  * PamSectxd: a Sectxd whose config also has the [kerberos] keys a login
    needs (realm, keytab, kdc_timeout); its environment points libkrb5 at
    the realm's krb5.conf.  Under valgrind (see Sectxd) kdc_timeout is
    VALGRIND_KDC_TIMEOUT unless given.
  * PamStack: a pam_wrapper service directory whose service uses the built
    module by absolute path (a public copy) with socket_dir=<the helper's>;
    run() executes one transaction and returns a PamRun.  When every helper
    of the run is under valgrind ($SECTX_VALGRIND), the module's timeout is
    VALGRIND_PAM_TIMEOUT_MS unless the options give one.

Each group's line is followed by pam_debug.so returning PAM_MODULE_UNKNOWN
(a code pam_sectx never returns): when pam_sectx returns PAM_IGNORE, libpam
would otherwise turn a stack of ignores into PAM_PERM_DENIED, and the tests
could not tell "ignored" from "denied".  PamRun.code() reports that case as
"PAM_IGNORE".

It never touches a system PAM file: pam_wrapper redirects libpam to the
test's service directory.  stdlib only.
"""

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time

from sectx_harness import HarnessError, Sectxd, make_public_tmpdir, run, valgrind_requested

REALM = "SECTX.TEST"
VALGRIND_KDC_TIMEOUT = "30s"      # [kerberos] kdc_timeout of a helper under valgrind
VALGRIND_PAM_TIMEOUT_MS = 60000   # the module's timeout= for a helper under valgrind
PAM_WRAPPER_LIB = "libpam_wrapper.so"
# pam_wrapper 1.1.4 picks its runtime dir /tmp/pam.<c> (shared by every
# pam_wrapper process on the machine) with lstat() then mkdir(), ignoring
# EEXIST: two processes starting together may share one, and the first to
# exit removes it under the other, which then finds no file for its service
# at pam_start (falling back to "other", or to nothing).  No module of the
# service has run: such a run is the harness's failure, and is retried.
PWRAP_RACE = re.compile(r"pwrap_init: Failed to create pam_wrapper config dir"
                        r"|_pam_init_handlers: no default config other"
                        r"|Failed to copy config files"
                        r"|\b(auth|acct)=module_unknown")
HARNESS_RETRIES = 3
IGNORED_MARK = "PAM_MODULE_UNKNOWN"  # what pam_debug returns after a PAM_IGNORE
_DEBUG_INFO = re.compile(r"^(auth|cred|acct|prechauthtok|chauthtok|open_session|close_session)"
                         r"=module_unknown$")
_SYSLOG = re.compile(r"SYSLOG\((\d)\): (.*)$")

# --- local users ---------------------------------------------------------------


class LocalUser:
    """A local account (useradd -m) and, if principal, its principal in the
    realm with password.  Attributes: name, uid, gid, principal, password."""

    def __init__(self, realm, principal=True, password=None, extra_args=()):
        self.name = "sx" + secrets.token_hex(4)
        self.principal = f"{self.name}@{REALM}"
        self.password = None
        r = run(["useradd", "--create-home", "--shell", "/bin/sh", "--comment",
                 "sectx test user", self.name])
        if r.returncode != 0:
            raise HarnessError(f"useradd {self.name} failed ({r.returncode}): {r.stderr}")
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        if principal:
            self.password = realm.addprinc(
                self.name, password=password or "Pw-" + secrets.token_urlsafe(12),
                extra_args=("+requires_preauth",) + tuple(extra_args))

    def ccache_files(self):
        """FILE ccaches of this uid under /tmp (the default template)."""
        return [p for p in glob.glob(f"/tmp/krb5cc_{self.uid}_*")
                if os.lstat(p).st_uid == self.uid]

    def remove(self):
        """userdel -r, and the ccaches its uid left in /tmp.  Returns the
        userdel CompletedProcess."""
        for path in self.ccache_files():
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        return run(["userdel", "--remove", self.name])


# --- the helper -------------------------------------------------------------------


class PamSectxd(Sectxd):
    """A Sectxd for logins: [sectxd] as Sectxd writes it, plus [kerberos]
    realm, keytab and kdc_timeout (and any further kerberos keys)."""

    def __init__(self, sectxd_bin, sectxctl_bin, realm, keytab, kerberos=None, valgrind=None,
                 **settings):
        self.kerberos = {"realm": REALM, "keytab": keytab, "kdc_timeout": "3s"}
        if valgrind_requested(valgrind):
            self.kerberos["kdc_timeout"] = VALGRIND_KDC_TIMEOUT
        self.kerberos.update(kerberos or {})
        super().__init__(sectxd_bin, sectxctl_bin, env=realm.env(), valgrind=valgrind,
                         **settings)

    def config_text(self, **changes):
        keys = {"log_level": "debug", "max_connections": "1024",
                "max_connections_per_uid": "256", "client_timeout": "10s",
                "idle_timeout": "5m"}
        keys.update(self.settings)
        keys.update(changes)
        lines = ["[sectxd]", f"socket_dir = {self.socket_dir}",
                 f"state_dir = {self.state_dir}"]
        lines += [f"{k} = {v}" for k, v in keys.items()]
        lines += ["", "[kerberos]"] + [f"{k} = {v}" for k, v in self.kerberos.items()]
        return "\n".join(lines) + "\n"


# --- one transaction ---------------------------------------------------------------


class PamRun:
    """What pam_driver printed for one transaction.

    steps     [(step, code name)] in order
    messages  [(kind, text)]: prompt_echo_off, prompt_echo_on, info, error
              (pam_debug's own lines left out)
    envs      one dict per `env` step
    fds       one list per `fds` step: (fd, peer path or "-") of each open socket
    delays    fail delays libpam reported, in microseconds
    log       the module's syslog lines (pam_wrapper prints them on stderr)
    elapsed   seconds the whole run took
    """

    def __init__(self, proc, elapsed):
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.elapsed = elapsed
        self.steps, self.messages, self.envs, self.delays = [], [], [], []
        self.fds = []
        env = sockets = None
        for line in self.stdout.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "step":
                name, _, codes = rest.partition(" ")
                self.steps.append((name, codes.split()[1]))
            elif kind in ("prompt_echo_off", "prompt_echo_on", "error"):
                self.messages.append((kind, rest))
            elif kind == "info":
                if not _DEBUG_INFO.match(rest):
                    self.messages.append((kind, rest))
            elif kind == "fail_delay":
                self.delays.append(int(rest))
            elif kind == "env":
                env = {} if env is None else env
                name, _, value = rest.partition("=")
                env[name] = value
            elif kind == "env_end":
                self.envs.append(env or {})
                env = None
            elif kind == "fd":
                number, _, peer = rest.partition(" socket ")
                sockets = [] if sockets is None else sockets
                sockets.append((int(number), peer))
            elif kind == "fds_end":
                self.fds.append(sockets or [])
                sockets = None
        self.log = [m.group(2) for m in map(_SYSLOG.search, self.stderr.splitlines()) if m]

    def code(self, step, nth=0):
        """The PAM code name pam_sectx returned for the nth run of step
        (PAM_IGNORE where pam_debug's marker shows it was ignored)."""
        codes = [c for s, c in self.steps if s == step]
        if len(codes) <= nth:
            raise AssertionError(f"step {step} did not run: {self}")
        return "PAM_IGNORE" if codes[nth] == IGNORED_MARK else codes[nth]

    @property
    def env(self):
        """The PAM environment printed by the last `env` step."""
        if not self.envs:
            raise AssertionError(f"no env step in this run: {self}")
        return self.envs[-1]

    def texts(self, *kinds):
        return [t for k, t in self.messages if k in kinds]

    @property
    def prompts(self):
        return self.texts("prompt_echo_off", "prompt_echo_on")

    @property
    def user_messages(self):
        """What the user was shown besides prompts: info and error lines."""
        return [(k, t) for k, t in self.messages if k in ("info", "error")]

    def __repr__(self):
        return (f"PamRun(rc={self.returncode}, steps={self.steps}, messages={self.messages}, "
                f"envs={self.envs}, elapsed={self.elapsed:.2f}s)\n--- stderr ---\n"
                + "\n".join(l for l in self.stderr.splitlines() if "PWRAP_TRACE" not in l)[-4000:])


# --- the PAM configuration ---------------------------------------------------------

GROUPS = ("auth", "account", "password", "session")
CONTROL = "[success=done new_authtok_reqd=done ignore=ignore default=die]"
DEBUG_ARGS = ("auth=module_unknown cred=module_unknown acct=module_unknown "
              "prechauthtok=module_unknown chauthtok=module_unknown "
              "open_session=module_unknown close_session=module_unknown")


def _needed_asan(path):
    """Path of the ASan runtime path links against, or None."""
    r = run(["ldd", path])
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) >= 3:
            return parts[2]
    return None


class PamStack:
    """A pam_wrapper service directory with one service, SERVICE, using
    module (an absolute path) for all four groups, each with socket_dir,
    options and group_options[group], after the raw lines of before[group].
    run() executes driver with it."""

    SERVICE = "sectx-test"

    def __init__(self, module, driver, socket_dir, options="", before=None, **group_options):
        self.module, self.driver = module, driver
        if valgrind_requested() and "timeout=" not in options:
            options = f"{options} timeout={VALGRIND_PAM_TIMEOUT_MS}".strip()
        self.dir = make_public_tmpdir("sectx-pamd-")
        lines = []
        for group in GROUPS:
            # raw lines ahead of ours, e.g. {"auth": ["optional pam_unix.so"]}
            lines += [f"{group} {line}" for line in (before or {}).get(group, ())]
            args = " ".join(a for a in (f"socket_dir={socket_dir}", options,
                                        group_options.get(group, "")) if a)
            lines.append(f"{group} {CONTROL} {module} {args}")
            lines.append(f"{group} required pam_debug.so {DEBUG_ARGS}")
        with open(os.path.join(self.dir, self.SERVICE), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.dir, "other"), "w") as f:  # no system fallback
            f.write("".join(f"{g} required pam_deny.so\n" for g in GROUPS))
        self.asan = _needed_asan(module) or _needed_asan(driver)

    def env(self, extra=None):
        """Environment of a PAM application under pam_wrapper."""
        env = dict(os.environ)
        # An ASan build: its runtime must come first in the library list.
        preload = [PAM_WRAPPER_LIB] if self.asan is None else [self.asan, PAM_WRAPPER_LIB]
        env.update(LD_PRELOAD=" ".join(preload), PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=self.dir, PAM_WRAPPER_DEBUGLEVEL="2")
        for name in ("KRB5CCNAME", "SECTX_SOCKET_DIR"):
            env.pop(name, None)
        env.update(extra or {})
        return env

    def run(self, user, *steps, answers=(), rhost=None, tty=None, putenv=(), silent=False,
            real_delay=False, real_ids=None, env=None, timeout=60):
        """Run pam_driver for user with steps (see pam_driver.c), answering
        prompts with answers in order; real_ids=(uid, gid) runs the stack as
        sudo does (those real ids, euid 0); env adds to its environment.
        Returns a PamRun."""
        argv = [self.driver]
        if real_ids is not None:
            argv += ["--real-uid", f"{real_ids[0]}:{real_ids[1]}"]
        if rhost is not None:
            argv += ["--rhost", rhost]
        if tty is not None:
            argv += ["--tty", tty]
        for item in putenv:
            argv += ["--putenv", item]
        if silent:
            argv.append("--silent")
        if real_delay:
            argv.append("--real-delay")
        argv += [self.SERVICE, user, *steps]
        for _ in range(HARNESS_RETRIES):
            start = time.monotonic()
            proc = subprocess.run(argv, input="".join(a + "\n" for a in answers),
                                  capture_output=True, text=True, timeout=timeout,
                                  env=self.env(env))
            result = PamRun(proc, time.monotonic() - start)
            if result.returncode == 0 or not PWRAP_RACE.search(proc.stdout + proc.stderr):
                break
        if result.returncode != 0:
            raise HarnessError(f"pam_driver failed: {result}")
        return result

    def pamtester(self, user, *operations, password="", timeout=60):
        """Run `pamtester -v SERVICE user operations...` with password on
        stdin (pamtester's conversation reads it there).  Returns
        (CompletedProcess, elapsed seconds)."""
        start = time.monotonic()
        proc = subprocess.run(["pamtester", "-v", self.SERVICE, user, *operations],
                              input=password + "\n", capture_output=True, text=True,
                              timeout=timeout, env=self.env())
        return proc, time.monotonic() - start

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def ccache_path(ccname):
    """The file behind a FILE: ccache name (or a bare path)."""
    return ccname[5:] if ccname.startswith("FILE:") else ccname


def klist_as(user, ccname, realm):
    """klist -c ccname run as user (a LocalUser), with the realm's krb5.conf."""
    return run(["klist", "-c", ccname], uid=user.name, env=realm.env(), timeout=30)


def write_keytab(realm, principal):
    """A new public temp dir holding a keytab (0600) with principal's keys.
    Returns (directory, keytab path)."""
    d = make_public_tmpdir("sectx-pamkt-")
    path = os.path.join(d, "krb5.keytab")
    realm.addprinc(principal, randkey=True)
    realm.ktadd(principal, path)
    os.chmod(path, 0o600)
    return d, path


__all__ = ["LocalUser", "PamRun", "PamSectxd", "PamStack", "ccache_path", "klist_as",
           "write_keytab", "REALM", "VALGRIND_PAM_TIMEOUT_MS"]
