# helper/contexts.mk - build rules of one part; appends to the variables of Makefile.am.

# The security-context library (common/gss_ctx.c): GSS-API as a step
# function.  Helper side only (talloc, libgssapi_krb5); never in the PAM or
# NSS modules.  Sample programs and tools link it too.
noinst_LTLIBRARIES += libsectx_gss.la
libsectx_gss_la_SOURCES = common/gss_ctx.c common/gss_ctx.h
libsectx_gss_la_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(GSSAPI_CFLAGS)
libsectx_gss_la_LIBADD = libsectx_base.la $(GSSAPI_LIBS) $(TALLOC_LIBS)

sectxd_LDADD += libsectx_gss.la $(GSSAPI_LIBS)
sectxd_CFLAGS += $(GSSAPI_CFLAGS)

# Security-context operations of sectxd (pam.sock).
sectxd_SOURCES += helper/ctx_ops.c helper/ccache_fd.c helper/ccache_fd.h

EXTRA_DIST += tests/integration/test_contexts.py

check_PROGRAMS += tests/unit/test_gss_ctx
tests_unit_test_gss_ctx_SOURCES = tests/unit/test_gss_ctx.c
tests_unit_test_gss_ctx_CFLAGS = $(UNIT_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_gss_ctx_LDADD = libsectx_gss.la libsectx_base.la $(GSSAPI_LIBS) $(KRB5_LIBS) $(UNIT_LIBS)

# Both ends of a context in one process (NTLM needs no KDC): a tool of
# test_contexts.py, built as a check script (every check_PROGRAM is a test).
EXTRA_PROGRAMS += tests/integration/gss_driver
check_SCRIPTS += tests/integration/gss_driver$(EXEEXT)
tests_integration_gss_driver_SOURCES = tests/integration/gss_driver.c
tests_integration_gss_driver_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(GSSAPI_CFLAGS)
tests_integration_gss_driver_LDADD = libsectx_gss.la libsectx_base.la $(GSSAPI_LIBS) $(TALLOC_LIBS)
CLEANFILES += tests/integration/gss_driver$(EXEEXT)

# What a passed ccache descriptor must be, and that only its TGT is kept.
check_PROGRAMS += tests/unit/test_ccache_fd
tests_unit_test_ccache_fd_SOURCES = tests/unit/test_ccache_fd.c helper/ccache_fd.c helper/ccache_fd.h
tests_unit_test_ccache_fd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_ccache_fd_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_ccache_fd_LDADD = libsectx_helper.la libsectx_base.la $(KRB5_LIBS) $(UNIT_LIBS)

# bench/context_bench.py: a figure, not a test (see bench/README.md)
EXTRA_DIST += bench/context_bench.py
