#!/usr/bin/python3
"""login_bench - whole-process PAM login latency and parallel throughput of
pam_sectx.so (through a warm sectxd) against Debian's pam_krb5.so
(libpam-krb5, TGT validated with a keytab), on one throwaway MIT realm on
loopback, in one invocation.

Run as root from the top of the checkout, after building out of tree:

    sudo /usr/bin/python3 bench/login_bench.py --builddir build/bench -n 200 --parallel 16

Each login is one pamtester process under pam_wrapper doing
`authenticate acct_mgmt` with the password on stdin, timed from spawn to
exit.  Three PAM services share one pam_wrapper service directory:

  sectx-bench  auth + account: pam_sectx.so socket_dir=<the sectxd's>
  krb5-bench   auth: pam_krb5.so keytab=<host keytab> no_ccache; account: pam_permit
  floor        auth + account: pam_permit (the process, libpam and
               pam_wrapper cost every sample pays; not a competitor)

Latency: samples are interleaved (sectx, pam_krb5, floor, sectx, ...) so
that drift hits all alike.  Throughput: --parallel workers each run
--per-worker logins back to back; the modules' batches alternate for
--rounds rounds.  Every login must succeed, and the KDC log must show one
validation (TGS for the module's own host principal) per login of each
module; otherwise the figures are printed and the exit status is 1.

pam_sss (SSSD's krb5 provider) is measured by nobody here: where
pam_sss.so is installed the report says that it is not set up by this bench,
where it is not it says so.  sectxd's CPU per login is user+sys from
/proc/PID/stat over the N sequential sectx logins (and per batch in the
parallel phase).  Last, bench/s2k_bench (the string-to-key micro-benchmark:
sectx vs krb5_c_string_to_key vs PKCS5_PBKDF2_HMAC_SHA1) runs from the same
build.

Targets of issue 14 (not gates): sectxd CPU per login <= 3 ms; sectx median
<= 0.6 x pam_krb5's; sectx 16-parallel throughput >= 2 x pam_krb5's (and
>= 4 x pam_sss's, where it is measured).  Only loopback is used; everything made (realm,
sectxd, users, temp dirs) is removed in finally blocks.
"""

import argparse
import contextlib
import io
import math
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from pam_harness import HARNESS_RETRIES, PAM_WRAPPER_LIB, PWRAP_RACE, LocalUser  # noqa: E402
from realm import Realm  # noqa: E402
from sectx_harness import Sectxd, make_public_tmpdir  # noqa: E402

SECTX, KRB5, FLOOR = "sectx-bench", "krb5-bench", "floor"
LABEL = {SECTX: "pam_sectx", KRB5: "pam_krb5", FLOOR: "floor (pam_permit)"}
HOST = {SECTX: "host/sectx-bench.sectx.test", KRB5: "host/krb5-bench.sectx.test"}
PAM_OPS = ("authenticate", "acct_mgmt")
TIMEOUT = 60.0  # seconds one pamtester may take before it counts as failed
# pam_wrapper start-up collisions: see PWRAP_RACE in pam_harness.py.  A
# service file missing at pam_start falls back to "other" (here pam_debug,
# whose info message marks the case): such a run is retried, counted apart.
OTHER_MARK = ("auth=module_unknown acct=module_unknown cred=module_unknown "
              "open_session=module_unknown close_session=module_unknown "
              "prechauthtok=module_unknown chauthtok=module_unknown")


class Failures:
    """Failed logins, counted per service, with the first few outputs kept."""

    KEEP = 5

    def __init__(self):
        self.lock = threading.Lock()
        self.count = {}
        self.shown = []

    def add(self, service, what):
        with self.lock:
            self.count[service] = self.count.get(service, 0) + 1
            if len(self.shown) < self.KEEP:
                self.shown.append(f"[{service}] {what}")

    def total(self):
        return sum(self.count.values())


