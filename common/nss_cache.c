/*
 * nss_cache.c - the libc-only reader of the NSS cache file (format and
 * contract in nss_cache.h).
 *
 * Linked into libnss_sectx, i.e. into every process that resolves a user, and
 * run on a file that any bug or disk error could have damaged: it must never
 * read outside the mapping, never loop unboundedly, never allocate and never
 * make a system call.  Shared bytes are read with ld32()/ld64() exactly once
 * per use into locals that are checked before they are used, so even a file
 * changing under us can give a CORRUPT or MISS answer, never a crash.
 */
#include "nss_cache.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

_Static_assert(sizeof(struct sectx_nss_cache_header) == SECTX_NSS_CACHE_HEADER_SIZE,
	       "cache header size");
_Static_assert(sizeof(struct sectx_nss_cache_rec) == 16, "record header size");
_Static_assert(sizeof(struct sectx_nss_cache_user) == 40, "user record size");
_Static_assert(sizeof(struct sectx_nss_cache_group) == 32, "group record size");
_Static_assert(sizeof(struct sectx_nss_cache_membership) == 24, "membership record size");
_Static_assert(sizeof(struct sectx_nss_cache_negative) == 24, "negative record size");

#define MAX_SLOTS (1u << 28)

/* --- shared loads ----------------------------------------------------------------------------- */

/* One load of a naturally aligned shared field (alignment is checked before
 * any pointer reaches these). */
static inline uint32_t ld32(const uint8_t *p)
{
	return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline uint16_t ld16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline uint64_t ld64(const uint8_t *p)
{
	return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED);
}

#define FIELD(base_, type_, field_) ((const uint8_t *)(base_) + offsetof(type_, field_))

/* --- hashing ---------------------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

SECTX_HOT uint64_t sectx_nss_cache_hash(uint64_t seed, const void *s, size_t len)
{
	const uint8_t *p = s;
	uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
	uint64_t k;

	/* one multiply per 8 bytes, then a full avalanche */
	while (len >= 8) {
		memcpy(&k, p, 8);
		h = (h ^ k) * 0x9fb21c651e98df25ull;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	k = 0;
	memcpy(&k, p, len);
	h = (h ^ k ^ 0x5851f42d4c957f2dull) * 0x9fb21c651e98df25ull;
	return mix64(h);
}

SECTX_HOT uint64_t sectx_nss_cache_id_hash(uint64_t seed, uint32_t id)
{
	return mix64(seed ^ ((uint64_t)id * 0x9e3779b97f4a7c15ull));
}

/* --- header ----------------------------------------------------------------------------------- */

