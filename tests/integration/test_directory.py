"""Users and groups from an LDAP directory ([directory]) against a real
slapd (slapd_harness.py) with StartTLS and a test CA: lookups by name, uid
and gid through real glibc NSS (nss_wrapper) and the module's entry points,
initgroups with nested groups, a SASL/GSSAPI bind with the host keytab,
failover to a second server, cached users served while no server answers,
a plaintext-only server refused under tls_require, entries with uid 0 or
below min_id refused, and an AD-shaped tree mapped to deterministic ids."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from directory_support import (ALICE_UID, ALL_GID, BOB_UID, DEVS_GID, OPS_GID, STAFF_GID,
                               USERS_GID, dir_helper, slapd_factory,  # noqa: F401
                               standard_tree)
from nss_support import ENOENT, NOTFOUND, SUCCESS, auto_uid, group_line, nss_lib  # noqa: F401
from nss_support import passwd_line, subprocess_ok
from pam_harness import _needed_asan
from slapd_harness import base_entries, ldif  # noqa: F401

RANGE = (200000, 2000200000)
RESOLV_WRAPPER = "/usr/lib/x86_64-linux-gnu/libresolv_wrapper.so"


def test_lookups_through_glibc(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s)
    # real glibc callers, NSS routed to libnss_sectx by nss_wrapper
    r = h.wrapped("getent", "passwd", "alice")
    assert r.returncode == 0, subprocess_ok(r) + h.d.log_tail()
    assert r.stdout.strip() == \
        f"alice:*:{ALICE_UID}:{USERS_GID}:Alice Liddell:/home/alice:/bin/sh"
    r = h.wrapped("getent", "passwd", str(BOB_UID))
    assert r.stdout.startswith(f"bob:*:{BOB_UID}:{USERS_GID}:"), subprocess_ok(r)
    r = h.wrapped("getent", "group", "devs")
    assert r.stdout.strip() == f"devs:*:{DEVS_GID}:alice,bob", subprocess_ok(r)
    r = h.wrapped("getent", "group", str(OPS_GID))
    assert r.stdout.startswith(f"ops:*:{OPS_GID}:"), subprocess_ok(r)
    # unknown: NOTFOUND, asked once, then from the negative cache
    r = h.wrapped("getent", "passwd", "nosuchuser")
    assert r.returncode == 2, subprocess_ok(r)
    assert h.probe1("getpwnam:nosuchuser")["status"] == NOTFOUND
    assert s.log_text().count("(uid=nosuchuser)") == 1
    # a hit never touches the directory: published in the mmap cache
    searches = s.log_text().count("SRCH ")
    for _ in range(3):
        assert h.probe1("getpwnam:alice")["status"] == SUCCESS
        assert h.probe1(f"getpwuid:{ALICE_UID}")["status"] == SUCCESS
    assert s.log_text().count("SRCH ") == searches
    # searched over TLS with the simple bind
    assert "STARTTLS" in s.log_text()
    assert 'BIND dn="cn=admin,dc=sectx,dc=test" method=128' in s.log_text()


def test_initgroups_nested(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s)
    r = h.in_namespace("id", "alice")
    assert r.returncode == 0, subprocess_ok(r) + h.d.log_tail()
    for part in (f"uid={ALICE_UID}(alice)", f"gid={USERS_GID}(users)", f"{DEVS_GID}(devs)",
                 f"{OPS_GID}(ops)", f"{ALL_GID}(all)", f"{STAFF_GID}(staff)"):
        assert part in r.stdout, r.stdout
    # bob is in devs by DN only: nested the same
    r = h.in_namespace("id", "-G", "bob")
    assert sorted(int(x) for x in r.stdout.split()) == \
        sorted([USERS_GID, DEVS_GID, OPS_GID, ALL_GID]), subprocess_ok(r)


def test_nesting_depth_bounds(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s, nesting_depth="1")
    r = h.in_namespace("id", "-G", "bob")
    gids = {int(x) for x in r.stdout.split()}
    assert DEVS_GID in gids and OPS_GID in gids and ALL_GID not in gids, subprocess_ok(r)


def test_rfc2307_member_uid_only(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s, schema="rfc2307")
    r = h.in_namespace("id", "-G", "alice")
    assert {int(x) for x in r.stdout.split()} == {USERS_GID, DEVS_GID, STAFF_GID}, \
        subprocess_ok(r)


def test_uid_zero_and_low_ids_refused(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s)
    r = h.probe1("getpwnam:mallory")
    assert (r["status"], r["errno"]) == (NOTFOUND, ENOENT), r
    assert h.probe1("getpwnam:lowid")["status"] == NOTFOUND
    assert h.probe1("getpwuid:0")["status"] == NOTFOUND
    log = h.d.log_text()
    assert "user mallory@SECTX.TEST with uid 0 gid 0 refused" in log, log
    assert "user lowid@SECTX.TEST with uid 42 gid 42 refused" in log, log
    # and a uid 0 lookup never reaches the directory
    assert "(uidNumber=0)" not in s.log_text()
    # the sysadmin sees the refusals in sectxctl id-map too
    r = h.ctl("id-map")
    assert "mallory@SECTX.TEST with uid 0 gid 0 refused" in r.stdout, r.stdout


def test_filter_injection_escaped(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s)
    assert h.probe1("getgrnam:*")["status"] == NOTFOUND
    assert h.probe1("getgrnam:de*")["status"] == NOTFOUND
    assert "cn=de\\2a" in s.log_text().lower(), s.log_text()[-2000:]


def test_name_collision_with_local_staff(dir_helper, slapd_factory):
    """Debian's /etc/group has staff (gid 50): the files backend answers
    first for glibc, and the directory's staff stays reachable by gid."""
    s = slapd_factory()
    h = dir_helper(s)
    r = h.probe1(f"getgrgid:{STAFF_GID}")
    assert r["status"] == SUCCESS and r["entry"][0] == "staff", r
    r = h.probe1("getgrnam:staff")
    assert r["entry"][2] == STAFF_GID
    # real glibc with "group: files sectx": the local staff wins by name
    r = h.in_namespace("getent", "group", "staff")
    assert r.returncode == 0 and r.stdout.split(":")[2] == "50", subprocess_ok(r)
    r = h.in_namespace("getent", "group", str(STAFF_GID))
    assert r.returncode == 0 and r.stdout.startswith(f"staff:*:{STAFF_GID}:"), subprocess_ok(r)