class Bench:
    def __init__(self, args):
        self.args = args
        self.builddir = os.path.abspath(args.builddir)
        self.failures = Failures()
        self.done = {SECTX: 0, KRB5: 0, FLOOR: 0}  # successful logins, warm-up included
        self.done_lock = threading.Lock()
        self.harness_retries = 0

    # -- set-up --------------------------------------------------------------

    def setup(self, stack):
        """Everything the logins need; each piece registered on stack (an
        ExitStack) as soon as it exists, so a failure midway cleans up."""
        for name in ("sectxd", "sectxctl", ".libs/pam_sectx.so"):
            if not os.path.isfile(os.path.join(self.builddir, name)):
                sys.exit(f"login_bench: {self.builddir}/{name} is not built")
        for tool in ("pamtester", "krb5kdc"):
            if shutil.which(tool) is None:
                sys.exit(f"login_bench: {tool} is not installed")
        if not os.path.exists("/lib/x86_64-linux-gnu/security/pam_krb5.so") and \
                not os.path.exists("/usr/lib/x86_64-linux-gnu/security/pam_krb5.so"):
            sys.exit("login_bench: pam_krb5.so is not installed (apt-get install libpam-krb5)")

        self.tmp = make_public_tmpdir("sectx-bench-")
        stack.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        # a public copy of the module, as the integration tests use
        self.module = os.path.join(self.tmp, "pam_sectx.so")
        shutil.copy2(os.path.join(self.builddir, ".libs", "pam_sectx.so"), self.module)
        os.chmod(self.module, 0o755)

        self.realm = Realm()
        stack.callback(self.realm.stop)

        # One user and one host principal per module, so that the KDC log
        # tells the modules' requests apart.
        self.users = {}
        for service in (SECTX, KRB5):
            user = LocalUser(self.realm)
            stack.callback(user.remove)
            self.users[service] = user
        self.keytab = {}
        for service in (SECTX, KRB5):
            path = os.path.join(self.tmp, f"{service}.keytab")
            self.realm.addprinc(HOST[service], randkey=True)
            self.realm.ktadd(HOST[service], path)
            os.chmod(path, 0o600)
            self.keytab[service] = path

        self.sectxd = Sectxd(os.path.join(self.builddir, "sectxd"),
                             os.path.join(self.builddir, "sectxctl"), env=self.realm.env(),
                             sections={"kerberos": self.kerberos_keys()},
                             log_level="warning")
        stack.callback(self.close_sectxd)
        self.sectxd.start()

        self.pamd = os.path.join(self.tmp, "pam.d")
        os.mkdir(self.pamd, 0o755)
        services = {
            SECTX: [f"auth required {self.module} socket_dir={self.sectxd.socket_dir}",
                    f"account required {self.module} socket_dir={self.sectxd.socket_dir}"],
            KRB5: [f"auth required pam_krb5.so keytab={self.keytab[KRB5]} no_ccache",
                   "account required pam_permit.so"],
            FLOOR: ["auth required pam_permit.so", "account required pam_permit.so"],
            # Never used by a login that went right: reaching it means that the
            # service's file was missing at pam_start (see PWRAP_RACE).
            "other": [f"{g} required pam_debug.so {OTHER_MARK}" for g in ("auth", "account",
                                                                         "password", "session")],
        }
        for name, lines in services.items():
            with open(os.path.join(self.pamd, name), "w") as f:
                f.write("\n".join(lines) + "\n")
        self.services_text = services

        rcache = os.path.join(self.tmp, "rcache")
        os.mkdir(rcache, 0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KRB5", "PAM_WRAPPER", "SECTX_")) and k != "LD_PRELOAD"}
        env.update(LD_PRELOAD=PAM_WRAPPER_LIB, PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=self.pamd, KRB5_CONFIG=self.realm.krb5_conf,
                   KRB5RCACHEDIR=rcache)
        self.env = env

    def kerberos_keys(self):
        """sectxd's [kerberos] keys: keytab, kdc_timeout 5s, then --kerberos."""
        keys = {"keytab": self.keytab[SECTX], "kdc_timeout": "5s"}
        for item in self.args.kerberos:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                sys.exit(f"login_bench: --kerberos {item!r} is not KEY=VALUE")
            keys[key.strip()] = value.strip()
        return keys

    def close_sectxd(self):
        """Stop sectxd; summarise its log if it logged anything (warning level)."""
        try:
            log = [l for l in self.sectxd.log_text().splitlines() if l.strip()]
        except OSError:
            log = []
        error = None
        with contextlib.redirect_stdout(io.StringIO()):  # close() prints the log tail
            try:
                self.sectxd.close()
            except AssertionError as e:
                error = e
        if log:
            # "2026-...Z sectxd[pid] warning: text": count each distinct text
            counts = {}
            for line in log:
                text = re.sub(r"^\S+ sectxd\[\d+\] ", "", line)
                counts[text] = counts.get(text, 0) + 1
            print(f"sectxd log (warning and above): {len(log)} lines, by message:")
            for text, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                print(f"  {n:5d} x {text}")
        if error is not None:
            raise error

    # -- one login -----------------------------------------------------------

    def login(self, service):
        """One login for service: login_once(), again (up to HARNESS_RETRIES
        times) when pam_wrapper itself failed to start.  Returns (seconds
        from spawn to exit, child rusage) on success, None on failure
        (recorded)."""
        for _ in range(HARNESS_RETRIES):
            r = self.login_once(service)
            if r != "harness":
                return r
            with self.done_lock:
                self.harness_retries += 1
        self.failures.add(service, "pam_wrapper failed to start on every try")
        return None

    def login_once(self, service):
        """One pamtester process for service.  Returns (seconds, rusage) on
        success, "harness" if pam_wrapper failed before libpam ran (see
        PWRAP_RACE), else None (recorded)."""
        user = self.users.get(service, self.users[SECTX])
        argv = ["pamtester", "-v", service, user.name, *PAM_OPS]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=self.env)
        timer = threading.Timer(TIMEOUT, proc.kill)
        timer.start()
        try:
            proc.stdin.write(user.password.encode() + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass
        output = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        text = output.decode(errors="replace")
        if proc.returncode != 0 and PWRAP_RACE.search(text):
            return "harness"
        if proc.returncode != 0 or "successfully authenticated" not in text:
            self.failures.add(service, f"exit {proc.returncode} after {elapsed * 1000:.0f} ms: "
                              f"{text.strip()[-600:]}")
            return None
        with self.done_lock:
            self.done[service] += 1
        return elapsed, usage

    # -- phases --------------------------------------------------------------

    def warmup(self):
        for _ in range(self.args.warmup):
            for service in (SECTX, KRB5, FLOOR):
                self.login(service)

    def sequential(self):
        """n interleaved samples of each service: latencies (s) and child CPU (s)."""
        lat = {s: [] for s in (SECTX, KRB5, FLOOR)}
        cpu = {s: [] for s in (SECTX, KRB5, FLOOR)}
        helper_cpu0 = group_cpu(self.sectxd.pid)
        for _ in range(self.args.n):
            for service in (SECTX, KRB5, FLOOR):
                r = self.login(service)
                if r is not None:
                    lat[service].append(r[0])
                    cpu[service].append(r[1].ru_utime + r[1].ru_stime)
        helper_cpu = group_cpu(self.sectxd.pid) - helper_cpu0
        return lat, cpu, helper_cpu

    def batch(self, service):
        """--parallel workers, each --per-worker logins back to back.
        Returns (successful logins, wall seconds, per-login latencies, CPU
        seconds of clients, sectxd and KDC during the batch, TCP listen
        overflows during the batch)."""
        workers, each = self.args.parallel, self.args.per_worker
        barrier = threading.Barrier(workers + 1)
        lats, lock = [], threading.Lock()

        def work():
            barrier.wait()
            for _ in range(each):
                r = self.login(service)
                if r is not None:
                    with lock:
                        lats.append(r[0])

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        kids0, drops0 = children_cpu(), listen_overflows()
        helper0, kdc0 = group_cpu(self.sectxd.pid), group_cpu(self.realm.procs["krb5kdc"].pid)
        start = time.perf_counter()
        barrier.wait()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        return (len(lats), wall, lats, children_cpu() - kids0,
                group_cpu(self.sectxd.pid) - helper0,
                group_cpu(self.realm.procs["krb5kdc"].pid) - kdc0,
                listen_overflows() - drops0)

    def parallel(self):
        results = {SECTX: [], KRB5: []}
        for rnd in range(self.args.rounds):
            order = (SECTX, KRB5) if rnd % 2 == 0 else (KRB5, SECTX)
            for service in order:
                results[service].append(self.batch(service))
        return results

    # -- the KDC's view ------------------------------------------------------

    def kdc_counts(self):
        """Per module: KDC requests naming its user or host principal, and
        TGS tickets issued to its user for its host principal (validations)."""
        log = self.realm.log_text("kdc.log").splitlines()
        r = self.realm.realm
        out = {}
        for service in (SECTX, KRB5):
            user = f"{self.users[service].name}@{r}"
            host = f"{HOST[service]}@{r}"
            mine = [l for l in log if re.search(r"\b(AS|TGS)_REQ\b", l)
                    and (user in l or host in l)]
            valid = [l for l in mine if "TGS_REQ" in l and "ISSUE" in l
                     and f"{user} for {host}" in l]
            kinds = {}
            for l in mine:
                m = re.search(r"\b(AS_REQ|TGS_REQ)\b.*?: ([A-Z_]+):", l)
                key = f"{m.group(1)} {m.group(2)}" if m else "other"
                kinds[key] = kinds.get(key, 0) + 1
            out[service] = (len(mine), len(valid), kinds)
        return out


# --- measurements ---------------------------------------------------------------


def group_cpu(pgid):
    """CPU seconds (user+system, with reaped children) of the live processes
    in process group pgid."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def listen_overflows():
    """TcpExt ListenOverflows of this network namespace: connections a full
    accept queue turned away (the client retries its SYN after 1 s, 2 s...).
    Counts every listener here, not only the KDC's."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def sss_status():
    """Why pam_sss is not in the comparison."""
    for d in ("/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security"):
        if os.path.exists(os.path.join(d, "pam_sss.so")):
            return ("pam_sss.so is installed but this bench does not set up an SSSD krb5 "
                    "domain: not measured")
    return "not installed on this machine (libpam-sss, sssd-krb5): not measured"


def s2k_micro(builddir):
    """The output of bench/s2k_bench, or why it did not run."""
    prog = os.path.join(builddir, "bench", "s2k_bench")
    if not os.access(prog, os.X_OK):
        return f"{prog} is not built (make bench/s2k_bench)"
    r = subprocess.run([prog, "200"], capture_output=True, text=True, timeout=600)
    return (r.stdout + r.stderr).rstrip() + ("" if r.returncode == 0 else
                                             f"\ns2k_bench exit status {r.returncode}")


def p95(values):
    """Nearest-rank 95th percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def ms(seconds):
    return f"{seconds * 1000:8.1f}"


def ratio(a, b):
    return a / b if b else float("nan")


# --- the report -------------------------------------------------------------------


def machine_lines(argv):
    u = os.uname()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for pkg in ("libpam-krb5", "libkrb5-3", "pamtester", "libpam-wrapper"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                           text=True)
        versions.append(f"{pkg} {r.stdout.strip() or '?'}")
    return [f"command: {' '.join(shlex.quote(a) for a in argv)}",
            f"machine: nproc {os.cpu_count()}, {cpu}, kernel {u.sysname} {u.release} "
            f"{u.machine}, Python {platform.python_version()}",
            "packages: " + ", ".join(versions), loadavg("at start")]


def loadavg(when):
    """The load average line: the machine should be otherwise idle."""
    with open("/proc/loadavg") as f:
        return f"load average {when}: {' '.join(f.read().split()[:3])}"


def report(bench, lat, cpu, helper_seq_cpu, par, kdc):
    a = bench.args
    print(f"\n== latency: {a.n} interleaved whole-process logins per service "
          f"(pamtester {' '.join(PAM_OPS)}), ms ==")
    print(f"{'service':<20}{'ok':>6}{'median':>9}{'p95':>9}{'mean':>9}{'min':>9}"
          f"{'client CPU':>12}")
    for s in (SECTX, KRB5, FLOOR):
        v = lat[s]
        if not v:
            print(f"{LABEL[s]:<20}{0:>6}  (no successful sample)")
            continue
        print(f"{LABEL[s]:<20}{len(v):>6}{ms(statistics.median(v)):>9}{ms(p95(v)):>9}"
              f"{ms(statistics.fmean(v)):>9}{ms(min(v)):>9}"
              f"{ms(statistics.median(cpu[s])):>12}")
    ok = lat[SECTX] and lat[KRB5]
    if ok:
        ms_, mk = statistics.median(lat[SECTX]), statistics.median(lat[KRB5])
        r = ratio(ms_, mk)
        print(f"ratio sectx/pam_krb5: median {r:.3f}, p95 "
              f"{ratio(p95(lat[SECTX]), p95(lat[KRB5])):.3f}   "
              f"(target <= 0.6: {'met' if r <= 0.6 else 'NOT met'})")
        if lat[FLOOR]:
            mf = statistics.median(lat[FLOOR])
            print(f"above the floor: sectx {ms(ms_ - mf).strip()} ms, pam_krb5 "
                  f"{ms(mk - mf).strip()} ms (ratio {ratio(ms_ - mf, mk - mf):.3f})")
        per = helper_seq_cpu / max(1, len(lat[SECTX]))
        print(f"sectxd CPU (user+sys, /proc) during the latency phase: "
              f"{ms(per).strip()} ms per sectx login over {len(lat[SECTX])} logins "
              f"(target <= 3 ms: {'met' if per <= 0.003 else 'NOT met'}; client CPU above is "
              "the pamtester process alone, median)")

    print(f"\n== throughput: {a.parallel} parallel workers x {a.per_worker} logins, "
          f"{a.rounds} round(s) per service, batches alternated ==")
    print(f"{'service':<11}{'ok':>5}{'wall s':>7}{'logins/s':>9}{'per round':>20}"
          f"{'med':>7}{'p95':>7}{'mean':>7}{'max':>7}{'>=1s':>5}"
          f"{'CPU ms/login: client helper KDC':>33}")
    print(f"{'':<52}(latency ms; >=1s: logins of a second or more)")
    tput = {}
    for s in (SECTX, KRB5):
        rows = par[s]
        n = sum(r[0] for r in rows)
        wall = sum(r[1] for r in rows)
        lats = [x for r in rows for x in r[2]]
        tput[s] = n / wall if wall else 0.0
        rounds = " ".join(f"{r[0] / r[1]:.1f}" for r in rows)
        c = [sum(r[i] for r in rows) * 1000 / max(1, n) for i in (3, 4, 5)]
        stats = ([statistics.median(lats), p95(lats), statistics.fmean(lats), max(lats)]
                 if lats else [])
        slow = sum(x >= 1.0 for x in lats)
        print(f"{LABEL[s]:<11}{n:>5}{wall:>7.2f}{tput[s]:>9.1f}{rounds:>20}"
              + "".join(f"{x * 1000:>7.1f}" for x in stats) + f"{slow:>5}"
              + f"{c[0]:>13.1f}{c[1]:>10.1f}{c[2]:>10.1f}")
    print("TCP accept-queue overflows during the batches (TcpExt ListenOverflows, whole "
          "namespace): " + ", ".join(f"{LABEL[s]} {sum(r[6] for r in par[s])}"
                                     for s in (SECTX, KRB5)))
    r = ratio(tput[SECTX], tput[KRB5])
    print(f"ratio sectx/pam_krb5 throughput: {r:.3f}   "
          f"(target >= 2.0: {'met' if r >= 2.0 else 'NOT met'})")
    print(f"pam_sss: {sss_status()}")

    print("\n== the KDC's view (all phases, warm-up included) ==")
    good = True
    for s in (SECTX, KRB5):
        total, valid, kinds = kdc[s]
        logins = bench.done[s]
        good &= valid == logins
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"{LABEL[s]:<10} {logins} logins, validations (TGS for {HOST[s]}) {valid}, "
              f"KDC requests {total} ({total / max(1, logins):.2f}/login: {detail})")
    if not good:
        print("ERROR: a module logged in without one validation per login")
    return good


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builddir", required=True, help="out-of-tree build with sectxd, "
                   "sectxctl and .libs/pam_sectx.so")
    p.add_argument("-n", type=int, default=200, help="latency samples per service (200)")
    p.add_argument("--parallel", type=int, default=16, help="concurrent logins (16)")
    p.add_argument("--per-worker", type=int, default=20,
                   help="logins each parallel worker runs per batch (20)")
    p.add_argument("--rounds", type=int, default=3,
                   help="parallel batches per service, alternated (3)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured logins per service (5)")
    p.add_argument("--kerberos", action="append", default=[], metavar="KEY=VALUE",
                   help="a further [kerberos] key of sectxd (e.g. fast=never), to see what a "
                   "setting costs; the comparison proper uses the defaults")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("login_bench: run as root (creates local users, starts sectxd)")
    for name in ("n", "parallel", "per_worker", "rounds"):
        if getattr(args, name) < 1:
            sys.exit(f"login_bench: --{name.replace('_', '-')} must be at least 1")

    print("\n".join(machine_lines([sys.executable] + sys.argv)))
    bench = Bench(args)
    good = False
    with contextlib.ExitStack() as stack:
        bench.setup(stack)
        print("PAM services (pam_wrapper):")
        for name in (SECTX, KRB5, FLOOR):
            for line in bench.services_text[name]:
                print(f"  {name}: {line}")
        keys = ", ".join(f"{k} = {v}" for k, v in bench.kerberos_keys().items()
                         if k != "keytab")
        print(f"sectxd: [kerberos] keytab (host/sectx-bench), {keys}; other keys at their "
              f"defaults (validate = true, fast = try); log_level = warning")
        t0 = time.perf_counter()
        bench.warmup()
        lat, cpu, helper_cpu = bench.sequential()
        par = bench.parallel()
        kdc = bench.kdc_counts()
        good = report(bench, lat, cpu, helper_cpu, par, kdc)
        print("\n== string-to-key micro-benchmark (bench/s2k_bench) ==")
        print(s2k_micro(bench.builddir))
        print(f"\nbench time {time.perf_counter() - t0:.1f} s; {loadavg('at the end')}")
    n_fail = bench.failures.total()
    if n_fail:
        print(f"FAILED LOGINS: {n_fail} "
              + ", ".join(f"{LABEL[s]} {c}" for s, c in sorted(bench.failures.count.items())))
        for line in bench.failures.shown:
            print("  " + line.replace("\n", "\n    "))
    else:
        print("failed logins: 0")
    print(f"pam_wrapper start-up collisions (harness, not a module; retried): "
          f"{bench.harness_retries}")
    return 0 if good and n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
