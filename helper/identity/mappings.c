/*
 * identity/mappings.c - automatic mapping of realm principals to ids (rules
 * in store.h): the mapping made when the realm confirms a principal, the
 * collisions refused, the existence knowledge of mapped users, and the id
 * map state file <state_dir>/idmap that keeps the mappings across restarts.
 *
 * The map file is a state file (core/state_file.h: header, checksum,
 * atomic replacement) of kind IDMP.  Its body, version 2, is a sequence of
 * codec frames (identity_int.h, wire.c): a head with the range the
 * mappings were made with and their count, then one frame per mapping.  Version 1, the text of
 * older builds
 * ("range MIN-MAX" and "map UID PRINCIPAL" lines), is still read so that
 * an upgrade keeps its mappings, and replaced by version 2 at the next
 * save; it is never written.
 *
 * Who reaches this: the identity service, with principals it has validated
 * and the realm has confirmed; sectxd's own state file at start and reload.
 * Must never: move a principal to another id than its hash (hosts would
 * disagree), serve a mapping it could not persist, or trust a map file
 * beyond what its decoder has checked.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "nss_cache.h"
#include "core/state_file.h"

/* An auto user for principal n at uid: home and shell from the templates. */
static struct id_user *auto_user_new(struct id_store *st, const struct id_name *n, uint32_t uid)
{
	char home[ID_FIELD_MAX + 1], shell[ID_FIELD_MAX + 1];
	const char *display, *alias;

	id_names_of(st, n, &display, &alias);
	if (id_expand_template(home, sizeof(home), st->home_tmpl, display, uid, n->principal,
			       n->realm) != 0 ||
	    id_expand_template(shell, sizeof(shell), st->shell_tmpl, display, uid, n->principal,
			       n->realm) != 0) {
		return NULL;
	}
	return id_user_new(st, n, uid, uid, "", home, shell, false);
}

/* The user holding uid, as "principal" or "static ..." for messages. */
static const char *holder_of(struct id_store *st, uint32_t uid)
{
	const struct id_user *u =
	    id_ix_get(&st->user_by_uid, id_hash(st, uid), id_eq_user_uid, &uid);

	if (u != NULL) {
		return u->principal;
	}
	if (id_is_taken(st, uid)) {
		return "a static user or group id";
	}
	return "another mapping";
}

/* Add a mapping to memory (and indexes unless it collides).  Returns 0 with
 * *shadowed telling whether it is served. */
static int add_auto(struct id_store *st, const struct id_name *n, uint32_t uid, bool *shadowed,
		    struct id_user **out)
{
	struct id_user *u = auto_user_new(st, n, uid);

	if (u == NULL) {
		return -ENOMEM;
	}
	*shadowed = id_is_taken(st, uid) ||
		    id_ix_get(&st->user_by_uid, id_hash(st, uid), id_eq_user_uid, &uid) != NULL ||
		    id_ix_get(&st->user_by_principal, id_str_hash(st, u->principal),
			      id_eq_user_principal, u->principal) != NULL;
	u->shadowed = *shadowed;
	if (id_append_ptr(st, (void ***)&st->auto_users, &st->n_auto_users, u) != 0) {
		talloc_free(u);
		return -ENOMEM;
	}
	if (!u->shadowed &&
	    (id_ix_put(st, &st->user_by_principal, id_str_hash(st, u->principal), u) != 0 ||
	     id_ix_put(st, &st->user_by_uid, id_hash(st, uid), u) != 0)) {
		return -ENOMEM;
	}
	if (out != NULL) {
		*out = u;
	}
	return 0;
}

/* Add one mapping read from the map file (record or line where): a
 * mapping that does not fit this store is refused and reported, one that
 * collides is kept shadowed.  0 or -ENOMEM. */
static int load_one(struct id_store *st, uint32_t uid, const char *principal, unsigned where)
{
	struct id_name n;
	bool shadowed;
	int ret;

	if (strlen(principal) > SECTX_NAME_MAX || id_name_parse(principal, st->realm, &n) != 0 ||
	    !n.was_qualified || uid != id_auto_uid(n.principal, st->range_min, st->range_max)) {
		id_add_problem(st, "%s:%u: not a valid mapping for this range; ignored", ID_MAPFILE,
			       where);
		return 0;
	}
	ret = add_auto(st, &n, uid, &shadowed, NULL);
	if (ret != 0) {
		return ret;
	}
	if (shadowed && id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal),
				  id_eq_user_principal, n.principal) == NULL) {
		id_add_collision(st, uid, n.principal, holder_of(st, uid));
	}
	return 0;
}

