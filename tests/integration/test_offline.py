"""Offline logins: a real sectxd with [offline] cache_credentials, a real MIT
KDC stopped and started under it, and real libpam (pam_wrapper with
pam_driver, and pamtester).  Each test asserts what the user and the service
see (PAM codes, messages, KRB5CCNAME), what `sectxctl status` says about the
realm, and the helper's log line for each decision; none relies on timing
for its verdict (waits are polls with deadlines)."""

import os
import re
import signal
import stat
import threading
import time

import pytest

from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_bins, host_keytab, users)
from pam_harness import PamSectxd, PamStack
from sectx_harness import Frame, close_all, terminate, wait_until

OFFLINE = {"cache_credentials": "true", "offline_probe": "200ms", "offline_probe_max": "1s"}
# the online throttle (failure_delay_after) would delay the failures these
# tests make on purpose; the offline one ([offline] failed_attempts) is tested
KERBEROS = {"failure_delay_after": "1000"}
SESSION = ("authenticate", "acct_mgmt", "setcred", "open_session", "env", "close_session")
WAIT = 15.0


class OfflineSectxd(PamSectxd):
    """A PamSectxd with an [offline] section."""

    def __init__(self, *args, offline=None, **kwargs):
        self.offline = dict(offline or {})
        super().__init__(*args, **kwargs)

    def config_text(self, **changes):
        lines = ["", "[offline]"] + [f"{k} = {v}" for k, v in self.offline.items()]
        return super().config_text(**changes) + "\n".join(lines) + "\n"

    @property
    def cache_dir(self):
        return os.path.join(self.state_dir, "offline")

    def cache_files(self):
        try:
            return sorted(os.listdir(self.cache_dir))
        except FileNotFoundError:
            return []

    def wait_log(self, pattern, count=1, timeout=WAIT):
        """Wait until pattern (a regex) matches count lines of the log."""
        rx = re.compile(pattern)
        ok = wait_until(lambda: len(rx.findall(self.log_text())) >= count, timeout)
        assert ok, f"no {count}x {pattern!r} in the log:\n{self.log_tail(60)}"

    def realm_state(self):
        return self.status_json().get("realm_state")


@pytest.fixture
def kdc(realm):
    """The realm, with its KDC running again after the test whatever happened."""
    yield realm
    realm.start_kdc()


