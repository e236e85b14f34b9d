/*
 * ops/nss.c - the NSS operations on nss.sock (users, groups, initgroups,
 * enumeration) and the identity admin operations on pam.sock (cache flush,
 * id-map, and id-info: a lookup as NSS answers it, with its source and
 * expiry, for anyone, charged to the caller's rate of existence checks).
 *
 * Who reaches this: any local process through nss.sock, with names and ids
 * of its choosing; root only for flush and id-map (the dispatch table marks
 * them root_only and the server checks before the handler runs).  What they
 * can make it do: read the identity store, and through it start existence
 * checks (rate-limited per caller uid in identity.c).  Every name is bounded
 * and validated by the codec, then by the store.  Must never reply with id 0
 * (the store never holds one) or block: lookups that need the realm reply
 * from a tevent callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"
#include "identity/identity.h"
#include "log.h"
#include "server/server.h"

#define ID_MAP_PAGE_BYTES (96u * 1024u) /* id-map reply body, below SECTX_FRAME_MAX */

/* The NAME of a request: 0, or a status to reply with. */
static uint32_t request_name(struct sectx_request *req, char *name, size_t size)
{
	int ret = sectx_msg_get_string(&req->msg, SECTX_TAG_NAME, name, size, SECTX_NAME_MAX);

	if (ret == SECTX_ERR_NOFIELD || ret == SECTX_ERR_DUPFIELD || ret == SECTX_ERR_BADLEN) {
		return SECTX_E_PROTO;
	}
	if (ret != 0) {
		return SECTX_E_NOTFOUND; /* a string no user or group can have */
	}
	return 0;
}

static void put_user(struct sectx_wbuf *w, const struct id_user *u, uint32_t ttl)
{
	sectx_put_string(w, SECTX_TAG_NAME, u->display);
	sectx_put_u32(w, SECTX_TAG_UID, u->uid);
	sectx_put_u32(w, SECTX_TAG_GID, u->gid);
	sectx_put_string(w, SECTX_TAG_GECOS, u->gecos);
	sectx_put_string(w, SECTX_TAG_HOME, u->home);
	sectx_put_string(w, SECTX_TAG_SHELL, u->shell);
	sectx_put_string(w, SECTX_TAG_PRINCIPAL, u->principal);
	sectx_put_u32(w, SECTX_TAG_TTL, ttl);
}

static void put_group(struct sectx_wbuf *w, const struct id_group *g, uint32_t ttl)
{
	size_t i;

	sectx_put_string(w, SECTX_TAG_NAME, g->name);
	sectx_put_u32(w, SECTX_TAG_GID, g->gid);
	for (i = 0; i < g->nmem; i++) {
		sectx_put_string(w, SECTX_TAG_MEMBER, g->members[i]);
	}
	sectx_put_u32(w, SECTX_TAG_TTL, ttl);
}

static uint32_t lookup_status(int ret)
{
	switch (ret) {
	case -ENOENT:
		return SECTX_E_NOTFOUND;
	case -EBUSY:
		return SECTX_E_BUSY;
	case -ENOMEM:
		return SECTX_E_INTERNAL;
	default:
		return SECTX_E_UNAVAIL;
	}
}

/* --- lookups ---------------------------------------------------------------------------------- */

static void lookup_done(struct tevent_req *subreq)
{
	struct sectx_request *req = tevent_req_callback_data(subreq, struct sectx_request);
	uint16_t op = req->msg.hdr.op;
	struct sectx_wbuf w;
	struct id_lookup lk;
	uint32_t ttl = 0;
	int ret;

	ret = identity_lookup_recv(subreq, &lk, &ttl);
	if (ret != 0) {
		talloc_free(subreq);
		sectx_request_reply_status(req, lookup_status(ret), NULL);
		return;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		talloc_free(subreq);
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	if (op == SECTX_OP_NSS_GETPWNAM || op == SECTX_OP_NSS_GETPWUID) {
		put_user(&w, lk.user, ttl);
	} else {
		put_group(&w, lk.group, ttl);
	}
	sectx_request_reply(req, &w); /* frees req, and subreq with it */
}

static int start_lookup(struct sectx_request *req, enum identity_kind kind, const char *name,
			uint32_t id)
{
	struct tevent_req *subreq;

	subreq = identity_lookup_send(req, req->hctx, kind, name, id, req->uid);
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, lookup_done, req);
	return 0;
}

