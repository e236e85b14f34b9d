"""directory_support - what the directory tests share: a Helper whose config
has a [directory] section (and optionally [access]), and the standard test
tree of users and groups for a real slapd (slapd_harness.py).
"""

import os

import pytest

from nss_support import Helper, host_keytab, nss_lib  # noqa: F401
from slapd_harness import (ROOT_DN, ROOT_PW, Slapd, base_entries, group_dn, posix_group,
                           posix_user, user_dn)
from sectx_harness import wait_until, write_private

# The standard tree: alice and bob with POSIX ids, nested groups
# (devs contains alice by memberUid and bob by DN; ops contains the group
# devs; all contains ops), a "staff" group colliding by name with Debian's
# /etc/group staff (gid 50), and a forged root entry (uidNumber 0).
ALICE_UID, BOB_UID, USERS_GID = 5001, 5002, 5000
DEVS_GID, OPS_GID, ALL_GID, STAFF_GID = 6001, 6002, 6003, 6004


def standard_tree():
    return base_entries() + [
        posix_user("alice", ALICE_UID, USERS_GID, gecos="Alice Liddell"),
        posix_user("bob", BOB_UID, USERS_GID),
        posix_user("mallory", 0, 0),
        posix_user("lowid", 42, 42),
        posix_group("users", USERS_GID),
        posix_group("devs", DEVS_GID, member_uids=["alice"], member_dns=[user_dn("bob")]),
        posix_group("ops", OPS_GID, member_dns=[group_dn("devs")]),
        posix_group("all", ALL_GID, member_dns=[group_dn("ops")]),
        posix_group("staff", STAFF_GID, member_uids=["alice"]),
    ]


class DirHelper(Helper):
    """A Helper whose config also has [directory] (and [access]) keys."""

    directory = None
    access = None

    def configure_directory(self, directory, access=None, **kw):
        self.directory, self.access = dict(directory), dict(access or {})
        return self.configure(**kw)

    def config_text(self, **identity_changes):
        text = super().config_text(**identity_changes)
        for name, keys in (("directory", self.directory), ("access", self.access)):
            if keys:
                text += f"\n[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        return text

    def set_directory(self, **changes):
        """Change [directory] keys, reload, and wait until sectxd says it did."""
        self.directory.update(changes)
        before = self.d.log_text().count("configuration reloaded")
        self.d.reload(self.config_text())
        assert wait_until(lambda: self.d.log_text().count("configuration reloaded") > before,
                          10.0), self.d.log_tail()


def simple_bind(d, slapd, uris=None, **extra):
    """[directory] keys for a simple bind as the slapd's root DN."""
    pwfile = os.path.join(d.dir, "ldap.pw")
    write_private(pwfile, ROOT_PW + "\n", 0o600)
    keys = {"uri": ", ".join(uris or [slapd.uri]), "base": slapd.base, "bind": "simple",
            "bind_dn": ROOT_DN, "bind_password_file": pwfile, "tls_cacert": slapd.cacert,
            "timeout": "2s", "backoff": "30s", "schema": "rfc2307bis"}
    keys.update(extra)
    return keys


@pytest.fixture
def slapd_factory():
    """make(entries=None, **kw) -> a started Slapd; all stopped at the end."""
    made = []

    def make(entries=None, **kw):
        s = Slapd(entries if entries is not None else standard_tree(), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def dir_helper(sectxd_factory, nss_lib, realm):  # noqa: F811
    """make(slapd_or_keys, identity=None, access=None, start=True) -> a
    DirHelper whose [directory] is simple_bind() to that slapd, or the given
    keys (a dict)."""
    def make(directory, identity=None, access=None, start=True, keytab=True, **extra):
        d = sectxd_factory(start=False, env=realm.env())
        h = DirHelper(d, nss_lib, realm)
        keys = directory if isinstance(directory, dict) else simple_bind(d, directory, **extra)
        h.configure_directory(keys, access=access, identity=identity or {},
                              keytab=host_keytab(realm, d) if keytab else None)
        return h.start() if start else h
    return make
