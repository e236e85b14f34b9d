# helper/offline/local.mk - realm state (online/offline) and cached credentials.
sectxd_SOURCES += \
	helper/offline/offline.h \
	helper/offline/offline_int.h \
	helper/offline/realm_state.c \
	helper/offline/offline_cache.c \
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
