# man/local.mk - the manual pages (included by Makefile.am).
#
# Written by hand: pam_sectx(8) (its OPTIONS list every row of the option
# table in pam/options.c: man/check-man checks it), sectxd(8), sectxctl(8),
# nss_sectx(8) and libnss_sectx(8), a .so link to it.  Generated at build
# time: sectx.conf(5), from the config schema (common/config_schema.c) by
# man/sectx-conf-man, so every key is on the page.
dist_man_MANS = man/pam_sectx.8 man/sectxd.8 man/sectxctl.8 man/nss_sectx.8 man/libnss_sectx.8
nodist_man_MANS = man/sectx.conf.5

noinst_PROGRAMS += man/sectx-conf-man
man_sectx_conf_man_SOURCES = man/sectx-conf-man.c
man_sectx_conf_man_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS)
man_sectx_conf_man_LDADD = libsectx_helper.la libsectx_base.la $(TALLOC_LIBS)

man/sectx.conf.5: man/sectx-conf-man$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && ./man/sectx-conf-man$(EXEEXT) '$(PACKAGE_VERSION)' > $@.tmp \
		&& mv $@.tmp $@
CLEANFILES += man/sectx.conf.5

# `make check`: every page renders with `man --warnings` without a warning,
# and pam_sectx.8 names every module option.
TESTS += man/check-man
EXTRA_DIST += man/check-man
