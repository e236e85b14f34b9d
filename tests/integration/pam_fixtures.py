"""Fixtures of the PAM integration tests (test_pam_*.py import them with
`from pam_fixtures import *`): the built module and PAM driver, a host
keytab for the realm, a login-ready sectxd, PAM stacks and local users.

Missing build products are a failure, never a skip; tests that create local
users or switch uid need root and say so when skipped.  Every fixture removes
what it made in its finalizer.
"""

import collections
import os
import shutil
import socket

import pytest

from pam_harness import LocalUser, PamSectxd, PamStack, write_keytab
from sectx_harness import close_all, public_copies, require_root

PamBins = collections.namedtuple("PamBins", "module driver")


@pytest.fixture(scope="session")
def pam_bins():
    """The built pam_sectx.so ($SECTX_BUILDDIR/.libs) and pam driver
    ($SECTX_BUILDDIR/tests/integration/pam_driver), copied into a public 0755 temp dir so
    that libpam can load the module whatever the build tree's modes."""
    builddir = os.environ.get("SECTX_BUILDDIR")
    if not builddir:
        pytest.fail("SECTX_BUILDDIR is not set", pytrace=False)
    builddir = os.path.abspath(builddir)
    built = PamBins(os.path.join(builddir, ".libs", "pam_sectx.so"),
                    os.path.join(builddir, "tests", "integration", "pam_driver"))
    missing = [p for p in built if not os.path.isfile(p)]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (make check builds them)", pytrace=False)
    with public_copies(built, "sectx-pambin-") as copies:
        yield PamBins(*copies)


@pytest.fixture(scope="module")
def host_keytab(realm):
    """A keytab with a host principal of this machine, for TGT validation."""
    principal = f"host/{socket.gethostname().lower() or 'localhost'}"
    if not all(c.isalnum() or c in ".-/" for c in principal):
        principal = "host/pamtest.sectx.test"
    directory, path = write_keytab(realm, principal)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pam_helper_factory(bins, realm, host_keytab):
    """make(start=True, **kerberos_keys) -> a PamSectxd for the realm."""
    made = []

    def make(start=True, **kerberos):
        d = PamSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab, kerberos=kerberos)
        made.append(d)
        return d.start() if start else d

    yield make
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def pam_helper(pam_helper_factory):
    """A started sectxd that can log realm users in."""
    return pam_helper_factory()


@pytest.fixture
def pam_stack(pam_bins, pam_helper):
    """make(options="", before=None, **per_group_options) -> a PamStack
    talking to pam_helper (see PamStack).  The default stack is make()."""
    made = []

    def make(options="", helper=None, before=None, **group_options):
        s = PamStack(pam_bins.module, pam_bins.driver, (helper or pam_helper).socket_dir,
                     options, before=before, **group_options)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def users(realm):
    """make(principal=True, password=None, extra_args=()) -> a LocalUser
    (needs root).  All are removed at the end of the test."""
    require_root("creates local users with useradd")
    made = []

    def make(principal=True, password=None, extra_args=()):
        u = LocalUser(realm, principal=principal, password=password, extra_args=extra_args)
        made.append(u)
        return u

    yield make
    failures = []
    for u in made:
        r = u.remove()
        if r.returncode not in (0, 12):  # 12: home or mail spool already gone
            failures.append(f"userdel {u.name}: {r.returncode} {r.stderr}")
    if failures:
        pytest.fail("; ".join(failures), pytrace=False)


__all__ = ["pam_bins", "host_keytab", "pam_helper_factory", "pam_helper", "pam_stack",
           "users"]
