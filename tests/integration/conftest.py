"""Fixtures of the sectx integration tests: the built binaries, a Kerberos
realm, sectxd instances, and the environmental conditions some tests need.

Missing binaries are a failure, never a skip: a test is skipped only for a
real environmental reason, with that reason.  Every fixture that starts a
process stops it and removes its files in its finalizer, whatever the test
did.
"""

import collections
import os

import pytest

from realm import Realm
from sectx_harness import Sectxd, close_all, public_copies, require_root, run

Binaries = collections.namedtuple("Binaries", "sectxd sectxctl")


@pytest.fixture(scope="session")
def bins():
    """Paths of sectxd and sectxctl as built in $SECTX_BUILDDIR, copied into a
    public 0755 temp dir: the build tree may sit under a 0700 home (CI's
    checkout, make distcheck), and the tests that act as another uid must
    still be able to run sectxctl.  The copies are removed at the end."""
    builddir = os.environ.get("SECTX_BUILDDIR")
    if not builddir:
        pytest.fail("SECTX_BUILDDIR is not set (make check and run-tests.sh set it to the "
                    "directory holding the built sectxd and sectxctl)", pytrace=False)
    built = Binaries(*(os.path.join(os.path.abspath(builddir), n) for n in Binaries._fields))
    missing = [p for p in built if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}", pytrace=False)
    with public_copies(built, "sectx-bin-") as copies:
        yield Binaries(*copies)


@pytest.fixture(scope="module")
def realm():
    """A running SECTX.TEST realm shared by the tests of one module."""
    r = Realm()
    yield r
    r.stop()


@pytest.fixture
def sectxd_factory(bins):
    """make(start=True, env=None, **sectxd_keys) -> a Sectxd with those
    [sectxd] settings, started unless start=False.  All are closed at the
    end of the test."""
    made = []

    def make(start=True, env=None, **settings):
        d = Sectxd(bins.sectxd, bins.sectxctl, env=env, **settings)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def sectxd(sectxd_factory):
    """A started sectxd with the default test config (log_level info)."""
    return sectxd_factory()


@pytest.fixture
def nobody(bins):
    """The unprivileged user the tests act as; skips unless root (to switch
    to it).  bins are public copies, so nobody can always execute them."""
    require_root("switches to user nobody with setpriv")
    assert run(["test", "-x", bins.sectxctl], uid="nobody").returncode == 0, \
        f"user nobody cannot execute {bins.sectxctl}"
    return "nobody"
