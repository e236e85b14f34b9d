/*
 * identity/store.c - the users and groups sectxd knows, as one store: its
 * creation from the config, the lookups by name and id (static entries,
 * then mappings the realm has confirmed, then the negative caches),
 * enumeration, the cache flush, and the view of all that the NSS cache
 * publishes.  Its parts are in their own files: index.c (hash indexes),
 * negative.c (negative caches), static_files.c (the sysadmin's users and
 * groups), mappings.c (principals mapped to ids and the id map file).
 * Rules and file formats are in store.h.
 *
 * Who reaches this: ops/nss.c with names and ids of any local user's choosing
 * (already bounded by the codec; validated again here before use), and the
 * admin ops.  It never talks to a KDC (service.c asks s4u.c and reports
 * back through id_store_check_result) and never blocks on anything but its
 * own files: the static files at load and the small map file when a
 * mapping is made.  Memory is bounded by the static files, the mappings
 * (persisted, so already paid for), and the capped negative caches.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "nss_cache.h"

/* --- problems and collisions ------------------------------------------------------------------ */

/* Log and remember (bounded) a refused static line or mapping. */
void id_add_problem(struct id_store *st, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	SECTX_ERROR("%s", text);
	if (st->n_problems < ID_MAX_PROBLEMS) {
		char **n = talloc_realloc(st, st->problems, char *, st->n_problems + 1);

		if (n != NULL) {
			st->problems = n;
			n[st->n_problems] = talloc_strdup(st->problems, text);
			if (n[st->n_problems] != NULL) {
				st->n_problems++;
			}
		}
	}
}

void id_add_collision(struct id_store *st, uint32_t uid, const char *principal, const char *holder)
{
	size_t i;

	for (i = 0; i < st->n_collisions; i++) {
		if (strcmp(st->collisions[i].principal, principal) == 0) {
			return; /* reported already */
		}
	}
	SECTX_WARN("id collision: principal %s hashes to uid %" PRIu32 ", already held by %s; %s "
		   "is refused (never moved to another id)",
		   principal, uid, holder, principal);
	if (st->n_collisions < ID_MAX_COLLISIONS) {
		struct id_collision *n =
		    talloc_realloc(st, st->collisions, struct id_collision, st->n_collisions + 1);

		if (n != NULL) {
			st->collisions = n;
			n[st->n_collisions].uid = uid;
			n[st->n_collisions].principal = talloc_strdup(n, principal);
			n[st->n_collisions].holder = talloc_strdup(n, holder);
			if (n[st->n_collisions].principal != NULL &&
			    n[st->n_collisions].holder != NULL) {
				st->n_collisions++;
			}
		}
	}
}

/* --- creating --------------------------------------------------------------------------------- */

int id_store_new(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg, const char *realm,
		 struct id_store **out)
{
	struct id_store *st;
	int ret = -ENOMEM;

	st = talloc_zero(mem_ctx, struct id_store);
	if (st == NULL) {
		return -ENOMEM;
	}
	if (getrandom(&st->seed, sizeof(st->seed), 0) != (ssize_t)sizeof(st->seed)) {
		st->seed = (uint64_t)(uintptr_t)st ^ 0x9e3779b97f4a7c15ull;
	}
	st->realm = talloc_strdup(st, realm != NULL ? realm : "");
	st->fqn = cfg->identity.use_fully_qualified_names;
	st->auto_id = cfg->identity.auto_id;
	/* [directory] enumerate lists what it fetched: enumeration on */
	st->enumerate =
	    cfg->identity.enumerate || (cfg->directory.enumerate && cfg->directory.base[0] != '\0');
	st->min_id = cfg->identity.min_id;
	st->range = talloc_strdup(st, cfg->identity.id_range);
	st->home_tmpl = talloc_strdup(st, cfg->identity.home);
	st->shell_tmpl = talloc_strdup(st, cfg->identity.shell);
	st->users_file = talloc_strdup(st, cfg->identity.users_file);
	st->groups_file = talloc_strdup(st, cfg->identity.groups_file);
	st->pos_ttl = (int64_t)(cfg->identity.positive_ttl_ms / 1000);
	st->neg_ttl = (int64_t)(cfg->identity.negative_ttl_ms / 1000);
	if (st->neg_ttl < 1) {
		st->neg_ttl = 1;
	}
	st->neg_max = cfg->identity.negative_cache_size;
	if (st->realm == NULL || st->range == NULL || st->home_tmpl == NULL ||
	    st->shell_tmpl == NULL || st->users_file == NULL || st->groups_file == NULL) {
		goto done;
	}
	if (id_range_parse(st->range, &st->range_min, &st->range_max) != 0 ||
	    st->range_min < st->min_id) {
		SECTX_ERROR("[identity] id_range %s must lie at or above min_id %u", st->range,
			    st->min_id);
		ret = -EINVAL;
		goto done;
	}
	if (id_ix_init(st, &st->user_by_principal, 64) != 0 ||
	    id_ix_init(st, &st->user_by_uid, 64) != 0 ||
	    id_ix_init(st, &st->group_by_name, 64) != 0 ||
	    id_ix_init(st, &st->group_by_gid, 64) != 0 || id_ix_init(st, &st->taken, 64) != 0 ||
	    id_ix_init(st, &st->memberships, 64) != 0 ||
	    id_neg_init(st, &st->neg_names, false) != 0 ||
	    id_neg_init(st, &st->neg_uids, true) != 0 ||
	    id_neg_init(st, &st->neg_gids, true) != 0 ||
	    id_neg_init(st, &st->neg_gnames, false) != 0) {
		goto done;
	}
	*out = st;
	st = NULL;
	ret = 0;
done:
	talloc_free(st);
	return ret;
}

