# helper/sectxctl/local.mk - the admin CLI (talks to sectxd over pam.sock).
sbin_PROGRAMS += sectxctl
sectxctl_SOURCES = helper/sectxctl/sectxctl.c
sectxctl_CPPFLAGS = $(HELPER_CPPFLAGS)
sectxctl_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS)
sectxctl_LDADD = libsectx_helper.la libsectx_base.la $(TALLOC_LIBS)
