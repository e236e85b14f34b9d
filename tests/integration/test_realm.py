"""The throwaway realm itself works: a principal gets a TGT, the KDC refuses
a wrong password, and stop() leaves no process and no file behind."""

import os

from realm import Realm
from sectx_harness import pid_alive, wait_until


def test_principal_gets_tgt(realm, tmp_path):
    password = realm.addprinc("alice", password="Alice-pw-1", extra_args=("+requires_preauth",))
    ccache = f"FILE:{tmp_path}/alice.cc"

    r = realm.kinit("alice", password, ccache)
    assert r.returncode == 0, r.stderr

    listing = realm.klist(ccache)
    assert listing.returncode == 0, listing.stderr
    assert "Default principal: alice@SECTX.TEST" in listing.stdout
    assert "krbtgt/SECTX.TEST@SECTX.TEST" in listing.stdout


def test_wrong_password_is_refused_by_kdc(realm, tmp_path):
    realm.addprinc("bob", password="Bob-pw-1", extra_args=("+requires_preauth",))
    ccache = f"FILE:{tmp_path}/bob.cc"

    r = realm.kinit("bob", "not-the-password", ccache)
    assert r.returncode != 0
    assert realm.klist(ccache).returncode != 0, "a TGT was stored for a wrong password"
    # The KDC itself refused (preauth failed), not only the client.
    assert wait_until(lambda: "PREAUTH_FAILED: bob@SECTX.TEST" in realm.log_text(), 5), \
        realm.log_text()[-2000:]


def test_keytab_holds_the_principal_keys(realm, tmp_path):
    realm.addprinc("host/client.sectx.test", randkey=True)
    keytab = str(tmp_path / "host.keytab")
    realm.ktadd("host/client.sectx.test", keytab)

    ccache = f"FILE:{tmp_path}/host.cc"
    r = realm.kinit("host/client.sectx.test", "", ccache, extra_args=("-k", "-t", keytab))
    assert r.returncode == 0, r.stderr
    assert "krbtgt/SECTX.TEST@SECTX.TEST" in realm.klist(ccache).stdout


def test_stop_leaves_no_process_or_file():
    r = Realm()
    pids, directory = r.pids(), r.dir
    assert set(pids) == {"krb5kdc", "kadmind"}
    assert all(pid_alive(pid) for pid in pids.values())

    r.stop()

    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not os.path.exists(directory)
    r.stop()  # idempotent
