# helper/renewal.mk - build rules of one part; appends to the variables of Makefile.am.
#
# Durable state files (helper/state_file.c: versioned, checked, moved aside
# when corrupt) and session renewal (helper/renewal.c).

# state_file: used by the id map (identity_store.c) and by the session and
# offline-cache state, so it is in sectxd and in the identity unit test.
STATE_FILE_SOURCES = helper/state_file.c helper/state_file.h
sectxd_SOURCES += $(STATE_FILE_SOURCES)
tests_unit_test_identity_SOURCES += $(STATE_FILE_SOURCES)

check_PROGRAMS += tests/unit/test_state_file
tests_unit_test_state_file_SOURCES = tests/unit/test_state_file.c $(STATE_FILE_SOURCES)
tests_unit_test_state_file_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_state_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_state_file_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

# Session renewal: the registry, the renewal worker, the sessions file.
sectxd_SOURCES += helper/renewal.c helper/renewal.h

EXTRA_DIST += tests/integration/test_renewal.py

# The killable worker process of the blocking libkrb5 calls with no step API:
# renewal.c (krb5_get_renewed_creds) and krb5_passwd.c (kpasswd) use it.
sectxd_SOURCES += helper/worker.c helper/worker.h

check_PROGRAMS += tests/unit/test_worker
tests_unit_test_worker_SOURCES = tests/unit/test_worker.c helper/worker.c helper/worker.h
tests_unit_test_worker_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/helper
tests_unit_test_worker_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_worker_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) $(UNIT_LIBS)
