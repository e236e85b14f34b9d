# helper/sectxctl/local.mk - the admin CLI (talks to sectxd over pam.sock;
# auth-test runs a PAM stack, doctor does real Kerberos exchanges).
sbin_PROGRAMS += sectxctl
sectxctl_SOURCES = \
	helper/sectxctl/sectxctl.h helper/sectxctl/main.c helper/sectxctl/client.c \
	helper/sectxctl/output.h helper/sectxctl/output.c \
	helper/sectxctl/cmd_daemon.c helper/sectxctl/cmd_ident.c \
	helper/sectxctl/auth_test.c \
	helper/sectxctl/doctor.h helper/sectxctl/doctor.c helper/sectxctl/doctor_pam.c \
	helper/sectxctl/doctor_krb5.c
sectxctl_CPPFLAGS = $(HELPER_CPPFLAGS)
sectxctl_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(KRB5_CFLAGS)
sectxctl_LDADD = libsectx_helper.la libsectx_base.la $(TALLOC_LIBS) $(KRB5_LIBS) $(PAM_LIBS)

# The JSON and text writer.
check_PROGRAMS += tests/unit/test_sectxctl_output
tests_unit_test_sectxctl_output_SOURCES = tests/unit/test_sectxctl_output.c \
	helper/sectxctl/output.c
tests_unit_test_sectxctl_output_CPPFLAGS = $(HELPER_CPPFLAGS) -I$(srcdir)/helper/sectxctl
tests_unit_test_sectxctl_output_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sectxctl_output_LDADD = $(UNIT_LIBS)

# The options every command shares.
check_PROGRAMS += tests/unit/test_sectxctl_args
tests_unit_test_sectxctl_args_SOURCES = tests/unit/test_sectxctl_args.c \
	helper/sectxctl/client.c
tests_unit_test_sectxctl_args_CPPFLAGS = $(HELPER_CPPFLAGS) -I$(srcdir)/helper/sectxctl
tests_unit_test_sectxctl_args_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sectxctl_args_LDADD = libsectx_base.la $(UNIT_LIBS)
