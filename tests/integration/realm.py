"""realm - a throwaway MIT Kerberos realm for the integration tests.

Realm() creates a KDC database in a fresh directory under /tmp and runs
krb5kdc and kadmind on 127.0.0.1 ephemeral ports, with krb5.conf and kdc.conf
of its own passed through KRB5_CONFIG / KRB5_KDC_PROFILE.  It must never
read or write a system file (/etc/krb5.conf, /var/lib/krb5kdc, the default
ccache or keytab): every path the krb5 tools could default to is redirected
into the directory, and stop() removes it with both servers.
"""

import os
import re
import secrets
import shutil
import signal
import socket

from sectx_harness import log_tail, make_public_tmpdir, run, spawn, terminate, wait_until

REALM = "SECTX.TEST"
ENCTYPES = "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha256-128:normal"
START_ATTEMPTS = 3      # a picked port may be taken before the servers bind it
START_TIMEOUT = 10.0    # seconds for both servers to accept connections
_SAFE_ARG = re.compile(r"^[A-Za-z0-9._@/:+=,-]+$")  # what we pass inside kadmin -q


class RealmError(Exception):
    """The realm could not be created or started."""


def _pick_ports(n):
    """n distinct 127.0.0.1 ports free on both TCP and UDP right now (the
    caller must bind them soon: another process may take one meanwhile)."""
    held, ports = [], []
    try:
        while len(ports) < n:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(tcp)
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def _check_arg(value):
    if not _SAFE_ARG.match(value):
        raise ValueError(f"unsafe argument for kadmin.local -q: {value!r}")
    return value


