"""The sample programs against a real realm and a real sectxd, and against
MIT krb5's gss-sample programs (Debian's krb5-gss-samples).

sectx-sample-server runs as user nobody, which cannot read the keytab: its
contexts are accepted by sectxd under a [service/sample] section that grants
nobody's uid the keytab entry sample/localhost.  sectx-sample-client runs the
initiator in-process from alice's ccache.  Each pairing must show alice's
principal on the server, mutual authentication for Kerberos, and the message
signed by the server and verified by the client.  NTLM (Debian's gss-ntlmssp,
users from NTLM_USER_FILE) completes in three legs, is reported as not mutual
on both sides, and is refused by a service whose mechs do not name it.
"""

import os
import pwd
import re
import secrets
import select
import shutil
import socket
import subprocess
import time

import pytest

from pam_harness import write_keytab
from sectx_harness import (as_user, make_public_tmpdir, public_copies, require_root, run,
                           terminate, wait_until)

REALM = "SECTX.TEST"
HOST = "localhost"
TARGET = f"sample@{HOST}"
SERVICE_PRINCIPAL = f"sample/{HOST}@{REALM}"
NTLM_DOMAIN = "SAMPLEDOM"
NTLM_USER = "ntlmuser"
GSS_CLIENT = shutil.which("gss-client") or "/usr/bin/gss-client"
GSS_SERVER = shutil.which("gss-server") or "/usr/bin/gss-server"
NTLM_MECH_CONF = "/etc/gss/mech.d/mech.ntlmssp.conf"
# gss-ntlmssp, loaded into the client, leaves OpenSSL allocations behind at
# exit; under the sanitizer build LeakSanitizer must not blame the client.
LSAN_SUPPRESSIONS = "lsan.supp"
NTLM_LSAN_SUPPRESSIONS = "leak:libcrypto.so\n"


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_bins():
    """Public copies of the built sectx-sample-server and sectx-sample-client
    (nobody must be able to execute the server)."""
    builddir = os.path.abspath(os.environ.get("SECTX_BUILDDIR", ""))
    built = [os.path.join(builddir, n) for n in ("sectx-sample-server", "sectx-sample-client")]
    missing = [p for p in built if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}", pytrace=False)
    with public_copies(built, "sectx-samplebin-") as copies:
        yield dict(zip(("server", "client"), copies))


@pytest.fixture(scope="module")
def sample_keytab(realm):
    """A keytab (0600, root's) with the keys of sample/localhost."""
    directory, path = write_keytab(realm, SERVICE_PRINCIPAL)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(realm):
    """alice's principal and a FILE ccache holding her TGT."""
    d = make_public_tmpdir("sectx-samplecc-")
    ccache = f"FILE:{d}/alice.cc"
    password = realm.addprinc("alice")
    r = realm.kinit("alice", password, ccache)
    assert r.returncode == 0, f"kinit alice: {r.stderr}"
    yield ccache
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ntlm_users():
    """An NTLM_USER_FILE (DOMAIN:USER:PASSWORD, the Heimdal format gss-ntlmssp
    reads) with one user, for the client and the helper (root's, 0600)."""
    d = make_public_tmpdir("sectx-ntlm-")
    path = os.path.join(d, "ntlm_users")
    with open(path, "w") as f:
        f.write(f"{NTLM_DOMAIN}:{NTLM_USER}:Ntlm-{secrets.token_hex(8)}\n")
    os.chmod(path, 0o600)
    with open(os.path.join(d, LSAN_SUPPRESSIONS), "w") as f:
        f.write(NTLM_LSAN_SUPPRESSIONS)
    yield path
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def helper(sectxd_factory, realm, sample_keytab, ntlm_users, nobody):
    """A sectxd with the realm's keytab entry for sample/localhost and two
    services granted to nobody: [service/sample] (krb5, spnego) and
    [service/sample-ntlm] (krb5, spnego, ntlm, with the NTLM user file), and
    [service/root-only] granted to no one but root."""
    uid = pwd.getpwnam(nobody).pw_uid
    base = {"uid": str(uid), "principal": SERVICE_PRINCIPAL}
    sections = {
        "kerberos": {"keytab": sample_keytab, "kdc_timeout": "3s"},
        "service/sample": dict(base, mechs="krb5, spnego"),
        "service/sample-ntlm": dict(base, mechs="krb5, spnego, ntlm", ntlm_user_file=ntlm_users),
        "service/root-only": {"principal": SERVICE_PRINCIPAL},
    }
    # the user file reaches gss-ntlmssp in the cred store, not the environment
    return sectxd_factory(env=realm.env(), log_level="debug", sections=sections)


