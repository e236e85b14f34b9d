/*
 * identity/negative.c - the store's negative caches: principals, uids and
 * gids known not to exist, each until now + negative_ttl, in a table capped
 * at negative_cache_size entries (the oldest goes first).  They spare the
 * realm a second existence check of a name any local user may ask for, and
 * are published as negative records of the NSS cache.
 *
 * Who reaches this: the store's lookups, with names and ids of any local
 * user's choosing (validated by the store first).  Must never: grow past
 * its cap, or fail a lookup because an entry could not be remembered (a
 * negative entry is an optimisation).
 */
#include "identity/identity_int.h"

#include <string.h>

/* --- negative caches -------------------------------------------------------------------------- */

static bool eq_neg(const void *val, const void *key)
{
	return strcmp(((const struct neg_ent *)val)->key, key) == 0;
}

static bool eq_neg_id(const void *val, const void *key)
{
	return ((const struct neg_ent *)val)->id == *(const uint32_t *)key;
}

int id_neg_init(struct id_store *st, struct neg_cache *nc, bool by_id)
{
	memset(nc, 0, sizeof(*nc));
	nc->by_id = by_id;
	return id_ix_init(st, &nc->ix, 64);
}

static void neg_unlink(struct neg_cache *nc, struct neg_ent *e)
{
	if (e->prev != NULL) {
		e->prev->next = e->next;
	} else {
		nc->head = e->next;
	}
	if (e->next != NULL) {
		e->next->prev = e->prev;
	} else {
		nc->tail = e->prev;
	}
	e->prev = e->next = NULL;
}

static void neg_remove(struct neg_cache *nc, struct neg_ent *e)
{
	id_ix_del(&nc->ix, e->h, e);
	neg_unlink(nc, e);
	talloc_free(e);
}

struct neg_ent *id_neg_find(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id)
{
	if (nc->by_id) {
		return id_ix_get(&nc->ix, id_hash(st, id), eq_neg_id, &id);
	}
	return id_ix_get(&nc->ix, id_str_hash(st, key), eq_neg, key);
}

/* Is key (or id) known not to exist at now?  Drops an expired entry. */
bool id_neg_has(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		int64_t now)
{
	struct neg_ent *e = id_neg_find(st, nc, key, id);

	if (e == NULL) {
		return false;
	}
	if (e->expires > now) {
		return true;
	}
	neg_remove(nc, e);
	st->version++;
	return false;
}

void id_neg_del(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id)
{
	struct neg_ent *e = id_neg_find(st, nc, key, id);

	if (e != NULL) {
		neg_remove(nc, e);
		st->version++;
	}
}

/* Remember that key (or id) does not exist until now + neg_ttl; the oldest
 * entry goes when the cache is full. */
void id_neg_add(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		int64_t now)
{
	struct neg_ent *e = id_neg_find(st, nc, key, id);
	size_t klen = nc->by_id || key == NULL ? 0 : strlen(key); /* by id: no key */

	if (e == NULL) {
		while (nc->ix.count >= st->neg_max && nc->head != NULL) {
			neg_remove(nc, nc->head);
		}
		e = talloc_size(st, sizeof(*e) + klen + 1);
		if (e == NULL) {
			return; /* a negative entry is an optimisation */
		}
		talloc_set_name_const(e, "struct neg_ent");
		memset(e, 0, sizeof(*e));
		memcpy(e->key, nc->by_id ? "" : key, klen + 1);
		e->id = id;
		e->h = nc->by_id ? id_hash(st, id) : id_str_hash(st, key);
		if (id_ix_put(st, &nc->ix, e->h, e) != 0) {
			talloc_free(e);
			return;
		}
	} else {
		neg_unlink(nc, e);
	}
	e->expires = now + st->neg_ttl;
	e->prev = nc->tail;
	if (nc->tail != NULL) {
		nc->tail->next = e;
	} else {
		nc->head = e;
	}
	nc->tail = e;
	st->version++;
}

void id_neg_clear(struct id_store *st, struct neg_cache *nc)
{
	while (nc->head != NULL) {
		neg_remove(nc, nc->head);
	}
}