int sectx_nss_cache_attach(const void *base, size_t size, struct sectx_nss_cache_map *m)
{
	const uint8_t *b = base;
	uint64_t data_off, data_size;
	uint32_t owner_off;
	size_t t;

	memset(m, 0, sizeof(*m));
	if (b == NULL || ((uintptr_t)b & 7) != 0 || size < SECTX_NSS_CACHE_HEADER_SIZE ||
	    size > SECTX_NSS_CACHE_MAX_SIZE) {
		return -EINVAL;
	}
	if (ld32(FIELD(b, struct sectx_nss_cache_header, magic)) != SECTX_NSS_CACHE_MAGIC ||
	    ld32(FIELD(b, struct sectx_nss_cache_header, version)) != SECTX_NSS_CACHE_VERSION ||
	    ld32(FIELD(b, struct sectx_nss_cache_header, header_size)) !=
		SECTX_NSS_CACHE_HEADER_SIZE ||
	    ld64(FIELD(b, struct sectx_nss_cache_header, file_size)) != (uint64_t)size ||
	    ld32(FIELD(b, struct sectx_nss_cache_header, n_tables)) != SECTX_NSS_TABLE_COUNT) {
		return -EINVAL;
	}
	for (t = 0; t < SECTX_NSS_TABLE_COUNT; t++) {
		const uint8_t *tp = FIELD(b, struct sectx_nss_cache_header, tables) +
				    t * sizeof(struct sectx_nss_cache_table);
		uint32_t off = ld32(tp + offsetof(struct sectx_nss_cache_table, off));
		uint32_t n = ld32(tp + offsetof(struct sectx_nss_cache_table, nslots));

		if (n == 0) {
			off = 0;
		} else if ((n & (n - 1)) != 0 || n > MAX_SLOTS || (off & 7) != 0 ||
			   off < SECTX_NSS_CACHE_HEADER_SIZE ||
			   (uint64_t)off + (uint64_t)n * sizeof(struct sectx_nss_cache_slot) >
			       size) {
			return -EINVAL;
		}
		m->tables[t].off = off;
		m->tables[t].nslots = n;
	}
	data_off = ld32(FIELD(b, struct sectx_nss_cache_header, data_off));
	data_size = ld32(FIELD(b, struct sectx_nss_cache_header, data_size));
	if ((data_off & 7) != 0 || data_off < SECTX_NSS_CACHE_HEADER_SIZE ||
	    data_off + data_size > size) {
		return -EINVAL;
	}
	owner_off = ld32(FIELD(b, struct sectx_nss_cache_header, owner_off));
	if (owner_off != 0 && ((owner_off & 7) != 0 || owner_off < SECTX_NSS_CACHE_HEADER_SIZE ||
			       (uint64_t)owner_off + 4 > size)) {
		return -EINVAL;
	}
	m->base = b;
	m->size = size;
	m->generation = ld64(FIELD(b, struct sectx_nss_cache_header, generation));
	m->seed = ld64(FIELD(b, struct sectx_nss_cache_header, seed));
	m->complete = ld32(FIELD(b, struct sectx_nss_cache_header, complete));
	m->complete_until = (int64_t)ld64(FIELD(b, struct sectx_nss_cache_header, complete_until));
	m->data_off = (uint32_t)data_off;
	m->data_end = (uint32_t)(data_off + data_size);
	m->owner_off = owner_off;
	return 0;
}

SECTX_HOT int sectx_nss_cache_is_stale(const struct sectx_nss_cache_map *m)
{
	const uint32_t *p =
	    (const uint32_t *)(const void *)FIELD(m->base, struct sectx_nss_cache_header, stale);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE) != SECTX_NSS_CACHE_CURRENT;
}

SECTX_HOT uint32_t sectx_nss_cache_state(const struct sectx_nss_cache_map *m)
{
	const uint32_t *p =
	    (const uint32_t *)(const void *)FIELD(m->base, struct sectx_nss_cache_header, stale);
	uint32_t v = __atomic_load_n(p, __ATOMIC_ACQUIRE);

	if (v == SECTX_NSS_CACHE_CURRENT && m->owner_off != 0) {
		uint32_t w = ld32(m->base + m->owner_off);

		if ((w & SECTX_NSS_OWNER_TID_MASK) == 0 || (w & SECTX_NSS_OWNER_DIED) != 0) {
			return SECTX_NSS_CACHE_RETIRED; /* its helper is gone */
		}
	}
	return v == SECTX_NSS_CACHE_CURRENT || v == SECTX_NSS_CACHE_RETIRED
		   ? v
		   : SECTX_NSS_CACHE_REPLACED;
}

/* --- records ---------------------------------------------------------------------------------- */

/* A record header, loaded once and checked against the data area. */
struct rec {
	const uint8_t *p; /* start of the record */
	uint32_t size;
	uint16_t kind;
	int64_t expires;
};

/* Load the record at off: 0, or -1 if it does not fit in the data area. */
SECTX_HOT static int rec_load(const struct sectx_nss_cache_map *m, uint32_t off, struct rec *r)
{
	const uint8_t *p;

	if (off < m->data_off || off >= m->data_end || (off & 7) != 0 ||
	    m->data_end - off < sizeof(struct sectx_nss_cache_rec)) {
		return -1;
	}
	p = m->base + off;
	r->p = p;
	r->kind = ld16(FIELD(p, struct sectx_nss_cache_rec, kind));
	r->size = ld32(FIELD(p, struct sectx_nss_cache_rec, size));
	r->expires = (int64_t)ld64(FIELD(p, struct sectx_nss_cache_rec, expires));
	if (r->size < sizeof(struct sectx_nss_cache_rec) || (r->size & 7) != 0 ||
	    r->size > m->data_end - off) {
		return -1;
	}
	return 0;
}

