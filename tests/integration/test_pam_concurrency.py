"""Concurrent logins through the real PAM stack: the helper serves many
logins at once (its KDC I/O runs on the event loop), and every one of them
gets its own handle and its own credential cache."""

import concurrent.futures
import os

from pam_fixtures import *  # noqa: F401,F403  (fixtures: pam_stack, users, ...)

PARALLEL = 16


def test_16_concurrent_logins_all_succeed(pam_stack, users):
    people = [users() for _ in range(4)]
    stack = pam_stack()

    def login(i):
        user = people[i % len(people)]
        proc, _ = stack.pamtester(user.name, "authenticate", "acct_mgmt", "open_session",
                                  password=user.password, timeout=60)
        return user, proc

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(login, range(PARALLEL)))

    failed = [(u.name, p.stdout + p.stderr) for u, p in results if p.returncode != 0]
    assert not failed, failed
    # pamtester exits without close_session: every login left its own cache
    caches = [c for u in people for c in u.ccache_files()]
    assert len(caches) == PARALLEL, caches
    for user in people:
        for path in user.ccache_files():
            st = os.stat(path)
            assert (st.st_uid, st.st_mode & 0o777) == (user.uid, 0o600)
