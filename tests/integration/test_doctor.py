"""`sectxctl doctor` against a real sectxd and realm: a healthy setup passes
every step, and each broken setup is named at the right step (sectxd down,
KDC down, a keytab whose kvno the KDC has moved past, clock skew under
libfaketime, a user [access] does not admit, pam_sectx missing from a PAM
service, nsswitch.conf without sectx) while an unreadable krb5.conf is a
warning only.  --root points doctor at /etc files built in a temp dir."""

import json
import os
import shutil

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import _needed_asan, write_keytab
from sectx_harness import make_public_tmpdir, run, write_private

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
GOOD_PAM = {
    "common-auth": "auth [success=1 default=ignore] pam_sectx.so\n"
                   "auth requisite pam_deny.so\nauth required pam_permit.so\n",
    "login": "@include common-auth\naccount required pam_sectx.so\n"
             "session optional pam_sectx.so\n",
    "sshd": "auth [success=end default=ignore] pam_sectx.so\n"
            "auth [success=1 default=ignore] pam_unix.so use_first_pass\n"
            "auth requisite pam_deny.so\naccount required pam_sectx.so\n"
            "session optional pam_sectx.so\n",
    "su": "auth include common-auth\naccount required pam_sectx.so\n"
          "-session optional /lib/security/pam_sectx.so\n",
}


def make_root(nsswitch="passwd: files sectx\ngroup: files sectx\n", pam=None):
    root = make_public_tmpdir("sectx-doctor-")
    os.makedirs(os.path.join(root, "etc", "pam.d"))
    with open(os.path.join(root, "etc", "nsswitch.conf"), "w") as f:
        f.write(nsswitch)
    with open(os.path.join(root, "etc", "shells"), "w") as f:
        f.write("/bin/sh\n/bin/bash\n")
    for name, text in (GOOD_PAM if pam is None else pam).items():
        with open(os.path.join(root, "etc", "pam.d", name), "w") as f:
            f.write(text)
    return root


@pytest.fixture
def setup(pam_helper, users, realm, bins):
    """doctor(root=None, config=None, env=None, user=...) -> (rc, parsed JSON)."""
    user = users()
    made = []

    def doctor(root=None, config=None, env=None, user=user, helper=pam_helper):
        if root is None:
            root = make_root()
            made.append(root)
        e = realm.env()
        e.update(env or {})
        argv = [bins.sectxctl, "--socket-dir", helper.socket_dir, "--config",
                config or helper.config_file, "doctor", "--json", "--root", root]
        r = run(argv + ([user.name] if user else []), env=e, timeout=60)
        assert r.returncode in (0, 1), r
        return r.returncode, json.loads(r.stdout)

    def config(text):
        """A private config file with text, removed at the end."""
        d = make_public_tmpdir("sectx-doctor-conf-")
        made.append(d)
        path = os.path.join(d, "sectx.conf")
        write_private(path, text)
        return path

    doctor.user, doctor.helper, doctor.config = user, pam_helper, config
    yield doctor
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def results(out):
    return {s["step"]: s["result"] for s in out["steps"]}


def failed(out):
    fails = [s for s in out["steps"] if s["result"] == "FAIL"]
    assert len(fails) == 1 and fails[0]["step"] == out["failed_step"], out
    assert fails[0]["detail"] and fails[0].get("fix"), fails[0]
    return fails[0]


def test_healthy_setup_passes_every_step(setup):
    rc, out = setup()
    assert rc == 0 and out["failed_step"] is None, out
    steps = results(out)
    for step in ("config", "sectxd", "nsswitch", "nss-user", "pam", "krb5.conf", "kdc",
                 "clock", "keytab", "kvno", "validation", "fast", "access", "home", "shell"):
        assert steps.get(step) == "ok", (step, out)
    kdc = [s for s in out["steps"] if s["step"] == "kdc"][0]
    assert "127.0.0.1" in kdc["detail"] and " ms" in kdc["detail"], kdc


def test_text_output_names_each_step(setup, bins, realm):
    root = make_root(nsswitch="passwd: files\ngroup: files\n")
    try:
        r = run([bins.sectxctl, "--socket-dir", setup.helper.socket_dir, "--config",
                 setup.helper.config_file, "doctor", "--root", root], env=realm.env())
    finally:
        shutil.rmtree(root)
    assert r.returncode == 1, r
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ok    config") and lines[1].startswith("ok    sectxd"), lines
    assert lines[2].startswith("FAIL  nsswitch") and "fix:" in lines[3], lines


