#!/usr/bin/env python3
"""context_bench.py - what a security context through sectxd costs: the
whole token loop (init step from a passed ccache, accept step with the host
key, on two pam.sock connections, as a service and its client would), the
two message operations (wrap + unwrap), and contexts per second from
parallel clients.

A real MIT realm (tests/integration/realm.py) and a real sectxd; each init
makes one real TGS exchange with the KDC (the helper fetches the service
ticket on its loop), so the figure includes the KDC.  Run as root from the
build directory:

    SECTX_BUILDDIR=$PWD /usr/bin/python3 ../bench/context_bench.py [ROUNDS] [PARALLEL]
"""

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from pam_harness import write_keytab  # noqa: E402
from realm import REALM, Realm  # noqa: E402
from sectx_harness import OK, Sectxd  # noqa: E402
from test_contexts import (COMPLETE, HOST, T_HANDLE, Ctx, establish,  # noqa: E402
                           token_of)


def show(what, ms):
    ms = sorted(ms)
    print(f"{what:<40} median {statistics.median(ms):7.2f} ms   "
          f"p90 {ms[int(len(ms) * 0.9) - 1]:7.2f} ms   (n={len(ms)})")


def one_context(d, path, mech):
    ini, acc = Ctx(d), Ctx(d)
    try:
        with open(path, "rb") as f:
            r_ini, r_acc = establish(ini, acc, "bench", f.fileno(), mech=mech)
        assert r_acc is not None and r_acc.u32(0x0302) == COMPLETE, r_acc.message
        return ini, acc, r_ini.u32(T_HANDLE), r_acc.u32(T_HANDLE)
    except BaseException:
        ini.close()
        acc.close()
        raise


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    parallel = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    builddir = os.path.abspath(os.environ.get("SECTX_BUILDDIR", "."))
    realm = Realm()
    helper = None
    tmp = tempfile.mkdtemp(prefix="sectx-ctxbench-")
    ktdir = None
    try:
        ktdir, keytab = write_keytab(realm, HOST)
        realm.addprinc("benchuser", password="Bench-pw-1")
        path = os.path.join(tmp, "cc")
        r = realm.kinit(f"benchuser@{REALM}", "Bench-pw-1", f"FILE:{path}")
        assert r.returncode == 0, r.stderr
        helper = Sectxd(os.path.join(builddir, "sectxd"), os.path.join(builddir, "sectxctl"),
                        env=realm.env(), realm=REALM, max_contexts_per_connection="64",
                        sections={"kerberos": {"keytab": keytab, "kdc_timeout": "3s"},
                                  "service/bench": {"uid": "0", "principal": f"{HOST}@{REALM}",
                                                    "mechs": "krb5, spnego"}})
        helper.start()
        for mech in ("krb5", "spnego"):
            times = []
            tgs_before = realm.log_text().count("TGS_REQ")
            for _ in range(rounds):
                start = time.perf_counter()
                ini, acc, _, _ = one_context(helper, path, mech)
                times.append((time.perf_counter() - start) * 1000.0)
                ini.close()
                acc.close()
            show(f"context, {mech} (init + accept legs)", times)
            print(f"{'':<40} KDC TGS requests per context: "
                  f"{(realm.log_text().count('TGS_REQ') - tgs_before) / rounds:.2f}")

        ini, acc, hi, ha = one_context(helper, path, "krb5")
        msg = b"x" * 1024
        times = []
        for _ in range(rounds * 5):
            start = time.perf_counter()
            w = ini.wrap(hi, msg)
            u = acc.unwrap(ha, token_of(w))
            times.append((time.perf_counter() - start) * 1000.0)
            assert w.status == OK and u.status == OK
        show("wrap + unwrap of 1 KiB (two requests)", times)
        ini.close()
        acc.close()

        done, errors = [0], []

        def worker(n):
            try:
                for _ in range(n):
                    i, a, _, _ = one_context(helper, path, "krb5")
                    i.close()
                    a.close()
                    done[0] += 1
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))

        per = max(1, rounds // parallel) * 2
        threads = [threading.Thread(target=worker, args=(per,)) for _ in range(parallel)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        print(f"{parallel} parallel clients: {done[0] / elapsed:7.1f} contexts/s "
              f"({done[0]} contexts, {len(errors)} failed)")
        if errors:
            print("first failure:", errors[0])
            return 1
        return 0
    finally:
        if helper is not None:
            helper.close()
        realm.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if ktdir is not None:
            shutil.rmtree(ktdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
