/*
 * ops/admin_query.c - sectxctl's queries on pam.sock: the open sessions
 * (tickets) and the tail of sectxd's log (auth-test).
 *
 * Who reaches this: tickets, any local user: root sees every session, any
 * other uid only the sessions opened for its own uid, whatever it asks for
 * (the uid is SO_PEERCRED's, never the frame's); it shows ccache names,
 * principals and times, never a ticket.  log-tail, root only (the dispatch
 * table marks it so): the lines already in the log, never a secret.
 */
#include <inttypes.h>
#include <stdio.h>

#include "core/log_ring.h"
#include "log.h"
#include "ops/ops.h"
#include "server/server.h"
#include "sessions/sessions.h"

#define TICKETS_REPLY_MAX  (120u * 1024u) /* below SECTX_FRAME_MAX */
#define LOG_TAIL_REPLY_MAX (120u * 1024u)

struct tickets_walk {
	struct sectx_wbuf *w;
	bool all;      /* root asking for every uid */
	uint32_t only; /* else: this uid */
	size_t shown, left_out;
};

static void ticket_line(void *arg, const struct sectx_session_info *si)
{
	struct tickets_walk *tw = arg;
	char text[SECTX_STRING_MAX];

	if (!tw->all && (uint32_t)si->uid != tw->only) {
		return;
	}
	if (tw->w->len > TICKETS_REPLY_MAX) {
		tw->left_out++;
		return;
	}
	snprintf(text, sizeof(text), "%u %s %s %s %" PRId64 " %" PRId64 " %" PRId64 " %s",
		 (unsigned)si->uid, si->user, si->ccache, si->principal, si->endtime,
		 si->renew_till, si->last_renewal, si->service);
	sectx_put_string(tw->w, SECTX_TAG_SESSION, text);
	tw->shown++;
}

static int op_tickets(struct sectx_request *req)
{
	struct tickets_walk tw = {.all = req->uid == 0, .only = (uint32_t)req->uid};
	struct sectx_wbuf w;
	uint32_t uid;
	int ret;

	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_UID, &uid);
	if (ret == 0) {
		if (req->uid != 0 && uid != (uint32_t)req->uid) {
			sectx_request_log_refusal(req, "tickets of uid %u asked by uid %u refused",
						  (unsigned)uid, (unsigned)req->uid);
			return SECTX_E_PERM;
		}
		tw.all = false;
		tw.only = uid;
	} else if (ret != SECTX_ERR_NOFIELD) {
		return SECTX_E_PROTO;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	tw.w = &w;
	(void)sectx_sessions_list(req->hctx, ticket_line, &tw);
	if (tw.left_out > 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%zu more sessions not shown", tw.left_out);
		sectx_put_string(&w, SECTX_TAG_MESSAGE, msg);
	}
	sectx_request_reply(req, &w);
	return 0;
}

static int op_log_tail(struct sectx_request *req)
{
	char line[SECTX_LOG_RING_WIDTH];
	struct sectx_wbuf w;
	uint64_t after = 0, seq;
	bool lines = true;
	int ret;

	ret = sectx_msg_get_u64(&req->msg, SECTX_TAG_SEQ, &after);
	if (ret == SECTX_ERR_NOFIELD) {
		lines = false; /* only the newest line's number: where to start from */
	} else if (ret != 0) {
		return SECTX_E_PROTO;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	seq = lines ? after : sectx_log_ring_last();
	while (lines && w.len < LOG_TAIL_REPLY_MAX &&
	       sectx_log_ring_next(seq, line, sizeof(line), &seq) == 0) {
		sectx_put_string(&w, SECTX_TAG_LOG_LINE, line);
	}
	sectx_put_u64(&w, SECTX_TAG_SEQ, seq);
	sectx_request_reply(req, &w);
	return 0;
}

static const struct sectx_op_def query_ops[] = {
    {SECTX_OP_TICKETS, SECTX_SOCK_PAM, false, op_tickets},
    {SECTX_OP_LOG_TAIL, SECTX_SOCK_PAM, true, op_log_tail},
};
const struct sectx_op_table sectxd_query_ops = SECTX_OP_TABLE(query_ops);