class Realm:
    """A running realm.  Attributes: realm, dir, krb5_conf, kdc_conf,
    kdc_port, kadmind_port, kpasswd_port, procs (name -> Popen).
    max_life and max_renewable_life are the KDC's limits (kdc.conf duration
    strings); they also become those of krbtgt and of new principals."""

    def __init__(self, realm=REALM, max_life="10h", max_renewable_life="7d"):
        self.realm = realm
        self.max_life, self.max_renewable_life = max_life, max_renewable_life
        self.dir = make_public_tmpdir("sectx-realm-")
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.procs = {}
        try:
            self._write_conf(*_pick_ports(3))
            self._create_db()
            self._start()
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- setup ---------------------------------------------------------------

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _write_conf(self, kdc_port, kadmind_port, kpasswd_port):
        self.kdc_port, self.kadmind_port, self.kpasswd_port = kdc_port, kadmind_port, kpasswd_port
        d, r = self.dir, self.realm
        with open(self.krb5_conf, "w") as f:
            f.write(f"""[libdefaults]
    default_realm = {r}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    default_ccache_name = FILE:{d}/ccache
    default_keytab_name = FILE:{d}/keytab
    default_client_keytab_name = FILE:{d}/client.keytab
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128

[realms]
    {r} = {{
        kdc = 127.0.0.1:{kdc_port}
        admin_server = 127.0.0.1:{kadmind_port}
        kpasswd_server = 127.0.0.1:{kpasswd_port}
    }}

[domain_realm]
    localhost = {r}
""")
        with open(self.kdc_conf, "w") as f:
            f.write(f"""[kdcdefaults]
    kdc_ports = {kdc_port}
    kdc_tcp_ports = {kdc_port}

[realms]
    {r} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{kdc_port}
        kdc_tcp_listen = 127.0.0.1:{kdc_port}
        kadmind_listen = 127.0.0.1:{kadmind_port}
        kpasswd_listen = 127.0.0.1:{kpasswd_port}
        kdc_ports = {kdc_port}
        kdc_tcp_ports = {kdc_port}
        kadmind_port = {kadmind_port}
        kpasswd_port = {kpasswd_port}
        max_life = {self.max_life}
        max_renewable_life = {self.max_renewable_life}
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = {ENCTYPES}
    }}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmind.log
    default = FILE:{d}/krb5lib.log
""")
        with open(self._path("kadm5.acl"), "w") as f:
            f.write(f"*/admin@{r} *\n")

    def env(self, base=None):
        """Environment for a krb5 tool of this realm: base (default
        os.environ) with every krb5 default redirected into the realm dir."""
        env = dict(os.environ if base is None else base)
        env.update(KRB5_CONFIG=self.krb5_conf, KRB5_KDC_PROFILE=self.kdc_conf,
                   KRB5CCNAME=f"FILE:{self.dir}/ccache", KRB5_KTNAME=f"FILE:{self.dir}/keytab",
                   KRB5_CLIENT_KTNAME=f"FILE:{self.dir}/client.keytab",
                   KRB5RCACHEDIR=self.dir)
        env.pop("KRB5_TRACE", None)
        return env

    def _create_db(self):
        r = run(["kdb5_util", "create", "-s", "-r", self.realm, "-P", secrets.token_hex(16)],
                env=self.env(), timeout=60)
        if r.returncode != 0:
            raise RealmError(f"kdb5_util create failed ({r.returncode}): {r.stderr}")

    def _start(self):
        """Start both servers; on a port race pick new ports and retry."""
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self._write_conf(*_pick_ports(3))
            self.procs["krb5kdc"] = spawn(["krb5kdc", "-n", "-r", self.realm],
                                          self._path("krb5kdc.out"), env=self.env())
            self.procs["kadmind"] = spawn(["kadmind", "-nofork", "-r", self.realm],
                                          self._path("kadmind.out"), env=self.env())
            state = wait_until(self._accepting, START_TIMEOUT, 0.05)
            if state == "up":
                return
            logs = self._logs()
            self._stop_servers()
            if "in use" not in logs:
                break
        raise RealmError(f"KDC/kadmind did not start:\n{logs}")

    def _accepting(self):
        """Returns "up" when both servers logged that they run and all ports
        accept, "exited" if a server died, else None."""
        if any(proc.poll() is not None for proc in self.procs.values()):
            return "exited"
        kdc, kadmind = self.procs["krb5kdc"].pid, self.procs["kadmind"].pid
        if (f"krb5kdc[{kdc}](info): commencing operation" not in self.log_text("kdc.log")
                or f"kadmind[{kadmind}](info): starting" not in self.log_text("kadmind.log")):
            return None
        for port in (self.kdc_port, self.kadmind_port, self.kpasswd_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return None
        return "up"

    def _logs(self):
        return "\n".join(f"--- {name} ---\n{log_tail(self._path(name), 20)}"
                         for name in ("krb5kdc.out", "kdc.log", "kadmind.out", "kadmind.log"))

    # -- use -----------------------------------------------------------------

    def kadmin(self, query):
        """Run one kadmin.local query; returns stdout, raises RealmError on
        failure (kadmin.local may exit 0 after a failed query, so its
        stderr is checked too)."""
        r = run(["kadmin.local", "-r", self.realm, "-q", query], env=self.env(), timeout=30)
        errors = [l for l in r.stderr.splitlines()
                  if l.strip() and not l.startswith(("Authenticating as", "No policy specified",
                                                     "WARNING: no policy specified"))]
        if r.returncode != 0 or errors:
            shown = re.sub(r"(-pw) \S+", r"\1 ***", query)
            raise RealmError(f"kadmin.local -q {shown!r} failed ({r.returncode}): {r.stderr}")
        return r.stdout

    def addprinc(self, name, password=None, randkey=False, extra_args=()):
        """Create principal name (in this realm unless qualified) with password,
        or random keys if randkey, or a generated password.  extra_args are
        further addprinc options (e.g. "+requires_preauth").  Returns the
        password (None with randkey)."""
        if randkey:
            if password is not None:
                raise ValueError("password and randkey are exclusive")
            key_args = ["-randkey"]
        else:
            password = password if password is not None else secrets.token_urlsafe(18)
            key_args = ["-pw", _check_arg(password)]
        args = [_check_arg(a) for a in extra_args] + key_args + [_check_arg(name)]
        self.kadmin("addprinc " + " ".join(args))
        return password

    def ktadd(self, principal, keytab_path):
        """Add principal's current keys (kvno unchanged) to keytab_path."""
        self.kadmin(f"ktadd -k {_check_arg(keytab_path)} -norandkey {_check_arg(principal)}")

    def kinit(self, principal, password, ccache, extra_args=()):
        """kinit principal into ccache with password on stdin.  Returns the
        CompletedProcess (not checked)."""
        env = self.env()
        env["KRB5CCNAME"] = ccache
        return run(["kinit", "-c", ccache, *extra_args, principal], input=password + "\n",
                   env=env, timeout=30)

    def klist(self, ccache):
        """klist of ccache; returns the CompletedProcess (not checked)."""
        return run(["klist", "-c", ccache], env=self.env(), timeout=30)

    def pids(self):
        return {name: proc.pid for name, proc in self.procs.items()}

    def log_text(self, name="kdc.log"):
        try:
            with open(self._path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- taking the KDC away and back ---------------------------------------------

    def stop_kdc(self):
        """Stop krb5kdc only (kadmind and the database stay): its port is
        closed, so KDC requests are refused."""
        proc = self.procs.pop("krb5kdc", None)
        if proc is not None:
            terminate(proc, signal.SIGTERM, 5.0)

    def start_kdc(self):
        """Start krb5kdc again on the same port and wait until it serves.
        Raises RealmError if it does not."""
        if "krb5kdc" in self.procs:
            return
        self.procs["krb5kdc"] = spawn(["krb5kdc", "-n", "-r", self.realm],
                                      self._path("krb5kdc.out"), env=self.env())
        if wait_until(self._accepting, START_TIMEOUT, 0.05) != "up":
            raise RealmError(f"krb5kdc did not start again:\n{self._logs()}")

    # -- teardown --------------------------------------------------------------

    def _stop_servers(self):
        for proc in self.procs.values():
            terminate(proc, signal.SIGTERM, 5.0)
        self.procs = {}

    def stop(self):
        """Stop both servers (SIGTERM, SIGKILL after 5 s) and remove the
        directory.  Idempotent."""
        self._stop_servers()
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
