/*
 * sectxd.h - the helper's process-wide state and the operation handlers.
 *
 * sectxd runs as root and is the only sectx component that reads the keytab
 * and talks to KDCs.  Anything in this process may be reached by any local
 * user through the sockets; every handler must assume its request is hostile
 * and authorise it by the connection's SO_PEERCRED uid (see server.h).
 */
#ifndef SECTXD_H
#define SECTXD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

#include "config.h"
#include "proto.h"

/* The helper's marker in its own environment: libnss_sectx returns UNAVAIL
 * when it sees it, so libkrb5's getpwnam() inside sectxd never recurses into
 * sectxd. */
#define SECTXD_NSS_MARKER "_SECTX_IN_HELPER"

struct sectx_server;

struct sectxd_ctx {
	struct tevent_context *ev;
	const char *config_path;
	struct sectx_config *cfg; /* current config; replaced whole on reload */
	char *realm;              /* effective realm (config or krb5.conf default) */
	int64_t started_ms;       /* monotonic */
	struct sectx_server *srv;
	bool stopping;
};

/* A request being served.  A talloc child of its connection: when the client
 * goes away, the request and everything hung below it are freed. */
struct sectx_request {
	struct sectxd_ctx *hctx;
	struct sectx_sconn *conn;
	struct sectx_msg msg; /* parsed request; points into frame */
	uint8_t *frame;
	uid_t uid; /* SO_PEERCRED of the connection */
	gid_t gid;
	pid_t pid;
	int sock_kind; /* SECTX_SOCK_NSS or SECTX_SOCK_PAM */
};

/* An operation handler.  It either replies (sectx_request_reply) before
 * returning 0, or keeps req alive and replies later (asynchronous work as a
 * tevent_req child of req), returning 0.  A positive enum sectx_status
 * return makes the server reply with that status and its standard text. */
typedef int (*sectx_op_handler)(struct sectx_request *req);

/* admin_ops.c */
int sectxd_op_ping(struct sectx_request *req);
int sectxd_op_status(struct sectx_request *req);
int sectxd_op_debug_level(struct sectx_request *req);

/* sectxd.c: recompute the effective realm after a config (re)load. */
char *sectxd_effective_realm(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg);

#endif /* SECTXD_H */