/* A string inside a record: [pos, pos + len) plus its NUL must lie within the
 * record.  Advances *pos past the NUL.  0 or -1. */
SECTX_HOT static int rec_str(const struct rec *r, uint32_t *pos, uint32_t len, const uint8_t **s)
{
	if (len > SECTX_NSS_CACHE_STR_MAX || *pos > r->size || r->size - *pos < len + 1) {
		return -1;
	}
	*s = r->p + *pos;
	*pos += len + 1;
	return 0;
}

SECTX_HOT static int str_eq(const uint8_t *s, uint32_t slen, const char *key, size_t klen)
{
	return slen == klen && memcmp(s, key, klen) == 0;
}

/* The strings of a USER record, loaded once. */
struct user_view {
	uint32_t uid, gid;
	uint32_t len[6]; /* name, alias, gecos, home, shell, principal */
	const uint8_t *str[6];
};

SECTX_HOT static int user_view(const struct rec *r, struct user_view *u)
{
	uint32_t pos = sizeof(struct sectx_nss_cache_user);
	size_t i;

	if (r->kind != SECTX_NSS_REC_USER || r->size < pos) {
		return -1;
	}
	u->uid = ld32(FIELD(r->p, struct sectx_nss_cache_user, uid));
	u->gid = ld32(FIELD(r->p, struct sectx_nss_cache_user, gid));
	u->len[0] = ld16(FIELD(r->p, struct sectx_nss_cache_user, name_len));
	u->len[1] = ld16(FIELD(r->p, struct sectx_nss_cache_user, alias_len));
	u->len[2] = ld16(FIELD(r->p, struct sectx_nss_cache_user, gecos_len));
	u->len[3] = ld16(FIELD(r->p, struct sectx_nss_cache_user, home_len));
	u->len[4] = ld16(FIELD(r->p, struct sectx_nss_cache_user, shell_len));
	u->len[5] = ld16(FIELD(r->p, struct sectx_nss_cache_user, principal_len));
	for (i = 0; i < 6; i++) {
		if (rec_str(r, &pos, u->len[i], &u->str[i]) != 0) {
			return -1;
		}
	}
	return u->len[0] > 0 ? 0 : -1;
}

/* The name and alias of a USER record (the start of user_view). */
SECTX_HOT static int user_names(const struct rec *r, struct user_view *u)
{
	uint32_t pos = sizeof(struct sectx_nss_cache_user);

	if (r->size < pos) {
		return -1;
	}
	u->len[0] = ld16(FIELD(r->p, struct sectx_nss_cache_user, name_len));
	u->len[1] = ld16(FIELD(r->p, struct sectx_nss_cache_user, alias_len));
	if (rec_str(r, &pos, u->len[0], &u->str[0]) != 0 ||
	    rec_str(r, &pos, u->len[1], &u->str[1]) != 0) {
		return -1;
	}
	return 0;
}

struct group_view {
	uint32_t gid, nmem, members_size;
	uint32_t name_len, alias_len;
	const uint8_t *name, *alias, *members;
};

