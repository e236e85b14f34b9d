/*
 * identity/nss_cache_writer.c - build the NSS cache and lay it out (see
 * nss_cache_writer.h for the contract and common/nss_cache.h for the format).
 *
 * Records are packed into one growing buffer as they are added; each key
 * remembers its hash (or id) and its record.  At write time the tables are
 * sized (load <= 1/2, grown until no run of occupied slots reaches
 * SECTX_NSS_CACHE_MAX_PROBES, which the reader treats as corruption), and
 * the cache is laid out in a memfd (reserved with posix_fallocate, filled
 * through a shared mapping).  Storing it as the file is nss_cache_file.c;
 * sealing and handing out the memfd is nss_cache_pub.c.
 */
#include "identity/nss_cache_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define WRITER_MAX_GROW 6 /* table doublings tried against long probe runs */

struct key_ent {
	uint64_t hash; /* name tables: sectx_nss_cache_hash; id tables: unused */
	uint32_t id;   /* id tables */
	uint32_t off;  /* record offset within the data area */
	uint8_t which; /* name tables: 0 the record's name, 1 its alias */
};

/* The record area and key arrays can pass talloc's 256 MB limit for a
 * chunk (a million users), so they are malloc'd, and freed by the builder's
 * destructor. */
struct nss_cache_builder {
	uint64_t seed;
	uint8_t *data;
	size_t len, cap; /* bytes used in data, bytes allocated */
	struct key_ent *keys[SECTX_NSS_TABLE_COUNT];
	size_t nkeys[SECTX_NSS_TABLE_COUNT];
	size_t capkeys[SECTX_NSS_TABLE_COUNT];
	uint32_t complete;
	int64_t complete_until;
};

static bool is_name_table(int t)
{
	return t == SECTX_NSS_TABLE_PW_NAME || t == SECTX_NSS_TABLE_GR_NAME ||
	       t == SECTX_NSS_TABLE_INITGR;
}

static int builder_destructor(struct nss_cache_builder *b)
{
	free(b->data);
	for (int t = 0; t < SECTX_NSS_TABLE_COUNT; t++) {
		free(b->keys[t]);
	}
	return 0;
}

int nss_cache_builder_new(TALLOC_CTX *mem_ctx, uint64_t seed, struct nss_cache_builder **out)
{
	struct nss_cache_builder *b;

	b = talloc_zero(mem_ctx, struct nss_cache_builder);
	if (b == NULL) {
		return -ENOMEM;
	}
	talloc_set_destructor(b, builder_destructor);
	while (seed == 0) {
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
			if (errno == EINTR) {
				continue;
			}
			talloc_free(b);
			return -errno;
		}
	}
	b->seed = seed;
	*out = b;
	return 0;
}

size_t nss_cache_builder_count(const struct nss_cache_builder *b, enum sectx_nss_table t)
{
	return (unsigned)t < SECTX_NSS_TABLE_COUNT ? b->nkeys[t] : 0;
}

void nss_cache_set_complete(struct nss_cache_builder *b, uint32_t bits, int64_t until)
{
	b->complete = bits;
	b->complete_until = until;
}

/* --- appending records ------------------------------------------------------------------------ */

