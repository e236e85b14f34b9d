"""sectxctl against a real sectxd and realm: every command, its --json output
parsed, its exit codes; user/group/groups with their source and expiry;
tickets of a real login (root: all, a user: own only); auth-test driving the
real PAM stack (pam_wrapper) on a pty, with sectxd's log lines for each
call."""

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from nss_support import Helper, nss_lib  # noqa: F401  (fixture)
from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import PamStack
from sectx_harness import run, wait_until, write_private

USERS = """\
alice:5001:5001:Alice Example:/home/alice:/bin/bash
bob@SECTX.TEST:5002:5002:Bob:/home/bob:/bin/sh
carol@OTHER.REALM:5003:5003::/home/carol:/bin/sh
svc/web@SECTX.TEST:5004:5004::/srv/web:/usr/sbin/nologin
root2:0:0:would be root:/root:/bin/sh
"""
GROUPS = """\
devs:6000:alice,bob,carol@OTHER.REALM
ops:6001:bob
"""
COMMANDS = ["status", "ping", "debug-level", "check-config", "config-keys", "cache", "id-map",
            "user", "group", "groups", "tickets", "auth-test", "doctor"]


@pytest.fixture
def helper(sectxd_factory, nss_lib, realm, host_keytab):  # noqa: F811
    """A sectxd with static users and groups that can also log realm users in,
    caching their credentials for offline logins."""
    h = Helper(sectxd_factory(start=False, env=realm.env()), nss_lib, realm)
    h.configure(users=USERS, groups=GROUPS, keytab=host_keytab)
    write_private(h.d.config_file, h.config_text() + "\n[offline]\ncache_credentials = true\n")
    return h.start()


@pytest.fixture
def stack(pam_bins, helper):
    s = PamStack(pam_bins.module, pam_bins.driver, helper.d.socket_dir)
    yield s
    s.close()


def ctl_json(helper, *args, uid=None, rc=0):
    r = helper.d.ctl(*args, "--json", uid=uid)
    assert r.returncode == rc, f"{args}: rc={r.returncode} {r.stdout} {r.stderr}"
    return json.loads(r.stdout)


# --- every command ------------------------------------------------------------------


def test_every_command_has_help(bins):
    for cmd in COMMANDS:
        r = run([bins.sectxctl, cmd, "--help"])
        assert r.returncode == 0 and r.stdout.startswith("usage: sectxctl"), (cmd, r)
    r = run([bins.sectxctl, "--help"])
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS), r.stdout


def test_exit_codes_usage_and_unreachable(bins, tmp_path):
    assert run([bins.sectxctl, "no-such-command"]).returncode == 2
    assert run([bins.sectxctl, "user"]).returncode == 2
    assert run([bins.sectxctl, "status", "extra"]).returncode == 2
    r = run([bins.sectxctl, "--socket-dir", str(tmp_path), "status", "--json"])
    assert r.returncode == 3 and "cannot reach sectxd" in r.stderr, r


def test_status_json_counts(helper):
    s = ctl_json(helper, "status")
    assert s["identity"] == {"users": 4, "groups": 2, "negative": 0}, s
    assert s["nss_cache"]["file"] == helper.cache_file and s["nss_cache"]["generation"] >= 1
    assert s["login_handles"] == 0 and s["sessions_open"] == 0, s
    assert s["realm"] == "SECTX.TEST" and s["pid"] == helper.d.pid
    text = helper.d.ctl("status").stdout
    assert "identity: 4 user(s), 2 group(s), 0 negative" in text, text
    assert all(": " in line for line in text.splitlines() if line.strip()), text


def test_ping_id_map_check_config_json(helper):
    assert ctl_json(helper, "ping") == {"answering": True}
    m = ctl_json(helper, "id-map")
    assert {"kind": "refused", "entry": m["entries"][0]["entry"]} in m["entries"], m
    assert any("root2@SECTX.TEST" in e["entry"] for e in m["entries"]), m
    c = ctl_json(helper, "check-config", helper.d.config_file)
    assert c == {"file": helper.d.config_file, "valid": True, "errors": []}, c
    bad = helper.write("bad.conf", "[sectxd]\nno_such_key = 1\n", 0o600)
    c = ctl_json(helper, "check-config", bad, rc=1)
    assert c["valid"] is False and c["errors"][0]["line"] == 2, c


# --- identities ---------------------------------------------------------------------


def test_user_by_name_and_uid_with_source(helper):
    u = ctl_json(helper, "user", "alice")
    assert u["found"] is True and u["source"] == "static" and u["expires"] is None, u
    assert (u["name"], u["uid"], u["gid"], u["home"], u["shell"], u["principal"]) == \
        ("alice", 5001, 5001, "/home/alice", "/bin/bash", "alice@SECTX.TEST"), u
    b = ctl_json(helper, "user", "5002")
    assert b["name"] == "bob" and b["gecos"] == "Bob", b
    text = helper.d.ctl("user", "alice").stdout
    assert "source: static\n" in text and "uid: 5001\n" in text, text


def test_unknown_user_is_negative_cached(helper):
    now = int(time.time())
    u = ctl_json(helper, "user", "nosuchuser", rc=1)
    assert u["found"] is False and u["source"] == "negative", u
    assert u["expires"] > now, u
    assert ctl_json(helper, "status")["identity"]["negative"] >= 1