/* The names of a principal as this store shows them. */
void id_names_of(const struct id_store *st, const struct id_name *n, const char **display,
		 const char **alias)
{
	if (n->has_short && !st->fqn) {
		*display = n->name;
		*alias = n->principal;
	} else {
		*display = n->principal;
		*alias = n->has_short ? n->name : NULL;
	}
}

/* One talloc chunk holding the user and its strings. */
struct id_user *id_user_new(struct id_store *st, const struct id_name *n, uint32_t uid,
			    uint32_t gid, const char *gecos, const char *home, const char *shell,
			    bool is_static)
{
	const char *display, *alias;
	const char *src[6];
	size_t len[6], total = 0, i;
	struct id_user *u;
	char *p;

	id_names_of(st, n, &display, &alias);
	src[0] = n->principal;
	src[1] = display;
	src[2] = alias != NULL ? alias : "";
	src[3] = gecos;
	src[4] = home;
	src[5] = shell;
	for (i = 0; i < 6; i++) {
		len[i] = strlen(src[i]);
		total += len[i] + 1;
	}
	u = talloc_size(st, sizeof(*u) + total);
	if (u == NULL) {
		return NULL;
	}
	talloc_set_name_const(u, "struct id_user");
	memset(u, 0, sizeof(*u));
	p = (char *)(u + 1);
	for (i = 0; i < 6; i++) {
		memcpy(p, src[i], len[i] + 1);
		src[i] = p;
		p += len[i] + 1;
	}
	u->principal = src[0];
	u->display = src[1];
	u->alias = alias != NULL ? src[2] : NULL;
	u->gecos = src[3];
	u->home = src[4];
	u->shell = src[5];
	u->uid = uid;
	u->gid = gid;
	u->is_static = is_static;
	return u;
}

