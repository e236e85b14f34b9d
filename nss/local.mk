# nss/local.mk - libnss_sectx.so.2, the identity store in sectxd, and their tests
# (included by Makefile.am).

# --- the cache file format, shared by the module (reader) and sectxd (writer)
NSS_CACHE_SOURCES = common/nss_cache.c common/nss_cache.h
NSS_CACHE_WRITER_SOURCES = helper/nss_cache_writer.c helper/nss_cache_writer.h

# --- unit tests ---------------------------------------------------------------
check_PROGRAMS += tests/unit/test_nss_cache
tests_unit_test_nss_cache_SOURCES = tests/unit/test_nss_cache.c $(NSS_CACHE_SOURCES) \
	$(NSS_CACHE_WRITER_SOURCES)
tests_unit_test_nss_cache_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_nss_cache_CFLAGS = $(UNIT_CFLAGS) -pthread
tests_unit_test_nss_cache_LDADD = $(UNIT_LIBS) -lpthread

# --- libnss_sectx.so.2: libc only (the codec, the client, the cache reader) --
# Installed beside libc's own NSS modules; -version-info 2:0:0 makes the
# soname libnss_sectx.so.2 that glibc dlopens for "sectx" in nsswitch.conf.
nsslibdir = $(libdir)
nsslib_LTLIBRARIES = nss/libnss_sectx.la
nss_libnss_sectx_la_SOURCES = \
	nss/nss_sectx.h nss/cache_map.c nss/conn.c nss/passwd.c nss/group.c \
	common/proto.c common/proto.h common/client.c common/client.h $(NSS_CACHE_SOURCES)
nss_libnss_sectx_la_CFLAGS = $(AM_CFLAGS) -pthread
nss_libnss_sectx_la_LDFLAGS = $(AM_LDFLAGS) -module -shared -version-info 2:0:0 \
	-no-undefined -Wl,--version-script=$(srcdir)/nss/exports.map
EXTRA_nss_libnss_sectx_la_DEPENDENCIES = nss/exports.map
EXTRA_DIST += nss/exports.map

# --- sectxd: the identity store, existence checks, NSS ops, cache writer ------
IDENTITY_SOURCES = \
	helper/identity.h helper/identity_names.c helper/identity_store.c \
	$(NSS_CACHE_SOURCES) $(NSS_CACHE_WRITER_SOURCES)
sectxd_SOURCES += $(IDENTITY_SOURCES) \
	helper/identity_service.h helper/identity.c \
	helper/identity_s4u.h helper/identity_s4u.c \
	helper/nss_ops.c

check_PROGRAMS += tests/unit/test_identity
tests_unit_test_identity_SOURCES = tests/unit/test_identity.c $(IDENTITY_SOURCES)
tests_unit_test_identity_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_identity_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_identity_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

# --- bench/: figures, not tests (bench/nss_bench.py runs them; see its header) -
# Built with the tree so they do not rot; never installed, never run by check.
noinst_PROGRAMS = bench/nss_bench
bench_nss_bench_SOURCES = bench/nss_bench.c
bench_nss_bench_LDADD = -ldl
# The floor: a module answering from a constant.  -rpath makes libtool build a
# shared object for a library that is never installed.
noinst_LTLIBRARIES += bench/libnss_sectxconst.la
bench_libnss_sectxconst_la_SOURCES = bench/nss_constant.c
bench_libnss_sectxconst_la_LDFLAGS = $(AM_LDFLAGS) -module -shared -version-info 2:0:0 \
	-no-undefined -rpath $(abs_builddir)/bench
dist_noinst_SCRIPTS += bench/nss_bench.py

# --- tests/integration: the NSS tests (run by run-tests.sh with the others) ---
EXTRA_DIST += \
	tests/integration/nss_support.py tests/integration/nss_probe.py \
	tests/integration/test_nss_static.py tests/integration/test_nss_auto.py