static int op_by_name(struct sectx_request *req, enum identity_kind kind)
{
	char name[SECTX_NAME_MAX + 1];
	uint32_t st = request_name(req, name, sizeof(name));

	if (st != 0) {
		return (int)st;
	}
	return start_lookup(req, kind, name, 0);
}

static int op_by_id(struct sectx_request *req, uint16_t tag, enum identity_kind kind)
{
	uint32_t id;
	int ret = sectx_msg_get_u32(&req->msg, tag, &id);

	if (ret != 0) {
		return SECTX_E_PROTO;
	}
	return start_lookup(req, kind, NULL, id);
}

static int op_getpwnam(struct sectx_request *req)
{
	return op_by_name(req, IDENTITY_USER_BY_NAME);
}

static int op_getpwuid(struct sectx_request *req)
{
	return op_by_id(req, SECTX_TAG_UID, IDENTITY_USER_BY_UID);
}

static int op_getgrnam(struct sectx_request *req)
{
	return op_by_name(req, IDENTITY_GROUP_BY_NAME);
}

static int op_getgrgid(struct sectx_request *req)
{
	return op_by_id(req, SECTX_TAG_GID, IDENTITY_GROUP_BY_GID);
}

static int op_initgroups(struct sectx_request *req)
{
	struct id_store *st = identity_store(req->hctx);
	char name[SECTX_NAME_MAX + 1];
	const uint32_t *gids;
	struct sectx_wbuf w;
	size_t n, i;
	uint32_t status = request_name(req, name, sizeof(name));

	if (status != 0) {
		return (int)status;
	}
	if (st == NULL || id_store_groups_of(st, name, &gids, &n) != ID_FOUND) {
		return SECTX_E_NOTFOUND;
	}
	if (sectx_request_reply_begin(req, 64 + n * 10, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	for (i = 0; i < n; i++) {
		sectx_put_u32(&w, SECTX_TAG_GID, gids[i]);
	}
	sectx_request_reply(req, &w);
	return 0;
}

static int op_enum_users(struct sectx_request *req)
{
	struct id_store *st = identity_store(req->hctx);
	const struct id_user *u;
	struct sectx_wbuf w;
	uint32_t index;

	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_INDEX, &index) != 0) {
		return SECTX_E_PROTO;
	}
	u = st != NULL ? id_store_user_at(st, index, (int64_t)time(NULL)) : NULL;
	if (u == NULL) {
		return SECTX_E_NOTFOUND;
	}
	if (sectx_request_reply_begin(req, 8192, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	put_user(&w, u, 0);
	sectx_request_reply(req, &w);
	return 0;
}

static int op_enum_groups(struct sectx_request *req)
{
	struct id_store *st = identity_store(req->hctx);
	const struct id_group *g;
	struct id_group upg;
	struct sectx_wbuf w;
	uint32_t index;

	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_INDEX, &index) != 0) {
		return SECTX_E_PROTO;
	}
	g = st != NULL ? id_store_group_at(st, index, (int64_t)time(NULL), &upg) : NULL;
	if (g == NULL) {
		return SECTX_E_NOTFOUND;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	put_group(&w, g, 0);
	sectx_request_reply(req, &w);
	return 0;
}

/* --- ID_INFO: a lookup as NSS would answer it, with its source ---------------------------------
 */

struct id_info {
	struct sectx_request *req;
	uint32_t kind;
	bool by_id;
	char name[SECTX_NAME_MAX + 1];
	uint32_t id;
};

static void put_source(struct sectx_wbuf *w, const struct id_user *u)
{
	sectx_put_string(w, SECTX_TAG_SOURCE,
			 u->is_static  ? "static"
			 : u->from_dir ? "directory"
				       : "auto");
	sectx_put_u64(w, SECTX_TAG_EXPIRES,
		      u->is_static || u->verified_until < 0 ? 0 : (uint64_t)u->verified_until);
}

static void info_done(struct tevent_req *subreq)
{
	struct id_info *ii = tevent_req_callback_data(subreq, struct id_info);
	struct sectx_request *req = ii->req;
	struct id_store *st = identity_store(req->hctx);
	int64_t now = (int64_t)time(NULL), neg;
	const uint32_t *gids;
	struct sectx_wbuf w;
	struct id_lookup lk;
	uint32_t ttl = 0;
	size_t n, i;
	int ret;

	ret = identity_lookup_recv(subreq, &lk, &ttl);
	if (ret != 0 && ret != -ENOENT) {
		sectx_request_reply_status(req, lookup_status(ret), NULL);
		return;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	if (ret == -ENOENT) {
		neg = st != NULL ? id_store_negative_until(st, ii->by_id, ii->name, ii->id,
							   ii->kind == SECTX_ID_INFO_GROUP, now)
				 : 0;
		sectx_put_string(&w, SECTX_TAG_SOURCE, neg > 0 ? "negative" : "none");
		sectx_put_u64(&w, SECTX_TAG_EXPIRES, neg > 0 ? (uint64_t)neg : 0);
	} else if (ii->kind == SECTX_ID_INFO_GROUP) {
		put_group(&w, lk.group, ttl);
		if (lk.group->upg_of != NULL) {
			put_source(&w, lk.group->upg_of);
		} else if (lk.group->from_dir) {
			sectx_put_string(&w, SECTX_TAG_SOURCE, "directory");
			sectx_put_u64(
			    &w, SECTX_TAG_EXPIRES,
			    lk.group->verified_until < 0 ? 0 : (uint64_t)lk.group->verified_until);
		} else {
			sectx_put_string(&w, SECTX_TAG_SOURCE, "static");
			sectx_put_u64(&w, SECTX_TAG_EXPIRES, 0);
		}
	} else {
		put_user(&w, lk.user, ttl);
		put_source(&w, lk.user);
		if (ii->kind == SECTX_ID_INFO_GROUPS && st != NULL &&
		    id_store_groups_of(st, lk.user->principal, &gids, &n) == ID_FOUND) {
			for (i = 0; i < n; i++) {
				sectx_put_u32(&w, SECTX_TAG_MEMBER_GID, gids[i]);
			}
		}
	}
	if (ret == 0 && lk.stale) {
		sectx_put_u32(&w, SECTX_TAG_STALE, 1);
	}
	sectx_request_reply(req, &w); /* frees req, and ii and subreq with it */
}

static int op_id_info(struct sectx_request *req)
{
	struct id_info *ii = talloc_zero(req, struct id_info);
	enum identity_kind kind;
	struct tevent_req *subreq;
	uint32_t status;
	uint16_t id_tag;

	if (ii == NULL) {
		return SECTX_E_INTERNAL;
	}
	ii->req = req;
	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_ID_KIND, &ii->kind) != 0) {
		return SECTX_E_PROTO;
	}
	id_tag = ii->kind == SECTX_ID_INFO_GROUP ? SECTX_TAG_GID : SECTX_TAG_UID;
	ii->by_id = sectx_msg_get_u32(&req->msg, id_tag, &ii->id) == 0;
	if (!ii->by_id) {
		status = request_name(req, ii->name, sizeof(ii->name));
		if (status != 0) {
			return (int)status;
		}
	}
	switch (ii->kind) {
	case SECTX_ID_INFO_USER:
	case SECTX_ID_INFO_GROUPS:
		kind = ii->by_id ? IDENTITY_USER_BY_UID : IDENTITY_USER_BY_NAME;
		break;
	case SECTX_ID_INFO_GROUP:
		kind = ii->by_id ? IDENTITY_GROUP_BY_GID : IDENTITY_GROUP_BY_NAME;
		break;
	default:
		return SECTX_E_INVAL;
	}
	subreq = identity_lookup_send(ii, req->hctx, kind, ii->by_id ? NULL : ii->name, ii->id,
				      req->uid);
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, info_done, ii);
	return 0;
}

