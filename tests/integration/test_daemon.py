"""The helper's foundation as its users see it: status, the sockets and their
modes, reload, stop, readiness notification, the debug level and who may
change it, a single instance per socket directory, sectxctl without a
helper, and protocol version negotiation on the wire."""

import os
import socket
import stat
import subprocess
import time

import pytest

from sectx_harness import (E_NOOP, E_VERSION, OK, OP_PING, OP_REPLY, OP_STATUS,
                           PROTO_VERSION, TAG_MAX_VERSION, TAG_MIN_VERSION, Conn,
                           render_config, require_root, run, wait_until,
                           write_private)

STATUS_INTS = ("protocol_version", "pid", "uptime_seconds", "requests_served",
               "connections_refused")


def _sock(d, name):
    return d.nss_sock if name == "nss" else d.pam_sock


# --- status ------------------------------------------------------------------

def test_status_reports_config_realm_pid_and_version(sectxd):
    r = sectxd.ctl("status")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines and all(": " in line for line in lines), r.stdout
    values = [line.split(": ", 1)[1].strip() for line in lines]
    assert sectxd.config_file in values
    assert "SECTX.TEST" in values
    assert str(sectxd.pid) in values
    assert sectxd.status_json()["version"] in r.stdout


def test_status_json_has_every_field_with_its_type(sectxd):
    s = sectxd.status_json()
    for key in STATUS_INTS:
        assert type(s[key]) is int and s[key] >= 0, (key, s)
    assert type(s["version"]) is str and s["version"]
    assert s["protocol_version"] == PROTO_VERSION
    assert s["pid"] == sectxd.pid
    assert s["config_file"] == sectxd.config_file
    assert s["realm"] == "SECTX.TEST"
    assert s["log_level"] == "info"
    assert {"nss", "pam"} <= set(s["connections"])
    assert all(type(s["connections"][k]) is int for k in ("nss", "pam"))


def test_requests_served_counts_answered_requests(sectxd):
    before = sectxd.status_json()["requests_served"]
    for _ in range(3):
        with Conn(sectxd.nss_sock) as c:
            assert c.request(OP_PING).status == OK
    assert sectxd.status_json()["requests_served"] >= before + 3


def test_status_on_the_wire_matches_the_process(sectxd):
    with Conn(sectxd.pam_sock) as c:
        reply = c.request(OP_STATUS, reqid=41)
    assert (reply.op, reply.reqid, reply.status) == (OP_STATUS | OP_REPLY, 41, OK)
    assert reply.u32(0x0011) == sectxd.pid
    assert reply.get(0x0014) == b"SECTX.TEST"


def test_status_answers_an_unprivileged_user(sectxd, nobody):
    assert sectxd.status_json(uid=nobody)["pid"] == sectxd.pid


# --- sockets -------------------------------------------------------------------

def test_socket_dir_is_0755_and_sockets_0666(sectxd):
    owner = os.geteuid()  # root in production; the tests' uid otherwise
    st = os.lstat(sectxd.socket_dir)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == owner
    assert stat.S_IMODE(st.st_mode) == 0o755, oct(st.st_mode)
    for path in (sectxd.nss_sock, sectxd.pam_sock):
        st = os.lstat(path)
        assert stat.S_ISSOCK(st.st_mode) and st.st_uid == owner, path
        assert stat.S_IMODE(st.st_mode) == 0o666, (path, oct(st.st_mode))


@pytest.mark.parametrize("sock", ["nss", "pam"])
def test_ping_is_answered_on_both_sockets(sectxd, sock):
    with Conn(_sock(sectxd, sock)) as c:
        reply = c.request(OP_PING, reqid=0xA5A50001)
        assert (reply.op, reply.reqid, reply.status) == (OP_PING | OP_REPLY, 0xA5A50001, OK)
        # The connection serves more than one request.
        assert c.request(OP_PING, reqid=2).status == OK


def test_sectxctl_ping_succeeds(sectxd):
    r = sectxd.ctl("ping")
    assert r.returncode == 0, r.stderr


def test_status_on_nss_socket_is_not_served(sectxd):
    with Conn(sectxd.nss_sock) as c:
        reply = c.request(OP_STATUS, reqid=5)
    assert (reply.op, reply.reqid, reply.status) == (OP_STATUS | OP_REPLY, 5, E_NOOP)


