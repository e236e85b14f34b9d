"""Automatic mapping of realm principals ([identity] auto_id) against a real
MIT KDC: existence checked by S4U2Self with the host key (and no AS-REQ for
the user), the documented hash, user private groups, the same ids from two
helpers, a collision refused and reported, a changed id_range refused, a KDC
that never answers (the worker is killed at the deadline, the loop keeps
serving), negative caching, per-uid rate limits, and a restart keeping valid
existence checks."""

import os
import socket
import time

import pytest

from nss_support import (EAGAIN, ENOENT, NOTFOUND, SUCCESS, TRYAGAIN, UNAVAIL, Helper,
                         auto_uid, group_line, host_keytab, nss_lib,  # noqa: F401
                         passwd_line, subprocess_ok)
from sectx_harness import wait_until, write_private

RANGE = (200000, 2000200000)


def auto_identity(**extra):
    ident = {"auto_id": "true", "id_range": f"{RANGE[0]}-{RANGE[1]}", "enumerate": "true"}
    ident.update(extra)
    return ident


@pytest.fixture
def auto_helper(sectxd_factory, nss_lib, realm):  # noqa: F811
    """make(identity=None, **config) -> a started Helper with auto_id and a
    host keytab of the test realm."""
    def make(identity=None, **config):
        d = sectxd_factory(start=False, env=realm.env())
        h = Helper(d, nss_lib, realm)
        h.configure(identity=identity or auto_identity(), keytab=host_keytab(realm, d),
                    **config)
        return h.start()
    return make


def s4u_lines(realm, principal):
    return [l for l in realm.log_text().splitlines()
            if f"PROTOCOL-TRANSITION s4u-client={principal}" in l]


def as_req_lines(realm, principal):
    return [l for l in realm.log_text().splitlines() if "AS_REQ" in l and f" {principal} for" in l]


def test_existence_by_s4u2self(auto_helper, realm):
    realm.addprinc("dana")
    h = auto_helper()
    uid = auto_uid("dana@SECTX.TEST", *RANGE)
    r = h.probe1("getpwnam:dana")
    assert r["status"] == SUCCESS, r
    assert passwd_line(r["entry"]) == f"dana:*:{uid}:{uid}::/home/dana:/bin/bash"
    # asked by S4U2Self with the host key, never by an AS-REQ for the user
    assert len(s4u_lines(realm, "dana@SECTX.TEST")) == 1
    assert as_req_lines(realm, "dana@SECTX.TEST") == []
    # both names, the uid, the user private group
    assert h.probe1("getpwnam:dana@SECTX.TEST")["entry"][0] == "dana"
    assert h.probe1(f"getpwuid:{uid}")["entry"][0] == "dana"
    r = h.probe1(f"getgrgid:{uid}")
    assert group_line(r["entry"]) == f"dana:*:{uid}:"
    assert h.probe1("getgrnam:dana")["entry"][2] == uid
    # unknown to the realm: NOTFOUND, cached negatively (one check only; the
    # KDC logs an S4U2Self for an unknown client without naming it)
    unknown_before = realm.log_text().count("UNKNOWN_S4U2SELF_PRINCIPAL")
    r = h.probe1("getpwnam:nosuchprincipal")
    assert (r["status"], r["errno"]) == (NOTFOUND, ENOENT)
    assert h.probe1("getpwnam:nosuchprincipal")["status"] == NOTFOUND
    assert realm.log_text().count("UNKNOWN_S4U2SELF_PRINCIPAL") == unknown_before + 1
    assert "nosuchprincipal" not in realm.log_text(), "an AS-REQ probe reached the KDC"
    checks = h.d.log_text().count("existence check of nosuchprincipal@SECTX.TEST")
    assert checks == 1, h.d.log_text()
    # other realms and service principals are not mapped automatically
    assert h.probe1("getpwnam:dana@OTHER.REALM")["status"] == NOTFOUND
    assert h.probe1("getpwnam:host/testhost.sectx.test@SECTX.TEST")["status"] == NOTFOUND
    # a uid nobody mapped cannot be reversed
    r = h.probe1(f"getpwuid:{auto_uid('never@SECTX.TEST', *RANGE)}")
    assert r["status"] == NOTFOUND
    # mapped users answer from the published cache, even with the helper gone
    assert wait_until(lambda: s4u_lines(realm, "dana@SECTX.TEST") and h.d.alive(), 1)
    time.sleep(0.5)  # let the debounced publication land
    h.d.stop()
    results = h.probe("getpwnam:dana", f"getpwuid:{uid}", f"getgrgid:{uid}",
                      "getpwnam:nosuchprincipal", "getpwnam:unknown-yet")
    assert [x["status"] for x in results] == [SUCCESS, SUCCESS, SUCCESS, NOTFOUND, UNAVAIL]


