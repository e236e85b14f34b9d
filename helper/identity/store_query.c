/*
 * identity/store_query.c - what the identity store holds, for sectxctl:
 * counts for status, and whether a name or id is in the negative cache.
 *
 * Who reaches this: anyone through the status and ID_INFO operations on
 * pam.sock (ops/).  What they can make it do: read counts and one negative
 * entry; nothing here changes the store or asks the realm.
 */
#include <stdio.h>
#include <string.h>

#include "identity/identity.h"
#include "identity/identity_int.h"
#include "proto.h"

static size_t neg_count(const struct neg_cache *nc)
{
	const struct neg_ent *e;
	size_t n = 0;

	for (e = nc->head; e != NULL; e = e->next) {
		n++;
	}
	return n;
}

void id_store_counts(const struct id_store *st, struct id_store_counts *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->users = st->n_static_users;
	c->groups = st->n_static_groups;
	for (i = 0; i < st->n_auto_users; i++) {
		if (!st->auto_users[i]->shadowed) {
			c->users++;
			c->groups++; /* its user private group */
		}
	}
	c->users += st->n_dir_users;
	c->groups += st->n_dir_groups;
	c->negative =
	    neg_count(&st->neg_names) + neg_count(&st->neg_uids) + neg_count(&st->neg_gids);
}

int64_t id_store_negative_until(struct id_store *st, bool by_id, const char *name, uint32_t id,
				bool group, int64_t now)
{
	struct neg_ent *e;
	struct id_name n;

	if (by_id) {
		e = id_neg_find(st, group ? &st->neg_gids : &st->neg_uids, NULL, id);
	} else {
		if (id_name_parse(name, st->realm, &n) != 0) {
			return 0;
		}
		e = id_neg_find(st, &st->neg_names, n.principal, 0);
	}
	return e != NULL && e->expires > now ? e->expires : 0;
}

void id_store_walk(const struct id_store *st, id_store_walk_fn fn, void *arg)
{
	const struct neg_cache *const negs[] = {&st->neg_names, &st->neg_uids, &st->neg_gids};
	const struct neg_ent *e;
	char id[16];
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		if (!st->auto_users[i]->shadowed) {
			fn(arg, "auto", st->auto_users[i]->principal,
			   st->auto_users[i]->verified_until);
		}
	}
	for (i = 0; i < sizeof(negs) / sizeof(negs[0]); i++) {
		for (e = negs[i]->head; e != NULL; e = e->next) {
			if (negs[i]->by_id) {
				snprintf(id, sizeof(id), "%s%u",
					 i == 1 ? "uid:" : "gid:", (unsigned)e->id);
			}
			fn(arg, "negative", negs[i]->by_id ? id : e->key, e->expires);
		}
	}
}

bool id_store_forget(struct id_store *st, const char *name)
{
	struct id_user *u;
	struct id_name n;
	bool known;

	if (id_name_parse(name, st->realm, &n) != 0) {
		return false;
	}
	known = id_neg_find(st, &st->neg_names, n.principal, 0) != NULL;
	id_neg_del(st, &st->neg_names, n.principal, 0);
	u = id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal), id_eq_user_principal,
		      n.principal);
	if (u != NULL && !u->is_static) {
		u->verified_until = 0;
		known = true;
	}
	st->version++;
	return known;
}

bool identity_forget(struct sectxd_ctx *hctx, const char *name)
{
	struct sectxd_identity *id = hctx->identity;
	bool known;

	if (id == NULL || id->store == NULL) {
		return false;
	}
	known = id_store_forget(id->store, name);
	id_publish_changed(id);
	return known;
}

void identity_status_fields(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	struct sectxd_identity *id = hctx->identity;
	struct id_store_counts c;
	char path[SECTX_STRING_MAX];

	if (id == NULL || id->store == NULL) {
		return;
	}
	id_store_counts(id->store, &c);
	sectx_put_u32(w, SECTX_TAG_CACHED_USERS, (uint32_t)c.users);
	sectx_put_u32(w, SECTX_TAG_CACHED_GROUPS, (uint32_t)c.groups);
	sectx_put_u32(w, SECTX_TAG_NEGATIVE, (uint32_t)c.negative);
	sectx_put_u64(w, SECTX_TAG_GENERATION, id->published_gen);
	snprintf(path, sizeof(path), "%s/%s/%s", hctx->cfg->sectxd.socket_dir, SECTX_NSS_CACHE_DIR,
		 SECTX_NSS_CACHE_FILE);
	sectx_put_string(w, SECTX_TAG_NSS_CACHE_FILE, path);
}
