# helper/server/local.mk - sockets, connections, frames, dispatch.
SERVER_SOURCES = \
	helper/server/server.h helper/server/server_int.h \
	helper/server/listen.c \
	helper/server/conn.c \
	helper/server/dispatch.c
sectxd_SOURCES += $(SERVER_SOURCES)
