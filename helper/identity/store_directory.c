/*
 * identity/store_directory.c - the store's directory entries: users and
 * groups the LDAP directory returned (directory.c), kept in the same indexes
 * as static and mapped entries, each valid until its verified_until, then
 * served stale while no directory server answers, and the negative answers
 * of the directory.
 *
 * Who reaches this: service.c with what a directory server returned for a
 * lookup any local user may cause.  The directory is trusted for what it
 * says about its own users, never over the sysadmin: an entry with id 0,
 * an id below min_id, an id or a name a static entry holds, or a name that
 * is not valid is refused and logged (never served).  Must never: let a
 * directory entry replace a static or mapped one, or free an entry an
 * answer already posted still points to (replaced entries wait in
 * dir_retired until the next change).
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "identity/identity.h"
#include "log.h"

void id_store_set_directory(struct id_store *st, bool on)
{
	st->directory = on;
}

size_t id_store_n_dir_users(const struct id_store *st)
{
	return st->n_dir_users;
}

/* The slot of the index-th served directory entry of ix (users or groups),
 * from cur on when it is still valid for index. */
static void *dir_entry_at(struct id_store *st, struct id_index *ix, struct dir_cursor *cur,
			  uint32_t index, int64_t now, bool users)
{
	uint32_t k = 0;
	size_t i = 0;

	if (cur->version == st->version && cur->index <= index) {
		k = cur->index;
		i = cur->slot;
	}
	for (; i < ix->nslots; i++) {
		void *v = ix->slots[i].val;
		bool served;

		if (v == NULL) {
			continue;
		}
		if (users) {
			const struct id_user *u = v;

			served = u->from_dir && u->verified_until > now;
		} else {
			const struct id_group *g = v;

			served = g->from_dir && g->verified_until > now;
		}
		if (!served) {
			continue;
		}
		if (k == index) {
			cur->version = st->version;
			cur->index = index;
			cur->slot = i;
			return v;
		}
		k++;
	}
	return NULL;
}

const struct id_user *id_store_dir_user_at(struct id_store *st, uint32_t index, int64_t now)
{
	return dir_entry_at(st, &st->user_by_uid, &st->dir_ucur, index, now, true);
}

const struct id_group *id_store_dir_group_at(struct id_store *st, uint32_t index, int64_t now)
{
	return dir_entry_at(st, &st->group_by_gid, &st->dir_gcur, index, now, false);
}

bool id_store_dir_user_gids(struct id_store *st, const char *name, const uint32_t **gids, size_t *n)
{
	const struct id_user *u;
	struct id_name nm;

	if (id_name_parse(name, st->realm, &nm) != 0) {
		return false;
	}
	u = id_ix_get(&st->user_by_principal, id_str_hash(st, nm.principal), id_eq_user_principal,
		      nm.principal);
	if (u == NULL || !u->from_dir) {
		return false;
	}
	*gids = u->gids;
	*n = u->ngids;
	return true;
}

/* Entries replaced by the previous change may go now: every answer posted
 * since has been sent (posted answers run before the loop's next event). */
static int retire_begin(struct id_store *st)
{
	talloc_free(st->dir_retired);
	st->dir_retired = talloc_new(st);
	return st->dir_retired != NULL ? 0 : -ENOMEM;
}

static bool same_user(const struct id_user *u, const struct id_dir_user *du, const char *gecos,
		      const char *home, const char *shell, const uint32_t *gids, size_t n)
{
	return u->uid == du->uid && u->gid == du->gid && u->upg == du->upg &&
	       strcmp(u->gecos, gecos) == 0 && strcmp(u->home, home) == 0 &&
	       strcmp(u->shell, shell) == 0 && u->ngids == n &&
	       (n == 0 || memcmp(u->gids, gids, n * sizeof(*gids)) == 0);
}

/* A directory user in one talloc chunk: the struct, its gids, then the
 * principal, the short name, gecos, home and shell (display and alias point
 * at the principal and the short name). */
