"""`make install` wires a host (issue 13, items 2 and 3): the exact list of
installed files with their owners and modes, the configuration installed
0600 and never overwritten, man pages that render without a warning, and the
pam-auth-update profile applied by the real pam-auth-update, with which a
realm user logs in through the `login` PAM service (real libpam, pamtester,
the real sectxd of the test realm) and a local user still logs in with
pam_unix.

The installs go to a DESTDIR under a temp dir.  The pam-auth-update test runs
in a mount namespace (unshare -m) where copies of /etc/pam.d, /var/lib/pam,
debconf's database, /usr/share/pam-configs and the PAM module directory are
bound over the real ones: the host's files are never written.
"""

import glob
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from sectx_harness import require_root, run, sanitizer_runtime

# Make variables of the build tree the install layout comes from.
LAYOUT_VARS = ("bindir", "sbindir", "sysconfdir", "pammoddir", "nsslibdir", "mandir", "docdir",
               "systemdsystemunitdir", "tmpfilesdir", "pamconfigsdir")
MAN_PAGES = ("man5/sectx.conf.5", "man8/pam_sectx.8", "man8/sectxd.8", "man8/sectxctl.8",
             "man8/nss_sectx.8", "man8/libnss_sectx.8")


def builddir():
    d = os.environ.get("SECTX_BUILDDIR")
    if not d:
        pytest.fail("SECTX_BUILDDIR is not set", pytrace=False)
    return os.path.abspath(d)