int id_append_ptr(TALLOC_CTX *owner, void ***arr, size_t *n, void *p)
{
	size_t cap = *arr != NULL ? talloc_array_length(*arr) : 0;

	if (*n == cap) {
		void **a = talloc_realloc(owner, *arr, void *, cap < 16 ? 16 : cap * 2);

		if (a == NULL) {
			return -ENOMEM;
		}
		*arr = a;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

void id_store_flush(struct id_store *st)
{
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		st->auto_users[i]->verified_until = 0;
	}
	/* directory entries: asked again at their next lookup, and served
	 * stale meanwhile only if no server answers */
	for (i = 0; st->directory && i < st->user_by_uid.nslots; i++) {
		struct id_user *u = st->user_by_uid.slots[i].val;

		if (u != NULL && u->from_dir) {
			u->verified_until = 0;
		}
	}
	for (i = 0; st->directory && i < st->group_by_gid.nslots; i++) {
		struct id_group *g = st->group_by_gid.slots[i].val;

		if (g != NULL && g->from_dir) {
			g->verified_until = 0;
		}
	}
	id_neg_clear(st, &st->neg_names);
	id_neg_clear(st, &st->neg_uids);
	id_neg_clear(st, &st->neg_gids);
	id_neg_clear(st, &st->neg_gnames);
	st->version++;
}

/* --- lookups ---------------------------------------------------------------------------------- */

/* An auto user is served when verified (or stale is allowed); otherwise the
 * realm must be asked. */
static enum id_result serve_auto(const struct id_user *u, int64_t now, bool allow_stale,
				 struct id_lookup *lk)
{
	if (u->verified_until > now || allow_stale) {
		lk->user = u;
		lk->stale = u->verified_until <= now;
		return ID_FOUND;
	}
	snprintf(lk->check_principal, sizeof(lk->check_principal), "%s", u->principal);
	lk->check_dir = u->from_dir;
	lk->check_id = u->uid;
	return ID_CHECK;
}

/* Serve directory group g, or ask the directory again when it expired. */
static enum id_result serve_dir_group(const struct id_group *g, int64_t now, bool allow_stale,
				      struct id_lookup *lk)
{
	if (g->verified_until > now || allow_stale) {
		lk->group = g;
		lk->stale = g->verified_until <= now;
		return ID_FOUND;
	}
	snprintf(lk->check_name, sizeof(lk->check_name), "%s", g->name);
	lk->check_dir = true;
	lk->check_id = g->gid;
	return ID_CHECK;
}

/* Does u have a user private group (auto users, directory users whose ids
 * are mapped)? */
static bool has_upg(const struct id_user *u)
{
	return !u->is_static && (!u->from_dir || u->upg);
}

enum id_result id_store_user_by_name(struct id_store *st, const char *name, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	const struct id_user *u;
	struct id_name n;

	memset(lk, 0, sizeof(*lk));
	if (id_name_parse(name, st->realm, &n) != 0) {
		return ID_NOTFOUND;
	}
	u = id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal), id_eq_user_principal,
		      n.principal);
	if (u != NULL && u->is_static) {
		lk->user = u;
		return ID_FOUND;
	}
	if (id_neg_has(st, &st->neg_names, n.principal, 0, now)) {
		return ID_NOTFOUND;
	}
	if (u != NULL) {
		return serve_auto(u, now, allow_stale, lk);
	}
	if (st->directory && n.has_short) {
		snprintf(lk->check_principal, sizeof(lk->check_principal), "%s", n.principal);
		lk->check_dir = true;
		return ID_CHECK;
	}
	if (!st->auto_id || !n.has_short) {
		/* only static entries could have it: it does not exist */
		id_neg_add(st, &st->neg_names, n.principal, 0, now);
		return ID_NOTFOUND;
	}
	snprintf(lk->check_principal, sizeof(lk->check_principal), "%s", n.principal);
	return ID_CHECK;
}

enum id_result id_store_user_by_uid(struct id_store *st, uint32_t uid, int64_t now,
				    bool allow_stale, struct id_lookup *lk)
{
	const struct id_user *u;

	memset(lk, 0, sizeof(*lk));
	if (uid == 0 || uid < st->min_id) {
		return ID_NOTFOUND;
	}
	u = id_ix_get(&st->user_by_uid, id_hash(st, uid), id_eq_user_uid, &uid);
	if (u != NULL && u->is_static) {
		lk->user = u;
		return ID_FOUND;
	}
	if (u != NULL) {
		if (id_neg_has(st, &st->neg_names, u->principal, 0, now)) {
			return ID_NOTFOUND;
		}
		return serve_auto(u, now, allow_stale, lk);
	}
	if (id_neg_has(st, &st->neg_uids, NULL, uid, now)) {
		return ID_NOTFOUND;
	}
	if (st->directory) {
		lk->check_dir = true;
		lk->check_id = uid;
		return ID_CHECK;
	}
	id_neg_add(st, &st->neg_uids, NULL, uid, now);
	return ID_NOTFOUND;
}

static void make_upg(const struct id_user *u, struct id_lookup *lk)
{
	lk->upg.name = u->display;
	lk->upg.alias = u->alias;
	lk->upg.gid = u->uid;
	lk->upg.members = NULL;
	lk->upg.nmem = 0;
	lk->upg.upg_of = u;
	lk->group = &lk->upg;
}