def test_gssapi_bind_with_host_keytab(dir_helper, slapd_factory, realm):
    s = slapd_factory(realm=realm)
    keys = {"uri": s.uri, "base": s.base, "bind": "gssapi", "tls_cacert": s.cacert,
            "timeout": "5s"}
    h = dir_helper(keys)
    r = h.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS, (r, h.d.log_tail(), s.log_text()[-3000:])
    log = s.log_text()
    assert "mech=GSSAPI" in log and 'dn="uid=host/testhost.sectx.test' in log.lower(), \
        log[-3000:]


def test_failover_to_second_server(dir_helper, slapd_factory):
    first, second = slapd_factory(), slapd_factory()
    h = dir_helper(first, uris=[first.uri, second.uri])
    assert h.probe1("getpwnam:alice")["status"] == SUCCESS
    assert "(uid=alice)" in first.log_text()
    first.kill()
    t0 = time.monotonic()
    r = h.probe1("getpwnam:bob")
    assert r["status"] == SUCCESS, (r, h.d.log_tail())
    assert time.monotonic() - t0 < 5.0
    assert "(uid=bob)" in second.log_text()
    assert "directory server ldap://localhost:" in h.d.log_text()


def test_hung_server_times_out_and_fails_over(dir_helper, slapd_factory):
    """A server that keeps the connection but never answers (SIGSTOP): the
    search times out, the next server answers, and the loop keeps serving
    other requests meanwhile."""
    first, second = slapd_factory(), slapd_factory()
    h = dir_helper(first, uris=[first.uri, second.uri])
    assert h.probe1("getpwnam:alice")["status"] == SUCCESS
    os.kill(first.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        lookup = subprocess.Popen([sys.executable, h.lib.probe, h.lib.path, "getpwnam:bob"],
                                  env=h.env(), stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        t1 = time.monotonic()
        st = h.ctl("status")
        assert st.returncode == 0 and time.monotonic() - t1 < 1.0, st
        out, _ = lookup.communicate(timeout=30)
        r = json.loads(out.splitlines()[0])
        assert r["status"] == SUCCESS, (r, h.d.log_tail())
        assert time.monotonic() - t0 < 5.0
        assert "no answer within the timeout" in h.d.log_text()
        assert "(uid=bob)" in second.log_text()
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)


def user_info(h, what, kind="user"):
    """`sectxctl KIND --json WHAT`, parsed."""
    r = h.ctl(kind, "--json", what)
    assert r.returncode == 0, subprocess_ok(r)
    return json.loads(r.stdout)


def test_directory_down_serves_cached(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s)
    assert h.probe1("getpwnam:alice")["status"] == SUCCESS
    assert h.probe1(f"getgrgid:{DEVS_GID}")["status"] == SUCCESS
    fresh = user_info(h, "alice")
    assert fresh["source"] == "directory" and not fresh["stale"], fresh
    assert user_info(h, str(DEVS_GID), "group")["source"] == "directory"
    s.kill()
    h.ctl("cache", "expire")  # every entry must be checked again: none can be
    r = h.wrapped("getent", "passwd", "alice")
    assert r.returncode == 0 and r.stdout.startswith(f"alice:*:{ALICE_UID}:"), \
        subprocess_ok(r) + h.d.log_tail()
    r = h.wrapped("getent", "group", str(DEVS_GID))
    assert r.returncode == 0 and r.stdout.startswith("devs:"), subprocess_ok(r)
    # the sysadmin sees it served from the cache past its expiry
    stale = user_info(h, "alice")
    assert stale["source"] == "directory" and stale["stale"] and stale["uid"] == ALICE_UID, stale
    # unknown and no server: not found is not claimed, the module says so
    r = h.probe1("getpwnam:carol")
    assert r["status"] != SUCCESS
    # a reload while the directory is down keeps what was cached
    h.set_directory(timeout="3s")
    r = h.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS and r["entry"][2] == ALICE_UID, (r, h.d.log_tail())
    assert h.probe1(f"getgrgid:{DEVS_GID}")["status"] == SUCCESS
    # the server back: the next answer refreshes
    s.start()
    h.ctl("cache", "expire")
    assert h.probe1("getpwnam:bob")["status"] == SUCCESS


def test_plaintext_server_refused_under_tls_require(dir_helper, slapd_factory):
    s = slapd_factory(tls=False)
    h = dir_helper(s)
    r = h.probe1("getpwnam:alice")
    assert r["status"] != SUCCESS, r
    assert "StartTLS failed and tls_require is on" in h.d.log_text(), h.d.log_tail()
    assert " BIND dn=" not in s.log_text() and "SRCH" not in s.log_text(), s.log_text()[-2000:]
    # the sysadmin may allow it
    h.set_directory(tls_require="false")
    r = h.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS, (r, h.d.log_tail())


def ad_tree():
    base = "dc=sectx,dc=test"
    ou_users, ou_groups = f"ou=people,{base}", f"ou=groups,{base}"
    return base_entries() + [
        (f"cn=Carol Doe,{ou_users}", {"objectClass": ["top", "user"], "cn": "Carol Doe",
                                      "sAMAccountName": "carol", "objectSid": "S-1-5-21-1-1105",
                                      "memberOf": f"cn=Engineers,{ou_groups}"}),
        (f"cn=Dave,{ou_users}", {"objectClass": ["top", "user"], "cn": "Dave",
                                 "sAMAccountName": "dave", "uidNumber": "7001",
                                 "gidNumber": "7001"}),
        (f"cn=Engineers,{ou_groups}", {"objectClass": ["top", "group"], "cn": "Engineers",
                                       "sAMAccountName": "Engineers",
                                       "member": f"cn=Carol Doe,{ou_users}"}),
    ]


def test_ad_shaped_tree_maps_ids(dir_helper, slapd_factory):
    s = slapd_factory(entries=ad_tree())
    h = dir_helper(s, schema="ad", identity={"id_range": f"{RANGE[0]}-{RANGE[1]}"})
    uid = auto_uid("carol@SECTX.TEST", *RANGE)
    r = h.probe1("getpwnam:carol")
    assert r["status"] == SUCCESS, (r, h.d.log_tail())
    assert passwd_line(r["entry"]) == f"carol:*:{uid}:{uid}:Carol Doe:/home/carol:/bin/bash"
    assert h.probe1(f"getpwuid:{uid}")["entry"][0] == "carol"
    # its user private group, and its AD group with a mapped gid
    assert h.probe1(f"getgrgid:{uid}")["entry"][0] == "carol"
    gid = auto_uid("Engineers@SECTX.TEST", *RANGE)
    r = h.in_namespace("id", "-G", "carol")
    assert {int(x) for x in r.stdout.split()} == {uid, gid}, subprocess_ok(r)
    # POSIX attributes win where they are
    assert h.probe1("getpwnam:dave")["entry"][2] == 7001


def test_srv_discovery(dir_helper, slapd_factory, realm, bins):
    """No uri: the server from the _ldap._tcp SRV record of the realm's
    domain, answered by resolv_wrapper (which serves one SRV record a name;
    the ordering of several is tests/unit/test_dns_srv.c's)."""
    s = slapd_factory()
    h = dir_helper(s, start=False)
    hosts = h.write("dns-hosts", f"SRV _ldap._tcp.sectx.test localhost {s.port} 1 10\n")
    h.directory.pop("uri")
    h.configure_directory(h.directory, identity={}, keytab=h.keytab)
    # an ASan build's runtime must come first in the preload list
    preload = [p for p in (_needed_asan(bins.sectxd), RESOLV_WRAPPER) if p]
    h.d.env.update(LD_PRELOAD=" ".join(preload), RESOLV_WRAPPER_HOSTS=hosts)
    h.start()
    r = h.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS, (r, h.d.log_tail())
    assert f"connected to ldap://localhost:{s.port} (DNS SRV _ldap._tcp.sectx.test)" in \
        h.d.log_text(), h.d.log_tail()
    # no record: no server, and the module is told the directory is unavailable
    h.write("dns-hosts", "A other.sectx.test 127.0.0.9\n")
    s.kill()
    h.ctl("cache", "expire")
    assert h.probe1("getpwnam:nosuchuser")["status"] != SUCCESS


def test_attribute_and_filter_overrides(dir_helper, slapd_factory):
    s = slapd_factory()
    h = dir_helper(s, attr_gecos="uid",
                   user_filter="(&(objectClass=posixAccount)(!(uid=bob)))")
    r = h.probe1("getpwnam:alice")
    assert r["status"] == SUCCESS and r["entry"][4] == "alice", (r, h.d.log_tail())
    assert h.probe1("getpwnam:bob")["status"] == NOTFOUND
    assert "(!(uid=bob))" in s.log_text()
