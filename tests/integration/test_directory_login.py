"""Logins of users that exist only in the LDAP directory ([directory]),
through real libpam (pam_wrapper), pam_sectx.so, a real sectxd, a real KDC
and a real slapd: the user is resolved from the directory, authenticated by
the realm and gets a session (a credential cache owned by its directory
uid); with every directory server down the cached user still logs in;
[access] allow_groups names directory groups (nested membership counts)
and [directory] access_filter is an LDAP filter the user's entry must
match."""

import os
import secrets

import pytest

from directory_support import simple_bind, slapd_factory  # noqa: F401
from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import PamSectxd, PamStack, ccache_path
from sectx_harness import write_private
from slapd_harness import base_entries, group_dn, posix_group, posix_user, user_dn

DIR_UID, DIR_GID = 7101, 7100


class DirPamSectxd(PamSectxd):
    """A login-ready sectxd whose config also has [directory] and [access]."""

    sections = {}

    def config_text(self, **changes):
        text = super().config_text(**changes)
        for name, keys in self.sections.items():
            if keys:
                text += f"\n[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        return text


@pytest.fixture
def dir_login(bins, realm, host_keytab, pam_bins, slapd_factory):  # noqa: F811
    """make(directory=None, access=None) -> (sectxd, stack, user name,
    password, slapd): a directory-only user with a principal in the realm,
    in group "logins" (directly) and "outer" (nested)."""
    made, stacks = [], []

    def make(directory=None, access=None, extra_entries=()):
        name = "dx" + secrets.token_hex(4)
        password = realm.addprinc(name, extra_args=("+requires_preauth",))
        entries = base_entries() + [
            posix_user(name, DIR_UID, DIR_GID, home="/nonexistent"),
            posix_group("dirusers", DIR_GID),
            posix_group("logins", 7200, member_dns=[user_dn(name)]),
            posix_group("outer", 7201, member_dns=[group_dn("logins")]),
            posix_group("others", 7202),
            *extra_entries,
        ]
        s = slapd_factory(entries=entries)
        d = DirPamSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab)
        made.append(d)
        keys = simple_bind(d, s)
        keys.update(directory or {})
        d.sections = {"directory": keys, "access": access or {}}
        write_private(d.config_file, d.config_text())
        d.start()
        stack = PamStack(pam_bins.module, pam_bins.driver, d.socket_dir, "")
        stacks.append(stack)
        return d, stack, name, password, s

    yield make
    for st in stacks:
        st.close()
    for d in made:
        d.close()


def login(stack, name, password):
    return stack.run(name, "authenticate", "acct_mgmt", "open_session", "env", "close_session",
                     answers=[password])


def test_directory_user_logs_in_and_gets_a_session(dir_login):
    d, stack, name, password, s = dir_login()
    r = stack.run(name, "authenticate", "acct_mgmt", "open_session", "env",
                  answers=[password])
    assert r.code("authenticate") == "PAM_SUCCESS", (r, d.log_tail())
    assert r.code("acct_mgmt") == "PAM_SUCCESS", (r, d.log_tail())
    assert r.code("open_session") == "PAM_SUCCESS", (r, d.log_tail())
    path = ccache_path(r.envs[0]["KRB5CCNAME"])
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid) == (DIR_UID, DIR_GID), path
    assert f"(uid={name})" in s.log_text()
    os.unlink(path)


def test_directory_down_cached_user_logs_in(dir_login):
    d, stack, name, password, s = dir_login()
    r = login(stack, name, password)
    assert r.code("open_session") == "PAM_SUCCESS", (r, d.log_tail())
    s.kill()
    d.ctl("cache", "expire")
    r = login(stack, name, password)
    assert r.code("authenticate") == "PAM_SUCCESS", (r, d.log_tail())
    assert r.code("acct_mgmt") == "PAM_SUCCESS", (r, d.log_tail())
    assert r.code("open_session") == "PAM_SUCCESS", (r, d.log_tail())
    assert "failed: Can't contact LDAP server" in d.log_text()


def test_allow_groups_by_nested_directory_group(dir_login):
    d, stack, name, password, s = dir_login(access={"allow_groups": "outer"})
    r = login(stack, name, password)
    assert r.code("acct_mgmt") == "PAM_SUCCESS", (r, d.log_tail())
    d2, stack2, name2, password2, s2 = dir_login(access={"allow_groups": "others"})
    r = login(stack2, name2, password2)
    assert r.code("authenticate") == "PAM_SUCCESS", (r, d2.log_tail())
    assert r.code("acct_mgmt") == "PAM_PERM_DENIED", (r, d2.log_tail())


def test_access_filter(dir_login):
    d, stack, name, password, s = dir_login(
        directory={"access_filter": "(loginShell=/bin/sh)"})
    r = login(stack, name, password)
    assert r.code("acct_mgmt") == "PAM_SUCCESS", (r, d.log_tail())
    assert "(loginShell=/bin/sh)" in s.log_text()
    d2, stack2, name2, password2, s2 = dir_login(
        directory={"access_filter": "(loginShell=/bin/zsh)"})
    r = login(stack2, name2, password2)
    assert r.code("acct_mgmt") == "PAM_PERM_DENIED", (r, d2.log_tail())
    assert "access_filter" in d2.log_text()
