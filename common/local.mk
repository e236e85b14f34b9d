# common/local.mk - the context library (included by Makefile.am).

# libsectx_base: libc only.  The PAM and NSS modules link this and nothing
# else of ours, so it must never grow a dependency beyond libc.  This list is
# the one place its files are named.
noinst_LTLIBRARIES += libsectx_base.la
libsectx_base_la_SOURCES = \
	common/proto.c common/proto.h \
	common/client.c common/client.h \
	common/clock.c common/clock.h \
	common/log.c common/log.h \
	common/open_as.c common/open_as.h \
	common/nss_cache.c common/nss_cache.h

# libsectx_helper: the helper-side half (talloc): config schema, atomic writer.
noinst_LTLIBRARIES += libsectx_helper.la
libsectx_helper_la_SOURCES = \
	common/config.c common/config.h common/config_int.h common/config_value.c \
	common/config_schema.c \
	common/atomic_file.c common/atomic_file.h
libsectx_helper_la_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS)
libsectx_helper_la_LIBADD = libsectx_base.la $(TALLOC_LIBS)

# libsectx_gss: the security-context library, GSS-API as a step function.
# Helper side only (talloc, libgssapi_krb5); never in the PAM or NSS modules.
# Sample programs and tools link it too.
noinst_LTLIBRARIES += libsectx_gss.la
libsectx_gss_la_SOURCES = common/gss_ctx.c common/gss_ctx.h common/gss_ctx_int.h common/gss_msg.c
libsectx_gss_la_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(GSSAPI_CFLAGS)
libsectx_gss_la_LIBADD = libsectx_base.la $(GSSAPI_LIBS) $(TALLOC_LIBS)

# --- unit tests (cmocka, one file per module) -----------------------------------
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TALLOC_CFLAGS)
UNIT_LIBS = $(CMOCKA_LIBS) $(TALLOC_LIBS)

check_PROGRAMS += tests/unit/test_proto
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proto_LDADD = libsectx_base.la $(UNIT_LIBS)

# The client is compiled again into its test with a different expected server
# uid: the only way to change it is at compile time, never from the environment.
check_PROGRAMS += tests/unit/test_client
tests_unit_test_client_SOURCES = tests/unit/test_client.c common/client.c common/proto.c \
	common/clock.c common/log.c
tests_unit_test_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_client_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_client_uid
tests_unit_test_client_uid_SOURCES = tests/unit/test_client_uid.c common/client.c \
	common/proto.c common/clock.c common/log.c
tests_unit_test_client_uid_CPPFLAGS = $(AM_CPPFLAGS) -DSECTX_EXPECTED_SERVER_UID=4242424
tests_unit_test_client_uid_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_client_uid_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = libsectx_base.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_atomic_file
tests_unit_test_atomic_file_SOURCES = tests/unit/test_atomic_file.c
tests_unit_test_atomic_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_atomic_file_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_open_as
tests_unit_test_open_as_SOURCES = tests/unit/test_open_as.c
tests_unit_test_open_as_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_open_as_LDADD = libsectx_base.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_gss_ctx
tests_unit_test_gss_ctx_SOURCES = tests/unit/test_gss_ctx.c
tests_unit_test_gss_ctx_CFLAGS = $(UNIT_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_gss_ctx_LDADD = libsectx_gss.la libsectx_base.la $(GSSAPI_LIBS) $(KRB5_LIBS) \
	$(UNIT_LIBS)

# The cache file format: the module's reader against the helper's writer.
check_PROGRAMS += tests/unit/test_nss_cache
tests_unit_test_nss_cache_SOURCES = tests/unit/test_nss_cache.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_writer.h \
	helper/identity/nss_cache_file.c
tests_unit_test_nss_cache_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_nss_cache_CFLAGS = $(UNIT_CFLAGS) -pthread
tests_unit_test_nss_cache_LDADD = libsectx_base.la $(UNIT_LIBS) -lpthread
