# helper/ops/local.mk - the operation groups: one file per group and per PAM group.
sectxd_SOURCES += \
	helper/ops/ops.h \
	helper/ops/admin.c helper/ops/admin_query.c helper/ops/admin_cache.c \
	helper/ops/nss.c \
	helper/ops/ctx_int.h helper/ops/ctx.c helper/ops/ctx_policy.c helper/ops/ctx_state.c \
	helper/ops/pam_int.h helper/ops/pam.c helper/ops/pam_common.c \
	helper/ops/pam_auth.c helper/ops/pam_account.c helper/ops/pam_password.c \
	helper/ops/pam_session.c \
	helper/ops/pam_tickets.c

# The PAM operations' argument checks and authorisation, with the account
# resolver under them; the server, the stores and passwd are doubled in the
# test (getpwnam_r / getpwuid_r through --wrap).
check_PROGRAMS += tests/unit/test_pam_ops
tests_unit_test_pam_ops_SOURCES = tests/unit/test_pam_ops.c helper/ops/pam_common.c \
	helper/identity/account.c helper/identity/account_lookup.c helper/identity/account_threads.c
tests_unit_test_pam_ops_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_pam_ops_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_pam_ops_LDFLAGS = -Wl,--wrap=getpwnam_r -Wl,--wrap=getpwuid_r
tests_unit_test_pam_ops_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(KRB5_LIBS) $(UNIT_LIBS)

# The one log line per PAM call (pam_common.c); the list of the other
# integration tests is in tests/local.mk.
EXTRA_DIST += tests/integration/test_pam_log.py
