# pam/local.mk - pam_sectx.so and its tests (included by Makefile.am).
#
# The module links libc, libpam and the libc-only libsectx_base, nothing
# else, and exports only its pam_sm_* entry points (pam/pam_sectx.map).

PAM_SECTX_FILES = \
	pam/internal.h \
	pam/options.c \
	pam/authtok.c \
	pam/handle.c \
	pam/helper_call.c \
	pam/auth.c \
	pam/tickets.c \
	pam/account.c \
	pam/password.c \
	pam/session.c

pammod_LTLIBRARIES = pam_sectx.la
pam_sectx_la_SOURCES = pam/pam_sectx.c $(PAM_SECTX_FILES)
pam_sectx_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -no-undefined \
	-Wl,--version-script=$(srcdir)/pam/pam_sectx.map
pam_sectx_la_LIBADD = libsectx_base.la $(PAM_LIBS)
EXTRA_pam_sectx_la_DEPENDENCIES = pam/pam_sectx.map
EXTRA_DIST += pam/pam_sectx.map

# Unit tests link the module's sources directly (not the .so), and wrap
# pam_syslog so a test can see what the module logs.
PAM_WRAP_SYSLOG = -Wl,--wrap=pam_syslog

check_PROGRAMS += tests/unit/test_pam_options
tests_unit_test_pam_options_SOURCES = tests/unit/test_pam_options.c $(PAM_SECTX_FILES)
tests_unit_test_pam_options_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pam
tests_unit_test_pam_options_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pam_options_LDFLAGS = $(AM_LDFLAGS) $(PAM_WRAP_SYSLOG)
tests_unit_test_pam_options_LDADD = libsectx_base.la $(PAM_LIBS) $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_pam_helper_call
tests_unit_test_pam_helper_call_SOURCES = tests/unit/test_pam_helper_call.c $(PAM_SECTX_FILES)
tests_unit_test_pam_helper_call_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pam
tests_unit_test_pam_helper_call_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pam_helper_call_LDFLAGS = $(AM_LDFLAGS) $(PAM_WRAP_SYSLOG)
tests_unit_test_pam_helper_call_LDADD = libsectx_base.la $(PAM_LIBS) $(UNIT_LIBS)
