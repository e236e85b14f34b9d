# helper/server/local.mk - sockets, connections, frames, dispatch, limits.
SERVER_SOURCES = \
	helper/server/server.h helper/server/server_int.h \
	helper/server/listen.c \
	helper/server/conn.c \
	helper/server/dispatch.c \
	helper/server/limits.c
sectxd_SOURCES += $(SERVER_SOURCES)

# A real server on a temporary socket directory with a test operation table,
# driven by real Unix-socket clients: frames whole, cut, oversized and slow.
check_PROGRAMS += tests/unit/test_server
tests_unit_test_server_SOURCES = tests/unit/test_server.c $(SERVER_SOURCES)
tests_unit_test_server_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_server_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS)
tests_unit_test_server_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) $(UNIT_LIBS)
