# helper/offline.mk - build rules of one part; appends to the variables of Makefile.am.
sectxd_SOURCES += \
	helper/realm_state.c helper/realm_state.h \
	helper/offline_cache.c helper/offline_cache.h
# the KDF of cached credentials runs on threads of its own
sectxd_CFLAGS += -pthread
sectxd_LDADD += -lpthread
EXTRA_DIST += \
	tests/integration/test_offline.py \
	tests/integration/test_failover.py \
	tests/integration/test_offline_foreign_realm.py \
	bench/offline_bench.py

check_PROGRAMS += tests/unit/test_offline_cache
tests_unit_test_offline_cache_SOURCES = tests/unit/test_offline_cache.c helper/offline_cache.c \
	helper/state_file.c
tests_unit_test_offline_cache_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_offline_cache_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS) \
	$(CRYPTO_CFLAGS) -pthread
tests_unit_test_offline_cache_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(UNIT_LIBS) $(CRYPTO_LIBS) -lpthread
