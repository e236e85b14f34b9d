"""nss_probe - call libnss_sectx's entry points directly (ctypes) and print
what they returned as one JSON object per call.

Run as a separate process (its environment decides the socket directory):
    python3 nss_probe.py LIB CALL [CALL ...]
where CALL is one of
    getpwnam:NAME[:BUFLEN]   getpwuid:UID[:BUFLEN]
    getgrnam:NAME[:BUFLEN]   getgrgid:GID[:BUFLEN]
    initgroups:NAME:PRIMARY
Each output line: {"call", "status" (1 SUCCESS, 0 NOTFOUND, -1 UNAVAIL,
-2 TRYAGAIN), "errno", "ms" (wall time), and the entry's fields on SUCCESS}.
A "threads:N:CALL" prefix runs CALL in N threads at once and reports each;
"fork:CALL" runs CALL in a forked child (which must not reuse the parent's
connection) and reports it with "forked": true; "repeat:N:CALL" runs CALL N
times and reports {"call", "statuses": {status: count}, "entries": [distinct
entries]}.

A long-running reader:
    python3 nss_probe.py LIB loop STOPFILE CALL [CALL ...]
prints "ready" once every CALL has been made, then makes them over and over
until STOPFILE exists, and prints one JSON object: {"rounds", "statuses":
{CALL: {status: count}}, "entries": {CALL: [distinct entries]}, "events":
[the first non-SUCCESS results, with "t" (s since start)], "max_ms"}.  LIB
"glibc" makes the calls through the C library instead (getpwnam_r & co.,
i.e. whatever nsswitch.conf says): SUCCESS for an entry, NOTFOUND for none,
UNAVAIL with the returned errno for an error.
stdlib only.
"""

import ctypes
import json
import os
import sys
import threading
import time

STATUS = {1: "SUCCESS", 0: "NOTFOUND", -1: "UNAVAIL", -2: "TRYAGAIN"}


class Passwd(ctypes.Structure):
    _fields_ = [("pw_name", ctypes.c_char_p), ("pw_passwd", ctypes.c_char_p),
                ("pw_uid", ctypes.c_uint32), ("pw_gid", ctypes.c_uint32),
                ("pw_gecos", ctypes.c_char_p), ("pw_dir", ctypes.c_char_p),
                ("pw_shell", ctypes.c_char_p)]


class Group(ctypes.Structure):
    _fields_ = [("gr_name", ctypes.c_char_p), ("gr_passwd", ctypes.c_char_p),
                ("gr_gid", ctypes.c_uint32), ("gr_mem", ctypes.POINTER(ctypes.c_char_p))]


def _s(b):
    return b.decode() if b is not None else None


def call(lib, spec):
    if spec.startswith("repeat:"):
        _, n, rest = spec.split(":", 2)
        statuses, entries = {}, []
        for _ in range(int(n)):
            r = call(lib, rest)
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if r.get("entry") is not None and r["entry"] not in entries:
                entries.append(r["entry"])
        return {"call": spec, "statuses": statuses, "entries": entries}
    parts = spec.split(":")
    kind, arg = parts[0], parts[1]
    buflen = int(parts[2]) if len(parts) > 2 and kind != "initgroups" else 4096
    err = ctypes.c_int(0)
    out = {"call": spec}
    start = time.monotonic()
    if kind in ("getpwnam", "getpwuid"):
        pw = Passwd()
        buf = ctypes.create_string_buffer(max(buflen, 1))
        fn = getattr(lib, f"_nss_sectx_{kind}_r")
        key = arg.encode() if kind == "getpwnam" else ctypes.c_uint32(int(arg))
        status = fn(key, ctypes.byref(pw), buf, ctypes.c_size_t(buflen), ctypes.byref(err))
        if status == 1:
            out["entry"] = [_s(pw.pw_name), _s(pw.pw_passwd), pw.pw_uid, pw.pw_gid,
                            _s(pw.pw_gecos), _s(pw.pw_dir), _s(pw.pw_shell)]
    elif kind in ("getgrnam", "getgrgid"):
        gr = Group()
        buf = ctypes.create_string_buffer(max(buflen, 1))
        fn = getattr(lib, f"_nss_sectx_{kind}_r")
        key = arg.encode() if kind == "getgrnam" else ctypes.c_uint32(int(arg))
        status = fn(key, ctypes.byref(gr), buf, ctypes.c_size_t(buflen), ctypes.byref(err))
        if status == 1:
            members, i = [], 0
            while gr.gr_mem[i] is not None:
                members.append(_s(gr.gr_mem[i]))
                i += 1
            out["entry"] = [_s(gr.gr_name), _s(gr.gr_passwd), gr.gr_gid, members]
    elif kind == "initgroups":
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        size = ctypes.c_long(4)
        start_ = ctypes.c_long(0)
        groups = ctypes.c_void_p(libc.malloc(4 * 4))
        fn = lib._nss_sectx_initgroups_dyn
        status = fn(arg.encode(), ctypes.c_uint32(int(parts[2])), ctypes.byref(start_),
                    ctypes.byref(size), ctypes.byref(groups), ctypes.c_long(0),
                    ctypes.byref(err))
        arr = ctypes.cast(groups, ctypes.POINTER(ctypes.c_uint32))
        out["entry"] = [arr[i] for i in range(start_.value)]
    else:
        raise SystemExit(f"unknown call {spec}")
    out["ms"] = round((time.monotonic() - start) * 1000, 3)
    out["status"] = status
    out["status_name"] = STATUS.get(status, str(status))
    out["errno"] = err.value
    return out


