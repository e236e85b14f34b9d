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
