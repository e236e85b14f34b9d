# helper/offline/local.mk - realm state (online/offline) and cached credentials.
sectxd_SOURCES += \
	helper/offline/offline.h \
	helper/offline/offline_int.h \
	helper/offline/realm_state.c \
	helper/offline/offline_cache.c \
	helper/offline/offline_query.c \
	helper/offline/kdf.c \
	helper/offline/cache_file.c

# The cache with its KDF on real threads and its files in a temp directory.
check_PROGRAMS += tests/unit/test_offline_cache
tests_unit_test_offline_cache_SOURCES = tests/unit/test_offline_cache.c \
	helper/offline/offline_cache.c helper/offline/kdf.c helper/offline/cache_file.c \
	helper/core/state_file.c
tests_unit_test_offline_cache_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_offline_cache_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS) \
	$(CRYPTO_CFLAGS) -pthread
tests_unit_test_offline_cache_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(UNIT_LIBS) $(CRYPTO_LIBS) -lpthread

# The realm's online/offline transitions and probe backoff on a real tevent
# loop; the KDC exchange (login/kdc_io.c) is a double in the test file, and
# the loop's timers are wrapped only to see the interval each probe is armed at.
check_PROGRAMS += tests/unit/test_realm_state
tests_unit_test_realm_state_SOURCES = tests/unit/test_realm_state.c \
	helper/offline/realm_state.c
tests_unit_test_realm_state_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_realm_state_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_realm_state_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=_tevent_add_timer
tests_unit_test_realm_state_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(KRB5_LIBS) $(UNIT_LIBS)