enum id_result id_store_group_by_name(struct id_store *st, const char *name, int64_t now,
				      bool allow_stale, struct id_lookup *lk)
{
	const struct id_group *g;
	enum id_result r;

	memset(lk, 0, sizeof(*lk));
	if (name == NULL || strnlen(name, SECTX_NAME_MAX + 1) > SECTX_NAME_MAX) {
		return ID_NOTFOUND;
	}
	g = id_ix_get(&st->group_by_name, id_str_hash(st, name), id_eq_group_name, name);
	if (g != NULL && g->from_dir) {
		return serve_dir_group(g, now, allow_stale, lk);
	}
	if (g != NULL) {
		lk->group = g;
		return ID_FOUND;
	}
	if (st->directory) {
		struct id_name n;
		const struct id_user *u = NULL;

		if (id_name_parse(name, st->realm, &n) == 0) {
			u = id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal),
				      id_eq_user_principal, n.principal);
		}
		if (u != NULL && has_upg(u)) {
			r = serve_auto(u, now, allow_stale, lk);
			if (r == ID_FOUND) {
				make_upg(u, lk);
			}
			return r;
		}
		if (id_neg_has(st, &st->neg_gnames, name, 0, now)) {
			return ID_NOTFOUND;
		}
		snprintf(lk->check_name, sizeof(lk->check_name), "%s", name);
		lk->check_dir = true;
		return ID_CHECK;
	}
	/* a user private group: named like its (auto) user */
	r = id_store_user_by_name(st, name, now, allow_stale, lk);
	if (r == ID_FOUND) {
		if (!has_upg(lk->user)) {
			return ID_NOTFOUND;
		}
		make_upg(lk->user, lk);
	}
	return r;
}

enum id_result id_store_group_by_gid(struct id_store *st, uint32_t gid, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	const struct id_group *g;
	const struct id_user *u;
	enum id_result r;

	memset(lk, 0, sizeof(*lk));
	if (gid == 0 || gid < st->min_id) {
		return ID_NOTFOUND;
	}
	g = id_ix_get(&st->group_by_gid, id_hash(st, gid), id_eq_group_gid, &gid);
	if (g != NULL && g->from_dir) {
		return serve_dir_group(g, now, allow_stale, lk);
	}
	if (g != NULL) {
		lk->group = g;
		return ID_FOUND;
	}
	u = id_ix_get(&st->user_by_uid, id_hash(st, gid), id_eq_user_uid, &gid);
	if (u != NULL && has_upg(u)) {
		if (id_neg_has(st, &st->neg_names, u->principal, 0, now)) {
			return ID_NOTFOUND;
		}
		r = serve_auto(u, now, allow_stale, lk);
		if (r == ID_FOUND) {
			make_upg(u, lk);
		}
		return r;
	}
	if (id_neg_has(st, &st->neg_gids, NULL, gid, now)) {
		return ID_NOTFOUND;
	}
	if (st->directory) {
		lk->check_dir = true;
		lk->check_id = gid;
		return ID_CHECK;
	}
	id_neg_add(st, &st->neg_gids, NULL, gid, now);
	return ID_NOTFOUND;
}

enum id_result id_store_groups_of(struct id_store *st, const char *name, const uint32_t **gids,
				  size_t *n)
{
	const struct membership *m;
	struct id_name nm;

	*gids = NULL;
	*n = 0;
	if (id_name_parse(name, st->realm, &nm) != 0) {
		return ID_NOTFOUND;
	}
	if (st->directory) {
		const struct id_user *u =
		    id_ix_get(&st->user_by_principal, id_str_hash(st, nm.principal),
			      id_eq_user_principal, nm.principal);

		if (u != NULL && u->from_dir) {
			*gids = u->gids;
			*n = u->ngids;
			return u->ngids > 0 ? ID_FOUND : ID_NOTFOUND;
		}
	}
	m = id_ix_get(&st->memberships, id_str_hash(st, nm.principal), id_eq_membership,
		      nm.principal);
	if (m == NULL || m->n == 0) {
		return ID_NOTFOUND;
	}
	*gids = m->gids;
	*n = m->n;
	return ID_FOUND;
}

/* Auto users served at now (for enumeration and the cache). */
static bool auto_served(struct id_store *st, const struct id_user *u, int64_t now)
{
	return !u->shadowed && u->verified_until > now;
}

const struct id_user *id_store_user_at(struct id_store *st, uint32_t index, int64_t now)
{
	size_t i;

	if (!st->enumerate) {
		return NULL;
	}
	if (index < st->n_static_users) {
		return st->static_users[index];
	}
	index -= (uint32_t)st->n_static_users;
	for (i = 0; i < st->n_auto_users; i++) {
		if (auto_served(st, st->auto_users[i], now) && index-- == 0) {
			return st->auto_users[i];
		}
	}
	return id_store_dir_user_at(st, index, now);
}

