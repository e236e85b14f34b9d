/*
 * identity/directory_enum.c - [directory] enumerate: every group, then
 * every user of the directory fetched with paged searches (directory.c) at
 * start and every enumerate_interval, into the store as lookups put them
 * (same checks, same TTL), so that getpwent and getgrent list them.
 *
 * A user the store already holds from a lookup keeps the groups that
 * lookup found (nested ones included); a user only enumerated gets the
 * groups that name it as a member directly (memberUid, or a member DN whose
 * first RDN is its name).
 *
 * Who reaches this: nobody but the timer; what the servers send is bounded
 * and checked as for lookups (directory.c, store_directory.c).  Must never:
 * run two enumerations at once, or block the loop (the searches are
 * asynchronous; storing is linear in the entries, with one sort).
 */
#include "identity/directory_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "identity/identity.h"
#include "identity/identity_int.h"
#include "log.h"

struct id_dir_enum {
	struct sectxd_identity *id;
	struct id_dir *dir; /* the engine it runs on */
	uint64_t interval_ms;
	struct tevent_timer *timer;
	struct tevent_req *req;
	struct id_dir_answer *groups; /* of the run under way */
};

/* A member name and the gid of a group naming it. */
struct membership_pair {
	const char *name;
	uint32_t gid;
};

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct membership_pair *)a)->name,
		      ((const struct membership_pair *)b)->name);
}

static void enum_run(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		     void *pvt);

static void enum_schedule(struct id_dir_enum *e, uint64_t ms)
{
	TALLOC_FREE(e->timer);
	e->timer = tevent_add_timer(
	    e->id->hctx->ev, e,
	    tevent_timeval_current_ofs((uint32_t)(ms / 1000), (uint32_t)(ms % 1000) * 1000),
	    enum_run, e);
	if (e->timer == NULL) {
		SECTX_ERROR("directory: out of memory scheduling the enumeration");
	}
}

/* The store gets the groups, then the users with their groups. */
static void enum_store(struct id_dir_enum *e, const struct id_dir_answer *users)
{
	const struct id_dir_answer *groups = e->groups;
	struct id_store *st = e->id->store;
	int64_t until = id_realtime_now() + st->pos_ttl;
	struct membership_pair *pairs;
	size_t npairs = 0, i, j, stored_u = 0, stored_g = 0;
	uint32_t *gids;

	for (i = 0; i < groups->ngroups; i++) {
		stored_g += id_store_dir_group(st, &groups->groups[i], until) == 0;
		npairs += groups->groups[i].nmem;
	}
	pairs = talloc_array(e, struct membership_pair, npairs > 0 ? npairs : 1);
	gids = talloc_array(e, uint32_t, SECTX_NSS_CACHE_MAX_MEMBERS);
	if (pairs == NULL || gids == NULL) {
		SECTX_ERROR("directory: out of memory storing the enumeration");
		talloc_free(pairs);
		talloc_free(gids);
		return;
	}
	for (i = 0, npairs = 0; i < groups->ngroups; i++) {
		for (j = 0; j < groups->groups[i].nmem; j++) {
			pairs[npairs].name = groups->groups[i].members[j];
			pairs[npairs++].gid = groups->groups[i].gid;
		}
	}
	qsort(pairs, npairs, sizeof(*pairs), pair_cmp);
	for (i = 0; i < users->nusers; i++) {
		const struct id_dir_user *u = &users->users[i];
		struct membership_pair key = {.name = u->name};
		const struct membership_pair *p;
		const uint32_t *held = NULL;
		size_t n = 0;

		if (id_store_dir_user_gids(st, u->name, &held, &n)) {
			stored_u += id_store_dir_user(st, u, held, n, until) == 0;
			continue;
		}
		p = npairs > 0 ? bsearch(&key, pairs, npairs, sizeof(*pairs), pair_cmp) : NULL;
		while (p != NULL && p > pairs && strcmp(p[-1].name, u->name) == 0) {
			p--;
		}
		for (; p != NULL && p < pairs + npairs && strcmp(p->name, u->name) == 0 &&
		       n < SECTX_NSS_CACHE_MAX_MEMBERS;
		     p++) {
			if (p->gid != u->gid) {
				gids[n++] = p->gid;
			}
		}
		stored_u += id_store_dir_user(st, u, gids, n, until) == 0;
	}
	talloc_free(pairs);
	talloc_free(gids);
	SECTX_INFO("directory: enumerated %zu users and %zu groups (%zu and %zu stored)",
		   users->nusers, groups->ngroups, stored_u, stored_g);
	id_publish_changed(e->id);
}

static void enum_users_done(struct tevent_req *subreq)
{
	struct id_dir_enum *e = tevent_req_callback_data(subreq, struct id_dir_enum);
	struct id_dir_answer *users = NULL;
	int ret = id_dir_enum_recv(subreq, e, &users);

	talloc_free(subreq);
	e->req = NULL;
	if (ret == 0) {
		enum_store(e, users);
	} else {
		SECTX_WARN("directory: enumeration of users failed: %s", strerror(-ret));
	}
	talloc_free(users);
	TALLOC_FREE(e->groups);
	enum_schedule(e, e->interval_ms);
}

static void enum_groups_done(struct tevent_req *subreq)
{
	struct id_dir_enum *e = tevent_req_callback_data(subreq, struct id_dir_enum);
	int ret = id_dir_enum_recv(subreq, e, &e->groups);

	talloc_free(subreq);
	e->req = NULL;
	if (ret != 0 || e->dir != e->id->dir) {
		SECTX_WARN("directory: enumeration of groups failed: %s",
			   strerror(ret != 0 ? -ret : ECANCELED));
		TALLOC_FREE(e->groups);
		enum_schedule(e, e->interval_ms);
		return;
	}
	e->req = id_dir_enum_send(e, e->dir, true);
	if (e->req == NULL) {
		TALLOC_FREE(e->groups);
		enum_schedule(e, e->interval_ms);
		return;
	}
	tevent_req_set_callback(e->req, enum_users_done, e);
}

static void enum_run(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		     void *pvt)
{
	struct id_dir_enum *e = pvt;

	e->timer = NULL;
	if (e->req != NULL || e->dir == NULL || e->dir != e->id->dir) {
		return; /* one at a time; a stopped engine: configure starts again */
	}
	e->req = id_dir_enum_send(e, e->dir, false);
	if (e->req == NULL) {
		enum_schedule(e, e->interval_ms);
		return;
	}
	tevent_req_set_callback(e->req, enum_groups_done, e);
}

void id_dir_enum_configure(struct sectxd_identity *id, const struct sectx_config *cfg)
{
	struct id_dir_enum *e = id->dir_enum;

	if (id->dir == NULL || !cfg->directory.enumerate) {
		TALLOC_FREE(id->dir_enum);
		return;
	}
	if (e != NULL && e->dir == id->dir) {
		e->interval_ms = cfg->directory.enumerate_interval_ms;
		return;
	}
	TALLOC_FREE(id->dir_enum); /* a new engine: start again at once */
	e = talloc_zero(id, struct id_dir_enum);
	if (e == NULL) {
		SECTX_ERROR("directory: out of memory starting the enumeration");
		return;
	}
	e->id = id;
	e->dir = id->dir;
	e->interval_ms = cfg->directory.enumerate_interval_ms;
	id->dir_enum = e;
	enum_schedule(e, 0);
}
