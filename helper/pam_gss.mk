# helper/pam_gss.mk - build rules of one part; appends to the variables of Makefile.am.
#
# Authentication by existing tickets (issue 5, item 5): the helper operation
# SECTX_OP_PAM_GSS_AUTH, and the libc-only open-as-another-uid the PAM module
# (opening the user's ccache under sudo) and the helper (~/.k5login) share.
libsectx_base_la_SOURCES += common/open_as.c common/open_as.h
sectxd_SOURCES += helper/pam_gss_ops.c helper/pam_ops.h
EXTRA_DIST += tests/integration/test_pam_gss.py

check_PROGRAMS += tests/unit/test_open_as
tests_unit_test_open_as_SOURCES = tests/unit/test_open_as.c
tests_unit_test_open_as_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_open_as_LDADD = libsectx_base.la $(UNIT_LIBS)