/* The mappings were made with range: it must be this store's. */
static int check_range(struct id_store *st, const char *range, char *why, size_t whylen)
{
	if (strcmp(range, st->range) != 0) {
		snprintf(why, whylen,
			 "id_range is %s but the mappings in %s were made with %s: "
			 "restore id_range, or remove the file (every mapped user "
			 "then gets a new uid)",
			 st->range, ID_MAPFILE, range);
		return -ESTALE;
	}
	return 0;
}

/* Version 1: the text of older builds, read for upgrades only. */
static int load_v1(struct id_store *st, char *text, char *why, size_t whylen)
{
	char *line, *next;
	unsigned lineno = 0;
	bool have_range = false;
	int ret;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		char principal[SECTX_NAME_MAX + 2], range[64];
		unsigned long long uid;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		if (line[0] == '#' || line[0] == '\0') {
			continue;
		}
		if (sscanf(line, "range %63s", range) == 1) {
			ret = check_range(st, range, why, whylen);
			if (ret != 0) {
				return ret;
			}
			have_range = true;
			continue;
		}
		if (!have_range || sscanf(line, "map %llu %257s", &uid, principal) != 2 ||
		    uid > UINT32_MAX) {
			id_add_problem(st, "%s:%u: not a valid mapping for this range; ignored",
				       ID_MAPFILE, lineno);
			continue;
		}
		ret = load_one(st, (uint32_t)uid, principal, lineno);
		if (ret != 0) {
			snprintf(why, whylen, "out of memory loading %s", ID_MAPFILE);
			return ret;
		}
	}
	return 0;
}

/* Version 2: codec frames (wire.c).  The whole body is checked before
 * anything is taken from it: a body the decoder refuses is moved aside
 * (logged) and the store starts without mappings, as for a file that fails
 * the state-file checks. */
static int load_v2(struct id_store *st, int dirfd, const uint8_t *body, size_t len, char *why,
		   size_t whylen)
{
	struct id_map_reader r;
	struct id_map_rec rec;
	unsigned where = 0;
	int ret = 0;

	id_wire_map_reader_init(&r, body, len);
	while (!id_wire_map_done(&r)) {
		where++;
		ret = id_wire_map_next(&r, &rec);
		if (ret != 0) {
			char reason[128];

			snprintf(reason, sizeof(reason), "record %u: %s", where,
				 sectx_strerror(ret));
			(void)sectx_state_move_aside(dirfd, ID_MAPFILE, "id map", reason);
			return 0;
		}
	}
	where = 0;
	id_wire_map_reader_init(&r, body, len);
	while (ret == 0 && !id_wire_map_done(&r) && id_wire_map_next(&r, &rec) == 0) {
		where++;
		if (rec.op == ID_OP_MAP_HEAD) {
			ret = check_range(st, rec.range, why, whylen);
		} else {
			ret = load_one(st, rec.uid, rec.principal, where);
			if (ret != 0) {
				snprintf(why, whylen, "out of memory loading %s", ID_MAPFILE);
			}
		}
	}
	return ret;
}

int id_store_load_mappings(struct id_store *st, int dirfd, char *why, size_t whylen)
{
	TALLOC_CTX *tmp = talloc_new(st);
	uint8_t *payload = NULL;
	size_t len = 0;
	uint32_t version = 0;
	int ret;

	if (tmp == NULL) {
		return -ENOMEM;
	}
	/* A corrupt file is moved aside (logged) and we start empty: the
	 * mappings are deterministic, so the uids of returning users do not
	 * change; only collisions must be found again. */
	(void)sectx_state_remove_temps(dirfd, ID_MAPFILE);
	ret = sectx_state_load(tmp, dirfd, ID_MAPFILE, "id map", ID_MAPFILE_KIND,
			       ID_MAPFILE_VERSION, ID_MAPFILE_MAX, &payload, &len, &version);
	if (ret == -ENOENT || ret == -EBADMSG) {
		ret = 0;
		goto done;
	}
	if (ret != 0) {
		snprintf(why, whylen, "cannot read %s in the state directory: %s", ID_MAPFILE,
			 strerror(-ret));
		goto done;
	}
	/* the payload is NUL-terminated (sectx_state_load) */
	ret = version == 1 ? load_v1(st, (char *)payload, why, whylen)
			   : load_v2(st, dirfd, payload, len, why, whylen);
	if (ret != 0) {
		goto done;
	}
	st->version++;
done:
	talloc_free(tmp);
	return ret;
}

