# helper/login/local.mk - the Kerberos engine: KDC I/O, AS exchange and
# validation, password change, passed ccache descriptors.
sectxd_SOURCES += \
	helper/login/login.h \
	helper/login/context.c \
	helper/login/kdc_io.c \
	helper/login/login.c \
	helper/login/passwd.c \
	helper/login/ccache_fd.c helper/login/ccache_fd.h

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