def test_real_glibc_auto_user(auto_helper, realm):
    realm.addprinc("erin")
    h = auto_helper()
    uid = auto_uid("erin@SECTX.TEST", *RANGE)
    r = h.in_namespace("getent", "passwd", "erin")
    assert r.returncode == 0, subprocess_ok(r)
    assert r.stdout.strip() == f"erin:*:{uid}:{uid}::/home/erin:/bin/bash"
    r = h.in_namespace("getent", "passwd", "erin@SECTX.TEST")
    assert r.stdout.strip() == f"erin:*:{uid}:{uid}::/home/erin:/bin/bash"
    r = h.in_namespace("id", "erin")
    assert r.stdout.strip() == f"uid={uid}(erin) gid={uid}(erin) groups={uid}(erin)"
    r = h.in_namespace("getent", "passwd", "nosuchuser")
    assert r.returncode == 2
    r = h.wrapped("getent", "passwd", "erin")
    assert r.stdout.strip() == f"erin:*:{uid}:{uid}::/home/erin:/bin/bash", subprocess_ok(r)


def test_fully_qualified_names(auto_helper, realm):
    realm.addprinc("fred")
    h = auto_helper(identity=auto_identity(use_fully_qualified_names="true"))
    uid = auto_uid("fred@SECTX.TEST", *RANGE)
    assert h.probe1("getpwnam:fred")["entry"][0] == "fred@SECTX.TEST"
    r = h.probe1(f"getpwuid:{uid}")
    assert passwd_line(r["entry"]) == \
        f"fred@SECTX.TEST:*:{uid}:{uid}::/home/fred@SECTX.TEST:/bin/bash"


def test_two_helpers_map_the_same_ids(auto_helper, realm):
    realm.addprinc("gina")
    a, b = auto_helper(), auto_helper()
    ra, rb = a.probe1("getpwnam:gina"), b.probe1("getpwnam:gina")
    assert ra["status"] == rb["status"] == SUCCESS
    assert ra["entry"] == rb["entry"]
    assert ra["entry"][2] == auto_uid("gina@SECTX.TEST", *RANGE)
    for h in (a, b):
        r = h.ctl("id-map")
        assert f"mapping: {ra['entry'][2]} gina@SECTX.TEST" in r.stdout, r.stdout


def _colliding_pair(lo, hi, prefix):
    seen = {}
    for i in range(100000):
        name = f"{prefix}{i}"
        uid = auto_uid(f"{name}@SECTX.TEST", lo, hi)
        if uid in seen:
            return seen[uid], name, uid
        seen[uid] = name
    raise AssertionError("no collision found")


def test_collision_refused_and_reported(auto_helper, realm):
    lo, hi = 300000, 300999
    first, second, uid = _colliding_pair(lo, hi, "col")
    realm.addprinc(first)
    realm.addprinc(second)
    h = auto_helper(identity=auto_identity(id_range=f"{lo}-{hi}"))
    r = h.probe1(f"getpwnam:{first}")
    assert r["status"] == SUCCESS and r["entry"][2] == uid
    r = h.probe1(f"getpwnam:{second}")
    assert r["status"] == NOTFOUND, r
    assert h.probe1(f"getpwuid:{uid}")["entry"][0] == first
    log = h.d.log_text()
    assert f"id collision: principal {second}@SECTX.TEST hashes to uid {uid}" in log
    r = h.ctl("id-map")
    assert r.returncode == 0, r.stderr
    assert f"id_range: {lo}-{hi}" in r.stdout
    assert f"mapping: {uid} {first}@SECTX.TEST" in r.stdout
    assert (f"collision: uid {uid}: {second}@SECTX.TEST refused (uid held by "
            f"{first}@SECTX.TEST)") in r.stdout
    # never probed to a neighbouring id
    for near in (uid - 1, uid + 1):
        assert h.probe1(f"getpwuid:{near}")["status"] == NOTFOUND


def test_id_range_change_refused(auto_helper, realm):
    realm.addprinc("hank")
    h = auto_helper()
    uid = h.probe1("getpwnam:hank")["entry"][2]
    h.d.reload(h.config_text(id_range="300000-400000"))
    assert wait_until(lambda: "reload rejected by identity" in h.d.log_text(), 10), \
        h.d.log_text()
    assert "id_range cannot change" in h.d.log_text()
    assert h.probe1("getpwnam:hank")["entry"][2] == uid
    # and a restart with the other range refuses to start
    h.d.stop()
    write_private(h.d.config_file, h.config_text(id_range="300000-400000"))
    h.d.stopped = False
    with pytest.raises(AssertionError):
        h.d.start(timeout=5)
    assert "mappings in idmap were made with" in h.d.log_text()


