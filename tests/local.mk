# tests/local.mk - the integration harness, its tools, and the fuzz harnesses.
# Unit tests are built by the local.mk of the folder whose code they test.

# --- tests/integration: real sectxd, real MIT realm (pytest) -----------------
dist_noinst_SCRIPTS += tests/integration/run-tests.sh
# The harness writes its .log/.trs beside the script's name in the build
# tree, which must exist in a VPATH build (make distcheck): automake's own
# dirstamp rule for the programs built there makes it.
check_DATA = tests/integration/$(am__dirstamp)

# The integration tests' PAM application: one scripted transaction through
# real libpam (under pam_wrapper), printing results, messages and the PAM
# environment.  A tool of run-tests.sh, not a test by itself: check_PROGRAMS
# are all run as tests, so it is built for `make check` as a check script.
EXTRA_PROGRAMS += tests/integration/pam_driver
check_SCRIPTS += tests/integration/pam_driver$(EXEEXT)
tests_integration_pam_driver_SOURCES = tests/integration/pam_driver.c
tests_integration_pam_driver_LDADD = $(PAM_LIBS)
CLEANFILES += tests/integration/pam_driver$(EXEEXT)

# Both ends of a context in one process (NTLM needs no KDC): a tool of
# test_contexts.py, built as a check script likewise.
EXTRA_PROGRAMS += tests/integration/gss_driver
check_SCRIPTS += tests/integration/gss_driver$(EXEEXT)
tests_integration_gss_driver_SOURCES = tests/integration/gss_driver.c
tests_integration_gss_driver_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(GSSAPI_CFLAGS)
tests_integration_gss_driver_LDADD = libsectx_gss.la libsectx_base.la $(GSSAPI_LIBS) $(TALLOC_LIBS)
CLEANFILES += tests/integration/gss_driver$(EXEEXT)

# Listed one by one: automake copies a listed directory from the build tree
# when it exists there, objects and all.  distcheck-hook checks the list.
EXTRA_DIST += tests/unit/valgrind.supp
EXTRA_DIST += \
	tests/integration/conftest.py tests/integration/realm.py \
	tests/integration/sectx_harness.py tests/integration/pam_harness.py \
	tests/integration/pam_fixtures.py tests/integration/sshd_harness.py \
	tests/integration/nss_support.py tests/integration/nss_probe.py \
	tests/integration/test_ccache_writer.py tests/integration/test_check_config.py \
	tests/integration/test_contexts.py tests/integration/test_daemon.py \
	tests/integration/test_failover.py tests/integration/test_login_engine.py \
	tests/integration/test_kdc_srv.py tests/integration/test_directory_enum.py \
	tests/integration/test_hostile_clients.py tests/integration/test_hostile_logins.py \
	tests/integration/test_nss_auto.py tests/integration/test_nss_static.py \
	tests/integration/test_offline.py tests/integration/test_offline_foreign_realm.py \
	tests/integration/test_pam_concurrency.py tests/integration/test_pam_gss.py \
	tests/integration/test_pam_login.py tests/integration/test_pam_password.py \
	tests/integration/test_pam_session.py tests/integration/test_realm.py \
	tests/integration/test_renewal.py tests/integration/test_robustness.py \
	tests/integration/test_privileges.py tests/integration/test_login_valgrind.py \
	tests/integration/test_samples.py tests/integration/test_session_krb5_conf.py \
	tests/integration/test_slow_nss.py tests/integration/test_sshd.py \
	tests/integration/test_s2k.py tests/integration/test_s2k_heimdal.py \
	tests/integration/slapd_harness.py tests/integration/directory_support.py \
	tests/integration/test_directory.py tests/integration/test_directory_login.py \
	tests/integration/test_sectxctl.py tests/integration/test_doctor.py
AM_TESTS_ENVIRONMENT = \
	SECTX_BUILDDIR='$(abs_top_builddir)'; export SECTX_BUILDDIR; \
	SECTX_SRCDIR='$(abs_top_srcdir)'; export SECTX_SRCDIR;

# --- tests/fuzz: libFuzzer harnesses (clang), run by scripts/test -----------
EXTRA_DIST += tests/fuzz