SECTX_HOT static int group_view(const struct rec *r, struct group_view *g)
{
	uint32_t pos = sizeof(struct sectx_nss_cache_group);

	if (r->kind != SECTX_NSS_REC_GROUP || r->size < pos) {
		return -1;
	}
	g->gid = ld32(FIELD(r->p, struct sectx_nss_cache_group, gid));
	g->nmem = ld32(FIELD(r->p, struct sectx_nss_cache_group, nmem));
	g->name_len = ld16(FIELD(r->p, struct sectx_nss_cache_group, name_len));
	g->alias_len = ld16(FIELD(r->p, struct sectx_nss_cache_group, alias_len));
	g->members_size = ld32(FIELD(r->p, struct sectx_nss_cache_group, members_size));
	if (rec_str(r, &pos, g->name_len, &g->name) != 0 ||
	    rec_str(r, &pos, g->alias_len, &g->alias) != 0 || g->name_len == 0 ||
	    g->nmem > SECTX_NSS_CACHE_MAX_MEMBERS || g->members_size > r->size - pos ||
	    (g->nmem == 0) != (g->members_size == 0) || g->members_size < g->nmem * 2u) {
		return -1;
	}
	g->members = r->p + pos;
	return 0;
}

struct membership_view {
	uint32_t ngids;
	uint32_t name_len, alias_len;
	const uint8_t *gids, *name, *alias;
};

SECTX_HOT static int membership_view(const struct rec *r, struct membership_view *v)
{
	uint32_t pos = sizeof(struct sectx_nss_cache_membership);

	if (r->kind != SECTX_NSS_REC_MEMBERSHIP || r->size < pos) {
		return -1;
	}
	v->ngids = ld32(FIELD(r->p, struct sectx_nss_cache_membership, ngids));
	v->name_len = ld16(FIELD(r->p, struct sectx_nss_cache_membership, name_len));
	v->alias_len = ld16(FIELD(r->p, struct sectx_nss_cache_membership, alias_len));
	if (v->ngids > SECTX_NSS_CACHE_MAX_MEMBERS || (uint64_t)v->ngids * 4 > r->size - pos) {
		return -1;
	}
	v->gids = r->p + pos;
	pos += v->ngids * 4;
	if (rec_str(r, &pos, v->name_len, &v->name) != 0 ||
	    rec_str(r, &pos, v->alias_len, &v->alias) != 0 || v->name_len == 0) {
		return -1;
	}
	return 0;
}

struct negative_view {
	uint32_t id;
	uint32_t name_len;
	const uint8_t *name;
};

SECTX_HOT static int negative_view(const struct rec *r, struct negative_view *v)
{
	uint32_t pos = sizeof(struct sectx_nss_cache_negative);

	if (r->kind != SECTX_NSS_REC_NEGATIVE || r->size < pos) {
		return -1;
	}
	v->id = ld32(FIELD(r->p, struct sectx_nss_cache_negative, id));
	v->name_len = ld16(FIELD(r->p, struct sectx_nss_cache_negative, name_len));
	return rec_str(r, &pos, v->name_len, &v->name);
}

/* Does the record r answer key (a name, or an id for id tables)? */
SECTX_HOT static int rec_matches(const struct rec *r, int by_id, const char *name, size_t len,
				 uint32_t id, int *corrupt)
{
	struct user_view u;
	struct group_view g;
	struct membership_view mv;
	struct negative_view n;

	switch (r->kind) {
	case SECTX_NSS_REC_USER:
		if (by_id) {
			if (r->size < sizeof(struct sectx_nss_cache_user)) {
				break;
			}
			return ld32(FIELD(r->p, struct sectx_nss_cache_user, uid)) == id;
		}
		/* only the two names here: fill_passwd checks the whole record */
		if (user_names(r, &u) != 0) {
			break;
		}
		return str_eq(u.str[0], u.len[0], name, len) ||
		       (u.len[1] > 0 && str_eq(u.str[1], u.len[1], name, len));
	case SECTX_NSS_REC_GROUP:
		if (group_view(r, &g) != 0) {
			break;
		}
		return by_id ? g.gid == id
			     : str_eq(g.name, g.name_len, name, len) ||
				   (g.alias_len > 0 && str_eq(g.alias, g.alias_len, name, len));
	case SECTX_NSS_REC_MEMBERSHIP:
		if (by_id || membership_view(r, &mv) != 0) {
			break;
		}
		return str_eq(mv.name, mv.name_len, name, len) ||
		       (mv.alias_len > 0 && str_eq(mv.alias, mv.alias_len, name, len));
	case SECTX_NSS_REC_NEGATIVE:
		if (negative_view(r, &n) != 0) {
			break;
		}
		return by_id ? n.name_len == 0 && n.id == id
			     : str_eq(n.name, n.name_len, name, len);
	default:
		break;
	}
	*corrupt = 1;
	return 0;
}

