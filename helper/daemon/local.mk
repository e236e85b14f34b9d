# helper/daemon/local.mk - sectxd itself: main, the subsystem table,
# sd_notify.  Every other helper folder adds its files to sectxd_SOURCES.
sbin_PROGRAMS += sectxd
sectxd_SOURCES += \
	helper/daemon/main.c \
	helper/daemon/daemon_int.h \
	helper/daemon/subsystems.c \
	helper/daemon/sd_notify.c helper/daemon/sd_notify.h
sectxd_CPPFLAGS = $(HELPER_CPPFLAGS)
# the KDF of cached credentials runs on threads of its own (helper/offline)
sectxd_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(TEVENT_CFLAGS) $(KRB5_CFLAGS) $(GSSAPI_CFLAGS) \
	$(CRYPTO_CFLAGS) -pthread
# sectxd's krb5_c_string_to_key_with_params (helper/login/s2k_interpose.c)
# must be in its dynamic symbol table, so that libkrb5's calls resolve to it.
SECTX_S2K_EXPORT = -Wl,--export-dynamic-symbol=krb5_c_string_to_key_with_params
sectxd_LDFLAGS = $(AM_LDFLAGS) $(SECTX_S2K_EXPORT)
sectxd_LDADD = libsectx_gss.la libsectx_helper.la libsectx_base.la $(TEVENT_LIBS) \
	$(TALLOC_LIBS) $(KRB5_LIBS) $(GSSAPI_LIBS) $(CRYPTO_LIBS) $(LDAP_LIBS) -lresolv -ldl \
	-lpthread