static struct id_user *dir_user_new(struct id_store *st, const struct id_name *nm,
				    const struct id_dir_user *du, const char *gecos,
				    const char *home, const char *shell, const uint32_t *gids,
				    size_t n)
{
	const char *src[5] = {nm->principal, nm->name, gecos, home, shell};
	size_t len[5], total = sizeof(struct id_user) + n * sizeof(uint32_t), i;
	const char *display, *alias;
	struct id_user *u;
	char *p;

	for (i = 0; i < 5; i++) {
		len[i] = strlen(src[i]) + 1;
		total += len[i];
	}
	u = talloc_size(st, total);
	if (u == NULL) {
		return NULL;
	}
	talloc_set_name_const(u, "struct id_user");
	memset(u, 0, sizeof(*u));
	if (n > 0) {
		memcpy(u + 1, gids, n * sizeof(uint32_t));
		u->gids = (const uint32_t *)(u + 1);
	}
	u->ngids = (uint32_t)n;
	p = (char *)(u + 1) + n * sizeof(uint32_t);
	for (i = 0; i < 5; i++) {
		memcpy(p, src[i], len[i]);
		src[i] = p;
		p += len[i];
	}
	u->principal = src[0];
	id_names_of(st, nm, &display, &alias);
	u->display = display == nm->name ? src[1] : src[0];
	u->alias = alias == NULL ? NULL : alias == nm->name ? src[1] : src[0];
	u->gecos = src[2];
	u->home = src[3];
	u->shell = src[4];
	u->uid = du->uid;
	u->gid = du->gid;
	u->from_dir = true;
	u->upg = du->upg;
	return u;
}

static void dir_user_drop(struct id_store *st, struct id_user *u)
{
	id_ix_del(&st->user_by_principal, id_str_hash(st, u->principal), u);
	id_ix_del(&st->user_by_uid, id_hash(st, u->uid), u);
	talloc_steal(st->dir_retired, u);
	st->n_dir_users--;
	st->version++;
}

int id_store_dir_user(struct id_store *st, const struct id_dir_user *du, const uint32_t *gids,
		      size_t n, int64_t until)
{
	char home[ID_FIELD_MAX + 1], shell[ID_FIELD_MAX + 1];
	const char *gecos = du->gecos != NULL ? du->gecos : "";
	struct id_user *old, *holder, *u;
	struct id_name nm;
	int ret;

	if (id_name_parse(du->name, st->realm, &nm) != 0 || !nm.has_short || nm.was_qualified) {
		id_add_problem(st, "directory: user entry with an invalid name refused");
		return -EPERM;
	}
	if (du->uid == 0 || du->gid == 0 || du->uid < st->min_id || du->gid < st->min_id) {
		id_add_problem(st,
			       "directory: user %s with uid %" PRIu32 " gid %" PRIu32
			       " refused (0 or below min_id %" PRIu32 ")",
			       nm.principal, du->uid, du->gid, st->min_id);
		return -EPERM;
	}
	if (id_is_taken(st, du->uid)) {
		id_add_problem(st, "directory: user %s refused: uid %" PRIu32 " is a static id",
			       nm.principal, du->uid);
		return -EPERM;
	}
	if (!id_field_ok(gecos, ID_FIELD_MAX)) {
		gecos = "";
	}
	if (du->home != NULL && du->home[0] == '/' && id_field_ok(du->home, ID_FIELD_MAX)) {
		snprintf(home, sizeof(home), "%s", du->home);
	} else if (id_expand_template(home, sizeof(home), st->home_tmpl, nm.name, du->uid,
				      nm.principal, nm.realm) != 0) {
		snprintf(home, sizeof(home), "/");
	}
	if (du->shell != NULL && du->shell[0] == '/' && id_field_ok(du->shell, ID_FIELD_MAX)) {
		snprintf(shell, sizeof(shell), "%s", du->shell);
	} else if (id_expand_template(shell, sizeof(shell), st->shell_tmpl, nm.name, du->uid,
				      nm.principal, nm.realm) != 0) {
		snprintf(shell, sizeof(shell), "/bin/sh");
	}
	old = id_ix_get(&st->user_by_principal, id_str_hash(st, nm.principal), id_eq_user_principal,
			nm.principal);
	if (old != NULL && !old->from_dir) {
		id_add_problem(st, "directory: user %s refused: a %s user of that name exists",
			       nm.principal, old->is_static ? "static" : "mapped");
		return -EPERM;
	}
	holder = id_ix_get(&st->user_by_uid, id_hash(st, du->uid), id_eq_user_uid, &du->uid);
	if (holder != NULL && holder != old) {
		if (!holder->from_dir) {
			id_add_problem(st,
				       "directory: user %s refused: uid %" PRIu32 " is held by %s",
				       nm.principal, du->uid, holder->principal);
			return -EPERM;
		}
	}
	id_neg_del(st, &st->neg_names, nm.principal, 0);
	id_neg_del(st, &st->neg_uids, NULL, du->uid);
	if (n > SECTX_NSS_CACHE_MAX_MEMBERS) {
		n = SECTX_NSS_CACHE_MAX_MEMBERS;
	}
	if (old != NULL && holder == old && same_user(old, du, gecos, home, shell, gids, n)) {
		if (old->verified_until != until) {
			old->verified_until = until;
			st->version++;
		}
		return 0;
	}
	ret = retire_begin(st);
	if (ret != 0) {
		return ret;
	}
	if (holder != NULL && holder != old) {
		/* the directory gave that uid to another name since */
		dir_user_drop(st, holder);
	}
	if (old != NULL) {
		dir_user_drop(st, old);
	}
	u = dir_user_new(st, &nm, du, gecos, home, shell, gids, n);
	if (u == NULL) {
		return -ENOMEM;
	}
	u->verified_until = until;
	if (id_ix_put(st, &st->user_by_principal, id_str_hash(st, u->principal), u) != 0) {
		talloc_free(u);
		return -ENOMEM;
	}
	if (id_ix_put(st, &st->user_by_uid, id_hash(st, u->uid), u) != 0) {
		id_ix_del(&st->user_by_principal, id_str_hash(st, u->principal), u);
		talloc_free(u);
		return -ENOMEM;
	}
	st->n_dir_users++;
	st->version++;
	return 0;
}

