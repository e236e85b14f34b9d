/*
 * server/limits.c - what bounds the cost of hostile clients beyond the
 * connection caps: the memory budget of frames still arriving
 * (max_partial_frames_kib, all connections together, the oldest partial
 * frame evicted first), and the rate limit of the lines logged about what
 * peers do wrong (peer_log_lines per peer_log_interval and kind, then one
 * line with the count of those suppressed).
 *
 * Who can reach this: any local process, by starting frames on nss.sock or
 * pam.sock without finishing them, and by sending bad ones.  Once a charge
 * returns, partial frames never hold more than the budget; a connection
 * whose frame is whole (a request being served, a reply being written) is
 * never evicted here; and no kind of line is written more than
 * peer_log_lines times (plus one summary) per window, whatever clients send.
 * A legitimate frame completes within microseconds of its first byte, so
 * the oldest partial frame is the one a slow client has held longest.
 */
#include "server/server_int.h"

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"

/* --- partial frames ----------------------------------------------------------- */

/* Contract in server_int.h. */
void sectx_srv_partial_begin(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;

	if (conn->partial) {
		return;
	}
	conn->pprev = srv->ptail;
	conn->pnext = NULL;
	if (srv->ptail != NULL) {
		srv->ptail->pnext = conn;
	} else {
		srv->phead = conn;
	}
	srv->ptail = conn;
	conn->partial = true;
	conn->charged = 0;
	conn->frame_start_ms = sectx_now_ms();
}

/* Contract in server_int.h. */
void sectx_srv_partial_end(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;

	if (!conn->partial) {
		return;
	}
	if (conn->pprev != NULL) {
		conn->pprev->pnext = conn->pnext;
	} else {
		srv->phead = conn->pnext;
	}
	if (conn->pnext != NULL) {
		conn->pnext->pprev = conn->pprev;
	} else {
		srv->ptail = conn->pprev;
	}
	conn->pprev = conn->pnext = NULL;
	srv->stats.partial_bytes -= conn->charged;
	conn->charged = 0;
	conn->partial = false;
}

/* Contract in server_int.h. */
bool sectx_srv_partial_charge(struct sectx_sconn *conn, size_t size)
{
	struct sectx_server *srv = conn->srv;
	uint64_t budget = (uint64_t)srv->hctx->cfg->sectxd.max_partial_frames_kib * 1024u;

	sectx_srv_partial_begin(conn);
	if (size > conn->charged) {
		srv->stats.partial_bytes += size - conn->charged;
		conn->charged = size;
	}
	while (srv->stats.partial_bytes > budget) {
		struct sectx_sconn *victim = srv->phead;

		/* the oldest frame that holds memory (one still in its header
		 * holds none beyond its connection) */
		while (victim != NULL && victim->charged == 0) {
			victim = victim->pnext;
		}
		if (victim == NULL) {
			break; /* cannot happen: something is charged */
		}
		srv->stats.evicted_partial++;
		sectx_srv_log_peer(srv, SRV_LOG_EVICTED,
				   "closing %s connection of uid %u pid %d: its request, begun "
				   "%lld ms ago, is the oldest still arriving (%zu of %u bytes) "
				   "and requests still arriving hold more than %u KiB",
				   sectx_srv_kind_name(victim->kind), (unsigned)victim->peer.uid,
				   (int)victim->peer.pid,
				   (long long)(sectx_now_ms() - victim->frame_start_ms),
				   victim->frame_got, victim->h.length,
				   srv->hctx->cfg->sectxd.max_partial_frames_kib);
		if (victim == conn) {
			sectx_srv_conn_close(conn, "evicted: partial-frame budget");
			return false;
		}
		sectx_srv_conn_close(victim, "evicted: partial-frame budget");
	}
	return true;
}

/* --- log lines about peers ------------------------------------------------------ */

static const struct {
	const char *what;
	int level;
} log_kinds[SRV_LOG_KINDS] = {
    [SRV_LOG_BAD_HEADER] = {"bad frame headers", SECTX_LOG_INFO},
    [SRV_LOG_BAD_FRAME] = {"refused frames", SECTX_LOG_INFO},
    [SRV_LOG_TIMEOUT] = {"client timeouts", SECTX_LOG_INFO},
    [SRV_LOG_REFUSED] = {"refused connections", SECTX_LOG_WARNING},
    [SRV_LOG_EVICTED] = {"connections evicted for the partial-frame budget", SECTX_LOG_INFO},
    [SRV_LOG_DENIED] = {"operations denied to non-root callers", SECTX_LOG_WARNING},
    [SRV_LOG_OP_REFUSED] = {"requests refused by their operation's checks", SECTX_LOG_WARNING},
    [SRV_LOG_CALL] = {"call summaries of non-root callers", SECTX_LOG_INFO},
};

/* Contract in server_int.h. */
void sectx_srv_limits_init(struct sectx_server *srv)
{
	const struct sectx_config *cfg = srv->hctx->cfg;
	int k;

	for (k = 0; k < SRV_LOG_KINDS; k++) {
		sectx_log_limit_init(&srv->peer_log[k], log_kinds[k].what, log_kinds[k].level,
				     cfg->sectxd.peer_log_lines,
				     (int64_t)cfg->sectxd.peer_log_interval_ms);
	}
}

static void log_flush_arm(struct sectx_server *srv);

static void log_flush_fire(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			   void *private_data)
{
	struct sectx_server *srv = private_data;

	srv->log_flush = NULL; /* tevent frees a timer once it fires */
	log_flush_arm(srv);
}

/* Report the windows that have ended, and arm the timer for the first end
 * of a window that still has lines to report. */
static void log_flush_arm(struct sectx_server *srv)
{
	int64_t now = sectx_now_ms(), next = 0;
	int k;

	for (k = 0; k < SRV_LOG_KINDS; k++) {
		struct sectx_log_limit *l = &srv->peer_log[k];

		sectx_log_limit_flush(l, now);
		if (l->suppressed > 0 && (next == 0 || l->window_end_ms < next)) {
			next = l->window_end_ms;
		}
	}
	if (next == 0 || srv->log_flush != NULL) {
		return;
	}
	next = (next > now ? next - now : 0) + 1; /* just past the window's end */
	srv->log_flush = tevent_add_timer(
	    srv->hctx->ev, srv, tevent_timeval_current_ofs(next / 1000, (next % 1000) * 1000),
	    log_flush_fire, srv);
	/* out of memory: the count is reported with the next line of its kind */
}

/* Contract in server_int.h. */
void sectx_srv_vlog_peer(struct sectx_server *srv, enum srv_log_kind kind, const char *fmt,
			 va_list ap)
{
	const struct sectx_config *cfg = srv->hctx->cfg;
	struct sectx_log_limit *l = &srv->peer_log[kind];
	uint64_t before = l->suppressed_total;
	char line[512];

	if (l->level > sectx_log_get_level()) {
		return;
	}
	/* the config may have been reloaded */
	l->burst = cfg->sectxd.peer_log_lines;
	l->interval_ms = (int64_t)cfg->sectxd.peer_log_interval_ms;
	vsnprintf(line, sizeof(line), fmt, ap);
	sectx_log_limited(l, sectx_now_ms(), "%s", line);
	if (l->suppressed_total != before) {
		srv->stats.log_suppressed++;
		if (srv->log_flush == NULL) {
			log_flush_arm(srv);
		}
	}
}

/* Contract in server_int.h. */
void sectx_srv_log_peer(struct sectx_server *srv, enum srv_log_kind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sectx_srv_vlog_peer(srv, kind, fmt, ap);
	va_end(ap);
}
