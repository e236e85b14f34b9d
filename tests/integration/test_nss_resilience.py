"""libnss_sectx against faults of its cache and of sectxd (issue 12, "What
broke" 6): long-running readers, one through the module's entry points and
one through the real glibc (a mount namespace with "passwd: files sectx"),
resolve cached users in a loop while the test truncates the published cache
file in place and restarts sectxd with SIGKILL and with SIGTERM, several
times.  No reader may crash (a mapping of a truncated file is SIGBUS) or be
told NOTFOUND for a cached user; fresh processes started meanwhile get the
right answer from the sealed memfd, from a copy of the file when sectxd is
down, and UNAVAIL (never NOTFOUND, never a crash) when the file is truncated
and sectxd is down.  Figures (lookups, statuses, time for a running reader
to take the restarted helper's cache, a fresh process's first lookup) are
printed; no timing is asserted beyond the harness's own bounds."""

import os
import time

import pytest

from nss_support import (ENOENT, NOTFOUND, SUCCESS, UNAVAIL, LoopProbe, make_helper,  # noqa: F401
                         nss_lib, passwd_line, wait_for)
from sectx_harness import require_root

USERS = """\
alice:5001:5001:Alice Example:/home/alice:/bin/bash
bob@SECTX.TEST:5002:5002:Bob:/home/bob:/bin/sh
"""
GROUPS = """\
devs:6000:alice,bob
"""
ALICE = "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
CALLS = ["getpwnam:alice", "getpwuid:5002", "getgrnam:devs"]
CYCLES = 3  # of each kind of restart


@pytest.fixture
def helper(sectxd_factory, nss_lib):  # noqa: F811
    require_root("restarts a root sectxd; real glibc through a mount namespace")
    return make_helper(sectxd_factory, nss_lib, users=USERS, groups=GROUPS)


@pytest.fixture
def readers(helper):
    """Both long-running readers, stopped (and checked) by the test."""
    made = []

    def start():
        made.append(LoopProbe(helper, CALLS, glibc=False, name="module"))
        made.append(LoopProbe(helper, CALLS, glibc=True, name="glibc"))
        return made

    yield start
    for r in made:
        r.kill()


def check_reader(name, reader):
    """Stop a reader; it must not have crashed, and every answer must be the
    cached entry (UNAVAIL at worst, never NOTFOUND)."""
    assert reader.alive(), f"{name} reader died: {reader.proc.returncode}"
    rc, summary, err = reader.finish()
    assert rc == 0 and summary is not None, f"{name} reader failed ({rc}): {err}"
    total = {}
    for call, statuses in summary["statuses"].items():
        for st, n in statuses.items():
            total[st] = total.get(st, 0) + n
        assert str(NOTFOUND) not in statuses, f"{name}: {call} NOTFOUND: {summary['events']}"
        assert len(summary["entries"][call]) == 1, f"{name}: {call}: {summary['entries'][call]}"
    assert passwd_line(summary["entries"]["getpwnam:alice"][0]) == ALICE
    print(f"{name} reader: {summary['rounds']} rounds, statuses {total}, "
          f"slowest lookup {summary['max_ms']} ms, first non-SUCCESS: {summary['events'][:3]}")
    return total


def fresh(helper, *calls):
    return helper.probe(*calls)


def test_truncated_cache_file(helper, readers):
    """The published file truncated in place (to nothing, to a few bytes,
    to half) while readers run: they map the sealed memfd, not the file, and
    go on; fresh processes too; a republication restores the file."""
    r_mod, r_glibc = readers()
    for r in (r_mod, r_glibc):
        assert r.memfd_inodes(), f"{r.pid} maps no cache memfd: {r.maps()}"
        assert not r.maps_path(helper.cache_file), "a reader maps the cache file"
    size = os.path.getsize(helper.cache_file)
    for length in (0, 64, size // 2, 0, 200):
        os.truncate(helper.cache_file, length)
        time.sleep(0.2)
        r = fresh(helper, "getpwnam:alice", "getgrnam:devs", "getpwnam:nosuchuser")
        assert [x["status"] for x in r] == [SUCCESS, SUCCESS, NOTFOUND], r
    assert r_mod.alive() and r_glibc.alive()
    # the next publication writes the file again
    assert helper.ctl("cache", "flush").returncode == 0
    with open(helper.cache_file, "rb") as f:
        assert f.read(4) == b"SXNC", "the file was not written again"
    check_reader("module", r_mod)
    check_reader("glibc", r_glibc)


def test_restarts_and_truncation(helper, readers):
    """sectxd killed (SIGKILL) and stopped (SIGTERM), CYCLES times each,
    the file truncated once while it is down: running readers keep answering
    from the cache they map and take the new helper's within seconds; fresh
    processes answer from a copy of the file while it is down, UNAVAIL when
    that is truncated too, and from the new memfd once it is back."""
    r_mod, r_glibc = readers()
    figures = []
    for cycle in range(2 * CYCLES):
        how = "SIGKILL" if cycle % 2 == 0 else "SIGTERM"
        before = {r.pid: r.memfd_inodes() for r in (r_mod, r_glibc)}
        assert all(before.values()), before
        if how == "SIGKILL":
            helper.d.proc.kill()
            helper.d.proc.wait()
        else:
            assert helper.d.stop() == 0
        # down: a fresh process copies the file
        t0 = time.monotonic()
        r = fresh(helper, "getpwnam:alice", "getpwnam:nosuchuser")
        first_ms = r[0]["ms"]
        assert [x["status"] for x in r] == [SUCCESS, NOTFOUND], r
        assert passwd_line(r[0]["entry"]) == ALICE
        if cycle == 1:
            saved = open(helper.cache_file, "rb").read()
            os.truncate(helper.cache_file, 0)
            r = fresh(helper, "getpwnam:alice")
            assert (r[0]["status"], r[0]["errno"]) == (UNAVAIL, ENOENT), r
            with open(helper.cache_file, "wb") as f:  # for the next helper's start
                f.write(saved)
        time.sleep(0.3)  # readers answer meanwhile
        helper.d.start()
        down_s = time.monotonic() - t0
        # running readers take the new helper's memfd
        took = {}
        for r in (r_mod, r_glibc):
            took[r.pid] = wait_for(lambda r=r: r.memfd_inodes() and
                                   r.memfd_inodes() != before[r.pid], 10.0)
            assert took[r.pid] is not None, f"{how}: reader {r.pid} kept {r.memfd_inodes()}"
        r = fresh(helper, "getpwnam:alice", "getpwuid:5002")
        assert [x["status"] for x in r] == [SUCCESS, SUCCESS], r
        figures.append((how, round(down_s, 2), round(first_ms, 2), round(r[0]["ms"], 2),
                        [round(v * 1000) for v in took.values()]))
        assert r_mod.alive() and r_glibc.alive()
    for how, down_s, first_down, first_up, took in figures:
        print(f"{how}: down {down_s} s; fresh process's first lookup {first_down} ms while "
              f"down (file copy), {first_up} ms after; running readers took the new "
              f"helper's memfd {took} ms after it was ready")
    check_reader("module", r_mod)
    check_reader("glibc", r_glibc)
