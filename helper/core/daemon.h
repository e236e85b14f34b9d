/*
 * core/daemon.h - the helper's process-wide context and the hooks every
 * subsystem implements.  Nothing else: request and operation types are the
 * server's (server/server.h), each subsystem's API is its folder's header.
 *
 * Error convention (every function of the helper, tevent _recv included):
 * 0 on success or a negative errno value (-ENOMEM, -ETIMEDOUT, ...); a
 * Kerberos error code is never returned in its place but carried out through
 * an out parameter (krb5_error_code *kerr) beside -EIO or a result enum.
 *
 * sectxd runs as root and is the only sectx component that reads the keytab
 * and talks to KDCs.  Anything in this process may be reached by any local
 * user through the sockets; every handler must assume its request is hostile
 * and authorise it by the connection's SO_PEERCRED uid (see server.h).
 */
#ifndef SECTX_CORE_DAEMON_H
#define SECTX_CORE_DAEMON_H

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
struct sectxd_krb5;	  /* login/: krb5 context, keytab, KDC I/O */
struct sectxd_creds;	  /* sessions/handles.c: login handles */
struct sectx_writer;	  /* ccache_writer/: writes ccaches as the user */
struct sectxd_identity;	  /* identity/: users and groups, NSS cache */
struct sectxd_renewal;	  /* sessions/renewal.c: sessions whose TGT is renewed */
struct sectx_realm_state; /* offline/realm_state.c: is the realm reachable */
struct sectx_offline;	  /* offline/offline_cache.c: cached credentials */
struct sectxd_contexts;	  /* ops/ctx_state.c: open security contexts */

struct sectxd_ctx {
	struct tevent_context *ev;
	const char *config_path;
	struct sectx_config *cfg; /* current config; replaced whole on reload */
	char *realm;		  /* effective realm (config or krb5.conf default) */
	int64_t started_ms;	  /* monotonic */
	struct sectx_server *srv;
	bool stopping;

	/* The subsystems, in start order (daemon/subsystems.c): the status op
	 * asks each for its fields. */
	const struct sectxd_subsystem *const *subsystems;
	size_t n_subsystems;

	/* Subsystem state, each owned by its subsystem (see subsystems.c). */
	struct sectxd_krb5 *krb5;
	struct sectxd_creds *creds;
	struct sectx_throttle *throttle; /* login/throttle.c: failed-login delays */
	struct sectx_writer *writer;
	struct sectxd_identity *identity;
	struct sectxd_renewal *renewal;
	struct sectx_realm_state *realm_state;
	struct sectx_offline *offline;
	struct sectxd_contexts *contexts;
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

/* If req failed, set *err to its errno value (ETIMEDOUT past its end time,
 * ENOMEM, or the value given to tevent_req_error) and return true. */
static inline bool sectx_req_failed(struct tevent_req *req, int *err)
{
	enum tevent_req_state state;
	uint64_t e;

	if (!tevent_req_is_error(req, &state, &e)) {
		return false;
	}
	*err = state == TEVENT_REQ_TIMED_OUT   ? ETIMEDOUT
	       : state == TEVENT_REQ_NO_MEMORY ? ENOMEM
	       : e != 0			       ? (int)e
					       : EIO;
	return true;
}

/* The realm the helper serves under cfg: [kerberos] realm, else krb5.conf's
 * default realm, else "" (status says so).  Allocated on mem_ctx; NULL only
 * when out of memory.  Defined in core/daemon.c. */
char *sectxd_effective_realm(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg);

#endif /* SECTX_CORE_DAEMON_H */