/* --- admin ------------------------------------------------------------------------------------ */

static void flush_done(struct tevent_req *subreq)
{
	struct sectx_request *req = tevent_req_callback_data(subreq, struct sectx_request);
	uint64_t gen = 0;
	struct sectx_wbuf w;
	int ret;

	ret = identity_flush_recv(subreq, &gen);
	talloc_free(subreq);
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_INTERNAL, "cannot publish the NSS cache");
		return;
	}
	SECTX_INFO("identity caches flushed by uid %u pid %d; NSS cache generation %" PRIu64,
		   (unsigned)req->uid, (int)req->pid, gen);
	if (sectx_request_reply_begin(req, 256, &w) != 0) {
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	sectx_put_u64(&w, SECTX_TAG_GENERATION, gen);
	sectx_request_reply(req, &w);
}

static int op_cache_flush(struct sectx_request *req)
{
	struct tevent_req *subreq = identity_flush_send(req, req->hctx);

	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, flush_done, req);
	return 0;
}

/* id-map: the range, then one list of mappings, collisions and problems,
 * paged by INDEX. */
static int op_id_map(struct sectx_request *req)
{
	struct id_store *st = identity_store(req->hctx);
	size_t nm, nc, np, i;
	uint32_t index = 0;
	struct sectx_wbuf w;
	char text[SECTX_STRING_MAX];

	if (st == NULL) {
		return SECTX_E_UNAVAIL;
	}
	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_INDEX, &index) == SECTX_ERR_DUPFIELD) {
		return SECTX_E_PROTO;
	}
	nm = id_store_n_mappings(st);
	nc = id_store_n_collisions(st);
	np = id_store_n_problems(st);
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	sectx_put_string(&w, SECTX_TAG_ID_RANGE, id_store_range(st));
	for (i = index; i < nm + nc + np; i++) {
		if (w.len > ID_MAP_PAGE_BYTES) {
			sectx_put_u32(&w, SECTX_TAG_NEXT_INDEX, (uint32_t)i);
			break;
		}
		if (i < nm) {
			const struct id_user *u = id_store_mapping_at(st, i);

			if (!u->shadowed) {
				snprintf(text, sizeof(text), "%" PRIu32 " %s", u->uid,
					 u->principal);
				sectx_put_string(&w, SECTX_TAG_MAPPING, text);
			}
		} else if (i < nm + nc) {
			const struct id_collision *c = id_store_collision_at(st, i - nm);

			snprintf(text, sizeof(text), "%" PRIu32 " %s %s", c->uid, c->principal,
				 c->holder);
			sectx_put_string(&w, SECTX_TAG_COLLISION, text);
		} else {
			sectx_put_string(&w, SECTX_TAG_ID_PROBLEM,
					 id_store_problem_at(st, i - nm - nc));
		}
	}
	sectx_request_reply(req, &w);
	return 0;
}

