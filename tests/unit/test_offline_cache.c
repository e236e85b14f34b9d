/*
 * test_offline_cache.c - unit tests of helper/offline/ (offline_cache.c,
 * kdf.c, cache_file.c): cached credentials stored, verified, throttled,
 * aged, forgotten, reloaded and moved aside when corrupt, with the KDF on
 * its real threads; the file body's decoder against truncated, oversized
 * and malformed input.
 *
 * Each test runs the subsystem in a fresh state directory under $TMPDIR (or
 * /tmp) with a tevent loop of its own, and removes the directory afterwards.
 * No network, no KDC: the cache does not need one.  The iteration count is
 * kept at the minimum so the tests stay fast under valgrind.  A little over
 * 800 lines: the one test of the folder's three cache files, whose decoder
 * cases are one table each.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "offline/offline.h"
#include "offline/offline_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "login/login.h"
#include "log.h"
#include "proto.h"
#include "core/state_file.h"
#include "atomic_file.h"

struct fixture {
	char base[PATH_MAX];
	char cache_dir[PATH_MAX + 16];
	TALLOC_CTX *mem;
	struct sectxd_ctx *hctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct sectx_config *cfg = NULL;

	if (f == NULL) {
		return -1;
	}
	snprintf(f->base, sizeof(f->base), "%s/test_offline_cache.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->base) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/state/%s", f->base, SECTX_OFFLINE_DIR);
	f->mem = talloc_new(NULL);
	if (f->mem == NULL || sectx_config_defaults(f->mem, &cfg) != 0) {
		return -1;
	}
	cfg->sectxd.state_dir = talloc_asprintf(cfg, "%s/state", f->base);
	cfg->offline.cache_credentials = true;
	cfg->offline.kdf_iterations = SECTX_OFFLINE_ITER_MIN;
	f->hctx = talloc_zero(f->mem, struct sectxd_ctx);
	f->hctx->cfg = cfg;
	f->hctx->ev = tevent_context_init(f->hctx);
	f->hctx->krb5 = talloc_zero(f->hctx, struct sectxd_krb5);
	if (f->hctx->ev == NULL || f->hctx->krb5 == NULL ||
	    sectxd_offline_subsystem.start(f->hctx) != 0) {
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sectxd_offline_subsystem.stop(f->hctx);
	talloc_free(f->mem);
	nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void restart(struct fixture *f)
{
	sectxd_offline_subsystem.stop(f->hctx);
	assert_int_equal(sectxd_offline_subsystem.start(f->hctx), 0);
}

/* Wait for every KDF still running or waiting: their pipes are the loop's
 * only events. */
static void drain(struct fixture *f)
{
	assert_int_equal(tevent_loop_wait(f->hctx->ev), 0);
}

/* Store and wait for the KDF thread: its pipe is the loop's only event. */
static void store(struct fixture *f, const char *user, const char *password)
{
	char principal[128];

	snprintf(principal, sizeof(principal), "%s@SECTX.TEST", user);
	sectx_offline_store(f->hctx, user, principal, password, strlen(password));
	assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
}

/* Wait for a verification started with sectx_offline_verify_send, free it
 * and return its result (and *retry_ms unless NULL). */
static enum sectx_offline_result verify_wait(struct fixture *f, struct tevent_req *req,
					     int64_t *retry_ms)
{
	enum sectx_offline_result result = SECTX_OFFLINE_ERROR;
	int64_t retry = 0;
	time_t stored = 0;

	assert_non_null(req);
	assert_true(tevent_req_poll(req, f->hctx->ev));
	assert_int_equal(sectx_offline_verify_recv(req, &result, &retry, &stored), 0);
	talloc_free(req);
	if (retry_ms != NULL) {
		*retry_ms = retry;
	}
	return result;
}

static enum sectx_offline_result verify(struct fixture *f, const char *user, const char *password,
					int64_t *retry_ms)
{
	return verify_wait(f,
			   sectx_offline_verify_send(f->mem, f->hctx->ev, f->hctx, user, password,
						     strlen(password)),
			   retry_ms);
}

/* Names in the cache directory, sorted, as one space-separated string. */
static char *listing(struct fixture *f)
{
	struct dirent **names = NULL;
	char *out = talloc_strdup(f->mem, "");
	int n = scandir(f->cache_dir, &names, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
			out = talloc_asprintf_append(out, "%s%s", out[0] ? " " : "",
						     names[i]->d_name);
		}
		free(names[i]);
	}
	free(names);
	return out;
}

