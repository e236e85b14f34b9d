# pam/local.mk - pam_sectx.so and its tests (included by Makefile.am).
