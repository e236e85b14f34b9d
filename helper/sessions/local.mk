# helper/sessions/local.mk - login handles, renewal, the sessions state file.
sectxd_SOURCES += \
	helper/sessions/sessions.h \
	helper/sessions/handles.c \
	helper/sessions/renewal.c
