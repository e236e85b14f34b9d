/*
 * fuzz_nss_cache.c - libFuzzer harness for the NSS cache reader
 * (common/nss_cache.c), which libnss_sectx runs inside every process that
 * resolves a user, on a file it maps.  Only root writes the file, but the
 * reader takes it as untrusted: a truncated, corrupted or foreign file must
 * never make a lookup crash, loop, read outside the file or write outside
 * the caller's buffer.
 *
 * The input is one byte of options, then the file.  The file is copied to a
 * heap block of exactly its size (so a read past its end is an ASan report);
 * option bit 0 patches the header fields a file of any other size could not
 * have right (magic, version, header size, table count, file size), so the
 * fuzzer spends its time in the tables and records.  If the reader attaches
 * it, every lookup is made: by name for every NUL-terminated string in the
 * data area and a few fixed names, by id for every key in the id tables and
 * a few fixed ids, the groups of every name, and the expiry of every user,
 * into a heap buffer of a size the options pick (one byte short, tiny,
 * ample).  On a HIT every string returned must lie inside that buffer and
 * be terminated there; on anything else the result must be untouched.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "nss_cache.h"
#include "proto.h"

#define MAX_NAMES 48
#define MAX_IDS	  64

static const char *const fixed_names[] = {"alice", "bob", "staff", "alice@EXAMPLE.COM", "", "root"};
static const uint32_t fixed_ids[] = {0, 1, 1000, 1001, 5000, 200000, 0xffffffffu};

struct lookup {
	char *buf;
	size_t buflen;
	int64_t now;
};

static void inside(const struct lookup *l, const char *s)
{
	FUZZ_CHECK(s != NULL && s >= l->buf && s < l->buf + l->buflen);
	FUZZ_CHECK(memchr(s, '\0', (size_t)(l->buf + l->buflen - s)) != NULL);
}

static void check_pw(const struct lookup *l, enum sectx_nss_cache_result r, const struct passwd *pw)
{
	FUZZ_CHECK(r <= SECTX_NSS_CACHE_CORRUPT);
	if (r != SECTX_NSS_CACHE_HIT) {
		FUZZ_CHECK(pw->pw_name == NULL && pw->pw_dir == NULL); /* untouched */
		return;
	}
	inside(l, pw->pw_name);
	inside(l, pw->pw_passwd);
	inside(l, pw->pw_gecos);
	inside(l, pw->pw_dir);
	inside(l, pw->pw_shell);
}

static void check_gr(const struct lookup *l, enum sectx_nss_cache_result r, const struct group *gr)
{
	size_t i;

	FUZZ_CHECK(r <= SECTX_NSS_CACHE_CORRUPT);
	if (r != SECTX_NSS_CACHE_HIT) {
		FUZZ_CHECK(gr->gr_name == NULL && gr->gr_mem == NULL);
		return;
	}
	inside(l, gr->gr_name);
	inside(l, gr->gr_passwd);
	FUZZ_CHECK((char *)gr->gr_mem >= l->buf &&
		   (char *)gr->gr_mem + sizeof(char *) <= l->buf + l->buflen);
	FUZZ_CHECK(((uintptr_t)gr->gr_mem & (sizeof(char *) - 1)) == 0);
	for (i = 0; gr->gr_mem[i] != NULL; i++) {
		FUZZ_CHECK((char *)&gr->gr_mem[i + 1] + sizeof(char *) <= l->buf + l->buflen);
		inside(l, gr->gr_mem[i]);
	}
}

static int count_gid(void *arg, gid_t gid)
{
	size_t *n = arg;

	(void)gid;
	return ++*n > SECTX_NSS_CACHE_MAX_MEMBERS + 1; /* the reader never runs away */
}

static void by_name(const struct sectx_nss_cache_map *m, const struct lookup *l, const char *name)
{
	struct passwd pw;
	struct group gr;
	enum sectx_nss_cache_result r;
	int64_t expires = 0;
	size_t n = 0;

	memset(&pw, 0, sizeof(pw));
	check_pw(l, sectx_nss_cache_getpwnam(m, name, l->now, &pw, l->buf, l->buflen), &pw);
	if (pw.pw_name != NULL) {
		(void)sectx_nss_cache_user_expiry(m, name, l->now, pw.pw_uid, &expires);
	}
	memset(&gr, 0, sizeof(gr));
	check_gr(l, sectx_nss_cache_getgrnam(m, name, l->now, &gr, l->buf, l->buflen), &gr);
	r = sectx_nss_cache_initgroups(m, name, l->now, count_gid, &n);
	FUZZ_CHECK(r <= SECTX_NSS_CACHE_CORRUPT);
	FUZZ_CHECK(r == SECTX_NSS_CACHE_HIT || n == 0);
	(void)sectx_nss_cache_user_expiry(m, name, l->now, 1000, &expires);
}

