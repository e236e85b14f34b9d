/*
 * identity/store.c - the users and groups sectxd knows: static files, auto
 * mappings with their persistence and collisions, existence knowledge and
 * the negative caches; and the view of all that the NSS cache publishes.
 * Rules and file formats are in identity.h.
 *
 * Who reaches this: nss_ops.c with names and ids of any local user's choosing
 * (already bounded by the codec; validated again here before use), and the
 * admin ops.  It never talks to a KDC (identity.c asks identity_s4u.c and
 * reports back through id_store_check_result) and never blocks on anything
 * but its own files: the static files at load and the small map file when a
 * mapping is made.  Memory is bounded by the static files, the mappings
 * (persisted, so already paid for), and the capped negative caches.
 */
#include "identity/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "nss_cache.h"
#include "core/state_file.h"

/* --- an open-addressing index of pointers, keyed by a 64-bit hash ----------------------------- */

struct ix_slot {
	uint64_t h;
	void *val; /* NULL: empty */
};

struct id_index {
	struct ix_slot *slots;
	size_t nslots; /* power of two */
	size_t count;
};

typedef bool (*ix_eq_fn)(const void *val, const void *key);

static int ix_init(TALLOC_CTX *owner, struct id_index *ix, size_t hint)
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

static void *ix_get(const struct id_index *ix, uint64_t h, ix_eq_fn eq, const void *key)
{
	size_t mask = ix->nslots - 1, i = (size_t)h & mask;

	for (; ix->slots[i].val != NULL; i = (i + 1) & mask) {
		if (ix->slots[i].h == h && eq(ix->slots[i].val, key)) {
			return ix->slots[i].val;
		}
	}
	return NULL;
}

static int ix_put(TALLOC_CTX *owner, struct id_index *ix, uint64_t h, void *val)
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
static void ix_del(struct id_index *ix, uint64_t h, const void *val)
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

/* --- the store -------------------------------------------------------------------------------- */

/* A negative entry: a principal, a uid or a gid that does not exist. */
struct neg_ent {
	struct neg_ent *prev, *next; /* oldest first */
	uint64_t h;
	int64_t expires;
	uint32_t id;
	char key[]; /* principal (name caches) */
};

struct neg_cache {
	struct id_index ix;
	struct neg_ent *head, *tail;
	bool by_id;
};

struct membership {
	const char *principal;
	uint32_t *gids;
	size_t n;
};

struct id_store {
	/* configuration, copied */
	char *realm;
	bool fqn;
	bool auto_id;
	bool enumerate;
	uint32_t min_id, range_min, range_max;
	char *range;
	char *home_tmpl, *shell_tmpl;
	char *users_file, *groups_file;
	int64_t pos_ttl, neg_ttl; /* seconds */
	size_t neg_max;
	uint64_t seed; /* of the in-memory hashes */

	struct id_user **static_users;
	size_t n_static_users;
	struct id_group **static_groups;
	size_t n_static_groups;
	struct id_user **auto_users; /* every mapping, in the order made */
	size_t n_auto_users;

	struct id_index user_by_principal; /* static and auto (not shadowed) */
	struct id_index user_by_uid;
	struct id_index group_by_name; /* static */
	struct id_index group_by_gid;  /* static */
	struct id_index taken;	       /* static uids and gids: (void *)1 markers */
	struct id_index memberships;   /* principal -> struct membership */
	struct membership **membership_list;
	size_t n_memberships;

	struct neg_cache neg_names, neg_uids, neg_gids;

	struct id_collision *collisions;
	size_t n_collisions;
	char **problems;
	size_t n_problems;
	uint64_t version;
};

static uint64_t str_hash(const struct id_store *st, const char *s)
{
	return sectx_nss_cache_hash(st->seed, s, strlen(s));
}

static uint64_t id_hash(const struct id_store *st, uint32_t id)
{
	return sectx_nss_cache_id_hash(st->seed, id);
}