/* May the UPG of u be published under its names (no static group has one)? */
static bool upg_ok(struct id_store *st, const struct id_user *u)
{
	return id_ix_get(&st->group_by_name, id_str_hash(st, u->display), id_eq_group_name,
			 u->display) == NULL &&
	       (u->alias == NULL || id_ix_get(&st->group_by_name, id_str_hash(st, u->alias),
					      id_eq_group_name, u->alias) == NULL);
}

const struct id_group *id_store_group_at(struct id_store *st, uint32_t index, int64_t now,
					 struct id_group *upg)
{
	size_t i;

	if (!st->enumerate) {
		return NULL;
	}
	if (index < st->n_static_groups) {
		return st->static_groups[index];
	}
	index -= (uint32_t)st->n_static_groups;
	for (i = 0; i < st->n_auto_users; i++) {
		const struct id_user *u = st->auto_users[i];

		if (auto_served(st, u, now) && upg_ok(st, u) && index-- == 0) {
			memset(upg, 0, sizeof(*upg));
			upg->name = u->display;
			upg->alias = u->alias;
			upg->gid = u->uid;
			upg->upg_of = u;
			return upg;
		}
	}
	return id_store_dir_group_at(st, index, now);
}

/* --- the published view ----------------------------------------------------------------------- */

static int add_user_rec(struct nss_cache_builder *b, const struct id_user *u, int64_t expires)
{
	struct nss_cache_user cu = {
	    .name = u->display,
	    .alias = u->alias,
	    .gecos = u->gecos,
	    .home = u->home,
	    .shell = u->shell,
	    .principal = u->principal,
	    .uid = u->uid,
	    .gid = u->gid,
	    .expires = expires,
	    .auto_mapped = !u->is_static,
	};

	return nss_cache_add_user(b, &cu);
}

/* Is name taken by a positive user or group key in the published view? */
static bool name_is_positive(struct id_store *st, const char *name)
{
	struct id_name n;

	if (id_ix_get(&st->group_by_name, id_str_hash(st, name), id_eq_group_name, name) != NULL) {
		return true;
	}
	if (id_name_parse(name, st->realm, &n) != 0) {
		return false;
	}
	return id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal), id_eq_user_principal,
			 n.principal) != NULL;
}

/* Directory users (and their private groups) and groups still valid at now. */
static int build_dir_records(struct id_store *st, struct nss_cache_builder *b, int64_t now)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < st->user_by_uid.nslots && ret == 0; i++) {
		const struct id_user *u = st->user_by_uid.slots[i].val;

		if (u == NULL || !u->from_dir || u->verified_until <= now) {
			continue;
		}
		ret = add_user_rec(b, u, u->verified_until);
		if (ret == 0 && u->ngids > 0) {
			ret = nss_cache_add_membership(b, u->display, u->alias, u->gids, u->ngids,
						       u->verified_until);
		}
		if (ret == 0 && u->upg && upg_ok(st, u)) {
			struct nss_cache_group cg = {
			    .name = u->display,
			    .alias = u->alias,
			    .gid = u->uid,
			    .expires = u->verified_until,
			};

			ret = nss_cache_add_group(b, &cg);
		}
	}
	for (i = 0; i < st->group_by_gid.nslots && ret == 0; i++) {
		const struct id_group *g = st->group_by_gid.slots[i].val;

		if (g == NULL || !g->from_dir || g->verified_until <= now) {
			continue;
		}
		struct nss_cache_group cg = {
		    .name = g->name,
		    .gid = g->gid,
		    .members = g->members,
		    .nmem = g->nmem,
		    .expires = g->verified_until,
		};

		ret = nss_cache_add_group(b, &cg);
	}
	return ret;
}

