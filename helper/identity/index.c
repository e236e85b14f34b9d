/*
 * identity/index.c - the store's hash indexes: an open-addressing table of
 * pointers keyed by a 64-bit hash (linear probing, backward-shift deletion),
 * and the store's keys on it (principal, name, uid, gid, membership, the
 * ids static entries hold).  Hashes are seeded per store (getrandom at
 * id_store_new), so a local user choosing names cannot aim collisions.
 *
 * Who reaches this: the store's files only, with keys already validated.
 * Must never: allocate outside the owner it is given, or leave a probe
 * sequence broken after a deletion.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <string.h>

#include "nss_cache.h"

/* --- an open-addressing index of pointers, keyed by a 64-bit hash ----------------------------- */

int id_ix_init(TALLOC_CTX *owner, struct id_index *ix, size_t hint)
{
	size_t n = 16;

	while (n < hint * 2) {
		n *= 2;
	}
	ix->slots = talloc_zero_array(owner, struct ix_slot, n);
	ix->nslots = n;
	ix->count = 0;
	return ix->slots != NULL ? 0 : -ENOMEM;
}

void *id_ix_get(const struct id_index *ix, uint64_t h, id_ix_eq_fn eq, const void *key)
{
	size_t mask = ix->nslots - 1, i = (size_t)h & mask;

	for (; ix->slots[i].val != NULL; i = (i + 1) & mask) {
		if (ix->slots[i].h == h && eq(ix->slots[i].val, key)) {
			return ix->slots[i].val;
		}
	}
	return NULL;
}

int id_ix_put(TALLOC_CTX *owner, struct id_index *ix, uint64_t h, void *val)
{
	size_t mask, i;

	if ((ix->count + 1) * 2 > ix->nslots) {
		struct ix_slot *old = ix->slots;
		size_t oldn = ix->nslots, j;

		ix->slots = talloc_zero_array(owner, struct ix_slot, oldn * 2);
		if (ix->slots == NULL) {
			ix->slots = old;
			return -ENOMEM;
		}
		ix->nslots = oldn * 2;
		mask = ix->nslots - 1;
		for (j = 0; j < oldn; j++) {
			if (old[j].val != NULL) {
				for (i = (size_t)old[j].h & mask; ix->slots[i].val != NULL;
				     i = (i + 1) & mask) {
				}
				ix->slots[i] = old[j];
			}
		}
		talloc_free(old);
	}
	mask = ix->nslots - 1;
	for (i = (size_t)h & mask; ix->slots[i].val != NULL; i = (i + 1) & mask) {
	}
	ix->slots[i].h = h;
	ix->slots[i].val = val;
	ix->count++;
	return 0;
}

/* Remove the slot holding val (backward-shift deletion keeps every probe
 * sequence unbroken). */
void id_ix_del(struct id_index *ix, uint64_t h, const void *val)
{
	size_t mask = ix->nslots - 1, i = (size_t)h & mask, j, k;

	for (; ix->slots[i].val != NULL; i = (i + 1) & mask) {
		if (ix->slots[i].val == val) {
			break;
		}
	}
	if (ix->slots[i].val == NULL) {
		return;
	}
	ix->slots[i].val = NULL;
	ix->count--;
	for (j = (i + 1) & mask; ix->slots[j].val != NULL; j = (j + 1) & mask) {
		k = (size_t)ix->slots[j].h & mask;
		/* move j back to i unless its home k lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			ix->slots[i] = ix->slots[j];
			ix->slots[j].val = NULL;
			i = j;
		}
	}
}

/* --- the store's keys ------------------------------------------------------------------------- */

uint64_t id_str_hash(const struct id_store *st, const char *s)
{
	return sectx_nss_cache_hash(st->seed, s, strlen(s));
}

uint64_t id_hash(const struct id_store *st, uint32_t id)
{
	return sectx_nss_cache_id_hash(st->seed, id);
}

bool id_eq_user_principal(const void *val, const void *key)
{
	return strcmp(((const struct id_user *)val)->principal, key) == 0;
}

bool id_eq_user_uid(const void *val, const void *key)
{
	return ((const struct id_user *)val)->uid == *(const uint32_t *)key;
}

bool id_eq_group_name(const void *val, const void *key)
{
	return strcmp(((const struct id_group *)val)->name, key) == 0;
}

bool id_eq_group_gid(const void *val, const void *key)
{
	return ((const struct id_group *)val)->gid == *(const uint32_t *)key;
}

bool id_eq_membership(const void *val, const void *key)
{
	return strcmp(((const struct membership *)val)->principal, key) == 0;
}

/* taken holds (uintptr_t)id + 1 so that no value is NULL */
static bool eq_taken(const void *val, const void *key)
{
	return (uintptr_t)val - 1 == *(const uint32_t *)key;
}

bool id_is_taken(const struct id_store *st, uint32_t id)
{
	return id_ix_get(&st->taken, id_hash(st, id), eq_taken, &id) != NULL;
}

int id_mark_taken(struct id_store *st, uint32_t id)
{
	if (id_is_taken(st, id)) {
		return 0;
	}
	return id_ix_put(st, &st->taken, id_hash(st, id), (void *)((uintptr_t)id + 1));
}
