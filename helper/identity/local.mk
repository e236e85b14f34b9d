# helper/identity/local.mk - users and groups: the service, the store and its
# sources, S4U existence checks, NSS cache publication.
IDENTITY_STORE_SOURCES = \
	helper/identity/identity_int.h \
	helper/identity/store.h helper/identity/store.c \
	helper/identity/index.c helper/identity/negative.c \
	helper/identity/static_files.c helper/identity/mappings.c \
	helper/identity/store_directory.c \
	helper/identity/names.c helper/identity/wire.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_writer.h \
	helper/identity/nss_cache_file.c \
	helper/core/state_file.c
sectxd_SOURCES += \
	helper/identity/identity.h helper/identity/identity_int.h \
	helper/identity/service.c helper/identity/publish.c helper/identity/store_query.c \
	helper/identity/store.h helper/identity/store.c \
	helper/identity/index.c helper/identity/negative.c \
	helper/identity/static_files.c helper/identity/mappings.c \
	helper/identity/names.c helper/identity/wire.c \
	helper/identity/nss_cache_writer.c helper/identity/nss_cache_writer.h \
	helper/identity/nss_cache_file.c helper/identity/nss_cache_pub.c \
	helper/identity/s4u.c helper/identity/s4u.h helper/identity/s4u_worker.c \
	helper/identity/store_directory.c helper/identity/directory_int.h \
	helper/identity/directory.c helper/identity/directory_conn.c \
	helper/identity/directory_entry.c helper/identity/directory_enum.c

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
sectxd_SOURCES += helper/identity/account.c helper/identity/account_int.h \
	helper/identity/account_lookup.c helper/identity/account_threads.c

# The account resolver on a real loop and real threads; the host's passwd and
# group databases are doubled through --wrap (some of them block on a gate).
check_PROGRAMS += tests/unit/test_account
tests_unit_test_account_SOURCES = tests/unit/test_account.c helper/identity/account.c \
	helper/identity/account_lookup.c helper/identity/account_threads.c
tests_unit_test_account_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_account_CFLAGS = $(UNIT_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS) -pthread
tests_unit_test_account_LDFLAGS = -Wl,--wrap=getpwnam_r -Wl,--wrap=getpwuid_r \
	-Wl,--wrap=getgrouplist -Wl,--wrap=getgrgid_r
tests_unit_test_account_LDADD = libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(UNIT_LIBS) -lpthread

# The per-uid rate of existence checks (rate.c), a bucket keyed by the uid itself.
sectxd_SOURCES += helper/identity/rate.c
check_PROGRAMS += tests/unit/test_identity_rate
tests_unit_test_identity_rate_SOURCES = tests/unit/test_identity_rate.c helper/identity/rate.c
tests_unit_test_identity_rate_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_identity_rate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_identity_rate_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)

# The directory source's pure parts: entries to users, filter escaping, RDNs.
check_PROGRAMS += tests/unit/test_directory_entry
tests_unit_test_directory_entry_SOURCES = tests/unit/test_directory_entry.c \
	helper/identity/directory_entry.c $(IDENTITY_STORE_SOURCES)
tests_unit_test_directory_entry_CPPFLAGS = $(HELPER_CPPFLAGS)
tests_unit_test_directory_entry_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_directory_entry_LDADD = libsectx_helper.la libsectx_base.la $(UNIT_LIBS)