def test_restart_keeps_valid_checks(auto_helper, realm):
    realm.addprinc("ivan")
    h = auto_helper()
    assert h.probe1("getpwnam:ivan")["status"] == SUCCESS
    time.sleep(0.5)
    h.d.stop()
    h.d.stopped = False
    h.d.start()
    before = len(s4u_lines(realm, "ivan@SECTX.TEST"))
    assert h.probe1("getpwnam:ivan")["status"] == SUCCESS
    assert len(s4u_lines(realm, "ivan@SECTX.TEST")) == before == 1
    # flush forgets it: the realm is asked again
    assert h.ctl("cache", "flush").returncode == 0
    assert h.probe1("getpwnam:ivan")["status"] == SUCCESS
    assert len(s4u_lines(realm, "ivan@SECTX.TEST")) == 2


def test_rate_limit_per_uid(auto_helper, nobody):
    h = auto_helper(identity=auto_identity(checks_per_uid="1"))
    calls = [f"getpwnam:ratelimited{i}" for i in range(8)]
    results = h.probe(*calls, uid=nobody)
    statuses = [(x["status"], x["errno"]) for x in results]
    assert (TRYAGAIN, EAGAIN) in statuses, statuses
    assert statuses[0] == (NOTFOUND, ENOENT)
    # another uid has its own budget
    assert h.probe1("getpwnam:ratelimited-root")["status"] == NOTFOUND
    assert "over checks_per_uid" in h.d.log_text()


def test_kdc_never_answers(sectxd_factory, nss_lib, realm, tmp_path):  # noqa: F811
    """The worker is killed at kdc_timeout; the loop serves meanwhile."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    port = hole.getsockname()[1]
    try:
        env = realm.env()
        conf = os.path.join(realm.dir, f"blackhole-{port}.conf")
        with open(realm.krb5_conf) as f:
            text = f.read()
        text = text.replace(f"kdc = 127.0.0.1:{realm.kdc_port}", f"kdc = 127.0.0.1:{port}")
        with open(conf, "w") as f:
            f.write(text.replace("[libdefaults]", "[libdefaults]\n    udp_preference_limit = 1000000"))
        env["KRB5_CONFIG"] = conf
        d = sectxd_factory(start=False, env=env)
        h = Helper(d, nss_lib, realm)
        h.configure(users="static:5001:5001::/home/static:/bin/sh\n",
                    identity=auto_identity(), keytab=host_keytab(realm, d))
        h.start()
        start = time.monotonic()
        out = h.probe("getpwnam:slowpoke", "getpwnam:static", timeout=30)
        elapsed = time.monotonic() - start
        assert (out[0]["status"], out[0]["errno"]) == (UNAVAIL, ENOENT), out
        assert out[0]["ms"] < 3500, out  # the module's deadline (3 s) bounds it
        assert out[1]["status"] == SUCCESS
        assert elapsed < 10
        assert wait_until(lambda: "worker restarted" in h.d.log_text(), 10), h.d.log_text()
        # while a check hangs, the helper answers others at once
        assert h.d.ctl("--timeout", "1000", "status").returncode == 0
    finally:
        hole.close()


def _procs():
    """{pid: (ppid, comm)} of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            out[int(name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), comm)
    return out


def test_workers_come_from_the_spawner(auto_helper, realm):
    """sectxd -> sectxd-s4u-spawn (forked at start) -> sectxd-s4u; the worker
    holds no descriptor but stdin/out/err and its socket."""
    realm.addprinc("jack")
    h = auto_helper()

    def tree():
        procs = _procs()
        spawners = [p for p, (pp, c) in procs.items() if pp == h.d.pid and c.startswith(
            "sectxd-s4u-spa")]
        workers = [p for p, (pp, c) in procs.items() if c == "sectxd-s4u" and pp in spawners]
        return spawners, workers

    spawners, workers = tree()
    assert len(spawners) == 1 and len(workers) == 1, _procs()
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{workers[0]}/fd")) == [0, 1, 2, 3]
    # a killed worker is replaced from the spawner, not from sectxd
    os.kill(workers[0], 9)
    assert h.probe1("getpwnam:jack")["status"] in (SUCCESS, UNAVAIL)
    assert h.probe1("getpwnam:jack")["status"] == SUCCESS
    spawners2, workers2 = tree()
    assert spawners2 == spawners and len(workers2) == 1 and workers2 != workers
