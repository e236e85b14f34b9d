"""The sectx demo: a throwaway realm and a real sectxd, started, shown and
torn down.  Run by scripts/demo (which builds first); argument: the build dir.

It reuses the integration tests' harness (tests/integration), so what the
demo shows is what the tests drive."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from realm import Realm  # noqa: E402
from sectx_harness import Sectxd  # noqa: E402


def step(title, text=""):
    print(f"\n== {title}")
    if text:
        print(text.rstrip())


def main(builddir):
    sectxd_bin = os.path.join(builddir, "sectxd")
    sectxctl_bin = os.path.join(builddir, "sectxctl")
    with Realm() as realm:
        step(f"MIT realm {realm.realm}: krb5kdc on 127.0.0.1:{realm.kdc_port}, "
             f"kadmind on 127.0.0.1:{realm.kadmind_port} (in {realm.dir})")
        password = realm.addprinc("alice", password="demo-Passw0rd")
        step("principal alice@" + realm.realm + " created")

        helper = Sectxd(sectxd_bin, sectxctl_bin, env=realm.env())
        try:
            helper.start()
            step(f"sectxd running (pid {helper.pid}), sockets in {helper.socket_dir}",
                 open(helper.config_file).read())
            r = helper.ctl("status")
            step("sectxctl status", r.stdout)
            if r.returncode != 0:
                raise SystemExit(f"status failed: {r.stderr}")
            r = helper.ctl("check-config", helper.config_file)
            step("sectxctl check-config", r.stdout + r.stderr)

            ccache = os.path.join(realm.dir, "alice.ccache")
            r = realm.kinit("alice", password, "FILE:" + ccache)
            if r.returncode != 0:
                raise SystemExit(f"kinit failed: {r.stderr}")
            step("kinit alice (the realm issues tickets; PAM login through sectxd is next)",
                 realm.klist("FILE:" + ccache).stdout)
            code = helper.stop()
            step(f"sectxd stopped with SIGTERM: exit code {code}")
            if code != 0:
                raise SystemExit(1)
        finally:
            helper.close()
    step("realm stopped, temporary files removed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: demo.py BUILDDIR")
    main(sys.argv[1])
