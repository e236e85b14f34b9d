/*
 * offline/offline_query.c - the offline credential cache as sectxctl sees it:
 * which users have a cached credential and since when, and dropping them.
 *
 * Who reaches this: root only, through the cache operations (ops/
 * admin_cache.c marks them root-only).  What root can make it do: list user
 * names and times (never a hash or salt), and delete cached credentials.
 */
#include <stdio.h>
#include <string.h>

#include "offline/offline.h"
#include "offline/offline_int.h"

size_t sectx_offline_list(struct sectxd_ctx *hctx, sectx_offline_list_fn fn, void *arg)
{
	const struct sectx_offline *oc = hctx->offline;
	const struct offline_entry *e;
	size_t n = 0;

	for (e = oc != NULL ? oc->head : NULL; e != NULL; e = e->next) {
		fn(arg, e->user, (int64_t)e->stored);
		n++;
	}
	return n;
}

size_t sectx_offline_forget_all(struct sectxd_ctx *hctx, const char *why)
{
	struct sectx_offline *oc = hctx->offline;
	char user[SECTX_NAME_MAX + 1];
	size_t n = 0;

	while (oc != NULL && oc->head != NULL && n < SECTX_OFFLINE_USERS_MAX) {
		size_t before = oc->n;

		snprintf(user, sizeof(user), "%s", oc->head->user);
		sectx_offline_forget(hctx, user, why);
		if (oc->n == before) {
			break; /* not removed (no state directory): stop, do not spin */
		}
		n++;
	}
	return n;
}