def test_sectxd_down(setup, pam_helper_factory):
    rc, out = setup(helper=pam_helper_factory(start=False))
    assert rc == 1 and failed(out)["step"] == "sectxd", out
    assert "systemctl start sectxd" in failed(out)["fix"]


def test_nsswitch_without_sectx(setup):
    root = make_root(nsswitch="passwd: files systemd\ngroup: files sectx\n")
    try:
        rc, out = setup(root=root)
    finally:
        shutil.rmtree(root)
    assert rc == 1 and failed(out)["step"] == "nsswitch", out
    assert "passwd" in failed(out)["detail"]


def test_module_missing_from_a_pam_service(setup):
    pam = dict(GOOD_PAM, sshd=GOOD_PAM["sshd"].replace("session optional pam_sectx.so\n", ""))
    root = make_root(pam=pam)
    try:
        rc, out = setup(root=root)
    finally:
        shutil.rmtree(root)
    f = failed(out)
    assert rc == 1 and f["step"] == "pam" and "sshd" in f["detail"], out
    assert "session" in f["detail"] and "pam-auth-update" in f["fix"], f


def test_module_after_pam_unix_jump(setup):
    pam = dict(GOOD_PAM, login="auth [success=1 default=ignore] pam_unix.so\n"
                               "auth requisite pam_deny.so\nauth optional pam_sectx.so\n"
                               "account required pam_sectx.so\nsession optional pam_sectx.so\n")
    root = make_root(pam=pam)
    try:
        rc, out = setup(root=root)
    finally:
        shutil.rmtree(root)
    assert rc == 1 and failed(out)["step"] == "pam" and "after pam_unix" in failed(out)["detail"]


def test_kdc_down(setup, realm):
    realm.stop_kdc()
    try:
        rc, out = setup()
    finally:
        realm.start_kdc()
    assert rc == 1 and failed(out)["step"] == "kdc", out
    assert results(out)["krb5.conf"] == "ok", out


def test_wrong_keytab_kvno(setup, realm):
    principal = "host/doctor-kvno.sectx.test"
    directory, keytab = write_keytab(realm, principal)
    try:
        realm.kadmin(f"cpw -randkey {principal}")  # the KDC moves on, the keytab does not
        text = setup.helper.config_text().replace(setup.helper.kerberos["keytab"], keytab)
        rc, out = setup(config=setup.config(text))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert rc == 1 and failed(out)["step"] == "kvno", out
    assert principal in failed(out)["detail"] and "ktadd" in failed(out)["fix"], out
    assert "kvno 1 in the keytab" in failed(out)["detail"], out
    assert results(out)["kdc"] == "ok", out


@pytest.mark.skipif(not os.path.exists(FAKETIME_LIB), reason="libfaketime is not installed")
def test_clock_skew(setup, bins):
    # an ASan build's runtime must come first in the preload list
    preload = [p for p in (_needed_asan(bins.sectxctl), FAKETIME_LIB) if p]
    rc, out = setup(env={"LD_PRELOAD": " ".join(preload), "FAKETIME": "+2h",
                         "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    assert rc == 1 and failed(out)["step"] == "clock", out
    assert results(out)["kdc"] == "ok", out


def test_user_denied_by_access(setup):
    text = setup.helper.config_text() + "\n[access]\nallow_users = someone-else\n"
    rc, out = setup(config=setup.config(text))
    assert rc == 1 and failed(out)["step"] == "access", out
    assert setup.user.name in failed(out)["detail"], out


def test_unreadable_krb5_conf_is_a_warning(setup, realm):
    d = make_public_tmpdir("sectx-doctor-krb5-")
    conf = os.path.join(d, "krb5.conf")
    shutil.copy(realm.krb5_conf, conf)
    os.chmod(conf, 0o600)
    try:
        rc, out = setup(env={"KRB5_CONFIG": conf})
    finally:
        shutil.rmtree(d)
    assert rc == 0 and out["failed_step"] is None, out
    warn = [s for s in out["steps"] if s["step"] == "krb5.conf" and s["result"] == "warn"]
    assert warn and "not readable by users" in warn[0]["detail"], out
    assert results(out)["kdc"] == "ok"