/* Find the record for a key in table t.  Returns HIT with *r filled (the
 * caller checks kind and expiry), MISS/NEGATIVE for an absent key (by the
 * table's completeness), or CORRUPT. */
SECTX_HOT static enum sectx_nss_cache_result find(const struct sectx_nss_cache_map *m, int t,
						  int by_id, const char *name, size_t len,
						  uint32_t id, int64_t now, struct rec *r)
{
	uint32_t nslots = m->tables[t].nslots;
	const uint8_t *slots = m->base + m->tables[t].off;
	uint64_t h;
	uint32_t key, mask, i, limit;

	if (nslots > 0) {
		if (by_id) {
			h = sectx_nss_cache_id_hash(m->seed, id);
			key = id;
		} else {
			h = sectx_nss_cache_hash(m->seed, name, len);
			key = (uint32_t)(h >> 32);
		}
		mask = nslots - 1;
		limit = nslots < SECTX_NSS_CACHE_MAX_PROBES ? nslots : SECTX_NSS_CACHE_MAX_PROBES;
		for (i = 0; i < limit; i++) {
			const uint8_t *s = slots + (size_t)(((uint32_t)h + i) & mask) *
						       sizeof(struct sectx_nss_cache_slot);
			uint32_t off = ld32(s + offsetof(struct sectx_nss_cache_slot, off));
			int corrupt = 0;

			if (off == 0) {
				goto absent;
			}
			if (ld32(s + offsetof(struct sectx_nss_cache_slot, key)) != key) {
				continue;
			}
			if (rec_load(m, off, r) != 0) {
				return SECTX_NSS_CACHE_CORRUPT;
			}
			if (rec_matches(r, by_id, name, len, id, &corrupt)) {
				return SECTX_NSS_CACHE_HIT;
			}
			if (corrupt) {
				return SECTX_NSS_CACHE_CORRUPT;
			}
		}
		/* The writer leaves an empty slot within MAX_PROBES of every start. */
		return SECTX_NSS_CACHE_CORRUPT;
	}
absent:
	if ((m->complete & SECTX_NSS_COMPLETE(t)) != 0 && now < m->complete_until) {
		return SECTX_NSS_CACHE_NEGATIVE;
	}
	return SECTX_NSS_CACHE_MISS;
}

/* Common front of every lookup: find, then sort out expiry and negatives.
 * Returns HIT only for an unexpired record of kind want. */
SECTX_HOT static enum sectx_nss_cache_result lookup(const struct sectx_nss_cache_map *m, int t,
						    int by_id, const char *name, uint32_t id,
						    int64_t now, uint16_t want, struct rec *r)
{
	enum sectx_nss_cache_result res;
	size_t len = 0;

	if (m == NULL || m->base == NULL) {
		return SECTX_NSS_CACHE_MISS;
	}
	if (!by_id) {
		if (name == NULL) {
			return SECTX_NSS_CACHE_MISS;
		}
		len = strnlen(name, SECTX_NSS_CACHE_STR_MAX + 1);
		if (len == 0 || len > SECTX_NSS_CACHE_STR_MAX) {
			return SECTX_NSS_CACHE_MISS;
		}
	}
	res = find(m, t, by_id, name, len, id, now, r);
	if (res != SECTX_NSS_CACHE_HIT) {
		return res;
	}
	if (r->expires <= now) {
		return SECTX_NSS_CACHE_MISS;
	}
	if (r->kind == SECTX_NSS_REC_NEGATIVE) {
		return SECTX_NSS_CACHE_NEGATIVE;
	}
	return r->kind == want ? SECTX_NSS_CACHE_HIT : SECTX_NSS_CACHE_CORRUPT;
}