static bool eq_user_principal(const void *val, const void *key)
{
	return strcmp(((const struct id_user *)val)->principal, key) == 0;
}

static bool eq_user_uid(const void *val, const void *key)
{
	return ((const struct id_user *)val)->uid == *(const uint32_t *)key;
}

static bool eq_group_name(const void *val, const void *key)
{
	return strcmp(((const struct id_group *)val)->name, key) == 0;
}

static bool eq_group_gid(const void *val, const void *key)
{
	return ((const struct id_group *)val)->gid == *(const uint32_t *)key;
}

static bool eq_membership(const void *val, const void *key)
{
	return strcmp(((const struct membership *)val)->principal, key) == 0;
}

/* taken holds (uintptr_t)id + 1 so that no value is NULL */
static bool eq_taken(const void *val, const void *key)
{
	return (uintptr_t)val - 1 == *(const uint32_t *)key;
}

static bool eq_neg(const void *val, const void *key)
{
	return strcmp(((const struct neg_ent *)val)->key, key) == 0;
}

static bool eq_neg_id(const void *val, const void *key)
{
	return ((const struct neg_ent *)val)->id == *(const uint32_t *)key;
}

static bool is_taken(const struct id_store *st, uint32_t id)
{
	return ix_get(&st->taken, id_hash(st, id), eq_taken, &id) != NULL;
}

static int mark_taken(struct id_store *st, uint32_t id)
{
	if (is_taken(st, id)) {
		return 0;
	}
	return ix_put(st, &st->taken, id_hash(st, id), (void *)((uintptr_t)id + 1));
}

/* --- problems and collisions ------------------------------------------------------------------ */