static void dir_group_drop(struct id_store *st, struct id_group *g)
{
	id_ix_del(&st->group_by_name, id_str_hash(st, g->name), g);
	id_ix_del(&st->group_by_gid, id_hash(st, g->gid), g);
	talloc_steal(st->dir_retired, g);
	st->n_dir_groups--;
	st->version++;
}

static bool same_group(const struct id_group *g, const struct id_dir_group *dg)
{
	size_t i;

	if (g->gid != dg->gid || g->nmem != dg->nmem) {
		return false;
	}
	for (i = 0; i < g->nmem; i++) {
		if (strcmp(g->members[i], dg->members[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* Can member m stand in a group line? */
static bool member_ok(const char *m)
{
	return id_field_ok(m, SECTX_NAME_MAX) && strchr(m, ',') == NULL;
}

/* A directory group in one talloc chunk: the struct, its member pointers,
 * its name and members (those that can stand in a group line, at most
 * SECTX_NSS_CACHE_MAX_MEMBERS). */
static struct id_group *dir_group_new(struct id_store *st, const struct id_dir_group *dg)
{
	size_t total = sizeof(struct id_group) + strlen(dg->name) + 1, i, k = 0;
	struct id_group *g;
	const char **mem;
	char *p;

	for (i = 0; i < dg->nmem && k < SECTX_NSS_CACHE_MAX_MEMBERS; i++) {
		if (member_ok(dg->members[i])) {
			total += sizeof(char *) + strlen(dg->members[i]) + 1;
			k++;
		}
	}
	total += sizeof(char *); /* NULL-terminated */
	g = talloc_size(st, total);
	if (g == NULL) {
		return NULL;
	}
	talloc_set_name_const(g, "struct id_group");
	memset(g, 0, sizeof(*g));
	mem = (const char **)(g + 1);
	p = (char *)(mem + k + 1);
	for (i = 0, k = 0; i < dg->nmem && k < SECTX_NSS_CACHE_MAX_MEMBERS; i++) {
		size_t len;

		if (!member_ok(dg->members[i])) {
			continue;
		}
		len = strlen(dg->members[i]) + 1;
		memcpy(p, dg->members[i], len);
		mem[k++] = p;
		p += len;
	}
	mem[k] = NULL;
	memcpy(p, dg->name, strlen(dg->name) + 1);
	g->name = p;
	g->members = mem;
	g->nmem = k;
	return g;
}

int id_store_dir_group(struct id_store *st, const struct id_dir_group *dg, int64_t until)
{
	struct id_group *old, *holder, *g;
	int ret;

	if (dg->name == NULL || !id_field_ok(dg->name, SECTX_NAME_MAX) || dg->name[0] == '\0' ||
	    strchr(dg->name, ',') != NULL || strchr(dg->name, '@') != NULL) {
		id_add_problem(st, "directory: group entry with an invalid name refused");
		return -EPERM;
	}
	if (dg->gid == 0 || dg->gid < st->min_id || id_is_taken(st, dg->gid)) {
		id_add_problem(st,
			       "directory: group %s with gid %" PRIu32
			       " refused (0, below min_id %" PRIu32 " or a static id)",
			       dg->name, dg->gid, st->min_id);
		return -EPERM;
	}
	old = id_ix_get(&st->group_by_name, id_str_hash(st, dg->name), id_eq_group_name, dg->name);
	if (old != NULL && !old->from_dir) {
		id_add_problem(st,
			       "directory: group %s refused: a static group of that name exists",
			       dg->name);
		return -EPERM;
	}
	holder = id_ix_get(&st->group_by_gid, id_hash(st, dg->gid), id_eq_group_gid, &dg->gid);
	if (holder != NULL && holder != old && !holder->from_dir) {
		id_add_problem(st, "directory: group %s refused: gid %" PRIu32 " is held by %s",
			       dg->name, dg->gid, holder->name);
		return -EPERM;
	}
	id_neg_del(st, &st->neg_gnames, dg->name, 0);
	id_neg_del(st, &st->neg_gids, NULL, dg->gid);
	if (old != NULL && holder == old && same_group(old, dg)) {
		if (old->verified_until != until) {
			old->verified_until = until;
			st->version++;
		}
		return 0;
	}
	ret = retire_begin(st);
	if (ret != 0) {
		return ret;
	}
	if (holder != NULL && holder != old) {
		dir_group_drop(st, holder);
	}
	if (old != NULL) {
		dir_group_drop(st, old);
	}
	g = dir_group_new(st, dg);
	if (g == NULL) {
		return -ENOMEM;
	}
	g->gid = dg->gid;
	g->from_dir = true;
	g->verified_until = until;
	if (id_ix_put(st, &st->group_by_name, id_str_hash(st, g->name), g) != 0) {
		talloc_free(g);
		return -ENOMEM;
	}
	if (id_ix_put(st, &st->group_by_gid, id_hash(st, g->gid), g) != 0) {
		id_ix_del(&st->group_by_name, id_str_hash(st, g->name), g);
		talloc_free(g);
		return -ENOMEM;
	}
	st->n_dir_groups++;
	st->version++;
	return 0;
}

void id_store_dir_absent(struct id_store *st, int kind, const struct id_lookup *lk, int64_t now)
{
	struct id_user *u;
	struct id_group *g;

	if (retire_begin(st) != 0) {
		return;
	}
	switch ((enum identity_kind)kind) {
	case IDENTITY_USER_BY_NAME:
		u = id_ix_get(&st->user_by_principal, id_str_hash(st, lk->check_principal),
			      id_eq_user_principal, lk->check_principal);
		if (u != NULL && u->from_dir) {
			dir_user_drop(st, u);
		}
		id_neg_add(st, &st->neg_names, lk->check_principal, 0, now);
		break;
	case IDENTITY_USER_BY_UID:
		u = id_ix_get(&st->user_by_uid, id_hash(st, lk->check_id), id_eq_user_uid,
			      &lk->check_id);
		if (u != NULL && u->from_dir) {
			dir_user_drop(st, u);
		}
		id_neg_add(st, &st->neg_uids, NULL, lk->check_id, now);
		break;
	case IDENTITY_GROUP_BY_NAME:
		g = id_ix_get(&st->group_by_name, id_str_hash(st, lk->check_name), id_eq_group_name,
			      lk->check_name);
		if (g != NULL && g->from_dir) {
			dir_group_drop(st, g);
		}
		id_neg_add(st, &st->neg_gnames, lk->check_name, 0, now);
		break;
	case IDENTITY_GROUP_BY_GID:
		g = id_ix_get(&st->group_by_gid, id_hash(st, lk->check_id), id_eq_group_gid,
			      &lk->check_id);
		if (g != NULL && g->from_dir) {
			dir_group_drop(st, g);
		}
		id_neg_add(st, &st->neg_gids, NULL, lk->check_id, now);
		break;
	}
	st->version++;
}

void id_store_dir_adopt(struct id_store *st, const struct id_store *old)
{
	size_t i;

	if (!st->directory || !old->directory) {
		return;
	}
	for (i = 0; i < old->user_by_uid.nslots; i++) {
		const struct id_user *u = old->user_by_uid.slots[i].val;
		struct id_dir_user du;
		struct id_name n;

		if (u == NULL || !u->from_dir || id_name_parse(u->principal, old->realm, &n) != 0) {
			continue;
		}
		du = (struct id_dir_user){.name = n.name,
					  .uid = u->uid,
					  .gid = u->gid,
					  .gecos = u->gecos,
					  .home = u->home,
					  .shell = u->shell,
					  .upg = u->upg};
		(void)id_store_dir_user(st, &du, u->gids, u->ngids, u->verified_until);
	}
	for (i = 0; i < old->group_by_gid.nslots; i++) {
		const struct id_group *g = old->group_by_gid.slots[i].val;
		struct id_dir_group dg;

		if (g == NULL || !g->from_dir) {
			continue;
		}
		dg = (struct id_dir_group){
		    .name = g->name, .gid = g->gid, .members = g->members, .nmem = g->nmem};
		(void)id_store_dir_group(st, &dg, g->verified_until);
	}
}
