/*
 * test_offline_cache.c - unit tests of helper/offline_cache.c: cached
 * credentials stored, verified, throttled, aged, forgotten, reloaded and
 * moved aside when corrupt, with the KDF on its real thread.
 *
 * Each test runs the subsystem in a fresh state directory under $TMPDIR (or
 * /tmp) with a tevent loop of its own, and removes the directory afterwards.
 * No network, no KDC: the cache does not need one.  The iteration count is
 * kept at the minimum so the tests stay fast under valgrind.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "offline/offline.h"

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
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "login/login.h"
#include "log.h"
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

/* The text payload of a cached-credential file (checked by state_file). */
static char *read_text(struct fixture *f, const char *name)
{
	uint8_t *payload = NULL;
	uint32_t version = 0;
	size_t len = 0;
	int fd = cache_dirfd(f);

	assert_int_equal(
	    sectx_state_load(f->mem, fd, name, "test", OFFL, 1, 4096, &payload, &len, &version), 0);
	close(fd);
	assert_int_equal(version, 1);
	return (char *)payload;
}

/* Replace a file's payload, as a valid state file. */
static void save_text(struct fixture *f, const char *name, const char *text)
{
	int fd = cache_dirfd(f);

	assert_int_equal(sectx_state_save(fd, name, OFFL, 1, text, strlen(text)), 0);
	close(fd);
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
	char *names, *text, path[PATH_MAX * 2];

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
	text = read_text(f, names);
	assert_int_equal(strncmp(text, "user alice\n", 11), 0);
	assert_non_null(strstr(text, "\nprincipal alice@SECTX.TEST\nkdf pbkdf2-hmac-sha512\n"));
	assert_non_null(strstr(text, "\niterations 1000\n"));
	assert_null(strstr(text, "Secret"));

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
	char *names, *text, *p;

	store(f, "dave", "Dave-pw-1");
	names = listing(f);
	text = read_text(f, names);
	p = strstr(text, "\nstored ");
	assert_non_null(p);
	/* stored a day ago, as the file says after a restart */
	snprintf(p, 64, "\nstored %lld\n", (long long)time(NULL) - 86400);
	save_text(f, names, text);
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

static void test_corrupt_moved_aside(void **state)
{
	struct fixture *f = *state;
	char *good, *names, bad[80];
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
	save_text(f, bad, "user frank\nno such line\n");
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
	};

	sectx_log_init("test_offline_cache", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
