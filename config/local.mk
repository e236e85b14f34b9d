# config/local.mk - what `make install` puts on a host beyond the programs
# (included by Makefile.am): the configuration, the systemd unit, the
# tmpfiles.d entry and the pam-auth-update profile.  See README.md,
# "Enabling sectx on a Debian host".

# The service manager's, tmpfiles' and pam-auth-update's own directories
# (configure: --with-systemdsystemunitdir, --with-tmpfilesdir,
# --with-pamconfigsdir).  distcheck installs as a user under its own prefix.
systemdsystemunit_DATA = config/sectxd.service
tmpfiles_DATA = config/sectx.conf
pamconfigs_DATA = config/pam-configs/sectx
# ($$dc_install_base is set by the distcheck recipe's shell, and must be
# expanded there: quoted, it would reach the Makefile as an empty make
# variable and the files the host's directories.)
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir="$$dc_install_base/lib/systemd/system" \
	--with-tmpfilesdir="$$dc_install_base/lib/tmpfiles.d" \
	--with-pamconfigsdir="$$dc_install_base/share/pam-configs"

# The directories in them come from configure; sbindir is only known here.
CONFIG_SUBST = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@socketdir[@]|$(socketdir)|g' \
	-e 's|@statedir[@]|$(statedir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g'
config/sectxd.service: $(srcdir)/config/sectxd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) config && $(CONFIG_SUBST) $(srcdir)/config/sectxd.service.in > $@.tmp \
		&& mv $@.tmp $@
# tmpfiles.d wants the file named after the package: <tmpfilesdir>/sectx.conf.
config/sectx.conf: $(srcdir)/config/sectx.tmpfiles.in Makefile
	$(AM_V_GEN)$(MKDIR_P) config && $(CONFIG_SUBST) $(srcdir)/config/sectx.tmpfiles.in > $@.tmp \
		&& mv $@.tmp $@
# pam-auth-update names a profile by its file name: sectx.
config/pam-configs/sectx: $(srcdir)/config/pam-configs-sectx
	$(AM_V_GEN)$(MKDIR_P) config/pam-configs && cp $(srcdir)/config/pam-configs-sectx $@
CLEANFILES += config/sectxd.service config/sectx.conf config/pam-configs/sectx
EXTRA_DIST += config/sectxd.service.in config/sectx.tmpfiles.in config/pam-configs-sectx

# The commented example becomes $(sysconfdir)/sectx/sectx.conf, mode 0600
# (sectxd refuses a config others may write; this one holds nothing secret
# but site names, readable by root alone all the same).  An existing file is
# never replaced: it is the administrator's.  Uninstall removes it only
# while it is still the unchanged example.
SECTX_CONF = $(DESTDIR)$(sysconfdir)/sectx/sectx.conf
install-data-hook: install-sectx-conf
install-sectx-conf:
	$(MKDIR_P) $(DESTDIR)$(sysconfdir)/sectx
	@if test -e $(SECTX_CONF) || test -L $(SECTX_CONF); then \
		echo "$(SECTX_CONF) exists: not replaced"; \
	else \
		echo " $(INSTALL) -m 0600 config/sectx.conf.example $(SECTX_CONF)"; \
		$(INSTALL) -m 0600 $(srcdir)/config/sectx.conf.example $(SECTX_CONF); \
	fi
uninstall-hook: uninstall-sectx-conf
uninstall-sectx-conf:
	@if cmp -s $(srcdir)/config/sectx.conf.example $(SECTX_CONF); then \
		echo " rm -f $(SECTX_CONF)"; rm -f $(SECTX_CONF); \
		rmdir $(DESTDIR)$(sysconfdir)/sectx 2>/dev/null || :; \
	elif test -e $(SECTX_CONF); then \
		echo "$(SECTX_CONF) was changed: kept"; \
	fi
.PHONY: install-sectx-conf uninstall-sectx-conf

# `make install DESTDIR=...`: the file list, owners and modes; the config
# never overwritten; the man pages render; the pam-auth-update profile
# applied by the real tool logs a realm and a local user in.
EXTRA_DIST += tests/integration/test_install.py
