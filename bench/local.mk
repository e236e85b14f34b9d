# bench/local.mk - programs that print figures; never part of make check.
# Built with the tree so they do not rot; never installed (see bench/README.md).
noinst_PROGRAMS += bench/nss_bench
bench_nss_bench_SOURCES = bench/nss_bench.c
bench_nss_bench_LDADD = -ldl
# The floor: a module answering from a constant.  -rpath makes libtool build a
# shared object for a library that is never installed.
noinst_LTLIBRARIES += bench/libnss_sectxconst.la
bench_libnss_sectxconst_la_SOURCES = bench/nss_constant.c
bench_libnss_sectxconst_la_LDFLAGS = $(AM_LDFLAGS) -module -shared -version-info 2:0:0 \
	-no-undefined -rpath $(abs_builddir)/bench
dist_noinst_SCRIPTS += bench/nss_bench.py
EXTRA_DIST += bench/README.md bench/login_bench.py bench/context_bench.py bench/offline_bench.py \
	bench/directory_bench.py
# The string-to-key micro-benchmark (issue 14): sectx's s2k.c against
# libk5crypto's and OpenSSL's PBKDF2.
noinst_PROGRAMS += bench/s2k_bench
bench_s2k_bench_SOURCES = bench/s2k_bench.c helper/login/s2k.c
bench_s2k_bench_CPPFLAGS = $(HELPER_CPPFLAGS)
bench_s2k_bench_CFLAGS = $(AM_CFLAGS) $(KRB5_CFLAGS) $(CRYPTO_CFLAGS)
bench_s2k_bench_LDADD = $(KRB5_LIBS) $(CRYPTO_LIBS)