/* Rewrite <dirfd>/idmap with every mapping (version 2).  0 or -errno. */
static int save_mappings(struct id_store *st, int dirfd)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int ret;

	ret = id_wire_map_encode(st, st->range, st->auto_users, st->n_auto_users, &body, &len);
	if (ret == 0) {
		ret = sectx_state_save(dirfd, ID_MAPFILE, ID_MAPFILE_KIND, ID_MAPFILE_VERSION, body,
				       len);
	}
	talloc_free(body);
	return ret;
}

void id_store_adopt(struct id_store *st, const struct id_store *old)
{
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		struct id_user *u = st->auto_users[i];
		const struct id_user *o =
		    id_ix_get(&old->user_by_principal, id_str_hash(old, u->principal),
			      id_eq_user_principal, u->principal);

		if (o != NULL && !o->is_static) {
			u->verified_until = o->verified_until;
		}
	}
	for (i = 0; i < old->n_collisions; i++) {
		id_add_collision(st, old->collisions[i].uid, old->collisions[i].principal,
				 old->collisions[i].holder);
	}
	st->version++;
}

void id_store_seed_from_cache(struct id_store *st, const struct sectx_nss_cache_map *m, int64_t now)
{
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		struct id_user *u = st->auto_users[i];
		int64_t expires;

		if (!u->shadowed &&
		    sectx_nss_cache_user_expiry(m, u->principal, now, u->uid, &expires) == 0 &&
		    expires > now) {
			u->verified_until =
			    expires < now + st->pos_ttl ? expires : now + st->pos_ttl;
		}
	}
	st->version++;
}

int id_store_check_result(struct id_store *st, const char *principal, bool exists, int64_t now,
			  int dirfd)
{
	struct id_user *u;
	struct id_name n;
	uint32_t uid;
	bool shadowed;
	int ret;

	if (id_name_parse(principal, st->realm, &n) != 0) {
		return -EINVAL;
	}
	u = id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal), id_eq_user_principal,
		      n.principal);
	if (!exists) {
		if (u != NULL && !u->is_static) {
			u->verified_until = 0;
		}
		id_neg_add(st, &st->neg_names, n.principal, 0, now);
		return 0;
	}
	id_neg_del(st, &st->neg_names, n.principal, 0);
	if (u != NULL) {
		if (!u->is_static) {
			u->verified_until = now + st->pos_ttl;
			st->version++;
		}
		return 0;
	}
	if (!st->auto_id || !n.has_short) {
		return 0; /* nothing to map: the lookup will say NOTFOUND */
	}
	/* A mapping refused before stays refused. */
	for (size_t i = 0; i < st->n_auto_users; i++) {
		if (st->auto_users[i]->shadowed &&
		    strcmp(st->auto_users[i]->principal, n.principal) == 0) {
			id_neg_add(st, &st->neg_names, n.principal, 0, now);
			return 0;
		}
	}
	uid = id_auto_uid(n.principal, st->range_min, st->range_max);
	if (id_is_taken(st, uid) ||
	    id_ix_get(&st->user_by_uid, id_hash(st, uid), id_eq_user_uid, &uid) != NULL) {
		id_add_collision(st, uid, n.principal, holder_of(st, uid));
		id_neg_add(st, &st->neg_names, n.principal, 0, now);
		return 0;
	}
	ret = add_auto(st, &n, uid, &shadowed, &u);
	if (ret != 0) {
		return ret;
	}
	ret = save_mappings(st, dirfd);
	if (ret != 0) {
		/* not persisted: take it back, the lookup fails */
		SECTX_ERROR("cannot record the mapping of %s to uid %" PRIu32 ": %s", n.principal,
			    uid, strerror(-ret));
		id_ix_del(&st->user_by_principal, id_str_hash(st, u->principal), u);
		id_ix_del(&st->user_by_uid, id_hash(st, uid), u);
		st->n_auto_users--;
		talloc_free(u);
		return ret;
	}
	SECTX_INFO("mapped principal %s to uid %" PRIu32, n.principal, uid);
	u->verified_until = now + st->pos_ttl;
	id_neg_del(st, &st->neg_uids, NULL, uid);
	id_neg_del(st, &st->neg_gids, NULL, uid);
	st->version++;
	return 0;
}