static const struct sectx_op_def nss_ops[] = {
    {SECTX_OP_NSS_GETPWNAM, SECTX_SOCK_NSS, false, op_getpwnam},
    {SECTX_OP_NSS_GETPWUID, SECTX_SOCK_NSS, false, op_getpwuid},
    {SECTX_OP_NSS_GETGRNAM, SECTX_SOCK_NSS, false, op_getgrnam},
    {SECTX_OP_NSS_GETGRGID, SECTX_SOCK_NSS, false, op_getgrgid},
    {SECTX_OP_NSS_INITGROUPS, SECTX_SOCK_NSS, false, op_initgroups},
    {SECTX_OP_NSS_ENUM_USERS, SECTX_SOCK_NSS, false, op_enum_users},
    {SECTX_OP_NSS_ENUM_GROUPS, SECTX_SOCK_NSS, false, op_enum_groups},
    {SECTX_OP_CACHE_FLUSH, SECTX_SOCK_PAM, true, op_cache_flush},
    {SECTX_OP_ID_MAP, SECTX_SOCK_PAM, true, op_id_map},
    {SECTX_OP_ID_INFO, SECTX_SOCK_PAM, false, op_id_info},
};
const struct sectx_op_table sectxd_nss_ops = SECTX_OP_TABLE(nss_ops);
