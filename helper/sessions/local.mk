# helper/sessions/local.mk - login handles, renewal, the sessions state file.
SESSIONS_RENEWAL_SOURCES = \
	helper/sessions/sessions_int.h \
	helper/sessions/renewal.c \
	helper/sessions/renew_cycle.c \
	helper/sessions/renew_worker.c \
	helper/sessions/sessions_file.c
sectxd_SOURCES += \
	helper/sessions/sessions.h \
	helper/sessions/handles.c helper/sessions/sessions_query.c \
	$(SESSIONS_RENEWAL_SOURCES)

# When the next renewal is due, the renewal worker's answer frame and the
# sessions file body: the ccache writer is replaced by test doubles.
check_PROGRAMS += tests/unit/test_renewal
tests_unit_test_renewal_SOURCES = tests/unit/test_renewal.c $(SESSIONS_RENEWAL_SOURCES) \
	helper/sessions/handles.c helper/core/worker.c helper/core/state_file.c
tests_unit_test_renewal_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_renewal_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_renewal_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(KRB5_LIBS) $(CRYPTO_LIBS) $(UNIT_LIBS)
