"""sectxd under valgrind memcheck for the logins: one real helper started as
`valgrind --leak-check=full --errors-for-leak-kinds=definite ...` (see
sectx_harness.valgrind_argv), a real MIT KDC, real libpam (pam_wrapper) and
the real module.  A representative set of logins goes through it (a full
session, a wrong password, an unknown user, a password change, an offline
login while the KDC is down); then SIGTERM, and memcheck must have found no
error and no definitely lost block in the helper.

Skipped where valgrind cannot run the helper: a sanitizer build (scripts/test
runs the suite there too, and ASan/UBSan check the same paths), or no
valgrind installed.  Memcheck runs the helper tens of times slower: the
helper's timeouts, the module's and the harness's waits are longer under it
(sectx_harness.VALGRIND_*); nothing here measures speed.
"""

import re
import shutil

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures: bins, realm, host_keytab, pam_bins, users)
from pam_harness import PamSectxd, PamStack, VALGRIND_PAM_TIMEOUT_MS
from sectx_harness import VALGRIND_ERROR_EXIT, sanitizer_runtime, wait_until

SESSION = ("authenticate", "acct_mgmt", "setcred", "open_session", "env", "close_session")
# The online throttle would delay the wrong passwords on purpose; cached
# credentials make the offline login possible.
KERBEROS = {"failure_delay_after": "1000"}
OFFLINE = {"cache_credentials": "true", "offline_probe": "1s", "offline_probe_max": "2s"}
WAIT = 120.0  # seconds for a log line of the helper under memcheck


class MemcheckSectxd(PamSectxd):
    """A PamSectxd under valgrind, with an [offline] section."""

    def __init__(self, *args, offline, **kwargs):
        self.offline = dict(offline)
        super().__init__(*args, valgrind=True, **kwargs)

    def config_text(self, **changes):
        lines = ["", "[offline]"] + [f"{k} = {v}" for k, v in self.offline.items()]
        return super().config_text(**changes) + "\n".join(lines) + "\n"

    def wait_log(self, pattern, count=1):
        rx = re.compile(pattern)
        ok = wait_until(lambda: len(rx.findall(self.log_text())) >= count, WAIT, 0.2)
        assert ok, f"no {count}x {pattern!r} in the log:\n{self.log_tail(60)}"


@pytest.fixture
def memcheck(bins):
    """Skips, saying why, where valgrind cannot run the built sectxd."""
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    runtime = sanitizer_runtime(bins.sectxd)
    if runtime is not None:
        pytest.skip(f"sectxd is built with a sanitizer ({runtime}): valgrind cannot run it "
                    "(the sanitizer build runs the login tests under it instead)")


@pytest.fixture
def helper(bins, realm, host_keytab, memcheck):
    """A started MemcheckSectxd; killed and removed at the end whatever happened."""
    d = MemcheckSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab, kerberos=KERBEROS,
                       offline=OFFLINE)
    try:
        yield d.start()
    finally:
        d.close()


@pytest.fixture
def kdc(realm):
    """The realm, with its KDC running again after the test whatever happened."""
    yield realm
    realm.start_kdc()


def codes(r, *steps):
    return [r.code(s) for s in steps]


def test_logins_under_memcheck_leave_no_error_and_no_leak(helper, kdc, pam_bins, users):
    stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir,
                     f"timeout={VALGRIND_PAM_TIMEOUT_MS}")
    try:
        alice, bob, carol = users(), users(), users(principal=False)

        # a whole session: password, account, credentials, session open and close
        r = stack.run(alice.name, *SESSION, answers=[alice.password], timeout=300)
        assert codes(r, "authenticate", "acct_mgmt", "setcred", "open_session",
                     "close_session") == ["PAM_SUCCESS"] * 5, r
        assert r.env.get("KRB5CCNAME"), r
        assert not alice.ccache_files()  # close_session destroyed it
        helper.wait_log(rf"cached credential of {alice.name} stored")
        print(f"session of {alice.name}: {r.elapsed:.1f} s under memcheck")

        # a wrong password, and a user the realm does not know
        r = stack.run(alice.name, "authenticate", "open_session",
                      answers=["Wrong-" + alice.password], timeout=300)
        assert codes(r, "authenticate", "open_session") == ["PAM_AUTH_ERR", "PAM_IGNORE"], r
        r = stack.run(carol.name, "authenticate", answers=["Some-Pw-1"], timeout=300)
        assert r.code("authenticate") == "PAM_USER_UNKNOWN", r

        # a password change (passwd), then a session with the new password
        new = "New-" + bob.password
        r = stack.run(bob.name, "chauthtok", answers=[bob.password, new, new], timeout=300)
        assert r.code("chauthtok") == "PAM_SUCCESS", r
        r = stack.run(bob.name, *SESSION, answers=[new], timeout=300)
        assert codes(r, "authenticate", "open_session", "close_session") == \
            ["PAM_SUCCESS"] * 3, r
        helper.wait_log(rf"cached credential of {bob.name} stored")

        # offline: the KDC stops, the cached credential logs alice in
        kdc.stop_kdc()
        r = stack.run(alice.name, *SESSION, answers=[alice.password], timeout=300)
        assert codes(r, "authenticate", "open_session", "close_session") == \
            ["PAM_SUCCESS"] * 3, r
        assert any("Offline login" in t for _, t in r.user_messages), r
        helper.wait_log(rf"authenticated {alice.name} for \S+ .*offline: cached credential")
        kdc.start_kdc()
    finally:
        stack.close()

    rc = helper.stop()
    report = helper.valgrind_report()
    print(f"memcheck on sectxd: {report.errors} errors, {report.definitely_lost} bytes "
          f"definitely lost in {report.definitely_lost_blocks} blocks; exit status {rc}")
    assert report.complete, f"memcheck wrote no summary:\n{report.text[-4000:]}"
    assert report.errors == 0 and report.definitely_lost == 0, report.text[-20000:]
    assert rc == 0, f"sectxd exited with {rc} (memcheck's code for errors: {VALGRIND_ERROR_EXIT})"