def test_unknown_operation_gets_e_noop_and_connection_stays_usable(sectxd):
    with Conn(sectxd.pam_sock) as c:
        reply = c.request(0x7FFE, reqid=9)
        assert (reply.op, reply.reqid, reply.status) == (0x7FFE | OP_REPLY, 9, E_NOOP)
        assert c.request(OP_PING, reqid=10).status == OK


@pytest.mark.parametrize("sock", ["nss", "pam"])
@pytest.mark.parametrize("version", [0, 99])
def test_unsupported_version_gets_e_version_and_connection_stays_usable(sectxd, sock, version):
    with Conn(_sock(sectxd, sock)) as c:
        reply = c.request(OP_PING, version=version, reqid=7)
        assert reply is not None, "connection closed instead of an E_VERSION reply"
        assert (reply.op, reply.reqid, reply.status) == (OP_PING | OP_REPLY, 7, E_VERSION)
        assert reply.u32(TAG_MIN_VERSION) <= PROTO_VERSION <= reply.u32(TAG_MAX_VERSION)
        again = c.request(OP_PING, reqid=8)
        assert (again.reqid, again.status) == (8, OK)


# --- reload and stop -------------------------------------------------------------

def test_reload_rejects_invalid_config_then_applies_valid_one(sectxd):
    cfg = sectxd.config_file
    bad = "\n".join([
        "[sectxd]",                                   # 1
        f"socket_dir = {sectxd.socket_dir}",          # 2
        f"state_dir = {sectxd.state_dir}",            # 3
        "log_level = debug",                          # 4 valid, must not be applied
        "max_connections = lots",                     # 5 bad value
        "colour = blue",                              # 6 unknown key
        "[kerberos]",
        "realm = SECTX.TEST",
        ""])
    sectxd.reload(bad)
    assert wait_until(lambda: "reload rejected" in sectxd.log_text()
                      and f"{cfg}:5:" in sectxd.log_text()
                      and f"{cfg}:6:" in sectxd.log_text(), 5), sectxd.log_tail()
    assert sectxd.status_json()["log_level"] == "info"

    sectxd.reload(sectxd.config_text(log_level="debug"))
    assert wait_until(lambda: sectxd.status_json()["log_level"] == "debug", 5), sectxd.log_tail()
    assert sectxd.log_text().count("reload rejected") == 1
    assert sectxd.status_json()["pid"] == sectxd.pid


def test_sigterm_stops_with_status_0_and_removes_sockets(sectxd):
    assert sectxd.stop() == 0, sectxd.log_tail()
    assert not os.path.exists(sectxd.nss_sock)
    assert not os.path.exists(sectxd.pam_sock)


def _notifications(sock, until, timeout=10.0):
    """Lines of the datagrams received on sock until one carries `until`."""
    lines = []
    deadline = time.monotonic() + timeout
    while until not in lines and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            lines += sock.recv(4096).decode(errors="replace").splitlines()
        except socket.timeout:
            break
    return lines


