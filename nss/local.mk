# nss/local.mk - libnss_sectx.so.2, the identity store in sectxd, and their tests
# (included by Makefile.am).
