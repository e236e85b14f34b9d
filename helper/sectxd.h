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

#include <errno.h>
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
struct sectxd_krb5;     /* helper/krb5_*.c: krb5 context, keytab, KDC I/O */
struct sectxd_creds;    /* helper/credstore.c: login handles and sessions */
struct sectx_writer;    /* helper/ccache_writer.c: writes ccaches as the user */
struct sectxd_identity; /* helper/identity*.c: users and groups, NSS cache */
struct sectxd_renewal;  /* helper/renewal.c: sessions whose TGT is renewed */

struct sectxd_ctx {
	struct tevent_context *ev;
	const char *config_path;
	struct sectx_config *cfg; /* current config; replaced whole on reload */
	char *realm;              /* effective realm (config or krb5.conf default) */
	int64_t started_ms;       /* monotonic */
	struct sectx_server *srv;
	bool stopping;

	/* Subsystem state, each owned by its subsystem (see subsystems.c). */
	struct sectxd_krb5 *krb5;
	struct sectxd_creds *creds;
	struct sectx_writer *writer;
	struct sectxd_identity *identity;
	struct sectxd_renewal *renewal;
};

/*
 * A subsystem of the helper: started once after the config is loaded and
 * before the sockets open, consulted on reload, asked for status fields.
 * The list is in subsystems.c, in start order.  Every hook may be NULL.
 */
struct sectxd_subsystem {
	const char *name;
	/* Set up; 0 or -errno (logged by the subsystem; sectxd then exits). */
	int (*start)(struct sectxd_ctx *hctx);
	/* May newcfg replace hctx->cfg?  0, or -EINVAL with a reason in why. */
	int (*check_reload)(struct sectxd_ctx *hctx, const struct sectx_config *newcfg, char *why,
			    size_t whylen);
	/* hctx->cfg has just been replaced. */
	void (*reloaded)(struct sectxd_ctx *hctx);
	/* Add this subsystem's fields to a status reply. */
	void (*status)(struct sectxd_ctx *hctx, struct sectx_wbuf *w);
	/* Release what start set up (at exit, after the sockets are closed). */
	void (*stop)(struct sectxd_ctx *hctx);
};

extern const struct sectxd_subsystem *const sectxd_subsystems[];
extern const size_t sectxd_n_subsystems;

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
	int passed_fd; /* descriptor sent with the frame, or -1 (sectx_request_take_fd) */
};

/* An operation handler.  It either replies (sectx_request_reply) before
 * returning 0, or keeps req alive and replies later (asynchronous work as a
 * tevent_req child of req), returning 0.  A positive enum sectx_status
 * return makes the server reply with that status and its standard text. */
typedef int (*sectx_op_handler)(struct sectx_request *req);

/* One operation: where it is served, who may ask, what runs it. */
struct sectx_op_def {
	uint16_t op;
	unsigned sockets; /* SECTX_SOCK_* where it is served (server.h) */
	bool root_only;   /* checked by the server before the handler runs */
	sectx_op_handler handler;
};

struct sectx_op_table {
	const struct sectx_op_def *ops;
	size_t n;
};
#define SECTX_OP_TABLE(ops_) { (ops_), sizeof(ops_) / sizeof((ops_)[0]) }

/* Each operation group exports its table; subsystems.c lists them.  An
 * operation not in any table does not exist. */
extern const struct sectx_op_table sectxd_admin_ops; /* admin_ops.c */
extern const struct sectx_op_table *const sectxd_op_tables[];
extern const size_t sectxd_n_op_tables;

/* If req failed, set *err to its errno value (ETIMEDOUT past its end time,
 * ENOMEM, or the value given to tevent_req_error) and return true. */
static inline bool sectx_req_failed(struct tevent_req *req, int *err)
{
	enum tevent_req_state state;
	uint64_t e;

	if (!tevent_req_is_error(req, &state, &e)) {
		return false;
	}
	*err = state == TEVENT_REQ_TIMED_OUT ? ETIMEDOUT
	       : state == TEVENT_REQ_NO_MEMORY ? ENOMEM
	       : e != 0 ? (int)e : EIO;
	return true;
}

/* sectxd.c: recompute the effective realm after a config (re)load. */
char *sectxd_effective_realm(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg);

#endif /* SECTXD_H */
