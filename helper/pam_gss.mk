# helper/pam_gss.mk - build rules of one part; appends to the variables of Makefile.am.