static void by_id(const struct sectx_nss_cache_map *m, const struct lookup *l, uint32_t id)
{
	struct passwd pw;
	struct group gr;

	memset(&pw, 0, sizeof(pw));
	check_pw(l, sectx_nss_cache_getpwuid(m, id, l->now, &pw, l->buf, l->buflen), &pw);
	memset(&gr, 0, sizeof(gr));
	check_gr(l, sectx_nss_cache_getgrgid(m, id, l->now, &gr, l->buf, l->buflen), &gr);
}

/* The NUL-terminated printable strings of the data area (the names the
 * records hold, and some that are not names). */
static size_t find_names(const struct sectx_nss_cache_map *m, const char **names)
{
	size_t n = 0, start = m->data_off, i;

	for (i = m->data_off; i < m->data_end && n < MAX_NAMES; i++) {
		uint8_t c = m->base[i];

		if (c == '\0') {
			if (i > start && i - start <= SECTX_NAME_MAX) {
				names[n++] = (const char *)m->base + start;
			}
			start = i + 1;
		} else if (c < 0x20 || c == 0x7f) {
			start = i + 1;
		}
	}
	return n;
}

/* The keys of the id tables. */
static size_t find_ids(const struct sectx_nss_cache_map *m, uint32_t *ids)
{
	static const enum sectx_nss_table tabs[] = {SECTX_NSS_TABLE_PW_UID, SECTX_NSS_TABLE_GR_GID};
	size_t n = 0, t, i;

	for (t = 0; t < 2; t++) {
		const struct sectx_nss_cache_table *tab = &m->tables[tabs[t]];

		for (i = 0; i < tab->nslots && n < MAX_IDS; i++) {
			const uint8_t *slot =
			    m->base + tab->off + i * sizeof(struct sectx_nss_cache_slot);
			uint32_t key, off;

			memcpy(&key, slot, sizeof(key));
			memcpy(&off, slot + sizeof(key), sizeof(off));
			if (off != 0) {
				ids[n++] = key;
			}
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t buflens[] = {1, 24, 200, 1024, 70000};
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);
	uint8_t *file;
	struct sectx_nss_cache_map m;
	struct lookup l;
	const char *names[MAX_NAMES];
	uint32_t ids[MAX_IDS];
	size_t nn, ni, i;

	if (in.n == 0) {
		return 0;
	}
	file = malloc(in.n);
	FUZZ_CHECK(file != NULL);
	memcpy(file, in.p, in.n);
	if ((opt & 1) && in.n >= SECTX_NSS_CACHE_HEADER_SIZE) {
		struct sectx_nss_cache_header h;

		memcpy(&h, file, sizeof(h));
		h.magic = SECTX_NSS_CACHE_MAGIC;
		h.version = SECTX_NSS_CACHE_VERSION;
		h.header_size = SECTX_NSS_CACHE_HEADER_SIZE;
		h.n_tables = SECTX_NSS_TABLE_COUNT;
		h.file_size = in.n;
		memcpy(file, &h, sizeof(h));
	}
	if (sectx_nss_cache_attach(file, in.n, &m) != 0) {
		goto done;
	}
	FUZZ_CHECK(m.base == file && m.size == in.n && m.data_off <= m.data_end &&
		   m.data_end <= in.n);
	(void)sectx_nss_cache_is_stale(&m);

	l.buflen = buflens[(opt >> 1) % (sizeof(buflens) / sizeof(buflens[0]))];
	l.buf = malloc(l.buflen);
	FUZZ_CHECK(l.buf != NULL);
	switch ((opt >> 4) & 3) {
	case 0:
		l.now = 1700000000;
		break;
	case 1:
		l.now = 0;
		break;
	case 2:
		l.now = INT64_MAX;
		break;
	default:
		l.now = INT64_MIN;
		break;
	}

	nn = find_names(&m, names);
	ni = find_ids(&m, ids);
	for (i = 0; i < nn; i++) {
		by_name(&m, &l, names[i]);
	}
	for (i = 0; i < sizeof(fixed_names) / sizeof(fixed_names[0]); i++) {
		by_name(&m, &l, fixed_names[i]);
	}
	for (i = 0; i < ni; i++) {
		by_id(&m, &l, ids[i]);
	}
	for (i = 0; i < sizeof(fixed_ids) / sizeof(fixed_ids[0]); i++) {
		by_id(&m, &l, fixed_ids[i]);
	}
	free(l.buf);
done:
	free(file);
	return 0;
}
