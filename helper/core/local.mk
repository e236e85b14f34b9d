# helper/core/local.mk - the daemon context, workers, state files.
sectxd_SOURCES += \
	helper/core/daemon.h helper/core/daemon.c \
	helper/core/worker.c helper/core/worker.h \
	helper/core/state_file.c helper/core/state_file.h \
	helper/core/log_ring.c helper/core/log_ring.h \
	helper/core/dns_srv.c helper/core/dns_srv.h

check_PROGRAMS += tests/unit/test_state_file
tests_unit_test_state_file_SOURCES = tests/unit/test_state_file.c helper/core/state_file.c
tests_unit_test_state_file_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_state_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_state_file_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

# The killable worker process of the blocking libkrb5 calls with no step API.
check_PROGRAMS += tests/unit/test_worker
tests_unit_test_worker_SOURCES = tests/unit/test_worker.c helper/core/worker.c
tests_unit_test_worker_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_worker_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_worker_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) $(UNIT_LIBS)

# The ring of sectxd's last log lines (LOG_TAIL, sectxctl auth-test).
check_PROGRAMS += tests/unit/test_log_ring
tests_unit_test_log_ring_SOURCES = tests/unit/test_log_ring.c helper/core/log_ring.c
tests_unit_test_log_ring_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_log_ring_CFLAGS = $(UNIT_CFLAGS) -pthread
tests_unit_test_log_ring_LDADD = libsectx_base.la $(UNIT_LIBS) -lpthread

# The order of DNS SRV records (RFC 2782).
check_PROGRAMS += tests/unit/test_dns_srv
tests_unit_test_dns_srv_SOURCES = tests/unit/test_dns_srv.c helper/core/dns_srv.c
tests_unit_test_dns_srv_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_dns_srv_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_dns_srv_LDADD = $(UNIT_LIBS) -lresolv
