# nss/local.mk - libnss_sectx.so.2 (included by Makefile.am).

# libc only: the module's own files and libsectx_base (the codec, the client,
# the cache reader).  Installed beside libc's own NSS modules;
# -version-info 2:0:0 makes the soname libnss_sectx.so.2 that glibc dlopens
# for "sectx" in nsswitch.conf.
nsslibdir = $(libdir)
nsslib_LTLIBRARIES = nss/libnss_sectx.la
nss_libnss_sectx_la_SOURCES = \
	nss/nss_sectx.h nss/cache_map.c nss/conn.c nss/passwd.c nss/group.c
nss_libnss_sectx_la_CFLAGS = $(AM_CFLAGS) -pthread
nss_libnss_sectx_la_LDFLAGS = $(AM_LDFLAGS) -module -shared -version-info 2:0:0 \
	-no-undefined -Wl,--version-script=$(srcdir)/nss/exports.map
nss_libnss_sectx_la_LIBADD = libsectx_base.la
EXTRA_nss_libnss_sectx_la_DEPENDENCIES = nss/exports.map
EXTRA_DIST += nss/exports.map

# The module's view of the cache (nss/cache_map.c) against the helper's
# writer and sealer, with a fake cache.sock.  The test's own uid plays the
# root helper (SECTX_EXPECTED_SERVER_UID), so client.c is built in.
check_PROGRAMS += tests/unit/test_nss_map
tests_unit_test_nss_map_SOURCES = tests/unit/test_nss_map.c nss/cache_map.c nss/nss_sectx.h \
	common/client.c common/proto.c common/clock.c common/log.c common/nss_cache.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_file.c \
	helper/identity/nss_cache_pub.c \
	helper/identity/nss_cache_writer.h
tests_unit_test_nss_map_CPPFLAGS = $(HELPER_CPPFLAGS) -I$(top_srcdir)/nss \
	'-DSECTX_EXPECTED_SERVER_UID=geteuid()'
tests_unit_test_nss_map_CFLAGS = $(UNIT_CFLAGS) -pthread
tests_unit_test_nss_map_LDADD = $(UNIT_LIBS) -lpthread

# Its integration test (the list of the others is in tests/local.mk).
EXTRA_DIST += tests/integration/test_nss_resilience.py
