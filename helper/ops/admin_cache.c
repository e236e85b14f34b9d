/*
 * ops/admin_cache.c - sectxctl cache list and flush: the identity cache's
 * auto users and negative entries, and the offline credentials.
 *
 * Who reaches this: root only (the dispatch table marks both ops so; the
 * server checks before the handlers run).  What root can make it do: read
 * names and times (never a hash), forget one name's cached state, or delete
 * every offline credential.  A NAME is bounded and validated by the codec.
 */
#include <inttypes.h>
#include <stdio.h>

#include "identity/identity.h"
#include "log.h"
#include "offline/offline.h"
#include "ops/ops.h"
#include "server/server.h"

#define CACHE_LIST_REPLY_MAX (120u * 1024u) /* below SECTX_FRAME_MAX */

struct cache_walk {
	struct sectx_wbuf *w;
	size_t left_out;
};

static void put_entry(struct cache_walk *cw, const char *kind, const char *name, int64_t t)
{
	char text[SECTX_STRING_MAX];

	if (cw->w->len > CACHE_LIST_REPLY_MAX) {
		cw->left_out++;
		return;
	}
	snprintf(text, sizeof(text), "%s %" PRId64 " %s", kind, t, name);
	sectx_put_string(cw->w, SECTX_TAG_CACHE_ENTRY, text);
}

static void identity_entry(void *arg, const char *kind, const char *name, int64_t t)
{
	put_entry(arg, kind, name, t);
}

static void offline_entry(void *arg, const char *user, int64_t stored)
{
	put_entry(arg, "offline", user, stored);
}

static int op_cache_list(struct sectx_request *req)
{
	struct id_store *st = identity_store(req->hctx);
	struct sectx_wbuf w;
	struct cache_walk cw = {.w = &w};
	char msg[64];

	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	if (st != NULL) {
		id_store_walk(st, identity_entry, &cw);
	}
	(void)sectx_offline_list(req->hctx, offline_entry, &cw);
	if (cw.left_out > 0) {
		snprintf(msg, sizeof(msg), "%zu more entries not shown", cw.left_out);
		sectx_put_string(&w, SECTX_TAG_MESSAGE, msg);
	}
	sectx_request_reply(req, &w);
	return 0;
}

static int op_cache_drop(struct sectx_request *req)
{
	char name[SECTX_NAME_MAX + 1];
	struct sectx_wbuf w;
	uint32_t count = 0;
	int ret;

	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_NAME, name, sizeof(name), SECTX_NAME_MAX);
	if (ret == 0) {
		count += identity_forget(req->hctx, name) ? 1 : 0;
		sectx_offline_forget(req->hctx, name, "sectxctl cache flush --user");
		SECTX_INFO("cached state of %s forgotten by uid %u pid %d", name,
			   (unsigned)req->uid, (int)req->pid);
	} else if (ret == SECTX_ERR_NOFIELD) {
		count = (uint32_t)sectx_offline_forget_all(req->hctx, "sectxctl cache flush");
		SECTX_INFO("%u offline credentials deleted by uid %u pid %d", (unsigned)count,
			   (unsigned)req->uid, (int)req->pid);
	} else {
		return SECTX_E_PROTO;
	}
	if (sectx_request_reply_begin(req, 256, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	sectx_put_u32(&w, SECTX_TAG_COUNT, count);
	sectx_request_reply(req, &w);
	return 0;
}

static const struct sectx_op_def cache_ops[] = {
    {SECTX_OP_CACHE_LIST, SECTX_SOCK_PAM, true, op_cache_list},
    {SECTX_OP_CACHE_DROP, SECTX_SOCK_PAM, true, op_cache_drop},
};
const struct sectx_op_table sectxd_cache_ops = SECTX_OP_TABLE(cache_ops);