int id_store_build_cache(struct id_store *st, struct nss_cache_builder *b, int64_t now)
{
	int64_t static_until = now + st->pos_ttl;
	struct neg_ent *e;
	size_t i;
	int ret;

	for (i = 0; i < st->n_static_users; i++) {
		ret = add_user_rec(b, st->static_users[i], static_until);
		if (ret != 0) {
			return ret;
		}
	}
	for (i = 0; i < st->n_static_groups; i++) {
		const struct id_group *g = st->static_groups[i];
		struct nss_cache_group cg = {
		    .name = g->name,
		    .alias = NULL,
		    .gid = g->gid,
		    .members = g->members,
		    .nmem = g->nmem,
		    .expires = static_until,
		};

		ret = nss_cache_add_group(b, &cg);
		if (ret != 0) {
			return ret;
		}
	}
	for (i = 0; i < st->n_auto_users; i++) {
		const struct id_user *u = st->auto_users[i];

		if (!auto_served(st, u, now) ||
		    id_neg_find(st, &st->neg_names, u->principal, 0) != NULL) {
			continue;
		}
		ret = add_user_rec(b, u, u->verified_until);
		if (ret == 0 && upg_ok(st, u)) {
			struct nss_cache_group cg = {
			    .name = u->display,
			    .alias = u->alias,
			    .gid = u->uid,
			    .members = NULL,
			    .nmem = 0,
			    .expires = u->verified_until,
			};

			ret = nss_cache_add_group(b, &cg);
		}
		if (ret != 0) {
			return ret;
		}
	}
	ret = build_dir_records(st, b, now);
	if (ret != 0) {
		return ret;
	}
	for (i = 0; i < st->n_memberships; i++) {
		const struct membership *m = st->membership_list[i];
		const char *display, *alias;
		struct id_name n;

		if (id_name_parse(m->principal, st->realm, &n) != 0) {
			continue;
		}
		id_names_of(st, &n, &display, &alias);
		ret = nss_cache_add_membership(b, display, alias, m->gids, m->n, static_until);
		if (ret != 0) {
			return ret;
		}
	}
	for (e = st->neg_names.head; e != NULL; e = e->next) {
		struct id_name n;

		if (e->expires <= now || id_name_parse(e->key, st->realm, &n) != 0) {
			continue;
		}
		for (int form = 0; form < 2; form++) {
			const char *key = form == 0 ? n.principal : n.name;

			if (form == 1 && !n.has_short) {
				break;
			}
			if (name_is_positive(st, key)) {
				continue;
			}
			ret =
			    nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_NAME, key, 0, e->expires);
			if (ret == 0 && !st->directory) {
				/* with a directory, groups have names of their own */
				ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_NAME, key, 0,
							     e->expires);
			}
			if (ret != 0) {
				return ret;
			}
		}
	}
	for (e = st->neg_uids.head; e != NULL; e = e->next) {
		if (e->expires > now && id_ix_get(&st->user_by_uid, id_hash(st, e->id),
						  id_eq_user_uid, &e->id) == NULL) {
			ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_UID, NULL, e->id,
						     e->expires);
			if (ret != 0) {
				return ret;
			}
		}
	}
	for (e = st->neg_gids.head; e != NULL; e = e->next) {
		if (e->expires > now &&
		    id_ix_get(&st->group_by_gid, id_hash(st, e->id), id_eq_group_gid, &e->id) ==
			NULL &&
		    id_ix_get(&st->user_by_uid, id_hash(st, e->id), id_eq_user_uid, &e->id) ==
			NULL) {
			ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_GID, NULL, e->id,
						     e->expires);
			if (ret != 0) {
				return ret;
			}
		}
	}
	{
		/* with a directory, a user's groups arrive with the user: a
		 * miss may be a user the cache has not seen yet */
		uint32_t complete = st->directory ? 0 : SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_INITGR);

		if (!st->auto_id && !st->directory) {
			complete |= SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_PW_NAME) |
				    SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_PW_UID) |
				    SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_GR_NAME) |
				    SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_GR_GID);
		}
		nss_cache_set_complete(b, complete, static_until);
	}
	return 0;
}

int64_t id_store_next_expiry(struct id_store *st, int64_t now)
{
	return now + (st->pos_ttl > 2 ? st->pos_ttl / 2 : 1);
}

uint64_t id_store_version(const struct id_store *st)
{
	return st->version;
}

size_t id_store_n_mappings(const struct id_store *st)
{
	return st->n_auto_users;
}

const struct id_user *id_store_mapping_at(const struct id_store *st, size_t i)
{
	return i < st->n_auto_users ? st->auto_users[i] : NULL;
}

size_t id_store_n_collisions(const struct id_store *st)
{
	return st->n_collisions;
}

const struct id_collision *id_store_collision_at(const struct id_store *st, size_t i)
{
	return i < st->n_collisions ? &st->collisions[i] : NULL;
}

size_t id_store_n_problems(const struct id_store *st)
{
	return st->n_problems;
}

const char *id_store_problem_at(const struct id_store *st, size_t i)
{
	return i < st->n_problems ? st->problems[i] : NULL;
}

const char *id_store_range(const struct id_store *st)
{
	return st->range;
}

size_t id_store_n_static_users(const struct id_store *st)
{
	return st->n_static_users;
}
