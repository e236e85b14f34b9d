# helper/ccache_writer/local.mk - the process that writes ccaches as the user.
# One process per file: client.c and requests.c run in sectxd, writer.c in
# the writer, child.c and child_files.c in a job's child (as the user);
# wire.c, names.c and reap.c are shared.
CCACHE_WRITER_SOURCES = \
	helper/ccache_writer/ccache_writer.h \
	helper/ccache_writer/ccache_writer_int.h \
	helper/ccache_writer/wire.c \
	helper/ccache_writer/names.c \
	helper/ccache_writer/reap.c \
	helper/ccache_writer/child.c \
	helper/ccache_writer/child_files.c \
	helper/ccache_writer/writer.c \
	helper/ccache_writer/client.c \
	helper/ccache_writer/requests.c
sectxd_SOURCES += $(CCACHE_WRITER_SOURCES)

# The wire format between sectxd, its writers and their children: every
# decoder against its encoder, truncated, oversized and malformed input.
check_PROGRAMS += tests/unit/test_ccache_writer_wire
tests_unit_test_ccache_writer_wire_SOURCES = tests/unit/test_ccache_writer_wire.c \
	helper/ccache_writer/ccache_writer_int.h helper/ccache_writer/wire.c
tests_unit_test_ccache_writer_wire_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_ccache_writer_wire_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_ccache_writer_wire_LDADD = libsectx_base.la $(UNIT_LIBS)

# The ccache writer's test driver: a tool of test_ccache_writer.py, not a test
# by itself (every check_PROGRAM is run as one), so built as a check script.
EXTRA_PROGRAMS += tests/integration/writer_driver
check_SCRIPTS += tests/integration/writer_driver$(EXEEXT)
tests_integration_writer_driver_SOURCES = tests/integration/writer_driver.c \
	$(CCACHE_WRITER_SOURCES)
tests_integration_writer_driver_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_integration_writer_driver_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(TEVENT_CFLAGS) \
	$(KRB5_CFLAGS)
tests_integration_writer_driver_LDADD = libsectx_base.la $(TEVENT_LIBS) $(TALLOC_LIBS) \
	$(KRB5_LIBS)
CLEANFILES += tests/integration/writer_driver$(EXEEXT)