def glibc_call(libc, spec):
    """CALL through the C library's reentrant lookups."""
    kind, arg = spec.split(":")[:2]
    buf = ctypes.create_string_buffer(8192)
    res = ctypes.c_void_p()
    out = {"call": spec}
    start = time.monotonic()
    if kind in ("getpwnam", "getpwuid"):
        pw = Passwd()
        key = arg.encode() if kind == "getpwnam" else ctypes.c_uint32(int(arg))
        rc = getattr(libc, f"{kind}_r")(key, ctypes.byref(pw), buf, ctypes.c_size_t(len(buf)),
                                          ctypes.byref(res))
        if rc == 0 and res.value:
            out["entry"] = [_s(pw.pw_name), _s(pw.pw_passwd), pw.pw_uid, pw.pw_gid,
                            _s(pw.pw_gecos), _s(pw.pw_dir), _s(pw.pw_shell)]
    elif kind in ("getgrnam", "getgrgid"):
        gr = Group()
        key = arg.encode() if kind == "getgrnam" else ctypes.c_uint32(int(arg))
        rc = getattr(libc, f"{kind}_r")(key, ctypes.byref(gr), buf, ctypes.c_size_t(len(buf)),
                                          ctypes.byref(res))
        if rc == 0 and res.value:
            members, i = [], 0
            while gr.gr_mem[i] is not None:
                members.append(_s(gr.gr_mem[i]))
                i += 1
            out["entry"] = [_s(gr.gr_name), _s(gr.gr_passwd), gr.gr_gid, members]
    else:
        raise SystemExit(f"unknown call {spec}")
    out["ms"] = round((time.monotonic() - start) * 1000, 3)
    out["status"] = 1 if "entry" in out else (0 if rc == 0 else -1)
    out["status_name"] = STATUS[out["status"]]
    out["errno"] = rc
    return out


def loop(lib, stopfile, specs):
    """The long-running reader (see the module comment)."""
    if lib == "glibc":
        libc = ctypes.CDLL(None)
        fn = lambda spec: glibc_call(libc, spec)  # noqa: E731
    else:
        module = ctypes.CDLL(lib)
        for name in ("getpwnam", "getpwuid", "getgrnam", "getgrgid"):
            getattr(module, f"_nss_sectx_{name}_r").restype = ctypes.c_int
        fn = lambda spec: call(module, spec)  # noqa: E731
    statuses = {spec: {} for spec in specs}
    entries = {spec: [] for spec in specs}
    events, rounds, max_ms = [], 0, 0.0
    start = time.monotonic()
    while True:
        for spec in specs:
            r = fn(spec)
            st = str(r["status"])
            statuses[spec][st] = statuses[spec].get(st, 0) + 1
            if r.get("entry") is not None and r["entry"] not in entries[spec]:
                entries[spec].append(r["entry"])
            if r["status"] != 1 and len(events) < 100:
                r["t"] = round(time.monotonic() - start, 3)
                events.append(r)
            max_ms = max(max_ms, r["ms"])
        rounds += 1
        if rounds == 1:
            print("ready", flush=True)
        if os.path.exists(stopfile):
            break
        time.sleep(0.0005)
    print(json.dumps({"rounds": rounds, "statuses": statuses, "entries": entries,
                      "events": events, "max_ms": max_ms}), flush=True)


def main():
    if len(sys.argv) > 3 and sys.argv[2] == "loop":
        loop(sys.argv[1], sys.argv[3], sys.argv[4:])
        return
    lib = ctypes.CDLL(sys.argv[1])
    for fn in ("getpwnam", "getpwuid", "getgrnam", "getgrgid"):
        getattr(lib, f"_nss_sectx_{fn}_r").restype = ctypes.c_int
    lib._nss_sectx_initgroups_dyn.restype = ctypes.c_int
    for spec in sys.argv[2:]:
        if spec.startswith("fork:"):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                r = call(lib, spec[5:])
                r["forked"] = True
                os.write(wfd, json.dumps(r).encode())
                os._exit(0)
            os.close(wfd)
            data = b""
            while chunk := os.read(rfd, 65536):
                data += chunk
            os.close(rfd)
            os.waitpid(pid, 0)
            print(data.decode(), flush=True)
        elif spec.startswith("threads:"):
            _, n, rest = spec.split(":", 2)
            results = [None] * int(n)

            def work(i, rest=rest, results=results):
                results[i] = call(lib, rest)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(int(n))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for r in results:
                print(json.dumps(r), flush=True)
        else:
            print(json.dumps(call(lib, spec)), flush=True)


if __name__ == "__main__":
    main()
