#!/usr/bin/python3
"""nss_bench.py - libnss_sectx lookup costs in ns/lookup, at several user counts.

    sudo python3 bench/nss_bench.py [--builddir build/nss] [SIZE ...]

(default sizes 1000 100000 1000000).  Needs root: it runs a private sectxd
and uses mount namespaces; it never touches a system file (the test
nsswitch.conf and passwd live in a tmpfs mounted on /etc in private mount
namespaces only) and
removes everything it made.  For each size N it writes N static users
(user%07u, uid 100000 + i) to a users_file and an equivalent passwd file,
starts sectxd on them, and measures with bench/nss_bench:

  (a) the module's _nss_sectx_getpwnam_r / getpwuid_r called directly
      (dlsym): the socket path (SECTX_SOCKET_DIR holding only nss.sock, so
      no cache can be mapped; this run's misses also fill the helper's
      negative cache), then, once the helper has republished, the mmap path:
      hits cycling through 1024 names ("hot") or 65536 random ones, misses
      answered by negative records;
  (b) getpwnam_r through glibc in a mount namespace with "passwd: sectx",
      next to "passwd: sectxconst" (bench/nss_constant.c: a module answering
      from a constant, glibc's own floor) and "passwd: files" over a passwd
      file with the same N users;
  (c) the first lookups of a new process (cold): COLD_ROUNDS forked children
      each dlopen the module and time their first and second getpwnam_r (the
      medians), with sectxd serving, then again after sectxd has stopped
      (SIGTERM: the cache left behind is all there is).

A benchmark, not a test: it prints figures and asserts nothing about them.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH_MAX_ITERS_SOCKET = 20000
GLIBC_ROUNDS = 3
COLD_ROUNDS = 200


def sh(argv, env=None, timeout=3600):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def figures(out):
    return {k: float(v) for k, v in (line.split() for line in out.splitlines() if line.strip())}


def in_namespace(etc, argv, env):
    """Run argv in a private mount namespace whose /etc is a fresh tmpfs
    holding copies of a few real files plus `etc` ({name: source path}).
    A tmpfs rather than bind mounts over single files: a bind mount over
    /etc/passwd silently vanishes when something in the host renames a new
    /etc/passwd into place (useradd does)."""
    files = {"ld.so.cache": "/etc/ld.so.cache", "group": "/etc/group",
             "passwd": "/etc/passwd", "host.conf": "/etc/host.conf"}
    files.update(etc)
    stage = tempfile.mkdtemp(prefix="sectx-bench-etc-", dir="/tmp")
    try:
        for name, src in files.items():
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(stage, name))
        script = ('mount -t tmpfs -o mode=0755 none /etc || exit 99; '
                  'cp -a "$1"/. /etc/ || exit 98; shift; exec "$@"')
        return sh(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                   stage, *argv], env=env)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def generation(cache):
    try:
        with open(cache, "rb") as f:
            return int.from_bytes(f.read(24)[16:24], "little")
    except OSError:
        return -1


def wait_quiet(cache, after, quiet=1.5, timeout=600):
    """Wait until the cache generation is past `after` and stops changing."""
    deadline = time.monotonic() + timeout
    last, since = generation(cache), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        g = generation(cache)
        if g != last:
            last, since = g, time.monotonic()
        elif g > after and time.monotonic() - since >= quiet:
            return g
    raise SystemExit("sectxd did not republish the cache in time")


def bench_size(n, b, keep_log):
    top = tempfile.mkdtemp(prefix="sectx-bench-", dir="/tmp")
    os.chmod(top, 0o755)
    proc = None
    try:
        run, state, sockonly = (os.path.join(top, x) for x in ("run", "state", "sockonly"))
        os.mkdir(state, 0o700)
        os.mkdir(sockonly, 0o755)
        users, passwd = os.path.join(top, "users"), os.path.join(top, "passwd")
        t0 = time.monotonic()
        with open(users, "w") as u, open(passwd, "w") as p:
            p.write("root:x:0:0:root:/root:/bin/sh\n")
            for i in range(n):
                name = f"user{i:07d}"
                u.write(f"{name}:{100000 + i}:{100000 + i}::/home/{name}:/bin/sh\n")
                p.write(f"{name}:x:{100000 + i}:{100000 + i}::/home/{name}:/bin/sh\n")
        os.chmod(users, 0o644)
        os.chmod(passwd, 0o644)
        conf = os.path.join(top, "sectx.conf")
        with open(conf, "w") as f:
            f.write(f"[sectxd]\nsocket_dir = {run}\nstate_dir = {state}\nlog_level = info\n"
                    f"[identity]\nusers_file = {users}\nnegative_cache_size = 100000\n")
        os.chmod(conf, 0o600)
        log = open(os.path.join(top, "sectxd.log"), "w")
        env = dict(os.environ)
        env.pop("SECTX_SOCKET_DIR", None)
        proc = subprocess.Popen([b["sectxd"], "--config", conf, "--foreground"], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
        sock = os.path.join(run, "nss.sock")
        while not os.path.exists(os.path.join(run, "pam.sock")):
            if proc.poll() is not None:
                raise SystemExit(f"sectxd exited:\n{open(log.name).read()}")
            time.sleep(0.05)
        startup = time.monotonic() - t0
        cache = os.path.join(run, "nss-cache", "cache")
        size = os.path.getsize(cache)
        os.symlink(sock, os.path.join(sockonly, "nss.sock"))

        res = {}
        # (a) direct: the socket path first (fills the negative cache) ...
        g0 = generation(cache)
        e = dict(env, SECTX_SOCKET_DIR=sockonly, NSS_BENCH_MAX_ITERS=str(BENCH_MAX_ITERS_SOCKET))
        res.update({f"socket_{k}": v for k, v in
                    figures(sh([b["bench"], "direct", b["module"], str(n)], env=e)).items()})
        wait_quiet(cache, g0)
        # ... then the mmap path, misses answered by negative records
        e = dict(env, SECTX_SOCKET_DIR=run)
        res.update({f"mmap_{k}": v for k, v in
                    figures(sh([b["bench"], "direct", b["module"], str(n)], env=e)).items()})
        # (b) through glibc, in namespaces
        nsconf = {}
        for svc in ("sectx", "sectxconst", "files"):
            nsconf[svc] = os.path.join(top, f"nsswitch-{svc}.conf")
            with open(nsconf[svc], "w") as f:
                f.write(f"passwd: {svc}\ngroup: files\n")
        # sectx and its floor alternate, the best of GLIBC_ROUNDS each: both
        # are ~1 us of which most is the kernel's stat of nsswitch.conf, so a
        # busy machine moves them more than the module does
        e_sectx = dict(env, SECTX_SOCKET_DIR=run, LD_LIBRARY_PATH=os.path.dirname(b["module"]))
        e_const = dict(env, LD_LIBRARY_PATH=os.path.dirname(b["constant"]))
        for _ in range(GLIBC_ROUNDS):
            for prefix, conf, e, extra in (("sectx", nsconf["sectx"], e_sectx, []),
                                           ("const", nsconf["sectxconst"], e_const,
                                            ["constant"])):
                got = figures(in_namespace({"nsswitch.conf": conf},
                                           [b["bench"], "glibc", str(n), *extra], e))
                for k, v in got.items():
                    key = f"{prefix}_{k}"
                    res[key] = min(v, res.get(key, v))
        e = dict(env, NSS_BENCH_MAX_ITERS=str(max(8, 20_000_000 // max(n, 1))))
        res.update({f"files_{k}": v for k, v in figures(in_namespace(
            {"nsswitch.conf": nsconf["files"], "passwd": passwd},
            [b["bench"], "glibc", str(n)], e)).items()})
        # (c) cold: a new process's first lookups, helper up, then down
        e = dict(env, SECTX_SOCKET_DIR=run)
        cold = [b["bench"], "cold", b["module"], str(n), str(COLD_ROUNDS)]
        res.update({f"up_{k}": v for k, v in figures(sh(cold, env=e)).items()})
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        res.update({f"down_{k}": v for k, v in figures(sh(cold, env=e)).items()})
        res["startup_s"] = startup
        res["cache_bytes"] = size
        return res
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if keep_log:
            print(open(os.path.join(top, "sectxd.log")).read(), file=sys.stderr)
        shutil.rmtree(top, ignore_errors=True)


def table(title, cols, rows):
    print(f"\n{title}")
    widths = [max(len(c), 10) for c in cols]
    print("| " + " | ".join(c.rjust(w) for c, w in zip(cols, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(v).rjust(w) for v, w in zip(row, widths)) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default="build/nss")
    ap.add_argument("--log", action="store_true", help="print each sectxd log")
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 100000, 1000000])
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("nss_bench.py needs root (mount namespaces, a private sectxd)")
    bd = os.path.abspath(args.builddir)
    b = {"sectxd": os.path.join(bd, "sectxd"), "bench": os.path.join(bd, "bench", "nss_bench"),
         "module": os.path.join(bd, "nss", ".libs", "libnss_sectx.so.2"),
         "constant": os.path.join(bd, "bench", ".libs", "libnss_sectxconst.so.2")}
    for path in b.values():
        if not os.path.exists(path):
            raise SystemExit(f"not built: {path} (make in {bd})")
    results = {}
    for n in args.sizes:
        print(f"measuring {n} users ...", file=sys.stderr, flush=True)
        results[n] = bench_size(n, b, args.log)

    def f(n, k):
        v = results[n].get(k)
        return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"

    sizes = args.sizes
    table("(a) direct calls (dlsym), ns/lookup",
          ["users", "mmap name hot", "mmap name rand", "mmap uid hot", "mmap uid rand",
           "mmap name miss", "mmap uid miss", "sock name", "sock uid", "sock miss"],
          [[n, f(n, "mmap_getpwnam_hit_hot"), f(n, "mmap_getpwnam_hit_random"),
            f(n, "mmap_getpwuid_hit_hot"), f(n, "mmap_getpwuid_hit_random"),
            f(n, "mmap_getpwnam_miss"), f(n, "mmap_getpwuid_miss"),
            f(n, "socket_getpwnam_hit_hot"), f(n, "socket_getpwuid_hit_hot"),
            f(n, "socket_getpwnam_miss")] for n in sizes])
    table("(b) getpwnam_r through glibc (mount namespace), ns/lookup",
          ["users", "sectx hit", "sectx miss", "constant", "sectx/const", "files hit",
           "files miss"],
          [[n, f(n, "sectx_glibc_getpwnam_hit"), f(n, "sectx_glibc_getpwnam_miss"),
            f(n, "const_glibc_getpwnam_hit"),
            f"{results[n]['sectx_glibc_getpwnam_hit'] / results[n]['const_glibc_getpwnam_hit']:.3f}",
            f(n, "files_glibc_getpwnam_hit"), f(n, "files_glibc_getpwnam_miss")]
           for n in sizes])
    table("(c) first lookups of a new process (fork, dlopen, getpwnam_r), median ns",
          ["users", "dlopen", "1st (up)", "2nd (up)", "1st (down)", "2nd (down)"],
          [[n, f(n, "up_cold_dlopen"), f(n, "up_cold_first"), f(n, "up_cold_second"),
            f(n, "down_cold_first"), f(n, "down_cold_second")] for n in sizes])
    table("sectxd", ["users", "start s", "cache MB"],
          [[n, f"{results[n]['startup_s']:.2f}", f"{results[n]['cache_bytes'] / 1e6:.1f}"]
           for n in sizes])


if __name__ == "__main__":
    main()
