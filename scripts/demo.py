"""The sectx demo: a throwaway realm, a real sectxd and a real login through
the PAM stack, then everything torn down.  Run by scripts/demo (which builds
first); argument: the build dir.

It reuses the integration tests' harness (tests/integration): what the demo
shows is what the tests drive.  libpam is real; pam_wrapper only points it
at a service file in a temp dir, so no system PAM file is touched."""

import contextlib
import glob
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from pam_harness import LocalUser, PamSectxd, PamStack, klist_as, write_keytab  # noqa: E402
from realm import Realm  # noqa: E402
from sectx_harness import public_copies  # noqa: E402


def step(title, text=""):
    print(f"\n== {title}")
    if text:
        print(text.rstrip())


def main(builddir):
    if os.geteuid() != 0:
        raise SystemExit("the demo creates a local user and runs the helper: run it as root")
    sectxd_bin = os.path.join(builddir, "sectxd")
    sectxctl_bin = os.path.join(builddir, "sectxctl")
    # Everything started is undone in reverse order, whatever fails.
    with contextlib.ExitStack() as cleanup:
        realm = Realm()
        cleanup.callback(realm.stop)
        step(f"MIT realm {realm.realm}: krb5kdc on 127.0.0.1:{realm.kdc_port}, "
             f"kadmind on 127.0.0.1:{realm.kadmind_port} (in {realm.dir})")

        ktdir, keytab = write_keytab(realm, "host/sectx-demo.localdomain")
        cleanup.callback(shutil.rmtree, ktdir, ignore_errors=True)
        step(f"host principal host/sectx-demo.localdomain, keys in {keytab} "
             "(every TGT is validated with them)")

        user = LocalUser(realm, password="Demo-Passw0rd-1")
        cleanup.callback(user.remove)
        step(f"local user {user.name} (uid {user.uid}) and principal {user.principal}")

        helper = PamSectxd(sectxd_bin, sectxctl_bin, realm, keytab, log_level="info")
        cleanup.callback(helper.close)
        helper.start()
        step(f"sectxd running (pid {helper.pid}), sockets in {helper.socket_dir}",
             helper.ctl("status").stdout)

        # libpam must read the module wherever the build tree is
        (module,) = cleanup.enter_context(public_copies(
            [os.path.join(builddir, ".libs", "pam_sectx.so")], "sectx-demo-mod-", mode=0o644))
        stack = PamStack(module, os.path.join(builddir, "tests", "integration", "pam_driver"),
                         helper.socket_dir)
        cleanup.callback(stack.close)
        with open(os.path.join(stack.dir, stack.SERVICE)) as f:
            lines = [l for l in f.read().splitlines() if "pam_sectx.so" in l]
        step(f"PAM service {stack.SERVICE} (real libpam; pam_wrapper only points it at this "
             "file)", "\n".join(lines))

        proc, elapsed = stack.pamtester(user.name, "authenticate", "acct_mgmt", "open_session",
                                        password=user.password)
        step(f"pamtester {stack.SERVICE} {user.name} authenticate acct_mgmt open_session "
             f"({elapsed * 1000:.0f} ms, exit {proc.returncode})",
             "\n".join(l for l in (proc.stdout + proc.stderr).splitlines()
                       if l.startswith("pamtester")))
        if proc.returncode != 0:
            raise SystemExit("the login failed:\n" + proc.stderr)
        caches = sorted(glob.glob(f"/tmp/krb5cc_{user.uid}_*"))
        if not caches:
            raise SystemExit("the session has no credential cache")
        st = os.stat(caches[-1])
        step(f"the session's credential cache FILE:{caches[-1]} "
             f"(owner uid {st.st_uid}, mode {st.st_mode & 0o777:o}); klist as {user.name}:",
             klist_as(user, "FILE:" + caches[-1], realm).stdout)
        step("what sectxd logged",
             "\n".join(l for l in helper.log_text().splitlines()
                       if "authenticated" in l or "stored in" in l))
        code = helper.stop()
        step(f"sectxd stopped with SIGTERM: exit code {code}")
        if code != 0:
            raise SystemExit(1)
    step("realm, helper, user and temporary files removed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: demo.py BUILDDIR")
    main(sys.argv[1])
