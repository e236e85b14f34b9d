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
	bench/offline_bench.py
