#!/usr/bin/env python3
"""offline_bench.py - what an offline login costs: the time of one
PAM_AUTHENTICATE request answered from the cached credential (the realm's
KDC stopped), next to an online one, and the cost of the KDF itself at the
iteration count the helper calibrated.

A real MIT realm (tests/integration/realm.py) and a real sectxd, spoken to
through pam.sock; nothing is timed inside the helper.  Run as root from the
build directory:

    SECTX_BUILDDIR=$PWD /usr/bin/python3 ../bench/offline_bench.py [ROUNDS]

(the python3 that has pytest: the bench reuses the login test's helpers).
"""

import hashlib
import os
import re
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from pam_harness import write_keytab  # noqa: E402
from realm import REALM, Realm  # noqa: E402
from sectx_harness import Sectxd, wait_until  # noqa: E402
from test_login_engine import SUCCESS, T_RESULT, authenticate  # noqa: E402


def timed(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def show(what, ms):
    ms = sorted(ms)
    print(f"{what:<44} median {statistics.median(ms):7.2f} ms   "
          f"p90 {ms[int(len(ms) * 0.9) - 1]:7.2f} ms   (n={len(ms)})")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    builddir = os.path.abspath(os.environ.get("SECTX_BUILDDIR", "."))
    realm = Realm()
    helper = None
    ktdir = None
    try:
        ktdir, keytab = write_keytab(realm, "host/bench.sectx.test")
        password = "Bench-pw-1"
        realm.addprinc("benchuser", password=password, extra_args=("+requires_preauth",))
        helper = Sectxd(os.path.join(builddir, "sectxd"), os.path.join(builddir, "sectxctl"),
                        env=realm.env(), realm=REALM,
                        sections={"kerberos": {"keytab": keytab, "kdc_timeout": "3s",
                                               "failure_delay_after": "1000"},
                                  "offline": {"cache_credentials": "true",
                                              "offline_probe": "1h",
                                              "offline_probe_max": "1h"}})
        helper.start()

        def login():
            reply = authenticate(helper, "benchuser", password)
            assert reply.u32(T_RESULT) == SUCCESS, reply

        show("online login (AS + validation, then cache)", timed(login, rounds))
        assert wait_until(lambda: "cached credential of benchuser" in helper.log_text(), 10)
        iterations = int(re.search(r"PBKDF2-HMAC-SHA512 with (\d+) iterations",
                                   helper.log_text()).group(1))
        salt = os.urandom(16)
        show(f"KDF alone ({iterations} iterations, Python/OpenSSL)",
             timed(lambda: hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations),
                   rounds))
        realm.stop_kdc()
        show("first login after the KDC stopped", timed(login, 1))
        assert "is offline" in helper.log_text()
        show("offline login (cached credential)", timed(login, rounds))
    finally:
        if helper is not None:
            helper.close()
        realm.stop()
        if ktdir is not None:
            shutil.rmtree(ktdir, ignore_errors=True)


if __name__ == "__main__":
    main()