static size_t slen(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* Reserve size bytes (a multiple of 8, zeroed) at the end of the data area;
 * returns the record's offset in *off. */
static int reserve(struct nss_cache_builder *b, size_t size, uint32_t *off, uint8_t **p)
{
	if (b->len + size > SECTX_NSS_CACHE_MAX_SIZE / 2) {
		return -E2BIG;
	}
	if (b->len + size > b->cap) {
		size_t ncap = b->cap < 4096 ? 4096 : b->cap;
		uint8_t *n;

		while (ncap < b->len + size) {
			ncap *= 2;
		}
		n = realloc(b->data, ncap);
		if (n == NULL) {
			return -ENOMEM;
		}
		b->data = n;
		b->cap = ncap;
	}
	*off = (uint32_t)b->len;
	*p = b->data + b->len;
	memset(*p, 0, size);
	b->len += size;
	return 0;
}

static int add_key(struct nss_cache_builder *b, int t, const char *name, uint32_t id, uint32_t off,
		   uint8_t which)
{
	size_t cap = b->capkeys[t];
	struct key_ent *k;

	if (b->nkeys[t] == cap) {
		size_t ncap = cap < 64 ? 64 : cap * 2;
		struct key_ent *n = reallocarray(b->keys[t], ncap, sizeof(*n));

		if (n == NULL) {
			return -ENOMEM;
		}
		b->keys[t] = n;
		b->capkeys[t] = ncap;
	}
	k = &b->keys[t][b->nkeys[t]++];
	k->hash = name != NULL ? sectx_nss_cache_hash(b->seed, name, strlen(name)) : 0;
	k->id = id;
	k->off = off;
	k->which = which;
	return 0;
}

static void copy_str(uint8_t *p, size_t *pos, const char *s, size_t len)
{
	if (len > 0) {
		memcpy(p + *pos, s, len);
	}
	p[*pos + len] = '\0';
	*pos += len + 1;
}

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static bool str_ok(const char *s, bool required)
{
	size_t l = slen(s);

	return l <= SECTX_NSS_CACHE_STR_MAX && (!required || l > 0);
}

/* An alias equal to the name would be a duplicate key: drop it. */
static const char *real_alias(const char *name, const char *alias)
{
	return alias != NULL && alias[0] != '\0' && strcmp(alias, name) != 0 ? alias : NULL;
}

static void rec_header(uint8_t *p, uint16_t kind, uint16_t flags, size_t size, int64_t expires)
{
	struct sectx_nss_cache_rec r = {
	    .kind = kind, .flags = flags, .size = (uint32_t)size, .expires = expires};

	memcpy(p, &r, sizeof(r));
}

int nss_cache_add_user(struct nss_cache_builder *b, const struct nss_cache_user *u)
{
	const char *s[6] = {u->name, NULL, u->gecos, u->home, u->shell, u->principal};
	size_t l[6], size = sizeof(struct sectx_nss_cache_user), pos, i;
	size_t nkeys = b->nkeys[SECTX_NSS_TABLE_PW_NAME];
	struct sectx_nss_cache_user h;
	uint32_t off;
	uint8_t *p;
	int ret;

	if (!str_ok(u->name, true)) {
		return -EINVAL;
	}
	s[1] = real_alias(u->name, u->alias);
	for (i = 0; i < 6; i++) {
		if (!str_ok(s[i], false)) {
			return -EINVAL;
		}
		l[i] = slen(s[i]);
		size += l[i] + 1;
	}
	size = round8(size);
	ret = reserve(b, size, &off, &p);
	if (ret != 0) {
		return ret;
	}
	memset(&h, 0, sizeof(h));
	h.uid = u->uid;
	h.gid = u->gid;
	h.name_len = (uint16_t)l[0];
	h.alias_len = (uint16_t)l[1];
	h.gecos_len = (uint16_t)l[2];
	h.home_len = (uint16_t)l[3];
	h.shell_len = (uint16_t)l[4];
	h.principal_len = (uint16_t)l[5];
	memcpy(p, &h, sizeof(h));
	rec_header(p, SECTX_NSS_REC_USER, u->auto_mapped ? SECTX_NSS_REC_F_AUTO : 0, size,
		   u->expires);
	pos = sizeof(h);
	for (i = 0; i < 6; i++) {
		copy_str(p, &pos, s[i], l[i]);
	}
	ret = add_key(b, SECTX_NSS_TABLE_PW_NAME, u->name, 0, off, 0);
	if (ret == 0 && l[1] > 0) {
		ret = add_key(b, SECTX_NSS_TABLE_PW_NAME, u->alias, 0, off, 1);
	}
	if (ret == 0) {
		ret = add_key(b, SECTX_NSS_TABLE_PW_UID, NULL, u->uid, off, 0);
	}
	if (ret != 0) {
		/* keep the tables consistent: drop the keys and the record */
		b->nkeys[SECTX_NSS_TABLE_PW_NAME] = nkeys;
		b->len = off;
	}
	return ret;
}

int nss_cache_add_group(struct nss_cache_builder *b, const struct nss_cache_group *g)
{
	const char *alias = g->name != NULL ? real_alias(g->name, g->alias) : NULL;
	size_t nl = slen(g->name), al = slen(alias), msize = 0, size, pos, i;
	size_t nkeys = b->nkeys[SECTX_NSS_TABLE_GR_NAME];
	struct sectx_nss_cache_group h;
	uint32_t off;
	uint8_t *p;
	int ret;

	if (!str_ok(g->name, true) || !str_ok(alias, false) ||
	    g->nmem > SECTX_NSS_CACHE_MAX_MEMBERS) {
		return -EINVAL;
	}
	for (i = 0; i < g->nmem; i++) {
		if (!str_ok(g->members[i], true)) {
			return -EINVAL;
		}
		msize += strlen(g->members[i]) + 1;
	}
	if (msize > SECTX_NSS_CACHE_MAX_SIZE / 4) {
		return -E2BIG;
	}
	size = round8(sizeof(h) + nl + 1 + al + 1 + msize);
	ret = reserve(b, size, &off, &p);
	if (ret != 0) {
		return ret;
	}
	memset(&h, 0, sizeof(h));
	h.gid = g->gid;
	h.nmem = (uint32_t)g->nmem;
	h.name_len = (uint16_t)nl;
	h.alias_len = (uint16_t)al;
	h.members_size = (uint32_t)msize;
	memcpy(p, &h, sizeof(h));
	rec_header(p, SECTX_NSS_REC_GROUP, 0, size, g->expires);
	pos = sizeof(h);
	copy_str(p, &pos, g->name, nl);
	copy_str(p, &pos, alias, al);
	for (i = 0; i < g->nmem; i++) {
		copy_str(p, &pos, g->members[i], strlen(g->members[i]));
	}
	ret = add_key(b, SECTX_NSS_TABLE_GR_NAME, g->name, 0, off, 0);
	if (ret == 0 && al > 0) {
		ret = add_key(b, SECTX_NSS_TABLE_GR_NAME, alias, 0, off, 1);
	}
	if (ret == 0) {
		ret = add_key(b, SECTX_NSS_TABLE_GR_GID, NULL, g->gid, off, 0);
	}
	if (ret != 0) {
		b->nkeys[SECTX_NSS_TABLE_GR_NAME] = nkeys;
		b->len = off;
	}
	return ret;
}

int nss_cache_add_membership(struct nss_cache_builder *b, const char *name, const char *alias,
			     const uint32_t *gids, size_t ngids, int64_t expires)
{
	size_t nl, al, size, pos;
	size_t nkeys = b->nkeys[SECTX_NSS_TABLE_INITGR];
	struct sectx_nss_cache_membership h;
	uint32_t off;
	uint8_t *p;
	int ret;

	if (!str_ok(name, true) || !str_ok(alias, false) || ngids > SECTX_NSS_CACHE_MAX_MEMBERS ||
	    (ngids > 0 && gids == NULL)) {
		return -EINVAL;
	}
	alias = real_alias(name, alias);
	nl = strlen(name);
	al = slen(alias);
	size = round8(sizeof(h) + ngids * 4 + nl + 1 + al + 1);
	ret = reserve(b, size, &off, &p);
	if (ret != 0) {
		return ret;
	}
	memset(&h, 0, sizeof(h));
	h.ngids = (uint32_t)ngids;
	h.name_len = (uint16_t)nl;
	h.alias_len = (uint16_t)al;
	memcpy(p, &h, sizeof(h));
	rec_header(p, SECTX_NSS_REC_MEMBERSHIP, 0, size, expires);
	pos = sizeof(h);
	if (ngids > 0) {
		memcpy(p + pos, gids, ngids * 4);
	}
	pos += ngids * 4;
	copy_str(p, &pos, name, nl);
	copy_str(p, &pos, alias, al);
	ret = add_key(b, SECTX_NSS_TABLE_INITGR, name, 0, off, 0);
	if (ret == 0 && al > 0) {
		ret = add_key(b, SECTX_NSS_TABLE_INITGR, alias, 0, off, 1);
	}
	if (ret != 0) {
		b->nkeys[SECTX_NSS_TABLE_INITGR] = nkeys;
		b->len = off;
	}
	return ret;
}

int nss_cache_add_negative(struct nss_cache_builder *b, enum sectx_nss_table t, const char *name,
			   uint32_t id, int64_t expires)
{
	bool by_name = t == SECTX_NSS_TABLE_PW_NAME || t == SECTX_NSS_TABLE_GR_NAME;
	struct sectx_nss_cache_negative h;
	size_t nl, size, pos;
	uint32_t off;
	uint8_t *p;
	int ret;

	if ((unsigned)t >= SECTX_NSS_TABLE_COUNT || t == SECTX_NSS_TABLE_INITGR ||
	    (by_name && !str_ok(name, true))) {
		return -EINVAL;
	}
	nl = by_name ? strlen(name) : 0;
	size = round8(sizeof(h) + nl + 1);
	ret = reserve(b, size, &off, &p);
	if (ret != 0) {
		return ret;
	}
	memset(&h, 0, sizeof(h));
	h.id = by_name ? 0 : id;
	h.name_len = (uint16_t)nl;
	memcpy(p, &h, sizeof(h));
	rec_header(p, SECTX_NSS_REC_NEGATIVE, 0, size, expires);
	pos = sizeof(h);
	copy_str(p, &pos, by_name ? name : "", nl);
	ret = add_key(b, t, by_name ? name : NULL, id, off, 0);
	if (ret != 0) {
		b->len = off;
	}
	return ret;
}

/* --- laying out the tables -------------------------------------------------------------------- */

/* The name (which 0) or alias (which 1) of the record at data offset off. */
static void rec_string(const struct nss_cache_builder *b, uint32_t off, int which,
		       const uint8_t **s, size_t *len)
{
	const uint8_t *p = b->data + off;
	struct sectx_nss_cache_rec r;
	size_t pos;
	uint16_t l[2];

	memcpy(&r, p, sizeof(r));
	switch (r.kind) {
	case SECTX_NSS_REC_USER: {
		struct sectx_nss_cache_user u;

		memcpy(&u, p, sizeof(u));
		l[0] = u.name_len;
		l[1] = u.alias_len;
		pos = sizeof(u);
		break;
	}
	case SECTX_NSS_REC_GROUP: {
		struct sectx_nss_cache_group g;

		memcpy(&g, p, sizeof(g));
		l[0] = g.name_len;
		l[1] = g.alias_len;
		pos = sizeof(g);
		break;
	}
	case SECTX_NSS_REC_MEMBERSHIP: {
		struct sectx_nss_cache_membership m;

		memcpy(&m, p, sizeof(m));
		l[0] = m.name_len;
		l[1] = m.alias_len;
		pos = sizeof(m) + (size_t)m.ngids * 4;
		break;
	}
	default: {
		struct sectx_nss_cache_negative n;

		memcpy(&n, p, sizeof(n));
		l[0] = n.name_len;
		l[1] = 0;
		pos = sizeof(n);
		break;
	}
	}
	if (which == 1) {
		pos += (size_t)l[0] + 1;
	}
	*s = p + pos;
	*len = l[which];
}

static void key_string(const struct nss_cache_builder *b, const struct key_ent *k,
		       const uint8_t **s, size_t *len)
{
	rec_string(b, k->off, k->which, s, len);
}

/* Is s one of the names (name or alias) of the record at data offset off? */
static bool rec_has_name(const struct nss_cache_builder *b, uint32_t off, const uint8_t *s,
			 size_t len)
{
	for (int which = 0; which < 2; which++) {
		const uint8_t *rs;
		size_t rl;

		rec_string(b, off, which, &rs, &rl);
		if (rl == len && rl > 0 && memcmp(rs, s, len) == 0) {
			return true;
		}
	}
	return false;
}

static uint32_t table_slots(size_t n, unsigned grow)
{
	uint64_t slots = 8;

	if (n == 0) {
		return 0;
	}
	while (slots < 2 * (uint64_t)n) {
		slots *= 2;
	}
	return (uint32_t)(slots << grow);
}

/* Fill the nslots slots at slots (zeroed) with table t's keys.  data_off is
 * the file offset of the data area.  0; -EEXIST for a duplicate key; -EAGAIN
 * if a run of occupied slots reaches the reader's probe limit. */
static int fill_table(const struct nss_cache_builder *b, int t, struct sectx_nss_cache_slot *slots,
		      uint32_t nslots, uint32_t data_off)
{
	bool by_name = is_name_table(t);
	uint32_t mask = nslots - 1, run = 0, first_run = 0, i;
	bool seen_empty = false;
	size_t k;

	for (k = 0; k < b->nkeys[t]; k++) {
		const struct key_ent *e = &b->keys[t][k];
		uint64_t h = by_name ? e->hash : sectx_nss_cache_id_hash(b->seed, e->id);
		uint32_t key = by_name ? (uint32_t)(e->hash >> 32) : e->id;
		uint32_t idx = (uint32_t)h & mask;

		for (;;) {
			struct sectx_nss_cache_slot *s = &slots[idx];

			if (s->off == 0) {
				s->key = key;
				s->off = data_off + e->off;
				break;
			}
			if (s->key == key) {
				const uint8_t *ks;
				size_t kl;

				if (!by_name) {
					return -EEXIST;
				}
				key_string(b, e, &ks, &kl);
				if (rec_has_name(b, s->off - data_off, ks, kl)) {
					return -EEXIST;
				}
			}
			idx = (idx + 1) & mask;
		}
	}
	/* The longest run of occupied slots, wrapping around. */
	for (i = 0; i < nslots; i++) {
		if (slots[i].off != 0) {
			run++;
			if (run >= SECTX_NSS_CACHE_MAX_PROBES - 1) {
				return -EAGAIN;
			}
		} else {
			if (!seen_empty) {
				first_run = run;
			}
			seen_empty = true;
			run = 0;
		}
	}
	if (run + first_run >= SECTX_NSS_CACHE_MAX_PROBES - 1) {
		return -EAGAIN;
	}
	return 0;
}

/* --- laying out the cache ------------------------------------------------------------------ */

int nss_cache_build_fd(struct nss_cache_builder *b, int fd, uint64_t generation, int64_t now,
		       size_t *size_out)
{
	struct sectx_nss_cache_header hdr;
	uint32_t nslots[SECTX_NSS_TABLE_COUNT];
	unsigned grow[SECTX_NSS_TABLE_COUNT] = {0};
	uint8_t *map = MAP_FAILED;
	uint64_t size = 0, off;
	uint32_t data_off = 0;
	int ret;
	int t;

	if (fd < 0) {
		return -EINVAL;
	}
retry:
	/* the header, then the owner area (nss_cache_pub.c), then the tables */
	off = SECTX_NSS_CACHE_HEADER_SIZE + SECTX_NSS_CACHE_OWNER_SIZE;
	memset(&hdr, 0, sizeof(hdr));
	for (t = 0; t < SECTX_NSS_TABLE_COUNT; t++) {
		nslots[t] = table_slots(b->nkeys[t], grow[t]);
		hdr.tables[t].off = nslots[t] > 0 ? (uint32_t)off : 0;
		hdr.tables[t].nslots = nslots[t];
		off += (uint64_t)nslots[t] * sizeof(struct sectx_nss_cache_slot);
	}
	off = (off + 7) & ~(uint64_t)7;
	data_off = (uint32_t)off;
	size = off + b->len;
	if (size > SECTX_NSS_CACHE_MAX_SIZE) {
		ret = -E2BIG;
		goto done;
	}
	/* Reserved first: a full file system or memory cgroup is an error
	 * here, not a SIGBUS while filling the mapping. */
	ret = posix_fallocate(fd, 0, (off_t)size);
	if (ret != 0) {
		ret = -ret;
		goto done;
	}
	if (ftruncate(fd, (off_t)size) != 0) { /* exactly size, whatever a retry reserved */
		ret = -errno;
		goto done;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto done;
	}
	memset(map, 0, data_off);
	for (t = 0; t < SECTX_NSS_TABLE_COUNT; t++) {
		if (nslots[t] == 0) {
			continue;
		}
		ret = fill_table(b, t,
				 (struct sectx_nss_cache_slot *)(void *)(map + hdr.tables[t].off),
				 nslots[t], data_off);
		if (ret == -EAGAIN && grow[t] < WRITER_MAX_GROW) {
			grow[t]++;
			munmap(map, size);
			map = MAP_FAILED;
			goto retry;
		}
		if (ret != 0) {
			ret = ret == -EAGAIN ? -E2BIG : ret;
			goto done;
		}
	}
	if (b->len > 0) {
		memcpy(map + data_off, b->data, b->len);
	}
	hdr.magic = SECTX_NSS_CACHE_MAGIC;
	hdr.version = SECTX_NSS_CACHE_VERSION;
	hdr.header_size = SECTX_NSS_CACHE_HEADER_SIZE;
	hdr.stale = SECTX_NSS_CACHE_CURRENT;
	hdr.generation = generation;
	hdr.file_size = size;
	hdr.created = now;
	hdr.complete_until = b->complete_until;
	hdr.seed = b->seed;
	hdr.complete = b->complete;
	hdr.n_tables = SECTX_NSS_TABLE_COUNT;
	hdr.data_off = data_off;
	hdr.data_size = (uint32_t)b->len;
	hdr.owner_area = SECTX_NSS_CACHE_HEADER_SIZE;
	hdr.owner_off = 0; /* set by the helper that holds the owner lock */
	memcpy(map, &hdr, sizeof(hdr));
	ret = munmap(map, size) == 0 ? 0 : -errno;
	map = MAP_FAILED;
done:
	if (map != MAP_FAILED) {
		munmap(map, size);
	}
	if (ret == 0 && size_out != NULL) {
		*size_out = (size_t)size;
	}
	return ret;
}