def make(*args, timeout=300):
    r = subprocess.run(["make", "-C", builddir(), "--no-print-directory", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"make {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def layout():
    """The install directories as the build tree's Makefile expands them."""
    with tempfile.NamedTemporaryFile("w", suffix=".mk") as mk:
        mk.write("print-layout:\n" + "".join(f"\t@echo '{v}=$({v})'\n" for v in LAYOUT_VARS))
        mk.flush()
        out = make("-s", "-f", "Makefile", "-f", mk.name, "print-layout").stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert set(values) == set(LAYOUT_VARS), out
    return values


@pytest.fixture
def destdir():
    d = tempfile.mkdtemp(prefix="sectx-destdir-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def installed_files(destdir):
    """{path below destdir: (kind, mode, uid, gid, link target)} of every file
    and symbolic link."""
    files = {}
    for root, _dirs, names in os.walk(destdir):
        for name in names:
            path = os.path.join(root, name)
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, destdir)
            if stat.S_ISLNK(st.st_mode):
                files[rel] = ("link", None, st.st_uid, st.st_gid, os.readlink(path))
            else:
                files[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None)
    return files


def expected_files(layout):
    """What `make install` must install, as installed_files() shows it."""
    uid, gid = os.getuid(), os.getgid()
    f = {}

    def add(directory, name, mode):
        f[os.path.join(layout[directory], name)] = ("file", mode, uid, gid, None)

    for name in ("sectxd", "sectxctl"):
        add("sbindir", name, 0o755)
    for name in ("sectx-sample-client", "sectx-sample-server"):
        add("bindir", name, 0o755)
    add("pammoddir", "pam_sectx.so", 0o755)
    add("nsslibdir", "libnss_sectx.so.2.0.0", 0o755)
    f[os.path.join(layout["nsslibdir"], "libnss_sectx.so.2")] = \
        ("link", None, uid, gid, "libnss_sectx.so.2.0.0")
    add("sysconfdir", "sectx/sectx.conf", 0o600)
    add("systemdsystemunitdir", "sectxd.service", 0o644)
    add("tmpfilesdir", "sectx.conf", 0o644)
    add("pamconfigsdir", "sectx", 0o644)
    for page in MAN_PAGES:
        add("mandir", page, 0o644)
    for name in ("README.md", "sectx.conf.example", "pam.d-sectx.example",
                 "nsswitch.conf.snippet"):
        add("docdir", name, 0o644)
    return f


def test_install_file_list_owners_and_modes(layout, destdir):
    make("install", f"DESTDIR={destdir}")
    got, want = installed_files(destdir), expected_files(layout)
    assert sorted(set(got) - set(want)) == [], "installed but not expected"
    assert sorted(set(want) - set(got)) == [], "expected but not installed"
    wrong = {p: (got[p], want[p]) for p in want if got[p] != want[p]}
    assert wrong == {}, "(installed, expected) kind, mode, uid, gid, link"
    # the installed unit runs the installed programs
    unit = open(destdir + os.path.join(layout["systemdsystemunitdir"], "sectxd.service")).read()
    assert f"ExecStart={layout['sbindir']}/sectxd --foreground\n" in unit
    assert "Type=notify\n" in unit and "ExecReload=/bin/kill -HUP $MAINPID\n" in unit
    assert "\nPrivateTmp=" not in unit and "\nUser=" not in unit
    tmpfiles = open(destdir + os.path.join(layout["tmpfilesdir"], "sectx.conf")).read()
    assert "\nd /run/sectx 0755 root root -\n" in tmpfiles
    # the uninstall takes everything back (the unchanged config included)
    make("uninstall", f"DESTDIR={destdir}")
    assert installed_files(destdir) == {}


def test_config_is_never_overwritten(layout, destdir):
    conf = destdir + os.path.join(layout["sysconfdir"], "sectx", "sectx.conf")
    make("install", f"DESTDIR={destdir}")
    example = open(conf).read()
    assert "[kerberos]" in example and stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    mine = "[kerberos]\nrealm = MINE.EXAMPLE\n"
    with open(conf, "w") as f:
        f.write(mine)
    os.chmod(conf, 0o640)
    r = make("install", f"DESTDIR={destdir}")
    assert "exists: not replaced" in r.stdout
    assert open(conf).read() == mine and stat.S_IMODE(os.stat(conf).st_mode) == 0o640
    r = make("uninstall", f"DESTDIR={destdir}")
    assert "was changed: kept" in r.stdout
    assert open(conf).read() == mine


def test_installed_man_pages_render_without_warnings(layout, destdir):
    make("install", f"DESTDIR={destdir}")
    mandir = destdir + layout["mandir"]
    for page in MAN_PAGES:
        # cwd: the .so link page (libnss_sectx.8) names its target from there
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page],
                           capture_output=True, text=True, cwd=mandir, timeout=60,
                           env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80"))
        assert r.returncode == 0 and r.stderr == "", f"{page}: {r.stderr}"
        assert len(r.stdout.splitlines()) > 20, f"{page} renders to almost nothing"
    text = subprocess.run(["man", "-l", "man8/libnss_sectx.8"], capture_output=True,
                          text=True, cwd=mandir, timeout=60).stdout
    assert "nsswitch.conf" in text, "libnss_sectx(8) does not show nss_sectx(8)"


# --- pam-auth-update -----------------------------------------------------------------


# "auth CONTROL MODULE ARGS", CONTROL a word or a [...] with spaces inside
PAM_LINE = re.compile(r"^auth\s+(\[[^\]]*\]|\S+)\s+(\S+)(.*)$", re.M)


def pam_module_dir():
    """libpam's module directory (where pam_unix.so is)."""
    for pattern in ("/lib/*/security/pam_unix.so", "/usr/lib/*/security/pam_unix.so",
                    "/lib/security/pam_unix.so"):
        found = glob.glob(pattern)
        if found:
            return os.path.dirname(os.path.realpath(found[0]))
    pytest.fail("no pam_unix.so: is libpam-modules installed?", pytrace=False)


# Run in a new mount namespace: the copies are bound over the real paths,
# the profile enabled by the real tool, and each login tried with the real
# libpam.  krb5 is disabled in the copy: pam_krb5 would ask the host's
# default realm (not the test's) for every user.
NAMESPACE_SCRIPT = r"""
set -eu
for pair in "$@"; do
	mount --bind "${pair%%=*}" "${pair#*=}"
done
DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
	pam-auth-update --enable sectx --disable krb5 > "$OUT/pam-auth-update.log" 2>&1
for f in common-auth common-account common-password common-session; do
	cp /etc/pam.d/$f "$OUT/$f"
done
run_login() {
	printf '%s\n' "$2" | SECTX_SOCKET_DIR="$SOCKDIR" pamtester -v login "$1" \
		authenticate acct_mgmt > "$OUT/$3.out" 2>&1 && echo 0 > "$OUT/$3.rc" \
		|| echo $? > "$OUT/$3.rc"
}
run_login "$REALM_USER" "$REALM_PASS" realm
run_login "$REALM_USER" "$REALM_PASS-wrong" realm-wrong
run_login "$LOCAL_USER" "$LOCAL_PASS" local
"""


def test_pam_auth_update_profile_logs_users_in(layout, destdir, pam_helper, users, bins):
    require_root("binds copies over /etc/pam.d in a mount namespace")
    if sanitizer_runtime(bins.sectxd) is not None:
        # the system's pamtester would need the ASan runtime preloaded for
        # the installed module, and pam_unix then crashes in ASan's crypt
        # interceptor (libcrypt not loaded at ASan's start): this test of
        # the installed profile runs in the normal build
        pytest.skip("the installed profile is tested in the normal build, not under ASan")
    if shutil.which("pam-auth-update") is None or shutil.which("pamtester") is None:
        pytest.fail("pam-auth-update or pamtester missing (scripts/install-deps)",
                    pytrace=False)
    make("install", f"DESTDIR={destdir}")
    realm_user = users()                       # a principal, no local password
    local_user = users(principal=False)        # a local password, no principal
    local_pass = "Local-" + os.urandom(6).hex()
    # the hash straight into /etc/shadow (chpasswd -e): the host's own PAM
    # password stack is not ours to go through
    r = run(["openssl", "passwd", "-6", "-stdin"], input=local_pass + "\n")
    assert r.returncode == 0, r.stderr
    r = run(["chpasswd", "-e"], input=f"{local_user.name}:{r.stdout.strip()}\n")
    assert r.returncode == 0, r.stderr

    work = tempfile.mkdtemp(prefix="sectx-pamauth-")
    try:
        os.chmod(work, 0o755)
        out = os.path.join(work, "out")
        os.mkdir(out)
        moddir = pam_module_dir()
        copies = {"/etc/pam.d": "pam.d", "/var/lib/pam": "var-lib-pam",
                  "/var/cache/debconf": "debconf", "/usr/share/pam-configs": "pam-configs",
                  moddir: "security"}
        binds = []
        for real, name in copies.items():
            copy = os.path.join(work, name)
            shutil.copytree(real, copy, symlinks=True)
            binds.append(f"{copy}={real}")
        shutil.copy2(destdir + os.path.join(layout["pamconfigsdir"], "sectx"),
                     os.path.join(work, "pam-configs", "sectx"))
        shutil.copy2(destdir + os.path.join(layout["pammoddir"], "pam_sectx.so"),
                     os.path.join(work, "security", "pam_sectx.so"))
        env = dict(os.environ, OUT=out, SOCKDIR=pam_helper.socket_dir,
                   REALM_USER=realm_user.name, REALM_PASS=realm_user.password,
                   LOCAL_USER=local_user.name, LOCAL_PASS=local_pass)
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                            "sh", "-c", NAMESPACE_SCRIPT, "sh", *binds],
                           capture_output=True, text=True, env=env, timeout=300)

        def read(name):
            path = os.path.join(out, name)
            return open(path).read() if os.path.exists(path) else f"({name} missing)"

        assert r.returncode == 0, f"{r.stderr}\n{read('pam-auth-update.log')}"
        auth = read("common-auth")
        lines = [m.groups() for m in PAM_LINE.finditer(auth)]
        modules = [module for _control, module, _args in lines]
        assert "pam_sectx.so" in modules and "pam_unix.so" in modules, auth
        assert modules.index("pam_sectx.so") < modules.index("pam_unix.so"), auth
        sectx = lines[modules.index("pam_sectx.so")]
        unix = lines[modules.index("pam_unix.so")]
        assert sectx[0].startswith("[success=") and "default=ignore]" in sectx[0], auth
        assert "forward_pass" in sectx[2].split() and "try_first_pass" in unix[2].split(), auth
        for group in ("account", "password", "session"):
            assert "pam_sectx.so" in read(f"common-{group}"), read(f"common-{group}")
        # the host's own files are untouched
        assert "pam_sectx.so" not in open("/etc/pam.d/common-auth").read()

        assert read("realm.rc").strip() == "0", read("realm.out") + pam_helper.log_tail()
        assert read("realm-wrong.rc").strip() != "0", read("realm-wrong.out")
        assert read("local.rc").strip() == "0", read("local.out") + pam_helper.log_tail()
        log = pam_helper.log_text()
        assert (f"pam call authenticate: service=login user={realm_user.name} rhost=- "
                in log), pam_helper.log_tail()
        assert realm_user.password not in log and local_pass not in log
        ok = [line for line in log.splitlines()
              if f"user={realm_user.name} " in line and "result=success" in line]
        assert any("pam call acct-mgmt" in line for line in ok), pam_helper.log_tail()
        # the local user was not sectx's: refused as unknown (the line does
        # not name a user the realm does not know), then pam_unix
        assert "pam call authenticate: service=login user=? rhost=- uid=0 " in log \
            and "result=failed pam=PAM_USER_UNKNOWN" in log, pam_helper.log_tail()
        assert local_user.name not in log
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert pwd.getpwnam(local_user.name)  # removed by the users fixture