def test_notify_socket_gets_ready_reloading_and_stopping(sectxd_factory):
    d = sectxd_factory(start=False)
    path = os.path.join(d.dir, "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        d.env["NOTIFY_SOCKET"] = path
        d.start(wait=False)

        assert "READY=1" in _notifications(notify, "READY=1"), d.log_tail()
        # Ready means ready: the sockets answer as soon as READY=1 is sent.
        assert d.ctl("--timeout", "1000", "status").returncode == 0

        d.reload(d.config_text(log_level="debug"))
        lines = _notifications(notify, "READY=1")
        assert "RELOADING=1" in lines and "READY=1" in lines, lines
        assert lines.index("RELOADING=1") < lines.index("READY=1"), lines

        assert d.stop() == 0
        assert "STOPPING=1" in _notifications(notify, "STOPPING=1")


def test_second_sectxd_on_same_socket_dir_refuses_to_start(sectxd):
    state2 = os.path.join(sectxd.dir, "state2")
    os.mkdir(state2, 0o700)
    conf2 = os.path.join(sectxd.dir, "second.conf")
    write_private(conf2, render_config(sectxd.socket_dir, state2))
    try:
        r = run([sectxd.sectxd_bin, "--config", conf2, "--foreground"], timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("a second sectxd kept running on the same socket dir")
    assert r.returncode != 0
    # The first one is untouched: its sockets are there and it answers.
    assert os.path.exists(sectxd.nss_sock) and os.path.exists(sectxd.pam_sock)
    assert sectxd.status_json()["pid"] == sectxd.pid
    with Conn(sectxd.nss_sock) as c:
        assert c.request(OP_PING).status == OK


# --- debug level -------------------------------------------------------------------

@pytest.mark.parametrize("arg, name", [("debug", "debug"), ("4", "trace"), ("error", "error")])
def test_debug_level_as_root_changes_log_level(sectxd, arg, name):
    require_root("debug-level is root's")
    r = sectxd.ctl("debug-level", arg)
    assert r.returncode == 0, r.stderr
    assert sectxd.status_json()["log_level"] == name


@pytest.mark.parametrize("arg", ["5", "loud"])
def test_invalid_debug_level_is_refused(sectxd, arg):
    require_root("debug-level is root's")
    r = sectxd.ctl("debug-level", arg)
    assert r.returncode in (1, 2), (r.returncode, r.stderr)
    assert sectxd.status_json()["log_level"] == "info"


def test_debug_level_as_nobody_is_refused(sectxd, nobody):
    r = sectxd.ctl("debug-level", "debug", uid=nobody)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "permission denied" in (r.stderr + r.stdout).lower()
    assert sectxd.status_json()["log_level"] == "info"


# --- sectxctl without a helper -----------------------------------------------------------

@pytest.mark.parametrize("stale_sockets", [False, True])
def test_sectxctl_without_helper_exits_3_quickly(bins, tmp_path, stale_sockets):
    if stale_sockets:  # socket files left by a dead helper: nobody listens
        for name in ("nss.sock", "pam.sock"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.bind(str(tmp_path / name))
    started = time.monotonic()
    r = run([bins.sectxctl, "--socket-dir", str(tmp_path), "--timeout", "1000", "status"])
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert time.monotonic() - started < 5


def test_sectxctl_gives_up_on_a_silent_helper(bins, tmp_path):
    require_root("sectxctl only talks to a helper whose peer uid is 0")
    # A root-owned listener that never answers (the client checks peer uid 0).
    listeners = []
    for name in ("nss.sock", "pam.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(tmp_path / name))
        s.listen(8)
        listeners.append(s)
    try:
        started = time.monotonic()
        r = run([bins.sectxctl, "--socket-dir", str(tmp_path), "--timeout", "500", "status"])
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert time.monotonic() - started < 5
    finally:
        for s in listeners:
            s.close()


def test_shipped_test_config_serves_status(bins, tmp_path):
    """The README's hand-run recipe: sectxd --config tests/sectx-test.conf
    --foreground serves sectxctl status in its socket dir, and stops with 0."""
    import shutil
    import signal

    from sectx_harness import wait_until

    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sectx-test.conf")
    conf = tmp_path / "sectx-test.conf"   # a private copy: the checkout's mode may vary
    shutil.copy(src, conf)
    os.chmod(conf, 0o600)
    sockdir = "/tmp/sectx-test/run"
    assert not os.path.exists("/tmp/sectx-test"), "/tmp/sectx-test is in use"
    os.mkdir("/tmp/sectx-test", 0o755)
    proc = subprocess.Popen([bins.sectxd, "--config", str(conf), "--foreground"],
                            stderr=subprocess.PIPE, text=True)
    try:
        ok = wait_until(lambda: subprocess.run(
            [bins.sectxctl, "--socket-dir", sockdir, "--timeout", "1000", "status"],
            capture_output=True).returncode == 0, 10)
        assert ok, "sectxd with tests/sectx-test.conf did not serve status"
        out = subprocess.run([bins.sectxctl, "--socket-dir", sockdir, "status"],
                             capture_output=True, text=True).stdout
        assert "realm: SECTX.TEST" in out and str(conf) in out, out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree("/tmp/sectx-test", ignore_errors=True)