/* --- copying out ------------------------------------------------------------------------------ */

/* Append len bytes of s and a NUL at *pos in buf; returns the copy. */
SECTX_HOT static char *put(char *buf, size_t *pos, const void *s, size_t len)
{
	char *d = buf + *pos;

	memcpy(d, s, len);
	d[len] = '\0';
	*pos += len + 1;
	return d;
}

SECTX_HOT static enum sectx_nss_cache_result fill_passwd(const struct rec *r, uint32_t want_uid,
							 int by_id, struct passwd *pw, char *buf,
							 size_t buflen)
{
	struct user_view u;
	size_t need, pos = 0;

	if (user_view(r, &u) != 0 || (by_id && u.uid != want_uid)) {
		return SECTX_NSS_CACHE_CORRUPT;
	}
	need = (size_t)u.len[0] + 1 + 2 + u.len[2] + 1 + u.len[3] + 1 + u.len[4] + 1;
	if (buf == NULL || need > buflen) {
		return SECTX_NSS_CACHE_ERANGE;
	}
	pw->pw_name = put(buf, &pos, u.str[0], u.len[0]);
	pw->pw_passwd = put(buf, &pos, "*", 1);
	pw->pw_uid = u.uid;
	pw->pw_gid = u.gid;
	pw->pw_gecos = put(buf, &pos, u.str[2], u.len[2]);
	pw->pw_dir = put(buf, &pos, u.str[3], u.len[3]);
	pw->pw_shell = put(buf, &pos, u.str[4], u.len[4]);
	return SECTX_NSS_CACHE_HIT;
}

SECTX_HOT enum sectx_nss_cache_result sectx_nss_cache_getpwnam(const struct sectx_nss_cache_map *m,
							       const char *name, int64_t now,
							       struct passwd *pw, char *buf,
							       size_t buflen)
{
	enum sectx_nss_cache_result res;
	struct rec r;

	res = lookup(m, SECTX_NSS_TABLE_PW_NAME, 0, name, 0, now, SECTX_NSS_REC_USER, &r);
	return res == SECTX_NSS_CACHE_HIT ? fill_passwd(&r, 0, 0, pw, buf, buflen) : res;
}

SECTX_HOT enum sectx_nss_cache_result sectx_nss_cache_getpwuid(const struct sectx_nss_cache_map *m,
							       uid_t uid, int64_t now,
							       struct passwd *pw, char *buf,
							       size_t buflen)
{
	enum sectx_nss_cache_result res;
	struct rec r;

	res =
	    lookup(m, SECTX_NSS_TABLE_PW_UID, 1, NULL, (uint32_t)uid, now, SECTX_NSS_REC_USER, &r);
	return res == SECTX_NSS_CACHE_HIT ? fill_passwd(&r, (uint32_t)uid, 1, pw, buf, buflen)
					  : res;
}