@pytest.fixture
def offline_helper(bins, realm, host_keytab):
    """make(offline={...}, **kerberos) -> a started OfflineSectxd."""
    made = []

    def make(offline=None, **kerberos):
        d = OfflineSectxd(bins.sectxd, bins.sectxctl, realm, host_keytab,
                          kerberos=dict(KERBEROS, **kerberos),
                          offline=dict(OFFLINE, **(offline or {})))
        made.append(d)
        return d.start()

    yield make
    errors = close_all(made)
    if errors:
        pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def stack_for(pam_bins):
    """stack_for(helper) -> a PamStack talking to that helper."""
    made = []

    def make(helper):
        s = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def online_login(helper, stack, user, password=None, nth=1):
    """An online login (a ccache is written) whose credential the helper
    then caches (the nth store or refresh for that user)."""
    r = stack.run(user.name, *SESSION, answers=[password or user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    assert "KRB5CCNAME" in r.env, r
    assert not any("Offline login" in t for _, t in r.user_messages), r
    helper.wait_log(rf"cached credential of {user.name} (stored|refreshed)", count=nth)
    return r


def test_offline_login_with_the_cached_password(offline_helper, stack_for, users, kdc):
    helper = offline_helper()
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)

    # stored beside the KDF parameters, never the password, 0700 / 0600
    assert stat.S_IMODE(os.stat(helper.cache_dir).st_mode) == 0o700
    [name] = helper.cache_files()
    path = os.path.join(helper.cache_dir, name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as f:
        data = f.read()
    # state_file's header (magic, kind OFFL, version 2), then one codec frame:
    # 1 user, 3 kdf, 4 iterations, 5 salt (helper/offline/cache_file.c)
    assert data[:16] == b"SECTXSTF" + b"OFFL" + b"\0\0\0\2", data[:32]
    rec = Frame(data[32:])
    assert rec.get(1) == user.name.encode() and rec.get(3) == b"pbkdf2-hmac-sha512", rec
    assert rec.u32(4) > 0 and len(rec.get(5)) == 16, rec
    assert user.password.encode() not in data

    assert helper.realm_state() == "online"
    kdc.stop_kdc()
    r = stack.run(user.name, *SESSION, answers=[user.password])
    assert [r.code(s) for s in ("authenticate", "acct_mgmt", "setcred", "open_session",
                                "close_session")] == ["PAM_SUCCESS"] * 5, r
    assert any(k == "info" and "Offline login" in t for k, t in r.user_messages), r
    assert "KRB5CCNAME" not in r.env, r  # no tickets: no ccache
    assert not user.ccache_files()
    helper.wait_log(rf"authenticated {user.name} for \S+ .*offline: cached credential")
    # a closed port is refused at once (UDP and TCP), not waited for
    helper.wait_log(r"realm \S+ is offline: no KDC answered \(Connection refused\)")
    status = helper.status_json()
    assert status["realm_state"] == "offline", status
    assert "no KDC answered" in status["kdc_error"], status
    assert "next_probe_seconds" in status and status["offline_cached_credentials"] == 1

    # pamtester, the stock PAM application, too
    proc, _ = stack.pamtester(user.name, "authenticate", "open_session", "close_session",
                              password=user.password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Offline login" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_offline_wrong_password_refused(offline_helper, stack_for, users, kdc):
    helper = offline_helper()
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)
    # a wrong password while the KDC runs is the KDC's answer, never "offline"
    r = stack.run(user.name, "authenticate", answers=["Wrong-" + user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert helper.realm_state() == "online"

    kdc.stop_kdc()
    r = stack.run(user.name, "authenticate", "open_session", "env",
                  answers=["Wrong-" + user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert r.code("open_session") == "PAM_IGNORE", r
    assert not any("Offline login" in t for _, t in r.user_messages), r
    helper.wait_log(rf"offline authentication of {user.name} .* does not match the cached")
    # a user with no cached credential: unavailable, not "wrong password"
    other = users()
    r = stack.run(other.name, "authenticate", answers=[other.password])
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
    helper.wait_log(rf"offline authentication of {other.name} .*no cached credential")


def test_offline_too_old_cache_refused(offline_helper, stack_for, users, kdc):
    helper = offline_helper(offline={"max_age": "2s"})
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)
    kdc.stop_kdc()
    stored = os.stat(os.path.join(helper.cache_dir, helper.cache_files()[0])).st_mtime
    # let it age past max_age (a wait for a condition, not a speed check)
    wait_until(lambda: time.time() > stored + 3.2, 10.0, 0.2)
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
    helper.wait_log(rf"offline authentication of {user.name} .* too old")


def test_offline_failed_attempts_enforce_the_delay(offline_helper, stack_for, users, kdc):
    helper = offline_helper(offline={"failed_attempts": "2", "failed_delay": "4s"})
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)
    kdc.stop_kdc()
    for _ in range(2):
        r = stack.run(user.name, "authenticate", answers=["Wrong-" + user.password])
        assert r.code("authenticate") == "PAM_AUTH_ERR", r
    # now even the right password is refused until failed_delay has passed
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    assert any("Too many failed offline logins" in t for _, t in r.user_messages), r
    helper.wait_log(rf"offline authentication of {user.name} .* too many failed attempts, "
                    r"next one allowed in \d+ ms")
    assert len(re.findall(rf"authenticated {user.name} .*offline", helper.log_text())) == 0

    # after the delay the right password works again (polled: the delay is
    # the helper's to enforce, the test only waits for it to end)
    def logged_in():
        r = stack.run(user.name, "authenticate", answers=[user.password])
        return r.code("authenticate") == "PAM_SUCCESS"

    assert wait_until(logged_in, WAIT, 0.5), helper.log_tail(40)


def test_offline_back_online_refreshes_the_cache(offline_helper, stack_for, users, kdc):
    """Realm state transitions in `sectxctl status`, automatic return online
    by the probe, and a changed password taken over by the next online
    login."""
    helper = offline_helper()
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)
    assert helper.realm_state() == "online"

    kdc.stop_kdc()
    new_password = "New-" + user.password
    kdc.kadmin(f"cpw -pw {new_password} {user.name}")  # the database, not the KDC
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r  # the cache has the old one
    text = helper.ctl("status").stdout
    assert re.search(r"^realm_state: offline for \d+s, next probe in \d+s$", text, re.M), text
    r = stack.run(user.name, "authenticate", answers=[new_password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r

    kdc.start_kdc()
    assert wait_until(lambda: helper.realm_state() == "online", WAIT, 0.1), helper.log_tail()
    helper.wait_log(r"realm \S+ is back online")
    status = helper.status_json()
    assert f":{kdc.kdc_port}/" in status["kdc"], status

    online_login(helper, stack, user, password=new_password, nth=2)
    helper.wait_log(rf"cached credential of {user.name} refreshed")

    kdc.stop_kdc()
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    r = stack.run(user.name, "authenticate", answers=[new_password])
    assert r.code("authenticate") == "PAM_SUCCESS", r


def test_offline_login_probes_a_backed_off_realm_at_once(offline_helper, stack_for, users, kdc):
    """With the probe backed off far into the future, a login while offline
    probes the realm at once: the realm that came back is online for the
    next login, long before the backed-off timer would have fired."""
    helper = offline_helper(offline={"offline_probe": "300ms", "offline_probe_max": "1h"})
    stack = stack_for(helper)
    user = users()
    online_login(helper, stack, user)

    kdc.stop_kdc()
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r  # offline, from the cache
    # let the backoff grow: probes at 0.3, 0.9, 2.1, 4.5 s, the next at 9.3 s
    assert wait_until(lambda: helper.status_json().get("next_probe_seconds", 0) >= 4, WAIT, 0.2), \
        helper.status_json()
    kdc.start_kdc()
    # logins probe at most once per offline_probe: be past the last timer probe
    time.sleep(0.5)
    status = helper.status_json()
    assert status["realm_state"] == "offline" and status["next_probe_seconds"] >= 3, status

    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r  # served offline; it probed
    assert wait_until(lambda: helper.realm_state() == "online", 2.5, 0.05), helper.status_json()
    r = stack.run(user.name, *SESSION, answers=[user.password])
    assert r.code("authenticate") == "PAM_SUCCESS" and "KRB5CCNAME" in r.env, r
    assert not any("Offline login" in t for _, t in r.user_messages), r


def test_offline_realm_does_not_wait_without_cache(offline_helper, stack_for, users, kdc):
    """cache_credentials off: AUTHINFO_UNAVAIL; once the realm is known to be
    offline, logins go straight there without asking a KDC again."""
    helper = offline_helper(offline={"cache_credentials": "false",
                                     "offline_probe": "1h", "offline_probe_max": "1h"})
    stack = stack_for(helper)
    user = users()
    kdc.stop_kdc()
    for _ in range(2):
        r = stack.run(user.name, "authenticate", answers=[user.password])
        assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r
        assert any("cannot be reached" in t for _, t in r.user_messages), r
    log = helper.log_text()
    assert re.search(rf"authentication of {user.name} .*realm unreachable: no KDC answered",
                     log), log
    assert re.search(rf"authentication of {user.name} .*realm unreachable: realm offline",
                     log), log
    assert helper.realm_state() == "offline"
    assert helper.cache_files() == []


def test_offline_credential_deleted_when_the_kdc_disables_the_user(offline_helper, stack_for,
                                                                  users, kdc):
    helper = offline_helper()
    stack = stack_for(helper)
    user, gone = users(), users()
    online_login(helper, stack, user)
    online_login(helper, stack, gone)
    assert len(helper.cache_files()) == 2

    kdc.kadmin(f"modprinc -allow_tix {user.name}")
    r = stack.run(user.name, "authenticate", answers=[user.password])
    assert r.code("authenticate") == "PAM_AUTH_ERR", r
    helper.wait_log(rf"cached credential of {user.name} deleted: the KDC says the principal "
                    r"is disabled")
    kdc.kadmin(f"delprinc -force {gone.name}")
    r = stack.run(gone.name, "authenticate", answers=[gone.password])
    assert r.code("authenticate") == "PAM_USER_UNKNOWN", r
    helper.wait_log(rf"cached credential of {gone.name} deleted: the KDC does not know")
    assert helper.cache_files() == []

    kdc.stop_kdc()
    for u in (user, gone):
        r = stack.run(u.name, "authenticate", answers=[u.password])
        assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r


def test_offline_corrupt_file_moved_aside(offline_helper, stack_for, users, kdc):
    helper = offline_helper()
    stack = stack_for(helper)
    user, other = users(), users()
    online_login(helper, stack, user)
    online_login(helper, stack, other)
    helper.stop()
    names = helper.cache_files()
    assert len(names) == 2
    victim = os.path.join(helper.cache_dir, names[0])
    with open(victim, "r+b") as f:
        data = f.read()
        f.seek(0)
        f.write(data[:-1] + bytes([data[-1] ^ 1]))  # the checksum no longer matches
    damaged, intact = (user, other) if Frame(data[32:]).get(1) == user.name.encode() \
        else (other, user)
    leftover = os.path.join(helper.cache_dir, "." + names[1] + ".AbCdEf")
    with open(leftover, "w") as f:
        f.write("half a write")

    helper.start()
    helper.wait_log(re.escape(names[0]) + r" \(cached credential\) is corrupt: .*; moved aside to "
                    + re.escape(names[0]) + r"\.corrupt-")
    helper.wait_log(r"removed \." + re.escape(names[1]))
    assert not os.path.exists(victim) and not os.path.exists(leftover)
    assert helper.status_json()["offline_cached_credentials"] == 1

    kdc.stop_kdc()
    r = stack.run(intact.name, "authenticate", answers=[intact.password])
    assert r.code("authenticate") == "PAM_SUCCESS", r
    r = stack.run(damaged.name, "authenticate", answers=[damaged.password])
    assert r.code("authenticate") == "PAM_AUTHINFO_UNAVAIL", r


def test_offline_state_survives_kill_9_during_logins(offline_helper, stack_for, users, kdc):
    """kill -9 of the helper, again and again, while logins (and so cache
    writes) run: every restart reads every file without moving one aside,
    and the cached logins work offline at the end."""
    helper = offline_helper()
    stack = stack_for(helper)
    people = [users() for _ in range(3)]
    for u in people:
        online_login(helper, stack, u)
    stop = threading.Event()
    results = []

    def keep_logging_in():
        i = 0
        while not stop.is_set():
            u = people[i % len(people)]
            i += 1
            try:
                results.append(stack.run(u.name, "authenticate", answers=[u.password],
                                         timeout=30).code("authenticate"))
            except Exception as e:  # pam_driver itself failed: the test fails below
                results.append(repr(e))

    workers = [threading.Thread(target=keep_logging_in) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        for round_ in range(6):
            before = len(re.findall(r"cached credential of \S+ refreshed", helper.log_text()))
            # kill it once it is writing again (a refresh done, more under way)
            wait_until(lambda: len(re.findall(r"cached credential of \S+ refreshed",
                                              helper.log_text())) > before, WAIT, 0.02)
            time.sleep(0.05 * round_)  # vary the point of the kill
            terminate(helper.proc, signal.SIGKILL, 5.0)
            helper.start()
            assert "moved aside" not in helper.log_text(), helper.log_tail(60)
    finally:
        stop.set()
        for w in workers:
            w.join(60)
    odd = [r for r in results if r not in ("PAM_SUCCESS", "PAM_AUTHINFO_UNAVAIL",
                                           "PAM_AUTH_ERR", "PAM_SYSTEM_ERR")]
    assert not odd, (odd, results)
    assert results.count("PAM_SUCCESS") > 0, results

    helper.stop()
    helper.start()
    log = helper.log_text()
    assert "moved aside" not in log and "corrupt" not in log, helper.log_tail(60)
    assert not [n for n in helper.cache_files() if not re.fullmatch(r"u-[0-9a-f]{64}", n)], \
        helper.cache_files()
    assert helper.status_json()["offline_cached_credentials"] == len(people)
    kdc.stop_kdc()
    for u in people:
        r = stack.run(u.name, "authenticate", answers=[u.password])
        assert r.code("authenticate") == "PAM_SUCCESS", (u.name, r)