#define OFFL SECTX_STATE_KIND('O', 'F', 'F', 'L')

static int cache_dirfd(struct fixture *f)
{
	int fd = open(f->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* The payload of a cached-credential file (checked by state_file: kind
 * OFFL, version 2) and its length. */
static uint8_t *read_payload(struct fixture *f, const char *name, size_t *len)
{
	uint8_t *payload = NULL;
	uint32_t version = 0;
	int fd = cache_dirfd(f);

	assert_int_equal(
	    sectx_state_load(f->mem, fd, name, "test", OFFL, 2, 4096, &payload, len, &version), 0);
	close(fd);
	assert_int_equal(version, 2);
	return payload;
}

/* The credential in a file, decoded. */
static struct offline_entry *read_entry(struct fixture *f, const char *name)
{
	struct offline_entry *e = NULL;
	const char *why = NULL;
	size_t len = 0;
	uint8_t *payload = read_payload(f, name, &len);

	assert_int_equal(sectx_offline_entry_decode(f->mem, payload, len, name, &e, &why), 0);
	return e;
}

/* Replace a file's payload, as a valid state file of the given version. */
static void save_payload(struct fixture *f, const char *name, uint32_t version, const void *p,
			 size_t len)
{
	int fd = cache_dirfd(f);

	assert_int_equal(sectx_state_save(fd, name, OFFL, version, p, len), 0);
	close(fd);
}

/* Replace a file with e, encoded. */
static void save_entry(struct fixture *f, const char *name, const struct offline_entry *e)
{
	uint8_t *p = NULL;
	size_t len = 0;

	assert_int_equal(sectx_offline_entry_encode(f->mem, e, &p, &len), 0);
	save_payload(f, name, 2, p, len);
}

/* Raw bytes into a file, bypassing state_file. */
static void write_raw(struct fixture *f, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX * 2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->cache_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint8_t *read_raw(struct fixture *f, const char *name, size_t *len)
{
	char *data = NULL;
	int fd = cache_dirfd(f);

	assert_int_equal(sectx_read_file_at(f->mem, fd, name, 1u << 20, &data, len), 0);
	close(fd);
	return (uint8_t *)data;
}

static void test_store_and_verify(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *names, path[PATH_MAX * 2];
	struct offline_entry *e;
	uint8_t *payload;
	size_t len = 0;

	assert_true(sectx_offline_enabled(f->hctx));
	store(f, "alice", "Secret-pw-1");
	assert_int_equal(verify(f, "alice", "Secret-pw-1", NULL), SECTX_OFFLINE_OK);
	assert_int_equal(verify(f, "alice", "Secret-pw-2", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_int_equal(verify(f, "alice", "", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_int_equal(verify(f, "bob", "Secret-pw-1", NULL), SECTX_OFFLINE_NONE);

	names = listing(f);
	assert_int_equal(strlen(names), 2 + 64);
	assert_int_equal(strncmp(names, "u-", 2), 0);
	assert_int_equal(stat(f->cache_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/%s", f->cache_dir, names);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	payload = read_payload(f, names, &len);
	assert_non_null(memmem(payload, len, "pbkdf2-hmac-sha512", 18));
	assert_null(memmem(payload, len, "Secret", 6));
	e = read_entry(f, names);
	assert_string_equal(e->user, "alice");
	assert_string_equal(e->principal, "alice@SECTX.TEST");
	assert_int_equal(e->iterations, 1000);
	assert_true(e->stored > time(NULL) - 60 && e->stored <= time(NULL));

	/* a new password replaces the old one; the file survives a restart */
	store(f, "alice", "Secret-pw-2");
	restart(f);
	assert_int_equal(verify(f, "alice", "Secret-pw-2", NULL), SECTX_OFFLINE_OK);
	assert_int_equal(verify(f, "alice", "Secret-pw-1", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_string_equal(listing(f), names);
}

static void test_failed_attempts_lock(void **state)
{
	struct fixture *f = *state;
	int64_t retry = 0;

	f->hctx->cfg->offline.failed_attempts = 2;
	f->hctx->cfg->offline.failed_delay_ms = 3600 * 1000;
	store(f, "carol", "Right-pw-1");
	assert_int_equal(verify(f, "carol", "Wrong-pw-1", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_int_equal(verify(f, "carol", "Right-pw-1", NULL), SECTX_OFFLINE_OK);
	/* a success resets the count */
	assert_int_equal(verify(f, "carol", "Wrong-pw-1", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_int_equal(verify(f, "carol", "Wrong-pw-1", NULL), SECTX_OFFLINE_BAD_PASSWORD);
	assert_int_equal(verify(f, "carol", "Right-pw-1", &retry), SECTX_OFFLINE_LOCKED);
	assert_true(retry > 0 && retry <= 3600 * 1000);
	/* the delay over (here: set to nothing), the right password works */
	f->hctx->cfg->offline.failed_delay_ms = 0;
	assert_int_equal(verify(f, "carol", "Right-pw-1", NULL), SECTX_OFFLINE_OK);
}

/* Attempts started together (one per connection) are counted as they start:
 * with failed_attempts = 2, of five wrong passwords in flight at once only
 * two are tried, the others are locked out as they would be one by one. */
static void test_parallel_attempts_meet_the_lock(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *reqs[5];
	unsigned tried = 0, locked = 0;
	size_t i;

	f->hctx->cfg->offline.failed_attempts = 2;
	f->hctx->cfg->offline.failed_delay_ms = 3600 * 1000;
	store(f, "erin", "Right-pw-1");
	for (i = 0; i < 5; i++) {
		reqs[i] = sectx_offline_verify_send(f->mem, f->hctx->ev, f->hctx, "erin",
						    "Wrong-pw-1", 10);
		assert_non_null(reqs[i]);
	}
	for (i = 0; i < 5; i++) {
		enum sectx_offline_result result = verify_wait(f, reqs[i], NULL);

		tried += result == SECTX_OFFLINE_BAD_PASSWORD;
		locked += result == SECTX_OFFLINE_LOCKED;
	}
	assert_int_equal(tried, 2);
	assert_int_equal(locked, 3);
	/* still locked for the right password too, as after serial failures */
	assert_int_equal(verify(f, "erin", "Right-pw-1", NULL), SECTX_OFFLINE_LOCKED);
}

/* One user hashing over and over (each online login stores, an offline
 * success is never locked) holds one thread and at most
 * SECTX_OFFLINE_KDF_USER_MAX places: another user's offline login and
 * another's store still go through, where before they failed (EBUSY) once
 * that user's jobs filled the SECTX_OFFLINE_KDF_MAX threads. */
static void test_one_user_does_not_starve_others(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *reqs[10];
	unsigned ok = 0, refused = 0;
	size_t i;

	f->hctx->cfg->offline.failed_attempts = 1000; /* the lock is not under test */
	store(f, "bob", "Bob-pw-1");
	store(f, "mallory", "Mallory-pw-1");
	for (i = 0; i < 2 * SECTX_OFFLINE_KDF_MAX; i++) {
		sectx_offline_store(f->hctx, "mallory", "mallory@SECTX.TEST", "Mallory-pw-1", 12);
	}
	for (i = 0; i < 10; i++) {
		reqs[i] = sectx_offline_verify_send(f->mem, f->hctx->ev, f->hctx, "mallory",
						    "Mallory-pw-1", 12);
		assert_non_null(reqs[i]);
	}
	assert_int_equal(verify(f, "bob", "Bob-pw-1", NULL), SECTX_OFFLINE_OK);
	sectx_offline_store(f->hctx, "carol", "carol@SECTX.TEST", "Carol-pw-1", 10);
	for (i = 0; i < 10; i++) {
		enum sectx_offline_result result = verify_wait(f, reqs[i], NULL);

		ok += result == SECTX_OFFLINE_OK;
		refused += result == SECTX_OFFLINE_ERROR;
	}
	drain(f);
	assert_int_equal(verify(f, "carol", "Carol-pw-1", NULL), SECTX_OFFLINE_OK);
	/* mallory: one store running, the newest waiting (it replaced the
	 * others), so two of her verifications fit and the rest are refused */
	assert_int_equal(ok, SECTX_OFFLINE_KDF_USER_MAX - 2);
	assert_int_equal(refused, 10 - ok);
	assert_int_equal(verify(f, "mallory", "Mallory-pw-1", NULL), SECTX_OFFLINE_OK);
}

/* Past the threads, jobs wait in a bounded queue instead of failing: of
 * stores for more users than threads plus places at once, exactly
 * SECTX_OFFLINE_KDF_MAX + SECTX_OFFLINE_KDF_QUEUE_MAX are written. */
static void test_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	const unsigned n = SECTX_OFFLINE_KDF_MAX + SECTX_OFFLINE_KDF_QUEUE_MAX + 5;
	char user[32], principal[64];
	unsigned i, files = 0;
	const char *p;

	for (i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "user%u", i);
		snprintf(principal, sizeof(principal), "%s@SECTX.TEST", user);
		sectx_offline_store(f->hctx, user, principal, "Some-pw-1", 9);
	}
	drain(f);
	for (p = listing(f); (p = strstr(p, "u-")) != NULL; p += 2) {
		files++;
	}
	assert_int_equal(files, SECTX_OFFLINE_KDF_MAX + SECTX_OFFLINE_KDF_QUEUE_MAX);
	/* the first ones in, not any others */
	assert_int_equal(verify(f, "user0", "Some-pw-1", NULL), SECTX_OFFLINE_OK);
	snprintf(user, sizeof(user), "user%u", n - 1);
	assert_int_equal(verify(f, user, "Some-pw-1", NULL), SECTX_OFFLINE_NONE);
}

static void test_too_old(void **state)
{
	struct fixture *f = *state;
	struct offline_entry *e;
	char *names;

	store(f, "dave", "Dave-pw-1");
	names = listing(f);
	e = read_entry(f, names);
	/* stored a day ago, as the file says after a restart */
	e->stored = time(NULL) - 86400;
	save_entry(f, names, e);
	restart(f);
	f->hctx->cfg->offline.max_age_ms = 3600 * 1000;
	assert_int_equal(verify(f, "dave", "Dave-pw-1", NULL), SECTX_OFFLINE_TOO_OLD);
	f->hctx->cfg->offline.max_age_ms = 7 * 86400 * 1000ull;
	assert_int_equal(verify(f, "dave", "Dave-pw-1", NULL), SECTX_OFFLINE_OK);
}

static void test_forget(void **state)
{
	struct fixture *f = *state;

	store(f, "erin", "Erin-pw-1");
	sectx_offline_forget(f->hctx, "erin", "test");
	assert_string_equal(listing(f), "");
	assert_int_equal(verify(f, "erin", "Erin-pw-1", NULL), SECTX_OFFLINE_NONE);

	/* forgotten while its hash is being computed: it does not come back */
	sectx_offline_store(f->hctx, "erin", "erin@SECTX.TEST", "Erin-pw-1", 9);
	sectx_offline_forget(f->hctx, "erin", "test");
	assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
	assert_string_equal(listing(f), "");
	assert_int_equal(verify(f, "erin", "Erin-pw-1", NULL), SECTX_OFFLINE_NONE);

	/* ... or still waiting behind another of the same user's */
	sectx_offline_store(f->hctx, "erin", "erin@SECTX.TEST", "Erin-pw-1", 9);
	sectx_offline_store(f->hctx, "erin", "erin@SECTX.TEST", "Erin-pw-2", 9);
	sectx_offline_forget(f->hctx, "erin", "test");
	drain(f);
	assert_string_equal(listing(f), "");
	assert_int_equal(verify(f, "erin", "Erin-pw-2", NULL), SECTX_OFFLINE_NONE);
}

/* A version 1 file of earlier builds (text payload), of "frank2". */
#define FRANK_V1                                                                                   \
	"user frank2\nprincipal frank2@SECTX.TEST\nkdf pbkdf2-hmac-sha512\niterations 1000\n"      \
	"salt 000102030405060708090a0b0c0d0e0f\nhash "                                             \
	"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"   \
	"0000000000000000000000000000000000000000\nstored 1700000000\n"

static void test_corrupt_moved_aside(void **state)
{
	struct fixture *f = *state;
	char *good, *names, bad[80], v1[SECTX_OFFLINE_FILE_NAME_LEN + 1];
	uint8_t *raw;
	size_t raw_len = 0;
	const char *garbage[] = {
	    "not a cached credential\n", "sectx-offline-credential 2\n", "", /* empty */
	};

	store(f, "frank", "Frank-pw-1");
	good = listing(f);
	raw = read_raw(f, good, &raw_len);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		snprintf(bad, sizeof(bad), "u-%064zu", i);
		write_raw(f, bad, garbage[i], strlen(garbage[i]));
	}
	/* a valid header over a payload that is not a credential */
	snprintf(bad, sizeof(bad), "u-%064d", 7);
	save_payload(f, bad, 2, "user frank\nno such line\n", 24);
	/* frank's credential in the text payload of version 1: no longer read */
	sectx_offline_file_name(v1, "frank2");
	save_payload(f, v1, 1, FRANK_V1, strlen(FRANK_V1));
	/* frank's file under another user's name: refused as well */
	write_raw(f, "u-1111111111111111111111111111111111111111111111111111111111111111", raw,
		  raw_len);
	/* one flipped byte: the checksum catches it */
	raw[raw_len - 3] ^= 1;
	write_raw(f, "u-2222222222222222222222222222222222222222222222222222222222222222", raw,
		  raw_len);
	write_raw(f, ".u-leftover.AbCdEf", "half a write", 12);
	restart(f);
	names = listing(f);
	assert_null(strstr(names, ".u-leftover"));
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		snprintf(bad, sizeof(bad), "u-%064zu.corrupt-", i);
		assert_non_null(strstr(names, bad));
	}
	assert_non_null(strstr(names, "u-1111111111111111111111111111111111111111111111111111111111"
				      "111111.corrupt-"));
	assert_non_null(strstr(names, "u-2222222222222222222222222222222222222222222222222222222222"
				      "222222.corrupt-"));
	snprintf(bad, sizeof(bad), "u-%064d.corrupt-", 7);
	assert_non_null(strstr(names, bad));
	snprintf(bad, sizeof(bad), "%s.corrupt-", v1);
	assert_non_null(strstr(names, bad));
	assert_int_equal(verify(f, "frank", "Frank-pw-1", NULL), SECTX_OFFLINE_OK);
	/* moved-aside files are left alone by the next start */
	restart(f);
	assert_string_equal(listing(f), names);
}

static void test_disabled(void **state)
{
	struct fixture *f = *state;

	store(f, "gina", "Gina-pw-1");
	f->hctx->cfg->offline.cache_credentials = false;
	assert_false(sectx_offline_enabled(f->hctx));
	assert_int_equal(verify(f, "gina", "Gina-pw-1", NULL), SECTX_OFFLINE_NONE);
	sectx_offline_store(f->hctx, "hank", "hank@SECTX.TEST", "x", 1); /* does nothing */
	f->hctx->cfg->offline.cache_credentials = true;
	assert_int_equal(verify(f, "hank", "x", NULL), SECTX_OFFLINE_NONE);
	assert_int_equal(verify(f, "gina", "Gina-pw-1", NULL), SECTX_OFFLINE_OK);
}

/* --- the file body's codec (cache_file.c) ------------------------------------ */

/* The file format, as cache_file.c documents it (frame version 1, op 1,
 * these tags): changing one of these makes every cached credential on disk
 * unreadable, so the test pins them. */
enum { CT_USER = 1, CT_PRINCIPAL, CT_KDF, CT_ITERATIONS, CT_SALT, CT_HASH, CT_STORED };

struct rec {
	const char *user, *principal, *kdf;
	uint32_t iterations;
	size_t salt_len, hash_len;
	uint64_t stored;
	uint16_t version, op;
	uint32_t reqid;
	unsigned omit;	/* bit (1 << tag): leave that field out */
	uint16_t twice; /* put this field twice */
	uint16_t extra; /* and a field with this tag */
};

static const struct rec good_rec = {
    .user = "ivan",
    .principal = "ivan@SECTX.TEST",
    .kdf = "pbkdf2-hmac-sha512",
    .iterations = 1000,
    .salt_len = SECTX_OFFLINE_SALT_LEN,
    .hash_len = SECTX_OFFLINE_HASH_LEN,
    .stored = 1700000000,
    .version = 1,
    .op = 1,
};

static void put_field(struct sectx_wbuf *w, const struct rec *r, uint16_t tag)
{
	static const uint8_t bytes[256] = {1, 2, 3};

	if (tag == CT_USER || tag == CT_PRINCIPAL || tag == CT_KDF) {
		sectx_put_string(w, tag,
				 tag == CT_USER	 ? r->user
				 : tag == CT_KDF ? r->kdf
						 : r->principal);
	} else if (tag == CT_SALT || tag == CT_HASH) {
		sectx_put_bytes(w, tag, bytes, tag == CT_SALT ? r->salt_len : r->hash_len);
	} else if (tag == CT_STORED) {
		sectx_put_u64(w, tag, r->stored);
	} else {
		sectx_put_u32(w, tag, tag == CT_ITERATIONS ? r->iterations : 0);
	}
}

/* Build r into buf (cap bytes) by hand with the codec; returns the length. */
static size_t build(const struct rec *r, uint8_t *buf, size_t cap)
{
	struct sectx_wbuf w;
	size_t len = 0;
	uint16_t tag;

	sectx_frame_begin(&w, buf, cap, r->version, r->op, r->reqid);
	for (tag = CT_USER; tag <= CT_STORED; tag++) {
		if (!(r->omit & (1u << tag))) {
			put_field(&w, r, tag);
		}
		if (r->twice == tag) {
			put_field(&w, r, tag);
		}
	}
	if (r->extra != 0) {
		put_field(&w, r, r->extra);
	}
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

static int decode(struct fixture *f, const uint8_t *p, size_t len, const char *user)
{
	char name[SECTX_OFFLINE_FILE_NAME_LEN + 1];
	struct offline_entry *e = NULL;
	const char *why = NULL;
	int ret;

	sectx_offline_file_name(name, user);
	ret = sectx_offline_entry_decode(f->mem, p, len, name, &e, &why);
	if (ret == 0) {
		assert_non_null(e);
		talloc_free(e);
	} else {
		assert_null(e);
		assert_non_null(why);
	}
	return ret;
}

static int decode_rec(struct fixture *f, const struct rec *r)
{
	uint8_t buf[8192];

	return decode(f, buf, build(r, buf, sizeof(buf)), good_rec.user);
}

/* good_rec with one member changed is refused as ivan's file. */
#define REFUSED(member, value)                                                                     \
	do {                                                                                       \
		struct rec bad_ = good_rec;                                                        \
                                                                                                   \
		bad_.member = (value);                                                             \
		assert_int_equal(decode_rec(f, &bad_), -EINVAL);                                   \
	} while (0)

/* What the encoder writes, the decoder reads back, and the bytes are those
 * of the format above. */
static void test_codec_round_trip(void **state)
{
	struct fixture *f = *state;
	struct offline_entry *e = sectx_offline_entry_new(f->mem), *back = NULL;
	uint8_t by_hand[1024], *p = NULL;
	const char *why = NULL;
	char name[SECTX_OFFLINE_FILE_NAME_LEN + 1];
	size_t len = 0, hand_len;

	assert_non_null(e);
	e->user = "ivan";
	e->principal = "ivan@SECTX.TEST";
	e->iterations = 1000;
	memcpy(e->salt, (uint8_t[SECTX_OFFLINE_SALT_LEN]){1, 2, 3}, SECTX_OFFLINE_SALT_LEN);
	memcpy(e->hash, (uint8_t[SECTX_OFFLINE_HASH_LEN]){1, 2, 3}, SECTX_OFFLINE_HASH_LEN);
	e->stored = 1700000000;
	assert_int_equal(sectx_offline_entry_encode(f->mem, e, &p, &len), 0);
	hand_len = build(&good_rec, by_hand, sizeof(by_hand));
	assert_int_equal(len, hand_len);
	assert_memory_equal(p, by_hand, len);

	sectx_offline_file_name(name, "ivan");
	assert_int_equal(sectx_offline_entry_decode(f->mem, p, len, name, &back, &why), 0);
	assert_string_equal(back->user, e->user);
	assert_string_equal(back->principal, e->principal);
	assert_int_equal(back->iterations, e->iterations);
	assert_memory_equal(back->salt, e->salt, sizeof(e->salt));
	assert_memory_equal(back->hash, e->hash, sizeof(e->hash));
	assert_int_equal(back->stored, e->stored);
	assert_null(back->next);
	assert_int_equal(back->failures, 0);

	/* the encoder refuses what the decoder would */
	e->user = "ivan the terrible";
	assert_int_equal(sectx_offline_entry_encode(f->mem, e, &p, &len), -EINVAL);
	e->user = "";
	assert_int_equal(sectx_offline_entry_encode(f->mem, e, &p, &len), -EINVAL);
	e->user = "ivan";
	e->principal = talloc_zero_array(f->mem, char, SECTX_NAME_MAX + 2);
	memset(e->principal, 'p', SECTX_NAME_MAX + 1);
	assert_int_equal(sectx_offline_entry_encode(f->mem, e, &p, &len), -EINVAL);
}

/* Every prefix of a good body is refused, and so is anything after it. */
static void test_codec_truncated_and_oversized(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[2 * SECTX_OFFLINE_FILE_MAX];
	size_t len = build(&good_rec, buf, sizeof(buf)), i;
	uint32_t be;

	assert_int_equal(decode(f, buf, len, "ivan"), 0);
	for (i = 0; i < len; i++) {
		assert_int_equal(decode(f, buf, i, "ivan"), -EINVAL);
	}
	/* trailing bytes: one, or a whole second record */
	buf[len] = 0;
	assert_int_equal(decode(f, buf, len + 1, "ivan"), -EINVAL);
	memcpy(buf + len, buf, len);
	assert_int_equal(decode(f, buf, 2 * len, "ivan"), -EINVAL);
	/* a header that claims more than there is, or less */
	be = htonl((uint32_t)len + 1);
	memcpy(buf, &be, 4);
	assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	be = htonl((uint32_t)len - 1);
	memcpy(buf, &be, 4);
	assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	be = htonl(0xffffffffu);
	memcpy(buf, &be, 4);
	assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	/* a field that claims more than the frame holds */
	len = build(&good_rec, buf, sizeof(buf));
	be = htonl(0x7fffffffu);
	memcpy(buf + SECTX_HDR_LEN + 2, &be, 4);
	assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	/* beyond the file bound, even as one well-formed frame */
	{
		struct sectx_wbuf w;
		static uint8_t pad[SECTX_OFFLINE_FILE_MAX];

		sectx_frame_begin(&w, buf, sizeof(buf), 1, 1, 0);
		for (i = CT_USER; i <= CT_STORED; i++) {
			put_field(&w, &good_rec, (uint16_t)i);
		}
		sectx_put_bytes(&w, 99, pad, sizeof(pad));
		assert_int_equal(sectx_frame_end(&w, &len), 0);
		assert_true(len > SECTX_OFFLINE_FILE_MAX);
		assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	}
	/* oversized fields */
	{
		struct rec r = good_rec;
		char long_name[SECTX_NAME_MAX + 2];

		memset(long_name, 'x', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		REFUSED(principal, long_name);
		r.user = long_name;
		assert_int_equal(decode(f, buf, build(&r, buf, sizeof(buf)), long_name), -EINVAL);
		long_name[SECTX_NAME_MAX] = '\0'; /* the longest allowed */
		assert_int_equal(decode(f, buf, build(&r, buf, sizeof(buf)), long_name), 0);
		REFUSED(salt_len, SECTX_OFFLINE_SALT_LEN + 1);
		REFUSED(salt_len, SECTX_OFFLINE_SALT_LEN - 1);
		REFUSED(hash_len, SECTX_OFFLINE_HASH_LEN + 1);
		REFUSED(hash_len, SECTX_OFFLINE_HASH_LEN - 1);
		REFUSED(hash_len, 0);
	}
}

/* Every field is required, once, with a value in its range; nothing else
 * may be there; the record must be for the file's user. */
static void test_codec_malformed(void **state)
{
	struct fixture *f = *state;
	struct rec r = good_rec;
	uint16_t tag;

	for (tag = CT_USER; tag <= CT_STORED; tag++) {
		REFUSED(omit, 1u << tag);
		REFUSED(twice, tag);
	}
	REFUSED(extra, CT_STORED + 1);
	REFUSED(extra, 0x7fff);
	REFUSED(version, 2);
	REFUSED(op, 2);
	REFUSED(reqid, 1);
	REFUSED(kdf, "pbkdf2-hmac-sha256");
	REFUSED(iterations, SECTX_OFFLINE_ITER_MIN - 1);
	REFUSED(iterations, SECTX_OFFLINE_ITER_MAX + 1);
	r.iterations = SECTX_OFFLINE_ITER_MAX;
	assert_int_equal(decode_rec(f, &r), 0);
	REFUSED(stored, 0);
	REFUSED(stored, (1ull << 40) + 1);
	REFUSED(principal, "ivan @SECTX.TEST");
	REFUSED(principal, "");
	REFUSED(user, "ivanka"); /* another user's record under ivan's name */
	/* a string with a NUL or a control character, by hand */
	{
		uint8_t buf[1024];
		size_t len = build(&good_rec, buf, sizeof(buf));
		uint8_t *u = memmem(buf, len, "ivan@", 5);

		assert_non_null(u);
		u[1] = 0;
		assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
		u[1] = '\n';
		assert_int_equal(decode(f, buf, len, "ivan"), -EINVAL);
	}
	assert_int_equal(decode_rec(f, &good_rec), 0);
}

/* The subsystem stops while verifications wait for a KDF thread and others
 * run: the waiting ones fail, the running ones finish, nothing is touched
 * after it is freed (valgrind) and every request completes. */
static void test_stop_with_kdfs_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = SECTX_OFFLINE_KDF_MAX + 3 };
	struct tevent_req *reqs[N];
	unsigned none = 0, error = 0;
	char user[32];
	size_t i;

	for (i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "user%zu", i);
		sectx_offline_store(f->hctx, user, "x@SECTX.TEST", "Some-pw-1", 9);
	}
	drain(f);
	for (i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "user%zu", i);
		reqs[i] =
		    sectx_offline_verify_send(f->mem, f->hctx->ev, f->hctx, user, "Some-pw-1", 9);
		assert_non_null(reqs[i]);
	}
	sectxd_offline_subsystem.stop(f->hctx);
	assert_null(f->hctx->offline);
	for (i = 0; i < N; i++) {
		enum sectx_offline_result result = verify_wait(f, reqs[i], NULL);

		none += result == SECTX_OFFLINE_NONE;	/* ran: its cache is gone */
		error += result == SECTX_OFFLINE_ERROR; /* waited: cancelled */
	}
	assert_int_equal(none, SECTX_OFFLINE_KDF_MAX);
	assert_int_equal(error, N - SECTX_OFFLINE_KDF_MAX);
	assert_int_equal(sectxd_offline_subsystem.start(f->hctx), 0);
	assert_int_equal(verify(f, "user0", "Some-pw-1", NULL), SECTX_OFFLINE_OK);
}

/* A request freed while its KDF runs (its client went away) never makes
 * the loop wait for the KDF: the thread goes on as an orphan of the pool,
 * still holding its slot, and gives it back when it finishes.  Joining
 * instead would leave no thread running right after the free. */
static void test_cancelled_kdf_does_not_block(void **state)
{
	struct fixture *f = *state;
	struct sectx_kdf_pool *pool = sectx_kdf_pool_new(f->mem);
	uint8_t salt[SECTX_OFFLINE_SALT_LEN] = {1, 2, 3};
	struct tevent_req *req;
	unsigned rounds = 0;

	assert_non_null(pool);
	/* long enough that the free below comes well before the thread's end */
	req = sectx_kdf_send(f->mem, f->hctx->ev, pool, "ivan", "Some-pw-1", 9, salt, 300000);
	assert_non_null(req);
	assert_int_equal(sectx_kdf_running(pool), 1);
	talloc_free(req);
	assert_int_equal(sectx_kdf_running(pool), 1); /* not joined: still running */
	while (sectx_kdf_running(pool) != 0 && rounds++ < 100000) {
		assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
	}
	assert_int_equal(sectx_kdf_running(pool), 0);
	talloc_free(pool);
}

/* The pool goes while an orphan's thread runs (the subsystem stops): the
 * orphan is joined then, nothing is touched after it is freed (valgrind). */
static void test_pool_freed_with_orphan(void **state)
{
	struct fixture *f = *state;
	struct sectx_kdf_pool *pool = sectx_kdf_pool_new(f->mem);
	uint8_t salt[SECTX_OFFLINE_SALT_LEN] = {4, 5, 6};
	struct tevent_req *req;

	assert_non_null(pool);
	req = sectx_kdf_send(f->mem, f->hctx->ev, pool, "ivan", "Some-pw-1", 9, salt, 100000);
	assert_non_null(req);
	talloc_free(req);
	assert_int_equal(sectx_kdf_running(pool), 1);
	talloc_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_store_and_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_attempts_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parallel_attempts_meet_the_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_user_does_not_starve_others, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_is_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_codec_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_codec_truncated_and_oversized, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_codec_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_with_kdfs_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancelled_kdf_does_not_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_freed_with_orphan, setup, teardown),
	};

	sectx_log_init("test_offline_cache", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