SECTX_HOT static enum sectx_nss_cache_result fill_group(const struct rec *r, uint32_t want_gid,
							int by_id, struct group *gr, char *buf,
							size_t buflen)
{
	struct group_view g;
	size_t need, pos, pad, i, start;
	char **mem, *name, *passwd;

	if (group_view(r, &g) != 0 || (by_id && g.gid != want_gid)) {
		return SECTX_NSS_CACHE_CORRUPT;
	}
	if (buf == NULL) {
		return SECTX_NSS_CACHE_ERANGE;
	}
	pad = (alignof(char *) - ((uintptr_t)buf & (alignof(char *) - 1))) & (alignof(char *) - 1);
	need = pad + ((size_t)g.nmem + 1) * sizeof(char *) + g.name_len + 1 + 2 + g.members_size;
	if (need > buflen) {
		return SECTX_NSS_CACHE_ERANGE;
	}
	mem = (char **)(void *)(buf + pad);
	pos = pad + ((size_t)g.nmem + 1) * sizeof(char *);
	name = put(buf, &pos, g.name, g.name_len);
	passwd = put(buf, &pos, "*", 1);
	/* Copy the members once, then split the private copy: every NUL counted
	 * there is one the file cannot change any more. */
	start = pos;
	memcpy(buf + pos, g.members, g.members_size);
	for (i = 0; i < g.nmem; i++) {
		char *s = buf + pos;
		size_t left = start + g.members_size - pos;
		size_t l = left > 0 ? strnlen(s, left) : 0;

		if (l == 0 || l == left) {
			return SECTX_NSS_CACHE_CORRUPT;
		}
		mem[i] = s;
		pos += l + 1;
	}
	if (pos != start + g.members_size) {
		return SECTX_NSS_CACHE_CORRUPT;
	}
	mem[g.nmem] = NULL;
	/* only now, on a HIT, is *gr written */
	gr->gr_name = name;
	gr->gr_passwd = passwd;
	gr->gr_gid = g.gid;
	gr->gr_mem = mem;
	return SECTX_NSS_CACHE_HIT;
}

SECTX_HOT enum sectx_nss_cache_result sectx_nss_cache_getgrnam(const struct sectx_nss_cache_map *m,
							       const char *name, int64_t now,
							       struct group *gr, char *buf,
							       size_t buflen)
{
	enum sectx_nss_cache_result res;
	struct rec r;

	res = lookup(m, SECTX_NSS_TABLE_GR_NAME, 0, name, 0, now, SECTX_NSS_REC_GROUP, &r);
	return res == SECTX_NSS_CACHE_HIT ? fill_group(&r, 0, 0, gr, buf, buflen) : res;
}

SECTX_HOT enum sectx_nss_cache_result sectx_nss_cache_getgrgid(const struct sectx_nss_cache_map *m,
							       gid_t gid, int64_t now,
							       struct group *gr, char *buf,
							       size_t buflen)
{
	enum sectx_nss_cache_result res;
	struct rec r;

	res =
	    lookup(m, SECTX_NSS_TABLE_GR_GID, 1, NULL, (uint32_t)gid, now, SECTX_NSS_REC_GROUP, &r);
	return res == SECTX_NSS_CACHE_HIT ? fill_group(&r, (uint32_t)gid, 1, gr, buf, buflen) : res;
}

SECTX_HOT enum sectx_nss_cache_result
sectx_nss_cache_initgroups(const struct sectx_nss_cache_map *m, const char *name, int64_t now,
			   int (*add)(void *arg, gid_t gid), void *arg)
{
	enum sectx_nss_cache_result res;
	struct membership_view v;
	struct rec r;
	uint32_t i;

	res = lookup(m, SECTX_NSS_TABLE_INITGR, 0, name, 0, now, SECTX_NSS_REC_MEMBERSHIP, &r);
	if (res != SECTX_NSS_CACHE_HIT) {
		return res;
	}
	if (membership_view(&r, &v) != 0) {
		return SECTX_NSS_CACHE_CORRUPT;
	}
	for (i = 0; i < v.ngids; i++) {
		if (add(arg, (gid_t)ld32(v.gids + (size_t)i * 4)) != 0) {
			break;
		}
	}
	return SECTX_NSS_CACHE_HIT;
}

int sectx_nss_cache_user_expiry(const struct sectx_nss_cache_map *m, const char *name, int64_t now,
				uint32_t uid, int64_t *expires)
{
	struct user_view u;
	struct rec r;

	if (lookup(m, SECTX_NSS_TABLE_PW_NAME, 0, name, 0, now, SECTX_NSS_REC_USER, &r) !=
		SECTX_NSS_CACHE_HIT ||
	    user_view(&r, &u) != 0 || u.uid != uid ||
	    (ld16(FIELD(r.p, struct sectx_nss_cache_rec, flags)) & SECTX_NSS_REC_F_AUTO) == 0) {
		return -1;
	}
	*expires = r.expires;
	return 0;
}
