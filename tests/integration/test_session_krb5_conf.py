"""A login session whose host keeps its Kerberos configuration readable by
root only (issue 13, 5): KRB5_CONFIG (or /etc/krb5.conf) at mode 0600, as
some sites do and pam_krb5 copes with.  sectxd reads it as root; the cache
writer's job process, which runs as the logging-in user, must not need it.
Real libpam (pam_wrapper), real sectxd, real realm."""

import os
import shutil
import stat

from pam_fixtures import *  # noqa: F401,F403  (fixtures)
from pam_harness import PamStack, ccache_path, klist_as
from sectx_harness import make_public_tmpdir, run


def test_session_opens_when_krb5_conf_is_readable_by_root_only(pam_bins, pam_helper_factory,
                                                               users, realm):
    private = make_public_tmpdir("sectx-conf-")
    stack = None
    try:
        conf = os.path.join(private, "krb5.conf")
        shutil.copyfile(realm.krb5_conf, conf)
        os.chmod(conf, 0o600)
        helper = pam_helper_factory(start=False)
        helper.env["KRB5_CONFIG"] = conf  # sectxd and its writer see only this one
        helper.start()
        stack = PamStack(pam_bins.module, pam_bins.driver, helper.socket_dir)
        user = users()
        assert run(["cat", conf], uid=user.name).returncode != 0, "the user can read it"

        # A session left open: its cache is there to look at.
        r = stack.run(user.name, "authenticate", "open_session", "env", answers=[user.password])

        print(f"authenticate + open_session with a root-only krb5.conf: {r.elapsed:.2f} s")
        assert r.code("authenticate") == "PAM_SUCCESS", r
        assert r.code("open_session") == "PAM_SUCCESS", (r, helper.log_tail())
        path = ccache_path(r.envs[0]["KRB5CCNAME"])
        st = os.lstat(path)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
        listing = klist_as(user, r.envs[0]["KRB5CCNAME"], realm)  # with a readable config
        assert listing.returncode == 0, listing.stderr
        assert f"Default principal: {user.principal}" in listing.stdout

        # A whole session: its cache is destroyed at close.
        r = stack.run(user.name, "authenticate", "open_session", "env", "close_session", "env",
                      answers=[user.password])

        assert r.code("open_session") == "PAM_SUCCESS", (r, helper.log_tail())
        assert r.code("close_session") == "PAM_SUCCESS", (r, helper.log_tail())
        assert not os.path.lexists(ccache_path(r.envs[0]["KRB5CCNAME"])), "left at close"
        assert "KRB5CCNAME" not in r.envs[1], r
    finally:
        if stack is not None:
            stack.close()
        shutil.rmtree(private, ignore_errors=True)
