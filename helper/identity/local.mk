# helper/identity/local.mk - users and groups: the service, the store and its
# sources, S4U existence checks, NSS cache publication.
IDENTITY_STORE_SOURCES = \
	helper/identity/identity_int.h \
	helper/identity/store.h helper/identity/store.c \
	helper/identity/index.c helper/identity/negative.c \
	helper/identity/static_files.c helper/identity/mappings.c \
	helper/identity/names.c helper/identity/wire.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_writer.h \
	helper/identity/nss_cache_file.c \
	helper/core/state_file.c
sectxd_SOURCES += \
	helper/identity/identity.h helper/identity/identity_int.h \
	helper/identity/service.c helper/identity/publish.c \
	helper/identity/store.h helper/identity/store.c \
	helper/identity/index.c helper/identity/negative.c \
	helper/identity/static_files.c helper/identity/mappings.c \
	helper/identity/names.c helper/identity/wire.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_writer.h \
	helper/identity/nss_cache_file.c helper/identity/nss_cache_pub.c \
	helper/identity/s4u.c helper/identity/s4u.h helper/identity/s4u_worker.c

# The private wire formats (wire.c) and the store's reading of the id map.
check_PROGRAMS += tests/unit/test_identity_wire
tests_unit_test_identity_wire_SOURCES = tests/unit/test_identity_wire.c $(IDENTITY_STORE_SOURCES)
tests_unit_test_identity_wire_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_identity_wire_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_identity_wire_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_identity
tests_unit_test_identity_SOURCES = tests/unit/test_identity.c $(IDENTITY_STORE_SOURCES)
tests_unit_test_identity_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_identity_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_identity_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)
sectxd_SOURCES += helper/identity/account.c