static void problem(struct id_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log and remember (bounded) a refused static line or mapping. */
static void problem(struct id_store *st, const char *fmt, ...)
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

static void collision(struct id_store *st, uint32_t uid, const char *principal, const char *holder)
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

/* --- negative caches -------------------------------------------------------------------------- */

static int neg_init(struct id_store *st, struct neg_cache *nc, bool by_id)
{
	memset(nc, 0, sizeof(*nc));
	nc->by_id = by_id;
	return ix_init(st, &nc->ix, 64);
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
	ix_del(&nc->ix, e->h, e);
	neg_unlink(nc, e);
	talloc_free(e);
}

static struct neg_ent *neg_find(struct id_store *st, struct neg_cache *nc, const char *key,
				uint32_t id)
{
	if (nc->by_id) {
		return ix_get(&nc->ix, id_hash(st, id), eq_neg_id, &id);
	}
	return ix_get(&nc->ix, str_hash(st, key), eq_neg, key);
}

/* Is key (or id) known not to exist at now?  Drops an expired entry. */
static bool neg_has(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		    int64_t now)
{
	struct neg_ent *e = neg_find(st, nc, key, id);

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

static void neg_del(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id)
{
	struct neg_ent *e = neg_find(st, nc, key, id);

	if (e != NULL) {
		neg_remove(nc, e);
		st->version++;
	}
}

/* Remember that key (or id) does not exist until now + neg_ttl; the oldest
 * entry goes when the cache is full. */
static void neg_add(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		    int64_t now)
{
	struct neg_ent *e = neg_find(st, nc, key, id);
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
		e->h = nc->by_id ? id_hash(st, id) : str_hash(st, key);
		if (ix_put(st, &nc->ix, e->h, e) != 0) {
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

static void neg_clear(struct id_store *st, struct neg_cache *nc)
{
	while (nc->head != NULL) {
		neg_remove(nc, nc->head);
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
	st->enumerate = cfg->identity.enumerate;
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
	if (ix_init(st, &st->user_by_principal, 64) != 0 ||
	    ix_init(st, &st->user_by_uid, 64) != 0 || ix_init(st, &st->group_by_name, 64) != 0 ||
	    ix_init(st, &st->group_by_gid, 64) != 0 || ix_init(st, &st->taken, 64) != 0 ||
	    ix_init(st, &st->memberships, 64) != 0 || neg_init(st, &st->neg_names, false) != 0 ||
	    neg_init(st, &st->neg_uids, true) != 0 || neg_init(st, &st->neg_gids, true) != 0) {
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
static void names_of(const struct id_store *st, const struct id_name *n, const char **display,
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
static struct id_user *user_new(struct id_store *st, const struct id_name *n, uint32_t uid,
				uint32_t gid, const char *gecos, const char *home,
				const char *shell, bool is_static)
{
	const char *display, *alias;
	const char *src[6];
	size_t len[6], total = 0, i;
	struct id_user *u;
	char *p;

	names_of(st, n, &display, &alias);
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

static int append_ptr(TALLOC_CTX *owner, void ***arr, size_t *n, void *p)
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

/* --- static files ----------------------------------------------------------------------------- */

/* Read an admin-written file: regular, owned by root (or us), not writable by
 * group or others, at most max bytes.  *data is NUL-terminated. */
static int read_admin_file(TALLOC_CTX *mem_ctx, const char *path, size_t max, char **data,
			   size_t *len, char *why, size_t whylen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022) != 0) {
		ret = -EPERM;
		snprintf(why, whylen,
			 "%s must be a regular file owned by root and writable only by its owner",
			 path);
		goto done;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
		goto done;
	}
	buf = talloc_size(mem_ctx, (size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = -ENOMEM;
		snprintf(why, whylen, "out of memory reading %s", path);
		goto done;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(why, whylen, "cannot read %s", path);
			goto done;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	ret = 0;
done:
	talloc_free(buf);
	close(fd);
	return ret;
}

/* Split line at ':' into exactly n fields (in place).  0 or -1. */
static int split_fields(char *line, char **f, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		f[i] = line;
		line = strchr(line, ':');
		if (line == NULL) {
			return i == n - 1 ? 0 : -1;
		}
		*line++ = '\0';
	}
	return -1; /* more fields than n */
}

/* A decimal id: digits only, 1..4294967294. */
static int parse_id(const char *s, uint32_t *id)
{
	unsigned long long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 10) {
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 4294967294ull) {
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

/* A group name as a static file may give it: the name rules without '/',
 * '@' or a realm. */
static bool group_name_ok(const char *s)
{
	struct id_name n;

	return strchr(s, '@') == NULL && id_name_parse(s, "X", &n) == 0;
}

static const char *id_refusal(const struct id_store *st, uint32_t id)
{
	if (id == 0) {
		return "id 0 is never served";
	}
	if (id < st->min_id) {
		return "id below min_id";
	}
	return NULL;
}

static void load_user_line(struct id_store *st, char *line, unsigned lineno)
{
	const char *file = st->users_file;
	struct id_name n;
	struct id_user *u;
	const char *why;
	uint32_t uid, gid;
	char *f[6];
	int i;

	if (split_fields(line, f, 6) != 0) {
		problem(st, "%s:%u: not NAME:UID:GID:GECOS:HOME:SHELL; line ignored", file, lineno);
		return;
	}
	if (id_name_parse(f[0], st->realm, &n) != 0) {
		problem(st, "%s:%u: invalid user name or principal; line ignored", file, lineno);
		return;
	}
	if (parse_id(f[1], &uid) != 0 || parse_id(f[2], &gid) != 0) {
		problem(st, "%s:%u: %s: uid and gid must be numbers 1-4294967294; line ignored",
			file, lineno, n.principal);
		return;
	}
	why = id_refusal(st, uid) != NULL ? id_refusal(st, uid) : id_refusal(st, gid);
	if (why != NULL) {
		problem(st, "%s:%u: %s: uid %" PRIu32 " gid %" PRIu32 " refused (%s); line ignored",
			file, lineno, n.principal, uid, gid, why);
		return;
	}
	for (i = 3; i < 6; i++) {
		if (!id_field_ok(f[i], ID_FIELD_MAX)) {
			problem(st,
				"%s:%u: %s: gecos, home or shell has a control character or "
				"is too long; line ignored",
				file, lineno, n.principal);
			return;
		}
	}
	if (f[4][0] != '/') {
		problem(st, "%s:%u: %s: home must be an absolute path; line ignored", file, lineno,
			n.principal);
		return;
	}
	if (ix_get(&st->user_by_principal, str_hash(st, n.principal), eq_user_principal,
		   n.principal) != NULL) {
		problem(st, "%s:%u: %s is declared twice; line ignored", file, lineno, n.principal);
		return;
	}
	if (ix_get(&st->user_by_uid, id_hash(st, uid), eq_user_uid, &uid) != NULL) {
		problem(st, "%s:%u: %s: uid %" PRIu32 " is already used; line ignored", file,
			lineno, n.principal, uid);
		return;
	}
	u = user_new(st, &n, uid, gid, f[3], f[4], f[5], true);
	if (u == NULL || append_ptr(st, (void ***)&st->static_users, &st->n_static_users, u) != 0 ||
	    ix_put(st, &st->user_by_principal, str_hash(st, u->principal), u) != 0 ||
	    ix_put(st, &st->user_by_uid, id_hash(st, uid), u) != 0 || mark_taken(st, uid) != 0 ||
	    mark_taken(st, gid) != 0) {
		problem(st, "%s:%u: out of memory; line ignored", file, lineno);
	}
}

static int add_membership(struct id_store *st, const char *principal, uint32_t gid)
{
	struct membership *m;
	size_t i;

	m = ix_get(&st->memberships, str_hash(st, principal), eq_membership, principal);
	if (m == NULL) {
		m = talloc_zero(st, struct membership);
		if (m == NULL || (m->principal = talloc_strdup(m, principal)) == NULL ||
		    ix_put(st, &st->memberships, str_hash(st, principal), m) != 0 ||
		    append_ptr(st, (void ***)&st->membership_list, &st->n_memberships, m) != 0) {
			return -ENOMEM;
		}
	}
	for (i = 0; i < m->n; i++) {
		if (m->gids[i] == gid) {
			return 0;
		}
	}
	if (m->n >= SECTX_NSS_CACHE_MAX_MEMBERS) {
		return -E2BIG;
	}
	m->gids = talloc_realloc(m, m->gids, uint32_t, m->n + 1);
	if (m->gids == NULL) {
		return -ENOMEM;
	}
	m->gids[m->n++] = gid;
	return 0;
}

static void load_group_line(struct id_store *st, char *line, unsigned lineno)
{
	const char *file = st->groups_file;
	struct id_group *g;
	const char *why;
	uint32_t gid;
	char *f[3], *mem, *next;
	size_t i;

	if (split_fields(line, f, 3) != 0) {
		problem(st, "%s:%u: not NAME:GID:MEMBER,MEMBER...; line ignored", file, lineno);
		return;
	}
	if (!group_name_ok(f[0])) {
		problem(st, "%s:%u: invalid group name; line ignored", file, lineno);
		return;
	}
	if (parse_id(f[1], &gid) != 0) {
		problem(st, "%s:%u: group %s: gid must be a number 1-4294967294; line ignored",
			file, lineno, f[0]);
		return;
	}
	why = id_refusal(st, gid);
	if (why != NULL) {
		problem(st, "%s:%u: group %s: gid %" PRIu32 " refused (%s); line ignored", file,
			lineno, f[0], gid, why);
		return;
	}
	if (ix_get(&st->group_by_name, str_hash(st, f[0]), eq_group_name, f[0]) != NULL ||
	    ix_get(&st->group_by_gid, id_hash(st, gid), eq_group_gid, &gid) != NULL) {
		problem(st, "%s:%u: group %s or gid %" PRIu32 " is declared twice; line ignored",
			file, lineno, f[0], gid);
		return;
	}
	g = talloc_zero(st, struct id_group);
	if (g == NULL || (g->name = talloc_strdup(g, f[0])) == NULL) {
		goto nomem;
	}
	g->gid = gid;
	/* members: validate all first, so a bad one refuses the whole line */
	for (mem = f[2]; mem != NULL && mem[0] != '\0'; mem = next) {
		struct id_name n;
		const char *display, *alias;

		next = strchr(mem, ',');
		if (next != NULL) {
			*next++ = '\0';
		}
		if (id_name_parse(mem, st->realm, &n) != 0) {
			problem(st, "%s:%u: group %s: invalid member name; line ignored", file,
				lineno, g->name);
			talloc_free(g);
			return;
		}
		names_of(st, &n, &display, &alias);
		for (i = 0; i < g->nmem; i++) {
			if (strcmp(g->members[i], display) == 0) {
				break;
			}
		}
		if (i < g->nmem) {
			continue; /* listed twice: once is enough */
		}
		if (g->nmem >= SECTX_NSS_CACHE_MAX_MEMBERS) {
			problem(st, "%s:%u: group %s has too many members; line ignored", file,
				lineno, g->name);
			talloc_free(g);
			return;
		}
		g->members = talloc_realloc(g, g->members, const char *, g->nmem + 1);
		if (g->members == NULL ||
		    (g->members[g->nmem] = talloc_strdup(g, display)) == NULL) {
			goto nomem;
		}
		g->nmem++;
		if (add_membership(st, n.principal, gid) != 0) {
			goto nomem;
		}
	}
	if (append_ptr(st, (void ***)&st->static_groups, &st->n_static_groups, g) != 0 ||
	    ix_put(st, &st->group_by_name, str_hash(st, g->name), g) != 0 ||
	    ix_put(st, &st->group_by_gid, id_hash(st, gid), g) != 0 || mark_taken(st, gid) != 0) {
		goto nomem;
	}
	return;
nomem:
	problem(st, "%s:%u: out of memory; line ignored", file, lineno);
}

/* Call fn on each non-comment line of a file's text (modified in place). */
static void each_line(struct id_store *st, char *text,
		      void (*fn)(struct id_store *, char *, unsigned))
{
	unsigned lineno = 0;
	char *line, *next;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *end;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		end = line + strlen(line);
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) {
			*--end = '\0';
		}
		while (*line == ' ' || *line == '\t') {
			line++;
		}
		if (*line == '\0' || *line == '#') {
			continue;
		}
		fn(st, line, lineno);
	}
}

int id_store_load_static(struct id_store *st, char *why, size_t whylen)
{
	TALLOC_CTX *tmp = talloc_new(st);
	char *text = NULL;
	size_t len = 0;
	int ret = 0;

	if (tmp == NULL) {
		return -ENOMEM;
	}
	if (st->users_file[0] != '\0') {
		ret = read_admin_file(tmp, st->users_file, ID_STATIC_FILE_MAX, &text, &len, why,
				      whylen);
		if (ret != 0) {
			goto done;
		}
		if (memchr(text, '\0', len) != NULL) {
			snprintf(why, whylen, "%s contains a NUL byte", st->users_file);
			ret = -EINVAL;
			goto done;
		}
		each_line(st, text, load_user_line);
	}
	if (st->groups_file[0] != '\0') {
		ret = read_admin_file(tmp, st->groups_file, ID_STATIC_FILE_MAX, &text, &len, why,
				      whylen);
		if (ret != 0) {
			goto done;
		}
		if (memchr(text, '\0', len) != NULL) {
			snprintf(why, whylen, "%s contains a NUL byte", st->groups_file);
			ret = -EINVAL;
			goto done;
		}
		each_line(st, text, load_group_line);
	}
	st->version++;
done:
	talloc_free(tmp);
	return ret;
}

/* --- mappings --------------------------------------------------------------------------------- */

/* An auto user for principal n at uid: home and shell from the templates. */
static struct id_user *auto_user_new(struct id_store *st, const struct id_name *n, uint32_t uid)
{
	char home[ID_FIELD_MAX + 1], shell[ID_FIELD_MAX + 1];
	const char *display, *alias;

	names_of(st, n, &display, &alias);
	if (id_expand_template(home, sizeof(home), st->home_tmpl, display, uid, n->principal,
			       n->realm) != 0 ||
	    id_expand_template(shell, sizeof(shell), st->shell_tmpl, display, uid, n->principal,
			       n->realm) != 0) {
		return NULL;
	}
	return user_new(st, n, uid, uid, "", home, shell, false);
}

/* The user holding uid, as "principal" or "static ..." for messages. */
static const char *holder_of(struct id_store *st, uint32_t uid)
{
	const struct id_user *u = ix_get(&st->user_by_uid, id_hash(st, uid), eq_user_uid, &uid);

	if (u != NULL) {
		return u->principal;
	}
	if (is_taken(st, uid)) {
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
	*shadowed = is_taken(st, uid) ||
		    ix_get(&st->user_by_uid, id_hash(st, uid), eq_user_uid, &uid) != NULL ||
		    ix_get(&st->user_by_principal, str_hash(st, u->principal), eq_user_principal,
			   u->principal) != NULL;
	u->shadowed = *shadowed;
	if (append_ptr(st, (void ***)&st->auto_users, &st->n_auto_users, u) != 0) {
		talloc_free(u);
		return -ENOMEM;
	}
	if (!u->shadowed &&
	    (ix_put(st, &st->user_by_principal, str_hash(st, u->principal), u) != 0 ||
	     ix_put(st, &st->user_by_uid, id_hash(st, uid), u) != 0)) {
		return -ENOMEM;
	}
	if (out != NULL) {
		*out = u;
	}
	return 0;
}

int id_store_load_mappings(struct id_store *st, int dirfd, char *why, size_t whylen)
{
	TALLOC_CTX *tmp = talloc_new(st);
	char *text = NULL, *line, *next;
	uint8_t *payload = NULL;
	size_t len = 0;
	uint32_t version = 0;
	unsigned lineno = 0;
	bool have_range = false;
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
	text = (char *)payload; /* version 1: the text format of identity.h */
	for (line = text; line != NULL && *line != '\0'; line = next) {
		char principal[SECTX_NAME_MAX + 2], range[64];
		unsigned long long uid;
		struct id_name n;
		bool shadowed;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		if (line[0] == '#' || line[0] == '\0') {
			continue;
		}
		if (sscanf(line, "range %63s", range) == 1) {
			if (strcmp(range, st->range) != 0) {
				snprintf(why, whylen,
					 "id_range is %s but the mappings in %s were made with %s: "
					 "restore id_range, or remove the file (every mapped user "
					 "then gets a new uid)",
					 st->range, ID_MAPFILE, range);
				ret = -ESTALE;
				goto done;
			}
			have_range = true;
			continue;
		}
		if (!have_range || sscanf(line, "map %llu %257s", &uid, principal) != 2 ||
		    strlen(principal) > SECTX_NAME_MAX ||
		    id_name_parse(principal, st->realm, &n) != 0 || !n.was_qualified ||
		    uid != id_auto_uid(n.principal, st->range_min, st->range_max)) {
			problem(st, "%s:%u: not a valid mapping for this range; ignored",
				ID_MAPFILE, lineno);
			continue;
		}
		ret = add_auto(st, &n, (uint32_t)uid, &shadowed, NULL);
		if (ret != 0) {
			snprintf(why, whylen, "out of memory loading %s", ID_MAPFILE);
			goto done;
		}
		if (shadowed && ix_get(&st->user_by_principal, str_hash(st, n.principal),
				       eq_user_principal, n.principal) == NULL) {
			collision(st, (uint32_t)uid, n.principal, holder_of(st, (uint32_t)uid));
		}
	}
	st->version++;
	ret = 0;
done:
	talloc_free(tmp);
	return ret;
}

/* Rewrite <dirfd>/idmap with every mapping. */
static int save_mappings(struct id_store *st, int dirfd)
{
	char *text = talloc_asprintf(st,
				     "# sectxd id mappings; written by sectxd, do not edit "
				     "while it runs\nrange %s\n",
				     st->range);
	size_t i;
	int ret;

	for (i = 0; text != NULL && i < st->n_auto_users; i++) {
		text = talloc_asprintf_append_buffer(text, "map %" PRIu32 " %s\n",
						     st->auto_users[i]->uid,
						     st->auto_users[i]->principal);
	}
	if (text == NULL) {
		return -ENOMEM;
	}
	ret = sectx_state_save(dirfd, ID_MAPFILE, ID_MAPFILE_KIND, ID_MAPFILE_VERSION, text,
			       strlen(text));
	talloc_free(text);
	return ret;
}

void id_store_adopt(struct id_store *st, const struct id_store *old)
{
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		struct id_user *u = st->auto_users[i];
		const struct id_user *o =
		    ix_get(&old->user_by_principal, str_hash(old, u->principal), eq_user_principal,
			   u->principal);

		if (o != NULL && !o->is_static) {
			u->verified_until = o->verified_until;
		}
	}
	for (i = 0; i < old->n_collisions; i++) {
		collision(st, old->collisions[i].uid, old->collisions[i].principal,
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
	u = ix_get(&st->user_by_principal, str_hash(st, n.principal), eq_user_principal,
		   n.principal);
	if (!exists) {
		if (u != NULL && !u->is_static) {
			u->verified_until = 0;
		}
		neg_add(st, &st->neg_names, n.principal, 0, now);
		return 0;
	}
	neg_del(st, &st->neg_names, n.principal, 0);
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
			neg_add(st, &st->neg_names, n.principal, 0, now);
			return 0;
		}
	}
	uid = id_auto_uid(n.principal, st->range_min, st->range_max);
	if (is_taken(st, uid) ||
	    ix_get(&st->user_by_uid, id_hash(st, uid), eq_user_uid, &uid) != NULL) {
		collision(st, uid, n.principal, holder_of(st, uid));
		neg_add(st, &st->neg_names, n.principal, 0, now);
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
		ix_del(&st->user_by_principal, str_hash(st, u->principal), u);
		ix_del(&st->user_by_uid, id_hash(st, uid), u);
		st->n_auto_users--;
		talloc_free(u);
		return ret;
	}
	SECTX_INFO("mapped principal %s to uid %" PRIu32, n.principal, uid);
	u->verified_until = now + st->pos_ttl;
	neg_del(st, &st->neg_uids, NULL, uid);
	neg_del(st, &st->neg_gids, NULL, uid);
	st->version++;
	return 0;
}

void id_store_flush(struct id_store *st)
{
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		st->auto_users[i]->verified_until = 0;
	}
	neg_clear(st, &st->neg_names);
	neg_clear(st, &st->neg_uids);
	neg_clear(st, &st->neg_gids);
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
	return ID_CHECK;
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
	u = ix_get(&st->user_by_principal, str_hash(st, n.principal), eq_user_principal,
		   n.principal);
	if (u != NULL && u->is_static) {
		lk->user = u;
		return ID_FOUND;
	}
	if (neg_has(st, &st->neg_names, n.principal, 0, now)) {
		return ID_NOTFOUND;
	}
	if (u != NULL) {
		return serve_auto(u, now, allow_stale, lk);
	}
	if (!st->auto_id || !n.has_short) {
		/* only static entries could have it: it does not exist */
		neg_add(st, &st->neg_names, n.principal, 0, now);
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
	u = ix_get(&st->user_by_uid, id_hash(st, uid), eq_user_uid, &uid);
	if (u != NULL && u->is_static) {
		lk->user = u;
		return ID_FOUND;
	}
	if (u != NULL) {
		if (neg_has(st, &st->neg_names, u->principal, 0, now)) {
			return ID_NOTFOUND;
		}
		return serve_auto(u, now, allow_stale, lk);
	}
	if (!neg_has(st, &st->neg_uids, NULL, uid, now)) {
		neg_add(st, &st->neg_uids, NULL, uid, now);
	}
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
	g = ix_get(&st->group_by_name, str_hash(st, name), eq_group_name, name);
	if (g != NULL) {
		lk->group = g;
		return ID_FOUND;
	}
	/* a user private group: named like its (auto) user */
	r = id_store_user_by_name(st, name, now, allow_stale, lk);
	if (r == ID_FOUND) {
		if (lk->user->is_static) {
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
	g = ix_get(&st->group_by_gid, id_hash(st, gid), eq_group_gid, &gid);
	if (g != NULL) {
		lk->group = g;
		return ID_FOUND;
	}
	u = ix_get(&st->user_by_uid, id_hash(st, gid), eq_user_uid, &gid);
	if (u != NULL && !u->is_static) {
		if (neg_has(st, &st->neg_names, u->principal, 0, now)) {
			return ID_NOTFOUND;
		}
		r = serve_auto(u, now, allow_stale, lk);
		if (r == ID_FOUND) {
			make_upg(u, lk);
		}
		return r;
	}
	if (!neg_has(st, &st->neg_gids, NULL, gid, now)) {
		neg_add(st, &st->neg_gids, NULL, gid, now);
	}
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
	m = ix_get(&st->memberships, str_hash(st, nm.principal), eq_membership, nm.principal);
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
	return NULL;
}

/* May the UPG of u be published under its names (no static group has one)? */
static bool upg_ok(struct id_store *st, const struct id_user *u)
{
	return ix_get(&st->group_by_name, str_hash(st, u->display), eq_group_name, u->display) ==
		   NULL &&
	       (u->alias == NULL || ix_get(&st->group_by_name, str_hash(st, u->alias),
					   eq_group_name, u->alias) == NULL);
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
	return NULL;
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

	if (ix_get(&st->group_by_name, str_hash(st, name), eq_group_name, name) != NULL) {
		return true;
	}
	if (id_name_parse(name, st->realm, &n) != 0) {
		return false;
	}
	return ix_get(&st->user_by_principal, str_hash(st, n.principal), eq_user_principal,
		      n.principal) != NULL;
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
		    neg_find(st, &st->neg_names, u->principal, 0) != NULL) {
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
	for (i = 0; i < st->n_memberships; i++) {
		const struct membership *m = st->membership_list[i];
		const char *display, *alias;
		struct id_name n;

		if (id_name_parse(m->principal, st->realm, &n) != 0) {
			continue;
		}
		names_of(st, &n, &display, &alias);
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
			if (ret == 0) {
				ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_NAME, key, 0,
							     e->expires);
			}
			if (ret != 0) {
				return ret;
			}
		}
	}
	for (e = st->neg_uids.head; e != NULL; e = e->next) {
		if (e->expires > now &&
		    ix_get(&st->user_by_uid, id_hash(st, e->id), eq_user_uid, &e->id) == NULL) {
			ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_UID, NULL, e->id,
						     e->expires);
			if (ret != 0) {
				return ret;
			}
		}
	}
	for (e = st->neg_gids.head; e != NULL; e = e->next) {
		if (e->expires > now &&
		    ix_get(&st->group_by_gid, id_hash(st, e->id), eq_group_gid, &e->id) == NULL &&
		    ix_get(&st->user_by_uid, id_hash(st, e->id), eq_user_uid, &e->id) == NULL) {
			ret = nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_GID, NULL, e->id,
						     e->expires);
			if (ret != 0) {
				return ret;
			}
		}
	}
	{
		uint32_t complete = SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_INITGR);

		if (!st->auto_id) {
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