def test_group_and_groups(helper):
    g = ctl_json(helper, "group", "devs")
    assert g["gid"] == 6000 and g["members"] == ["alice", "bob", "carol@OTHER.REALM"], g
    assert g["source"] == "static", g
    assert ctl_json(helper, "group", "6001")["name"] == "ops"
    gs = ctl_json(helper, "groups", "bob")
    assert gs["primary_gid"] == 5002 and sorted(gs["groups"]) == [6000, 6001], gs


# --- caches -------------------------------------------------------------------------


def test_cache_list_flush_expire(helper, stack, users, nobody):
    user = users()
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    ctl_json(helper, "user", "nosuchuser", rc=1)

    def entries():
        return {(e["cache"], e["name"]) for e in ctl_json(helper, "cache", "list")["entries"]}

    assert wait_until(lambda: ("offline", user.name) in entries(), 10), entries()
    assert ("negative", "nosuchuser@SECTX.TEST") in entries(), entries()
    listed = ctl_json(helper, "cache", "list")
    off = [e for e in listed["entries"] if e["cache"] == "offline"][0]
    assert off["stored"] <= time.time() + 1 and listed["count"] == len(listed["entries"])

    e = ctl_json(helper, "cache", "expire")
    assert e["action"] == "expire" and e["generation"] >= 2, e
    assert ("negative", "nosuchuser@SECTX.TEST") not in entries()
    assert ("offline", user.name) in entries(), "expire must keep offline credentials"

    f = ctl_json(helper, "cache", "flush", "--user", user.name)
    assert f["user"] == user.name, f
    assert ("offline", user.name) not in entries()

    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert wait_until(lambda: ("offline", user.name) in entries(), 10), entries()
    f = ctl_json(helper, "cache", "flush")
    assert f["offline_credentials"] == 1 and f["generation"] >= 3, f
    assert entries() == set(), entries()
    r = helper.d.ctl("cache", "list", uid=nobody)
    assert r.returncode == 1 and "permission denied" in r.stderr, r
    assert helper.d.ctl("cache", "bogus").returncode == 2


# --- tickets ------------------------------------------------------------------------


def test_tickets_root_sees_all_a_user_only_own(helper, stack, users, nobody):
    user = users()
    r = stack.run(user.name, "authenticate", "acct_mgmt", "open_session", "env",
                  answers=[user.password])
    assert r.code("open_session") == "PAM_SUCCESS", r
    ccname = r.env["KRB5CCNAME"]

    t = ctl_json(helper, "tickets")
    assert t["count"] == 1, t
    s = t["sessions"][0]
    assert (s["user"], s["uid"], s["ccache"], s["principal"]) == \
        (user.name, user.uid, ccname, user.principal), s
    assert s["expires"] > time.time() and s["service"] == PamStack.SERVICE, s
    assert ctl_json(helper, "tickets", user.name)["count"] == 1
    assert ctl_json(helper, "tickets", uid=user.uid)["count"] == 1
    assert ctl_json(helper, "tickets", uid=nobody)["count"] == 0
    r = helper.d.ctl("tickets", user.name, uid=nobody)
    assert r.returncode == 1 and "permission denied" in r.stderr, r
    st = ctl_json(helper, "status")
    assert st["login_handles"] == 1 and st["sessions_open"] == 1, st


# --- auth-test ----------------------------------------------------------------------


def pty_run(argv, env, answer, timeout=30):
    """Run argv on a new pty, answer the first password prompt, return
    (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    shown, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if not answered and b"assword" in shown:
                os.write(fd, answer.encode() + b"\n")
                answered = True
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still waiting for input: the test fails, not hangs
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_auth_test_on_a_pty(helper, stack, users, bins):
    user = users()
    argv = [bins.sectxctl, "--socket-dir", helper.d.socket_dir, "auth-test", user.name,
            "--service", PamStack.SERVICE]
    rc, shown = pty_run(argv, stack.env(), user.password)
    assert rc == 0, shown
    assert "pam_authenticate: PAM_SUCCESS" in shown and "pam_acct_mgmt: PAM_SUCCESS" in shown
    assert user.password not in shown, "the password was echoed"
    auth_part = shown.split("pam_authenticate:")[1].split("pam_acct_mgmt:")[0]
    assert "sectxd_log:" in auth_part and user.name in auth_part, shown

    rc, shown = pty_run(argv, stack.env(), "wrong-" + user.password)
    assert rc == 1 and "pam_authenticate: PAM_AUTH_ERR" in shown, shown
    assert "pam_acct_mgmt" not in shown, shown


def test_auth_test_json_session(helper, stack, users, bins):
    """Without a terminal: prompts on stderr, answers from stdin, JSON on stdout."""
    user = users()
    r = subprocess.run([bins.sectxctl, "--socket-dir", helper.d.socket_dir, "auth-test",
                        "--json", user.name, "--service", PamStack.SERVICE, "--action",
                        "session"], input=user.password + "\n", capture_output=True, text=True,
                       env=stack.env(), timeout=60, start_new_session=True)
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert [c["call"] for c in out["calls"]] == [
        "pam_authenticate", "pam_acct_mgmt", "pam_open_session", "pam_close_session"], out
    assert all(c["result"] == "PAM_SUCCESS" for c in out["calls"]), out
    assert out["result"] == "PAM_SUCCESS" and user.password not in r.stdout + r.stderr
    auth_log = "\n".join(out["calls"][0]["sectxd_log"])
    assert user.name in auth_log, out["calls"][0]
