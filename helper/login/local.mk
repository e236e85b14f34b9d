# helper/login/local.mk - the Kerberos engine: KDC I/O, AS exchange and
# validation, password change, passed ccache descriptors.
sectxd_SOURCES += \
	helper/login/login.h helper/login/login_int.h \
	helper/login/context.c \
	helper/login/kdc_io.c helper/login/kdc_frame.c helper/login/kdc_cache.c \
	helper/login/login.c helper/login/tgs.c helper/login/keytab.c \
	helper/login/passwd.c helper/login/passwd_wire.c \
	helper/login/ccache_fd.c helper/login/ccache_fd.h \
	helper/login/s2k_int.h helper/login/s2k.c helper/login/s2k_interpose.c

# The TCP length prefix of KDC messages: encoding, and a reply read whole,
# in pieces, refused when its length is zero or over SECTX_KDC_REPLY_MAX.
check_PROGRAMS += tests/unit/test_kdc_io
tests_unit_test_kdc_io_SOURCES = tests/unit/test_kdc_io.c helper/login/kdc_frame.c
tests_unit_test_kdc_io_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_kdc_io_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_kdc_io_LDADD = libsectx_base.la $(UNIT_LIBS)

# The kpasswd worker's answer: what the encoder writes is decoded; truncated,
# oversized and malformed answers are refused.
check_PROGRAMS += tests/unit/test_login_wire
tests_unit_test_login_wire_SOURCES = tests/unit/test_login_wire.c helper/login/passwd_wire.c
tests_unit_test_login_wire_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_login_wire_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_login_wire_LDADD = libsectx_base.la $(UNIT_LIBS)

# What a passed ccache descriptor must be, and that only its TGT is kept.
check_PROGRAMS += tests/unit/test_ccache_fd
tests_unit_test_ccache_fd_SOURCES = tests/unit/test_ccache_fd.c helper/login/ccache_fd.c
tests_unit_test_ccache_fd_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_ccache_fd_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_ccache_fd_LDADD = libsectx_helper.la libsectx_base.la $(KRB5_LIBS) $(UNIT_LIBS)
sectxd_SOURCES += helper/login/throttle.c

# The failed-login throttle: delays, attempts in flight, waiters, its bound.
check_PROGRAMS += tests/unit/test_throttle
tests_unit_test_throttle_SOURCES = tests/unit/test_throttle.c helper/login/throttle.c
tests_unit_test_throttle_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_throttle_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_throttle_LDFLAGS = -Wl,--wrap=sectx_now_ms
tests_unit_test_throttle_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) $(UNIT_LIBS)

# sectx's string-to-key: the RFC 3962 and RFC 8009 vectors, PBKDF2 against
# OpenSSL's, and a differential test against libk5crypto's (not interposed
# here: the program does not link s2k_interpose.c).
check_PROGRAMS += tests/unit/test_s2k
tests_unit_test_s2k_SOURCES = tests/unit/test_s2k.c helper/login/s2k.c
tests_unit_test_s2k_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_s2k_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_s2k_LDADD = $(KRB5_LIBS) $(CRYPTO_LIBS) $(UNIT_LIBS)

# The interposition: linked like sectxd (SECTX_S2K_EXPORT), libkrb5's own
# call inside krb5_init_creds_step lands in s2k_interpose.c with the salt and
# s2kparams of the KDC's ETYPE-INFO2; others are forwarded to libk5crypto.
check_PROGRAMS += tests/unit/test_s2k_interpose
tests_unit_test_s2k_interpose_SOURCES = tests/unit/test_s2k_interpose.c helper/login/s2k.c \
	helper/login/s2k_interpose.c
tests_unit_test_s2k_interpose_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_s2k_interpose_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_s2k_interpose_LDFLAGS = $(AM_LDFLAGS) $(SECTX_S2K_EXPORT)
tests_unit_test_s2k_interpose_LDADD = libsectx_base.la $(KRB5_LIBS) $(CRYPTO_LIBS) $(UNIT_LIBS) \
	-ldl -lpthread

# A realm's KDC addresses: the profile read once per realm (flush, TTL),
# numeric addresses and names (getaddrinfo_a, polled on a tevent loop).
check_PROGRAMS += tests/unit/test_kdc_cache
tests_unit_test_kdc_cache_SOURCES = tests/unit/test_kdc_cache.c helper/login/kdc_cache.c \
	helper/core/dns_srv.c
tests_unit_test_kdc_cache_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_kdc_cache_CFLAGS = $(UNIT_CFLAGS) $(KRB5_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_kdc_cache_LDFLAGS = -Wl,--wrap=sectx_now_ms
tests_unit_test_kdc_cache_LDADD = libsectx_base.la $(KRB5_LIBS) $(TEVENT_LIBS) $(UNIT_LIBS) -lresolv -lpthread
