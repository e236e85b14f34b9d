"""The helper survives hostile and careless clients: random bytes, absurd
frame lengths, connection floods at its caps, stalled half frames and
malformed fields.  After each abuse it still answers, and its memory stays
bounded."""

import os
import random
import resource
import selectors
import socket
import struct
import time

import pytest

from sectx_harness import (E_INVAL, E_PERM, E_PROTO, FIELD_HDR, FRAME_MAX, HDR, OK,
                           OP_DEBUG_LEVEL, OP_PING, OP_REPLY, OP_STATUS, TAG_LOG_LEVEL, TAG_STATUS,
                           Conn, field, frame, u32)

MIB = 1 << 20
IDLE_PER_SOCKET = 500


def _socks(d):
    return (d.nss_sock, d.pam_sock)


def _answers(d):
    """sectxctl status succeeds within its 1 s deadline and the process lives."""
    r = d.ctl("--timeout", "1000", "status")
    return d.alive() and r.returncode == 0


@pytest.fixture
def nofile():
    """Raise this process's descriptor limit for the connection floods."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * IDLE_PER_SOCKET + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- abuse, shared by the tests below ---------------------------------------------

def flood_random(path, total=MIB, seed=0, limit_s=30.0):
    """Send total random bytes to path, reconnecting whenever the helper
    closes or stops reading.  Returns the bytes the kernel accepted."""
    rng = random.Random(seed)
    sent, end = 0, time.monotonic() + limit_s
    while sent < total and time.monotonic() < end:
        with Conn(path, timeout=2) as c:
            while sent < total:
                chunk = rng.randbytes(min(64 * 1024, total - sent))
                if not c.send(chunk):
                    break
                sent += len(chunk)
    return sent


def send_bad_length(path, length):
    """Announce a frame of length bytes; returns (closed within 5 s, frames)."""
    with Conn(path) as c:
        c.send(frame(OP_PING, length=length, reqid=3))
        return c.wait_eof(5)


def hold_idle(path, n, limit_s=20.0):
    """Open up to n connections to path that never send; returns the sockets
    that connected (a full listen backlog refuses the rest)."""
    conns, end = [], time.monotonic() + limit_s
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        while True:
            try:
                s.connect(path)
                conns.append(s)
                break
            except BlockingIOError:  # backlog full: the helper is behind
                if time.monotonic() > end:
                    s.close()
                    return conns
                time.sleep(0.005)
            except OSError:
                s.close()
                break
    return conns


def close_all(conns):
    for s in conns:
        s.close()


# --- (a) random bytes ---------------------------------------------------------------

@pytest.mark.parametrize("sock", [0, 1], ids=["nss", "pam"])
def test_random_bytes_do_not_break_helper(sectxd, sock):
    assert flood_random(_socks(sectxd)[sock], seed=sock) >= MIB
    assert _answers(sectxd), sectxd.log_tail()


def _open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("sock", [0, 1], ids=["nss", "pam"])
def test_passed_descriptors_are_never_kept(sectxd, sock, tmp_path):
    """A descriptor passed with a request that does not take one is closed
    with the request; two with one frame are refused (pam.sock closes the
    connection), and nothing accumulates in the helper either way."""
    path = _socks(sectxd)[sock]
    target = tmp_path / "passed"
    target.write_bytes(b"x")
    with open(target, "rb") as f, Conn(path) as c:
        assert c.request(OP_PING).u32(TAG_STATUS) == OK
        before = _open_fds(sectxd.pid)
        for _ in range(50):
            reply = c.request(OP_PING, fds=[f.fileno()])
            assert reply is not None and reply.u32(TAG_STATUS) == OK
        assert _open_fds(sectxd.pid) == before
    with open(target, "rb") as f, Conn(path) as c:
        reply = c.request(OP_PING, fds=[f.fileno(), f.fileno()])
        if sock == 1:
            assert reply is not None and reply.u32(TAG_STATUS) == E_PROTO
            assert c.recv_frame() is None
        else:
            assert reply is not None and reply.u32(TAG_STATUS) == OK
    with Conn(path) as c:
        assert c.request(OP_PING).u32(TAG_STATUS) == OK
        assert _open_fds(sectxd.pid) == before
    assert _answers(sectxd), sectxd.log_tail()


@pytest.mark.parametrize("sock", [0, 1], ids=["nss", "pam"])
def test_random_frame_bodies_get_well_formed_replies(sectxd, sock):
    rng = random.Random(100 + sock)
    path = _socks(sectxd)[sock]
    c = Conn(path)
    try:
        for reqid in range(1, 301):
            op = rng.choice([OP_PING, OP_STATUS, OP_DEBUG_LEVEL, OP_PING | OP_REPLY])
            c.send(frame(op, rng.randbytes(rng.randrange(0, 200)), reqid=reqid))
            reply = c.recv_frame()  # strict parse: a malformed reply fails here
            if reply is None:       # the helper may drop a client that sent garbage
                c.close()
                c = Conn(path)
                continue
            assert reply.reqid == reqid and reply.op == (op | OP_REPLY), reply
            assert isinstance(reply.status, int)  # present, and a u32
    finally:
        c.close()
    assert _answers(sectxd), sectxd.log_tail()


# --- (b) absurd lengths -----------------------------------------------------------------

@pytest.mark.parametrize("length", [0xFFFFFFFF, FRAME_MAX + 1, 0, HDR.size - 1],
                         ids=["4GiB", "max+1", "zero", "below-header"])
@pytest.mark.parametrize("sock", [0, 1], ids=["nss", "pam"])
def test_impossible_frame_length_closes_connection(sectxd, sock, length):
    closed, frames = send_bad_length(_socks(sectxd)[sock], length)
    assert closed, "connection still open 5 s after an impossible frame length"
    assert all(f.status == E_PROTO for f in frames), frames
    assert _answers(sectxd), sectxd.log_tail()


def test_largest_frame_is_read_whole(sectxd):
    padding = field(0x7F00, b"x" * (FRAME_MAX - HDR.size - FIELD_HDR.size))
    with Conn(sectxd.pam_sock) as c:
        reply = c.request(OP_PING, padding, reqid=77)
        assert reply is not None and reply.reqid == 77, "no reply to a frame of exactly the max"
        assert reply.status in (OK, E_PROTO, E_INVAL)
    assert _answers(sectxd)


# --- (c) idle connections at the caps ---------------------------------------------------

def test_idle_connections_at_the_caps_do_not_lock_out_clients(sectxd_factory, nofile):
    d = sectxd_factory(max_connections=512)
    conns = []
    try:
        for path in _socks(d):
            conns += hold_idle(path, IDLE_PER_SOCKET)
        r = d.ctl("--timeout", "1000", "status")
        assert r.returncode == 0, f"status refused with {len(conns)} idle connections: {r.stderr}"
        with Conn(d.nss_sock, timeout=2) as c:
            assert c.request(OP_PING).status == OK
        s = d.status_json()
        assert s["connections"]["nss"] + s["connections"]["pam"] <= 512, s
    finally:
        close_all(conns)
    assert _answers(d)


# --- (d) memory -------------------------------------------------------------------------

def test_memory_stays_bounded_under_abuse(sectxd_factory, nofile):
    d = sectxd_factory(max_connections=512)
    with open(d.sectxd_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("RSS is not meaningful under AddressSanitizer (quarantine)")
    d.status_json()
    before = d.rss_kib()

    for round_ in range(2):
        for i, path in enumerate(_socks(d)):
            flood_random(path, seed=10 * round_ + i)
            assert send_bad_length(path, 0xFFFFFFFF)[0]
        conns = []
        try:
            for path in _socks(d):
                conns += hold_idle(path, IDLE_PER_SOCKET)
            assert _answers(d)
        finally:
            close_all(conns)

    assert _answers(d), d.log_tail()
    grown = d.rss_kib() - before
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB"


# --- (e) stalled frames -----------------------------------------------------------------

def test_stalled_half_headers_are_closed_within_client_timeout(sectxd_factory):
    d = sectxd_factory(client_timeout="1s")
    stalled = {}  # socket -> when its half header was sent
    sel = selectors.DefaultSelector()
    try:
        for i in range(200):
            c = Conn(_socks(d)[i % 2])
            c.send(frame(OP_PING)[:HDR.size // 2])
            stalled[c.sock] = time.monotonic()
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ)

        r = d.ctl("--timeout", "1000", "status")
        assert r.returncode == 0, f"status blocked by stalled clients: {r.stderr}"

        closed_after = []
        deadline = max(stalled.values()) + 1.0 + 5.0
        while len(closed_after) < len(stalled) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(deadline - time.monotonic(), 0)):
                try:
                    data = key.fileobj.recv(4096)  # an error reply may come first
                except ConnectionResetError:
                    data = b""
                except BlockingIOError:
                    continue
                if not data:
                    closed_after.append(time.monotonic() - stalled[key.fileobj])
                    sel.unregister(key.fileobj)
        still_open = len(stalled) - len(closed_after)
        assert still_open == 0, f"{still_open} of 200 stalled connections still open after 6 s"
        # A slow client is not dropped on the spot: it gets its client_timeout.
        assert min(closed_after) >= 0.25, f"dropped after {min(closed_after):.2f} s"
    finally:
        sel.close()
        for s in stalled:
            s.close()
    assert _answers(d), d.log_tail()


# --- (f) malformed fields ---------------------------------------------------------------

MALFORMED = {
    "field_overruns_frame": frame(OP_PING, FIELD_HDR.pack(0x7001, 1000) + b"abcd", reqid=21),
    "truncated_field_header": frame(OP_PING, b"\x00\x01\x00", reqid=22),
    "u32_field_of_3_bytes": frame(OP_DEBUG_LEVEL, field(TAG_LOG_LEVEL, b"\x00\x00\x03"),
                                  reqid=23),
    "duplicate_field": frame(OP_DEBUG_LEVEL, u32(TAG_LOG_LEVEL, 3), u32(TAG_LOG_LEVEL, 4),
                             reqid=24),
    "missing_field": frame(OP_DEBUG_LEVEL, reqid=25),
    "level_out_of_range": frame(OP_DEBUG_LEVEL, u32(TAG_LOG_LEVEL, 99), reqid=26),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_gets_error_reply_and_helper_lives(sectxd, name):
    data = MALFORMED[name]
    op, reqid = struct.unpack_from(">HI", data, 6)
    with Conn(sectxd.pam_sock) as c:
        c.send(data)
        reply = c.recv_frame()
    assert reply is not None, "connection closed without an error reply"
    assert (reply.op, reply.reqid) == (op | OP_REPLY, reqid), reply
    allowed = {E_PROTO, E_INVAL} | ({E_PERM} if os.geteuid() != 0 else set())
    assert reply.status in allowed, reply
    assert sectxd.alive(), sectxd.log_tail()
    assert sectxd.status_json()["log_level"] == "info"  # nothing half-applied
    with Conn(sectxd.pam_sock) as c:
        assert c.request(OP_PING).status == OK
