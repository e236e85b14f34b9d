# helper/server/local.mk - sockets, connections, frames, dispatch.
sectxd_SOURCES += helper/server/server.c helper/server/server.h
