#!/usr/bin/python3
"""directory_bench.py - sectx serving users and groups from a real slapd of
100,000 users and 10,000 groups ([directory], simple bind over StartTLS).

    cd build && sudo SECTX_BUILDDIR=$PWD /usr/bin/python3 ../bench/directory_bench.py \
        [--users 100000] [--groups 10000]

Needs root (as the integration tests), slapd, ldap-utils, the test realm's
packages.  Loads the tree with slapadd (users u0000000.., uid 100000 + i,
primary group g0000.. round robin, each group with 10 memberUid members; a
user "big" is a member by DN of 1,000 groups), starts a sectxd on it, and
prints, each lookup timed inside the calling process (nss_probe.py: the
module's entry points called directly):

  * a cold user lookup (cache miss: socket -> sectxd -> directory, the
    user's groups searched with it), median and p95 of --cold lookups;
  * a warm one (the same names again once published: the mmap cache);
  * initgroups of "big" (1,000 groups): its cold getpwnam (which fetches
    the groups) and the initgroups call after it;
  * `getent passwd` of 1,000 distinct uncached users from 16 processes at
    once: wall time, and the per-lookup median and p95;
  * sectxd's RSS with every user cached (all --users looked up).

A benchmark, not a test: it prints figures and asserts nothing about them.
SSSD is not installed here, so there is no side-by-side figure for its ldap
provider.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from directory_support import DirHelper, simple_bind  # noqa: E402
from nss_support import NssLib  # noqa: E402
from realm import Realm  # noqa: E402
from sectx_harness import Sectxd  # noqa: E402
from slapd_harness import BASE, Slapd, base_entries, ldif  # noqa: E402

BIG_GROUPS = 1000
MEMBERS_PER_GROUP = 10


def write_tree(path, n_users, n_groups):
    """The LDIF of the tree, written in one pass (values of an attribute together)."""
    with open(path, "w") as f:
        f.write(ldif(base_entries()))
        for i in range(n_users):
            name = f"u{i:07d}"
            f.write(f"dn: uid={name},ou=people,{BASE}\nobjectClass: top\nobjectClass: account\n"
                    f"objectClass: posixAccount\nuid: {name}\ncn: User {i}\n"
                    f"uidNumber: {100000 + i}\ngidNumber: {50000 + i % n_groups}\n"
                    f"homeDirectory: /home/{name}\nloginShell: /bin/sh\n\n")
        f.write(f"dn: uid=big,ou=people,{BASE}\nobjectClass: top\nobjectClass: account\n"
                f"objectClass: posixAccount\nuid: big\ncn: Big\nuidNumber: 99999\n"
                f"gidNumber: 50000\nhomeDirectory: /home/big\n\n")
        for j in range(n_groups):
            f.write(f"dn: cn=g{j:04d},ou=groups,{BASE}\nobjectClass: top\n"
                    f"objectClass: posixGroup\nobjectClass: extensibleObject\ncn: g{j:04d}\n"
                    f"gidNumber: {50000 + j}\n")
            for k in range(MEMBERS_PER_GROUP):
                f.write(f"memberUid: u{(j * MEMBERS_PER_GROUP + k) % n_users:07d}\n")
            if j < BIG_GROUPS:
                f.write(f"member: uid=big,ou=people,{BASE}\n")
            f.write("\n")


def probe(h, calls, timeout=3600):
    """Start nss_probe.py for calls; returns the Popen (stdout: JSON lines)."""
    return subprocess.Popen([sys.executable, h.lib.probe, h.lib.path, *calls], env=h.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(p, timeout=3600):
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"nss_probe failed: {err}")
    return [json.loads(line) for line in out.splitlines()]


def ms_stats(rs):
    ok = [r["ms"] for r in rs if r["status"] == 1]
    ok.sort()
    if not ok:
        return "no successful lookup"
    p95 = ok[min(len(ok) - 1, int(len(ok) * 0.95))]
    return (f"median {statistics.median(ok):.3f} ms, p95 {p95:.3f} ms "
            f"({len(ok)}/{len(rs)} found)")


def wait_published(h, before, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if os.stat(h.cache_file).st_mtime > before:
                time.sleep(0.3)
                return
        except OSError:
            pass
        time.sleep(0.05)


class QuietHelper(DirHelper):
    """log_level info: a debug line per search would cost more than the search."""

    def config_text(self, **identity_changes):
        return super().config_text(**identity_changes).replace("log_level = debug",
                                                               "log_level = info")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100000)
    ap.add_argument("--groups", type=int, default=10000)
    ap.add_argument("--cold", type=int, default=500)
    args = ap.parse_args()
    builddir = os.environ.get("SECTX_BUILDDIR", os.getcwd())

    realm = Realm()
    s = Slapd(entries=base_entries(), start=False)
    lib = NssLib(os.path.join(builddir, "nss", ".libs", "libnss_sectx.so.2"))
    d = None
    try:
        t0 = time.monotonic()
        path = os.path.join(s.dir, "tree.ldif")
        write_tree(path, args.users, args.groups)
        # a fresh database: the base entries were added by the constructor
        subprocess.run(["sh", "-c", f"rm -rf {s.db_dir}/*"], check=True)
        s.load(ldif_path=path)
        print(f"slapadd of {args.users} users and {args.groups} groups: "
              f"{time.monotonic() - t0:.1f} s")
        s.start()
        d = Sectxd(os.path.join(builddir, "sectxd"), os.path.join(builddir, "sectxctl"),
                   env=realm.env())
        h = QuietHelper(d, lib, realm)
        keys = simple_bind(d, s, timeout="10s", lookups_per_uid="1000000")
        h.configure_directory(keys, identity={"positive_ttl": "1h",
                                              "negative_cache_size": "200000"})
        h.start()

        step = max(1, args.users // args.cold)
        names = [f"u{i:07d}" for i in range(0, args.users, step)][:args.cold]
        before = time.time()
        cold = results(probe(h, [f"getpwnam:{n}" for n in names]))
        print(f"cold getpwnam (directory): {ms_stats(cold)}")
        wait_published(h, before)
        warm = results(probe(h, [f"getpwnam:{n}" for n in names]))
        print(f"warm getpwnam (mmap):      {ms_stats(warm)}")

        r = results(probe(h, ["getpwnam:big", "initgroups:big:50000"]))
        print(f"big (in {BIG_GROUPS} groups): cold getpwnam with its groups "
              f"{r[0]['ms']:.1f} ms; initgroups {r[1]['ms']:.3f} ms, "
              f"{len(r[1].get('entry') or [])} groups returned "
              f"(status {r[1]['status']})")
        wait_published(h, time.time() - 0.5)
        time.sleep(1.5)
        r = results(probe(h, ["initgroups:big:50000", "initgroups:big:50000"]))
        print(f"big once published: initgroups {r[1]['ms']:.3f} ms (mmap), "
              f"{len(r[1].get('entry') or [])} groups")

        # 1000 distinct uncached users from 16 processes at once
        fresh = [f"u{i:07d}" for i in range(1, args.users, 2) if (i % step) != 0][:1000]
        chunks = [fresh[k::16] for k in range(16)]
        t0 = time.monotonic()
        procs = [probe(h, [f"getpwnam:{n}" for n in c]) for c in chunks]
        par = [x for p in procs for x in results(p)]
        wall = time.monotonic() - t0
        print(f"1000 uncached users, 16 processes: {wall:.2f} s wall (incl. 16 python "
              f"start-ups); per lookup {ms_stats(par)}")

        # every user cached: sectxd's RSS
        t0 = time.monotonic()
        everyone = [f"u{i:07d}" for i in range(args.users)]
        chunks = [everyone[k::8] for k in range(8)]
        procs = [probe(h, [f"getpwnam:{n}" for n in c]) for c in chunks]
        allr = [x for p in procs for x in results(p)]
        found = sum(1 for x in allr if x["status"] == 1)
        print(f"all {args.users} users looked up from 8 processes in "
              f"{time.monotonic() - t0:.1f} s ({found} found)")
        time.sleep(2)
        st = h.ctl("status")
        print(f"sectxd RSS with {args.users} users cached: {d.rss_kib() / 1024:.1f} MiB "
              f"(VmHWM {d.rss_kib('VmHWM') / 1024:.1f} MiB, RssAnon "
              f"{d.rss_kib('RssAnon') / 1024:.1f} MiB, RssFile {d.rss_kib('RssFile') / 1024:.1f}"
              f" MiB, RssShmem {d.rss_kib('RssShmem') / 1024:.1f} MiB)")
        if st.returncode != 0:
            print("sectxctl status failed:", st.stderr)
    finally:
        if d is not None:
            d.close()
        s.stop()
        lib.close()
        realm.stop()


if __name__ == "__main__":
    main()
