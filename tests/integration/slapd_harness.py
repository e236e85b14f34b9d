"""slapd_harness - a throwaway OpenLDAP server (Debian's slapd) for the
directory tests.

Slapd() writes a slapd.conf in a fresh temp dir (mdb database, the core,
cosine, nis and inetorgperson schemas plus a small AD-shaped schema of its
own), loads entries with slapadd before it starts, and runs slapd on a
loopback ephemeral port: ldap:// with StartTLS (or plaintext only, tls=False)
and ldaps://, with a test CA and a server certificate for localhost and
127.0.0.1 made with openssl.  With a realm it also gets a keytab holding
ldap/localhost and ldap/<canonical host name> of that realm (libldap asks
for the name of the URI's host when told not to canonicalise, the host's
canonical name otherwise), KRB5_KTNAME, a replay-cache dir of its own and
sasl-host, so SASL/GSSAPI binds work.

RFC 2307bis-ish entries: Debian ships no rfc2307bis schema, so groups are
posixGroup + extensibleObject, which can carry memberUid and member DNs.
slapadd wants all values of one attribute together: ldif() groups them.

It never touches a system file (/etc/ldap, /var/lib/ldap): every path is in
its directory, which stop() removes with the server.
"""

import atexit
import os
import shutil
import signal
import socket

from realm import _pick_ports
from sectx_harness import log_tail, make_public_tmpdir, run, spawn, terminate, wait_until

SCHEMA_DIR = "/etc/ldap/schema"
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=sectx,dc=test"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PW = "slapd-test-admin"

AD_SCHEMA = """\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.146 NAME 'objectSid'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.102 NAME 'memberOf' SUP distinguishedName )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP top STRUCTURAL
  MUST cn MAY ( sAMAccountName $ objectSid $ memberOf $ displayName $ uidNumber $ gidNumber $
  unixHomeDirectory $ loginShell ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( sAMAccountName $ member $ objectSid $ gidNumber ) )
"""
# unixHomeDirectory as AD's schema names it
AD_SCHEMA_ATTRS = """\
attributetype ( 1.2.840.113556.1.4.3010 NAME 'unixHomeDirectory'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
"""


class SlapdError(Exception):
    """slapd could not be set up or started."""


def ldif(entries):
    """LDIF text of entries: a list of (dn, {attr: value or [values]}), the
    values of one attribute kept together."""
    out = []
    for dn, attrs in entries:
        out.append(f"dn: {dn}")
        for k, v in attrs.items():
            for one in (v if isinstance(v, (list, tuple)) else [v]):
                out.append(f"{k}: {one}")
        out.append("")
    return "\n".join(out) + "\n"


def base_entries(base=BASE):
    dc = base.split(",")[0].split("=")[1]
    return [
        (base, {"objectClass": ["top", "dcObject", "organization"], "o": "sectx test",
                "dc": dc}),
        (f"ou=people,{base}", {"objectClass": ["top", "organizationalUnit"], "ou": "people"}),
        (f"ou=groups,{base}", {"objectClass": ["top", "organizationalUnit"], "ou": "groups"}),
    ]


def posix_user(name, uid, gid, base=BASE, gecos=None, home=None, shell="/bin/sh"):
    return (f"uid={name},ou=people,{base}", {
        "objectClass": ["top", "account", "posixAccount"], "uid": name, "cn": gecos or name,
        "uidNumber": str(uid), "gidNumber": str(gid),
        "homeDirectory": home or f"/home/{name}", "loginShell": shell,
        **({"gecos": gecos} if gecos else {})})


def posix_group(name, gid, member_uids=(), member_dns=(), base=BASE):
    attrs = {"objectClass": ["top", "posixGroup", "extensibleObject"], "cn": name,
             "gidNumber": str(gid)}
    if member_uids:
        attrs["memberUid"] = list(member_uids)
    if member_dns:
        attrs["member"] = list(member_dns)
    return (f"cn={name},ou=groups,{base}", attrs)


def user_dn(name, base=BASE):
    return f"uid={name},ou=people,{base}"


def group_dn(name, base=BASE):
    return f"cn={name},ou=groups,{base}"


def canonical_host_name():
    """The name libldap and MIT krb5 give 127.0.0.1 / this host when they
    canonicalise."""
    names = {socket.getfqdn(), socket.gethostname()}
    try:
        names.add(socket.gethostbyaddr("127.0.0.1")[0])
    except OSError:
        pass
    return sorted(n for n in names if n and n != "localhost")


def _openssl(*args):
    r = run(["openssl", *args], timeout=60)
    if r.returncode != 0:
        raise SlapdError(f"openssl {args[0]} failed: {r.stderr}")


_CA = {}


def _test_ca():
    """(key, certificate) of this process's test CA, made on first use in a
    temp dir removed at exit."""
    if not _CA:
        d = make_public_tmpdir("sectx-ldap-ca-")
        atexit.register(shutil.rmtree, d, True)
        key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                 "-days", "2", "-subj", "/CN=sectx test CA")
        _CA["ca"] = (key, crt)
    return _CA["ca"]