class Server:
    """A running sample server (ours or MIT's) with its output collected."""

    def __init__(self, argv, env, port=None, uid=None):
        if uid is not None:
            argv = as_user(uid) + list(argv)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.port = port
        self.out = ""
        self.err = ""

    def read_port(self, timeout=10.0):
        """Our server prints "Listening on 127.0.0.1:PORT ..." first."""
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                self.stop()
                raise AssertionError(f"server printed no port within {timeout} s: {self.err}")
            c = os.read(self.proc.stdout.fileno(), 1)  # unbuffered: select stays true
            if not c:
                self.stop()
                raise AssertionError(f"server exited at start: {self.err}")
            line += c
        self.out += line.decode()
        m = re.search(r"127\.0\.0\.1:(\d+)", line.decode())
        assert m, f"unexpected first line {line!r}"
        self.port = int(m.group(1))
        return self.port

    def wait_listening(self, timeout=10.0):
        """MIT's server says nothing when ready: wait for its port in the
        kernel's table of listening TCP sockets."""
        def listening():
            assert self.proc.poll() is None, "gss-server exited at start"
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                with open(table) as f:
                    for row in f.readlines()[1:]:
                        cols = row.split()
                        if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == self.port:
                            return True
            return False
        assert wait_until(listening, timeout), f"nothing listens on port {self.port}"

    def wait(self, timeout=20.0):
        """Wait for exit (a -once server exits after its session)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"server still ran after {timeout} s:\n{self.out}\n{self.err}")
        self.out += out.decode(errors="replace")
        self.err += err.decode(errors="replace")
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            terminate(self.proc)
        out, err = self.proc.communicate()
        self.out += out.decode(errors="replace")
        self.err += err.decode(errors="replace")


@pytest.fixture
def servers():
    """Servers started by a test; all stopped at its end."""
    made = []
    yield made
    for s in made:
        s.stop()


def require_ntlm():
    if not os.path.exists(NTLM_MECH_CONF):
        pytest.skip(f"gss-ntlmssp is not installed ({NTLM_MECH_CONF} missing)")


def free_port():
    """A TCP port that was free a moment ago (for MIT's server, which cannot
    pick one itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sectx_server(servers, bins, helper, *args, service=None, socket_dir=False):
    """Our server as nobody, finding the helper by SECTX_SOCKET (the path of
    pam.sock) or, if socket_dir, by SECTX_SOCKET_DIR."""
    argv = [bins["server"], "-port", "0", "-once", "-verbose"]
    if service:
        argv += ["-service", service]
    env = dict(os.environ)
    env.pop("SECTX_SOCKET", None)
    env.pop("SECTX_SOCKET_DIR", None)
    if socket_dir:
        env["SECTX_SOCKET_DIR"] = helper.socket_dir
    else:
        env["SECTX_SOCKET"] = helper.pam_sock
    s = Server(argv + list(args) + [TARGET], env, uid="nobody")
    servers.append(s)
    s.read_port()
    return s


def start_gss_server(servers, realm, keytab_copy):
    port = free_port()
    env = realm.env()
    env["KRB5_KTNAME"] = f"FILE:{keytab_copy}"
    s = Server([GSS_SERVER, "-port", str(port), "-once", TARGET], env, port=port)
    servers.append(s)
    s.wait_listening()
    return s


def client_env(realm, ccache, ntlm_users=None):
    env = realm.env()
    env["KRB5CCNAME"] = ccache
    if ntlm_users:
        env.update(NTLM_USER_FILE=ntlm_users, NTLMUSER=NTLM_USER,
                   NETBIOS_DOMAIN_NAME=NTLM_DOMAIN)
        supp = os.path.join(os.path.dirname(ntlm_users), LSAN_SUPPRESSIONS)
        env["LSAN_OPTIONS"] = ":".join(filter(None, [env.get("LSAN_OPTIONS"),
                                                     f"suppressions={supp}"]))
    return env


def run_sectx_client(bins, realm, ccache, port, message, *args, ntlm_users=None):
    return run([bins["client"], "-port", str(port), *args, HOST, TARGET, message],
               env=client_env(realm, ccache, ntlm_users), timeout=30)


def assert_server_saw(server, principal, message, mutual):
    assert f'Accepted connection: "{principal}"' in server.out, server.out + server.err
    assert f'Received message: "{message}"' in server.out, server.out
    if mutual is not None:
        assert f"mutual: {'yes' if mutual else 'no'}" in server.out, server.out


# --- Kerberos and SPNEGO, both directions ------------------------------------------


@pytest.mark.parametrize("spnego", [False, True], ids=["krb5", "spnego"])
def test_gss_client_to_sectx_server(sample_bins, realm, alice, helper, servers, spnego):
    require_root("runs the sample server as nobody")
    server = start_sectx_server(servers, sample_bins, helper)
    message = f"hello from gss-client {secrets.token_hex(4)}"
    r = run([GSS_CLIENT, "-port", str(server.port), *(["-spnego"] if spnego else []),
             HOST, TARGET, message], env=client_env(realm, alice), timeout=30)
    assert server.wait() == 0, server.out + server.err + helper.log_tail()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Signature verified." in r.stdout, r.stdout
    assert "context flag: GSS_C_MUTUAL_FLAG" in r.stdout, r.stdout
    assert_server_saw(server, f"alice@{REALM}", message, mutual=True)
    assert "mechanism: krb5" in server.out or "mechanism: spnego" in server.out, server.out


@pytest.mark.parametrize("spnego", [False, True], ids=["krb5", "spnego"])
def test_sectx_client_to_gss_server(sample_bins, realm, alice, sample_keytab, servers, spnego,
                                    tmp_path):
    keytab = tmp_path / "sample.keytab"
    shutil.copy(sample_keytab, keytab)
    server = start_gss_server(servers, realm, str(keytab))
    message = f"hello from sectx {secrets.token_hex(4)}"
    r = run_sectx_client(sample_bins, realm, alice, server.port, message,
                         *(["-spnego"] if spnego else []))
    assert server.wait() == 0, server.out + server.err
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mechanism: krb5" in r.stdout, r.stdout
    assert ("(via SPNEGO)" in r.stdout) == spnego, r.stdout
    assert "mutual: yes" in r.stdout, r.stdout
    assert "Signature verified." in r.stdout, r.stdout
    assert f'Accepted connection: "alice@{REALM}"' in server.out, server.out
    assert f'"{message}"' in server.out, server.out


@pytest.mark.parametrize("spnego", [False, True], ids=["krb5", "spnego"])
def test_sectx_client_to_sectx_server(sample_bins, realm, alice, helper, servers, spnego,
                                      sample_keytab):
    require_root("runs the sample server as nobody")
    assert run(["test", "-r", sample_keytab], uid="nobody").returncode != 0, \
        "the server's uid must not be able to read the keytab"
    server = start_sectx_server(servers, sample_bins, helper, socket_dir=spnego)
    message = f"hello sectx to sectx {secrets.token_hex(4)}"
    r = run_sectx_client(sample_bins, realm, alice, server.port, message,
                         *(["-spnego"] if spnego else []))
    assert server.wait() == 0, server.out + server.err + helper.log_tail()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mutual: yes" in r.stdout and "Signature verified." in r.stdout, r.stdout
    assert f'to "{SERVICE_PRINCIPAL}"' in r.stdout, r.stdout
    assert_server_saw(server, f"alice@{REALM}", message, mutual=True)
    assert "Session closed by the client" in server.out, server.out


def test_client_without_ticket_fails(sample_bins, realm, helper, servers, tmp_path):
    require_root("runs the sample server as nobody")
    server = start_sectx_server(servers, sample_bins, helper)
    r = run_sectx_client(sample_bins, realm, f"FILE:{tmp_path}/empty.cc", server.port, "x")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot start" in r.stderr or "context failed" in r.stderr, r.stderr
    assert "Signature verified." not in r.stdout
    assert server.wait() == 1, server.out + server.err


def test_server_uid_not_granted(sample_bins, realm, alice, helper, servers):
    require_root("runs the sample server as nobody")
    server = start_sectx_server(servers, sample_bins, helper, service="root-only")
    r = run_sectx_client(sample_bins, realm, alice, server.port, "x")
    assert server.wait() == 1, server.out + server.err
    assert r.returncode == 1, r.stdout + r.stderr
    assert "sectxd refused" in server.err, server.err
    assert "Accepted connection" not in server.out and "Signature verified." not in r.stdout


# --- NTLM ---------------------------------------------------------------------------


def test_ntlm_three_legs_not_mutual(sample_bins, realm, alice, helper, servers, ntlm_users):
    require_root("runs the sample server as nobody")
    require_ntlm()
    server = start_sectx_server(servers, sample_bins, helper, service="sample-ntlm")
    message = f"hello over ntlm {secrets.token_hex(4)}"
    r = run_sectx_client(sample_bins, realm, alice, server.port, message, "-mech", "ntlm",
                         ntlm_users=ntlm_users)
    assert server.wait() == 0, server.out + server.err + helper.log_tail()
    assert r.returncode == 0, r.stdout + r.stderr
    # negotiate and authenticate from the client, the challenge from the server
    assert r.stdout.count("Sending init_sec_context token") == 2, r.stdout
    assert server.out.count("Received context token") == 2, server.out
    assert server.out.count("Sending accept token") == 1, server.out
    assert "mechanism: ntlm" in r.stdout and "mutual: no" in r.stdout, r.stdout
    assert "Signature verified." in r.stdout, r.stdout
    assert "mechanism: ntlm" in server.out, server.out
    assert re.search(rf'Accepted connection: "[^"]*{NTLM_USER}"', server.out, re.I), server.out
    assert "mutual: no" in server.out, server.out
    assert f'Received message: "{message}"' in server.out, server.out


def test_spnego_prefers_kerberos_where_ntlm_allowed(sample_bins, realm, alice, helper, servers,
                                                   ntlm_users):
    require_root("runs the sample server as nobody")
    require_ntlm()
    server = start_sectx_server(servers, sample_bins, helper, service="sample-ntlm")
    r = run_sectx_client(sample_bins, realm, alice, server.port, "both offered", "-spnego",
                         ntlm_users=ntlm_users)
    assert server.wait() == 0, server.out + server.err + helper.log_tail()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mechanism: krb5 (via SPNEGO)" in r.stdout and "mutual: yes" in r.stdout, r.stdout
    assert_server_saw(server, f"alice@{REALM}", "both offered", mutual=True)


@pytest.mark.parametrize("spnego", [False, True], ids=["ntlm", "spnego-without-krb5"])
def test_ntlm_refused_by_service_without_ntlm(sample_bins, realm, helper, servers, ntlm_users,
                                              tmp_path, spnego):
    require_root("runs the sample server as nobody")
    require_ntlm()
    server = start_sectx_server(servers, sample_bins, helper, service="sample")
    # no Kerberos ticket: SPNEGO could only offer NTLM, which the service forbids
    args = ["-spnego"] if spnego else ["-mech", "ntlm"]
    r = run_sectx_client(sample_bins, realm, f"FILE:{tmp_path}/none.cc", server.port, "x",
                         *args, ntlm_users=ntlm_users)
    assert server.wait() == 1, server.out + server.err
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Accepted connection" not in server.out, server.out
    assert "Signature verified." not in r.stdout
    assert "refused" in server.err, server.err


# --- the framing and its bounds -------------------------------------------------------


def test_server_refuses_unauthenticated_client(sample_bins, sectxd, servers, nobody):
    server = start_sectx_server(servers, sample_bins, sectxd)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x01\x00\x00\x00\x00")  # NOOP without CONTEXT_NEXT
        s.sendall(b"\x04\x00\x00\x00\x02hi")
    assert server.wait() == 1
    assert "unauthenticated clients are not served" in server.err, server.err


def test_server_refuses_oversized_token(sample_bins, sectxd, servers, nobody):
    server = start_sectx_server(servers, sample_bins, sectxd)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x11\x00\x00\x00\x00")  # NOOP|CONTEXT_NEXT
        s.sendall(b"\x02\x7f\xff\xff\xff")  # a 2 GiB context token: refused unread
        assert server.wait() == 1
    assert "Message too long" in server.err, server.err


def test_server_without_helper(sample_bins, servers, tmp_path):
    require_root("runs the sample server as nobody")
    env = dict(os.environ, SECTX_SOCKET=str(tmp_path / "pam.sock"))
    server = Server([sample_bins["server"], "-port", "0", "-once", TARGET], env, uid="nobody")
    servers.append(server)
    server.read_port()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        assert server.wait() == 3
    assert "cannot reach sectxd" in server.err, server.err


def test_usage(sample_bins):
    for argv in ([sample_bins["server"]], [sample_bins["server"], "-port", "x", TARGET],
                 [sample_bins["client"], HOST, TARGET],
                 [sample_bins["client"], "-mech", "bogus", HOST, TARGET, "m"]):
        r = run(argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert r.stderr, argv