class Slapd:
    """A running slapd.  Attributes: dir, port (ldap://, StartTLS), tls_port
    (ldaps://), uri, ldaps_uri, cacert, keytab (with a realm), log_file."""

    def __init__(self, entries=None, realm=None, tls=True, base=BASE, start=True):
        self.base, self.realm, self.tls = base, realm, tls
        self.dir = make_public_tmpdir("sectx-slapd-")
        self.db_dir = os.path.join(self.dir, "db")
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log_file = os.path.join(self.dir, "slapd.log")
        self.rcache = os.path.join(self.dir, "rcache")
        self.keytab = None
        self.proc = None
        os.mkdir(self.db_dir, 0o700)
        os.mkdir(self.rcache, 0o700)
        try:
            self.port, self.tls_port = _pick_ports(2)
            self.uri = f"ldap://localhost:{self.port}"
            self.ldaps_uri = f"ldaps://localhost:{self.tls_port}"
            self.cacert = os.path.join(self.dir, "ca.pem")
            self._make_certs()  # a plaintext-only server's clients still have a CA
            if realm is not None:
                self._make_keytab()
            self._write_conf()
            self.load(entries if entries is not None else base_entries(base))
            if start:
                self.start()
        except BaseException:
            self.stop()
            raise

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _make_certs(self):
        """A server certificate for localhost, 127.0.0.1 and this host's
        names, signed by the test CA shared by every Slapd of this process
        (so one tls_cacert trusts a primary and its failover)."""
        ca_key, ca = _test_ca()
        shutil.copy2(ca, self.cacert)
        key, csr, crt = self._path("server.key"), self._path("server.csr"), self._path("server.pem")
        ext = self._path("server.ext")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=localhost")
        with open(ext, "w") as f:
            sans = ",".join(f"DNS:{h}" for h in ["localhost", *canonical_host_name()])
            f.write(f"subjectAltName={sans},IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", crt, "-days", "2", "-extfile", ext)
        os.chmod(self.cacert, 0o644)

    def _make_keytab(self):
        self.keytab = self._path("ldap.keytab")
        for host in ["localhost", *canonical_host_name()]:
            princ = f"ldap/{host}"
            try:
                self.realm.addprinc(princ, randkey=True)
            except Exception:  # a shared realm: already there, keys still valid
                pass
            self.realm.ktadd(princ, self.keytab)
        os.chmod(self.keytab, 0o600)

    def _write_conf(self):
        with open(self._path("ad.schema"), "w") as f:
            f.write(AD_SCHEMA_ATTRS + AD_SCHEMA)
        lines = [f"include {SCHEMA_DIR}/{s}.schema"
                 for s in ("core", "cosine", "nis", "inetorgperson")]
        lines += [f"include {self._path('ad.schema')}",
                  f"pidfile {self._path('slapd.pid')}",
                  f"argsfile {self._path('slapd.args')}",
                  "modulepath /usr/lib/ldap", "moduleload back_mdb",
                  "sizelimit unlimited"]
        if self.tls:
            lines += [f"TLSCACertificateFile {self.cacert}",
                      f"TLSCertificateFile {self._path('server.pem')}",
                      f"TLSCertificateKeyFile {self._path('server.key')}"]
        if self.realm is not None:
            lines += ["sasl-host localhost", f"sasl-realm {self.realm.realm}"]
        lines += ["", "database mdb", f"suffix \"{self.base}\"", f"rootdn \"{ROOT_DN}\"",
                  f"rootpw {ROOT_PW}", f"directory {self.db_dir}", "maxsize 1073741824",
                  "index objectClass eq", "index uid,uidNumber,gidNumber,memberUid,member eq",
                  "index cn,sAMAccountName eq",
                  "access to * by * read"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def env(self):
        env = dict(self.realm.env() if self.realm is not None else os.environ)
        if self.keytab:
            env["KRB5_KTNAME"] = f"FILE:{self.keytab}"
        env["KRB5RCACHEDIR"] = self.rcache
        return env

    def load(self, entries=None, ldif_path=None):
        """slapadd entries (a list, see ldif()) or the file ldif_path; only
        while stopped."""
        if ldif_path is None:
            ldif_path = self._path("load.ldif")
            with open(ldif_path, "w") as f:
                f.write(ldif(entries))
        r = run([SLAPADD, "-f", self.conf, "-q", "-l", ldif_path], env=self.env(), timeout=3600)
        if r.returncode != 0:
            raise SlapdError(f"slapadd failed: {r.stderr}")

    def start(self, timeout=20.0):
        urls = f"ldap://127.0.0.1:{self.port}/"
        if self.tls:
            urls += f" ldaps://127.0.0.1:{self.tls_port}/"
        self.proc = spawn([SLAPD, "-f", self.conf, "-h", urls, "-d", "256"], self.log_file,
                          env=self.env())

        def accepting():
            if self.proc.poll() is not None:
                raise SlapdError(f"slapd exited: {log_tail(self.log_file)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        if not wait_until(accepting, timeout):
            raise SlapdError(f"slapd did not start: {log_tail(self.log_file)}")

    def stop_server(self):
        """Stop slapd (the database stays: start() serves it again)."""
        if self.proc is not None:
            terminate(self.proc, signal.SIGTERM)
            self.proc = None

    def kill(self):
        """SIGKILL: the server vanishes without closing connections cleanly."""
        if self.proc is not None:
            terminate(self.proc, signal.SIGKILL)
            self.proc = None

    def log_text(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ldapsearch(self, filt, *attrs):
        r = run(["ldapsearch", "-LLL", "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW,
                 "-b", self.base, filt, *attrs], timeout=30)
        return r

    def stop(self):
        self.stop_server()
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["Slapd", "SlapdError", "ldif", "base_entries", "posix_user", "posix_group",
           "user_dn", "group_dn", "BASE", "ROOT_DN", "ROOT_PW"]
