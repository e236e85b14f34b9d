/*
 * offline/offline_cache.c - cached credentials for offline logins (offline_cache.h).
 *
 * Who reaches this: pam_ops.c only, for authentications it has authorised;
 * the status operation reads the count.  What a caller can make it do: hash
 * a password the KDC has just accepted (store), compare a password with the
 * stored hash while the realm is offline (verify, throttled per user by
 * [offline] failed_attempts / failed_delay), delete a user's entry (forget).
 * It never stores or logs a password; the only copies it makes are on the
 * heap of one KDF job, scrubbed by the KDF thread as soon as it is done.
 *
 * Files: STATE_DIR/offline/u-<SHA-256 of the user name in hex>, one per
 * user, written and read through state_file.c (its header: kind "OFFL",
 * payload version 1, length, CRC-32C; replaced whole through atomic_file:
 * temp, fsync, rename, fsync dir), so a crash leaves the old file or the new
 * one.  A leftover temp file (".u-...") is removed at start; a file that
 * fails the header checks or does not parse is renamed to
 * NAME.corrupt-<time> with a log line and ignored.  The payload is text:
 *
 *   user NAME
 *   principal NAME@REALM
 *   kdf pbkdf2-hmac-sha512
 *   iterations N
 *   salt HEX (16 bytes)
 *   hash HEX (64 bytes)
 *   stored UNIX-TIME
 *
 * Threads: each KDF runs on a thread of its own that touches nothing but its
 * job (malloc'd, not talloc: talloc is not thread-safe) and a pipe back to
 * the loop; at most SECTX_OFFLINE_KDF_MAX run at once, at most one per user.
 * The others wait in one FIFO (its password copy held, scrubbed when the job
 * is freed), bounded by SECTX_OFFLINE_KDF_QUEUE_MAX and, per user, by
 * SECTX_OFFLINE_KDF_USER_MAX; beyond those a request fails (EBUSY, a log
 * line), for that user alone in the second case.  A newer store of a user
 * replaces one still waiting.  A request freed while its thread runs joins
 * it (waiting at most one KDF, ~20 ms).
 */
#include "offline/offline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "login/login.h"
#include "log.h"
#include "core/state_file.h"

#define STATE_KIND     SECTX_STATE_KIND('O', 'F', 'F', 'L')
#define FORMAT_VERSION 1 /* of the payload below the state_file header */
#define STATE_WHAT     "cached credential"
#define KDF_NAME       "pbkdf2-hmac-sha512"
#define FILE_PREFIX    "u-"
#define FILE_NAME_LEN  (2 + 2 * SHA256_DIGEST_LENGTH)
#define CLOCK_SKEW_S   300 /* a credential "stored" further in the future is refused */

/* --- the KDF on a thread ------------------------------------------------------ */

struct kdf_job {
	char *password; /* malloc'd copy, scrubbed by the thread */
	size_t len;
	uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	unsigned iterations;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
	int ok;
	int wfd;
};

struct kdf_state {
	struct kdf_state *prev, *next; /* in kdf_running or kdf_waiting */
	struct tevent_context *ev;
	struct tevent_req *req;
	char *user; /* whose password: one KDF of a user runs at a time */
	struct kdf_job *job;
	pthread_t thread;
	bool running; /* a thread was started (joined: false again) */
	bool listed;  /* in one of the lists below */
	int pipefd[2];
	struct tevent_fd *fde;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
};

/*
 * The scheduler, the loop's thread only: at most SECTX_OFFLINE_KDF_MAX jobs
 * run, at most one of them per user; the others wait, oldest first, at most
 * SECTX_OFFLINE_KDF_QUEUE_MAX in all and SECTX_OFFLINE_KDF_USER_MAX (running
 * or waiting) per user.  So one user logging in over and over holds one
 * thread and a few places in the queue, never every slot, and the others'
 * logins and stores wait their turn instead of failing.
 */
struct kdf_list {
	struct kdf_state *head, *tail;
	unsigned n;
};
static struct kdf_list kdf_running, kdf_waiting;

static void kdf_list_add(struct kdf_list *l, struct kdf_state *st)
{
	st->prev = l->tail;
	st->next = NULL;
	if (l->tail != NULL) {
		l->tail->next = st;
	} else {
		l->head = st;
	}
	l->tail = st;
	l->n++;
	st->listed = true;
}

static void kdf_list_remove(struct kdf_list *l, struct kdf_state *st)
{
	if (st->prev != NULL) {
		st->prev->next = st->next;
	} else {
		l->head = st->next;
	}
	if (st->next != NULL) {
		st->next->prev = st->prev;
	} else {
		l->tail = st->prev;
	}
	st->prev = st->next = NULL;
	l->n--;
	st->listed = false;
}

static unsigned kdf_count_user(const struct kdf_list *l, const char *user)
{
	const struct kdf_state *st;
	unsigned n = 0;

	for (st = l->head; st != NULL; st = st->next) {
		n += strcmp(st->user, user) == 0;
	}
	return n;
}

static void *kdf_thread(void *arg)
{
	struct kdf_job *j = arg;
	char done = 'x';

	j->ok =
	    PKCS5_PBKDF2_HMAC(j->password, (int)j->len, j->salt, (int)sizeof(j->salt),
			      (int)j->iterations, EVP_sha512(), (int)sizeof(j->out), j->out) == 1;
	explicit_bzero(j->password, j->len + 1);
	while (write(j->wfd, &done, 1) < 0 && errno == EINTR) {
	}
	return NULL;
}

static void kdf_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			 void *private_data);

/* Start st's thread.  0 or an errno. */
static int kdf_start(struct kdf_state *st)
{
	int err;

	if (pipe2(st->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
		return errno;
	}
	st->job->wfd = st->pipefd[1];
	st->fde = tevent_add_fd(st->ev, st, st->pipefd[0], TEVENT_FD_READ, kdf_readable, st->req);
	if (st->fde == NULL) {
		return ENOMEM;
	}
	err = pthread_create(&st->thread, NULL, kdf_thread, st->job);
	if (err != 0) {
		return err;
	}
	st->running = true;
	return 0;
}

/* Start waiting jobs, oldest first, while threads are free, skipping those
 * whose user has one running.  A job that cannot start fails (its callback
 * deferred to the loop, so no caller's callback runs inside this one). */
static void kdf_pump(void)
{
	struct kdf_state *st, *next;

	for (st = kdf_waiting.head; st != NULL && kdf_running.n < SECTX_OFFLINE_KDF_MAX;
	     st = next) {
		int err;

		next = st->next;
		if (kdf_count_user(&kdf_running, st->user) > 0) {
			continue;
		}
		kdf_list_remove(&kdf_waiting, st);
		err = kdf_start(st);
		if (err != 0) {
			SECTX_ERROR("cannot start a KDF thread: %s", strerror(err));
			tevent_req_defer_callback(st->req, st->ev);
			tevent_req_error(st->req, err);
			continue;
		}
		kdf_list_add(&kdf_running, st);
	}
}

static void kdf_finish_thread(struct kdf_state *st)
{
	if (st->running) {
		pthread_join(st->thread, NULL);
		st->running = false;
	}
	if (st->listed) {
		kdf_list_remove(&kdf_running, st);
	}
}

static int kdf_state_destructor(struct kdf_state *st)
{
	bool was_running = st->running;

	TALLOC_FREE(st->fde);
	if (st->listed && !st->running) {
		kdf_list_remove(&kdf_waiting, st); /* never started */
	} else {
		kdf_finish_thread(st); /* at most one KDF's wait, only if cancelled */
	}
	if (st->job != NULL) {
		if (st->job->password != NULL) {
			explicit_bzero(st->job->password, st->job->len + 1);
			free(st->job->password);
		}
		explicit_bzero(st->job, sizeof(*st->job));
		free(st->job);
	}
	explicit_bzero(st->out, sizeof(st->out));
	if (st->pipefd[0] >= 0) {
		close(st->pipefd[0]);
	}
	if (st->pipefd[1] >= 0) {
		close(st->pipefd[1]);
	}
	if (was_running) {
		kdf_pump(); /* a thread is free */
	}
	return 0;
}

static void kdf_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			 void *private_data)
{
	struct tevent_req *req = talloc_get_type_abort(private_data, struct tevent_req);
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);
	char c;

	if (read(st->pipefd[0], &c, 1) < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	TALLOC_FREE(st->fde);
	kdf_finish_thread(st);
	kdf_pump();
	if (!st->job->ok) {
		tevent_req_error(req, EIO);
		return;
	}
	memcpy(st->out, st->job->out, sizeof(st->out));
	explicit_bzero(st->job->out, sizeof(st->job->out));
	tevent_req_done(req);
}

struct tevent_req *sectx_kdf_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  const char *user, const char *password, size_t password_len,
				  const uint8_t *salt, unsigned iterations)
{
	struct tevent_req *req;
	struct kdf_state *st;
	unsigned mine;
	bool wait;
	int err;

	req = tevent_req_create(mem_ctx, &st, struct kdf_state);
	if (req == NULL) {
		return NULL;
	}
	st->pipefd[0] = st->pipefd[1] = -1;
	st->ev = ev;
	st->req = req;
	talloc_set_destructor(st, kdf_state_destructor);
	if (password_len > SECTX_PASSWORD_MAX) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	st->user = talloc_strdup(st, user);
	if (tevent_req_nomem(st->user, req)) {
		return tevent_req_post(req, ev);
	}
	mine = kdf_count_user(&kdf_running, user) + kdf_count_user(&kdf_waiting, user);
	if (mine >= SECTX_OFFLINE_KDF_USER_MAX) {
		SECTX_WARN("password hash for %s refused: %u of that user's are running or "
			   "waiting already",
			   user, mine);
		tevent_req_error(req, EBUSY);
		return tevent_req_post(req, ev);
	}
	wait = kdf_running.n >= SECTX_OFFLINE_KDF_MAX || mine > 0;
	if (wait && kdf_waiting.n >= SECTX_OFFLINE_KDF_QUEUE_MAX) {
		SECTX_WARN("password hash for %s refused: %u running and %u waiting already", user,
			   kdf_running.n, kdf_waiting.n);
		tevent_req_error(req, EBUSY);
		return tevent_req_post(req, ev);
	}
	st->job = calloc(1, sizeof(*st->job));
	if (st->job == NULL || (st->job->password = malloc(password_len + 1)) == NULL) {
		tevent_req_error(req, ENOMEM);
		return tevent_req_post(req, ev);
	}
	memcpy(st->job->password, password, password_len);
	st->job->password[password_len] = '\0';
	st->job->len = password_len;
	memcpy(st->job->salt, salt, sizeof(st->job->salt));
	st->job->iterations = iterations;
	if (wait) {
		kdf_list_add(&kdf_waiting, st); /* its copy scrubbed when freed */
		return req;
	}
	err = kdf_start(st);
	if (err != 0) {
		tevent_req_error(req, err);
		return tevent_req_post(req, ev);
	}
	kdf_list_add(&kdf_running, st);
	return req;
}

/* Is the KDF of req still waiting for a thread? */
static bool kdf_waits(struct tevent_req *req)
{
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);

	return st->listed && !st->running;
}

int sectx_kdf_recv(struct tevent_req *req, uint8_t out[SECTX_OFFLINE_HASH_LEN])
{
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	memcpy(out, st->out, SECTX_OFFLINE_HASH_LEN);
	return 0;
}

/* --- the cache ------------------------------------------------------------------ */

struct offline_entry {
	struct offline_entry *next;
	char *user;
	char *principal;
	unsigned iterations;
	uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	uint8_t hash[SECTX_OFFLINE_HASH_LEN];
	time_t stored;
	unsigned failures;    /* offline failures since the last success */
	int64_t last_fail_ms; /* monotonic */
};

struct store_job {
	struct store_job *prev, *next; /* the cache's pending stores */
	struct sectx_offline *oc;
	char *user;
	char *principal;
	uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	unsigned iterations;
	struct tevent_req *kdf;
	bool cancelled; /* forgotten meanwhile: drop the result */
};

struct sectx_offline {
	struct sectxd_ctx *hctx;
	int dirfd;	     /* STATE_DIR/offline, -1 until opened */
	unsigned iterations; /* calibrated */
	struct offline_entry *head;
	size_t n;
	struct store_job *stores; /* hashes being computed */
};

static struct sectx_offline *cache_of(struct sectxd_ctx *hctx)
{
	return hctx->offline;
}

bool sectx_offline_enabled(struct sectxd_ctx *hctx)
{
	struct sectx_offline *oc = cache_of(hctx);

	return hctx->cfg->offline.cache_credentials && oc != NULL && oc->dirfd >= 0;
}

static int entry_destructor(struct offline_entry *e)
{
	explicit_bzero(e->hash, sizeof(e->hash));
	explicit_bzero(e->salt, sizeof(e->salt));
	return 0;
}

static struct offline_entry *entry_find(struct sectx_offline *oc, const char *user,
					struct offline_entry ***link_out)
{
	struct offline_entry **link;

	for (link = &oc->head; *link != NULL; link = &(*link)->next) {
		if (strcmp((*link)->user, user) == 0) {
			if (link_out != NULL) {
				*link_out = link;
			}
			return *link;
		}
	}
	return NULL;
}

static void hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Exactly 2 * len lowercase hex digits into out.  0 or -EINVAL. */
static int hex_decode(uint8_t *out, size_t len, const char *in)
{
	size_t i;

	if (strlen(in) != 2 * len) {
		return -EINVAL;
	}
	for (i = 0; i < 2 * len; i++) {
		char c = in[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0) {
			return -EINVAL;
		}
		out[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
	}
	return 0;
}

/* The file name of user: "u-" and the SHA-256 of the name in hex. */
static void file_name(char out[FILE_NAME_LEN + 1], const char *user)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)user, strlen(user), digest);
	memcpy(out, FILE_PREFIX, 2);
	hex_encode(out + 2, digest, sizeof(digest));
}

/* A name or principal from a file: printable, no spaces, bounded. */
static bool valid_field(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SECTX_NAME_MAX) {
		return false;
	}
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
			return false;
		}
	}
	return true;
}

/* Parse the text of one file (NUL-terminated copy, modified).  0 and a new
 * entry on mem_ctx, or -EINVAL with why set. */
static int entry_parse(TALLOC_CTX *mem_ctx, char *text, const char *name,
		       struct offline_entry **out, const char **why)
{
	struct offline_entry *e = talloc_zero(mem_ctx, struct offline_entry);
	char expect[FILE_NAME_LEN + 1];
	unsigned seen = 1u; /* bit 0: the version, checked by state_file */
	char *line, *save = NULL;

	*why = "out of memory";
	if (e == NULL) {
		return -ENOMEM;
	}
	talloc_set_destructor(e, entry_destructor);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *value = strchr(line, ' ');
		unsigned long long v;
		char *end;

		if (value == NULL) {
			*why = "a line without a value";
			goto bad;
		}
		*value++ = '\0';
		if (strcmp(line, "user") == 0 && valid_field(value)) {
			e->user = talloc_strdup(e, value);
			seen |= 2u;
		} else if (strcmp(line, "principal") == 0 && valid_field(value)) {
			e->principal = talloc_strdup(e, value);
			seen |= 4u;
		} else if (strcmp(line, "kdf") == 0 && strcmp(value, KDF_NAME) == 0) {
			seen |= 8u;
		} else if (strcmp(line, "iterations") == 0) {
			errno = 0;
			v = strtoull(value, &end, 10);
			if (errno != 0 || *end != '\0' || v < SECTX_OFFLINE_ITER_MIN ||
			    v > SECTX_OFFLINE_ITER_MAX) {
				*why = "iterations out of range";
				goto bad;
			}
			e->iterations = (unsigned)v;
			seen |= 16u;
		} else if (strcmp(line, "salt") == 0 &&
			   hex_decode(e->salt, sizeof(e->salt), value) == 0) {
			seen |= 32u;
		} else if (strcmp(line, "hash") == 0 &&
			   hex_decode(e->hash, sizeof(e->hash), value) == 0) {
			seen |= 64u;
		} else if (strcmp(line, "stored") == 0) {
			errno = 0;
			v = strtoull(value, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || v > (1ull << 40)) {
				*why = "bad time stored";
				goto bad;
			}
			e->stored = (time_t)v;
			seen |= 128u;
		} else {
			*why = "an unknown or malformed line";
			goto bad;
		}
	}
	if (seen != 255u || e->user == NULL || e->principal == NULL) {
		*why = "a field is missing";
		goto bad;
	}
	file_name(expect, e->user);
	if (strcmp(expect, name) != 0) {
		*why = "its user does not match its name";
		goto bad;
	}
	*out = e;
	return 0;
bad:
	talloc_free(e);
	return -EINVAL;
}

/* Write e to its file (through state_file: header, CRC, atomic replace).
 * 0 or -errno. */
static int entry_write(struct sectx_offline *oc, const struct offline_entry *e)
{
	char name[FILE_NAME_LEN + 1];
	char salt[2 * SECTX_OFFLINE_SALT_LEN + 1], hash[2 * SECTX_OFFLINE_HASH_LEN + 1];
	char *text;
	int ret;

	file_name(name, e->user);
	hex_encode(salt, e->salt, sizeof(e->salt));
	hex_encode(hash, e->hash, sizeof(e->hash));
	text =
	    talloc_asprintf(NULL,
			    "user %s\nprincipal %s\nkdf " KDF_NAME
			    "\niterations %u\nsalt %s\nhash %s\nstored %lld\n",
			    e->user, e->principal, e->iterations, salt, hash, (long long)e->stored);
	explicit_bzero(hash, sizeof(hash));
	if (text == NULL) {
		return -ENOMEM;
	}
	ret =
	    strlen(text) > SECTX_OFFLINE_FILE_MAX
		? -EFBIG
		: sectx_state_save(oc->dirfd, name, STATE_KIND, FORMAT_VERSION, text, strlen(text));
	explicit_bzero(text, strlen(text));
	talloc_free(text);
	return ret;
}

/* Read every cached credential of the directory. */
static void cache_load(struct sectx_offline *oc)
{
	struct dirent *de;
	DIR *dir;
	int fd = dup(oc->dirfd);
	size_t loaded = 0;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		SECTX_ERROR("cannot list cached credentials: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct offline_entry *e = NULL;
		const char *why = NULL;
		uint8_t *payload = NULL;
		uint32_t version = 0;
		size_t len = 0;
		int ret;

		if (de->d_name[0] == '.') {
			/* "." and "..", or a temp file of a write a crash interrupted */
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			    unlinkat(oc->dirfd, de->d_name, 0) == 0) {
				SECTX_INFO("removed %s, left by an interrupted write", de->d_name);
			}
			continue;
		}
		if (strlen(de->d_name) != FILE_NAME_LEN ||
		    strncmp(de->d_name, FILE_PREFIX, 2) != 0) {
			continue; /* moved aside earlier, or not ours */
		}
		/* header, version, CRC: a file failing them is moved aside there */
		ret = sectx_state_load(oc, oc->dirfd, de->d_name, STATE_WHAT, STATE_KIND,
				       FORMAT_VERSION, SECTX_OFFLINE_FILE_MAX, &payload, &len,
				       &version);
		if (ret == -EBADMSG) {
			continue;
		}
		if (ret == 0 && strlen((char *)payload) != len) {
			ret = -EINVAL;
			why = "a NUL byte";
		}
		if (ret == 0) {
			ret = entry_parse(oc, (char *)payload, de->d_name, &e, &why);
		} else if (why == NULL) {
			why = strerror(-ret);
		}
		if (payload != NULL) {
			explicit_bzero(payload, len);
			talloc_free(payload);
		}
		if (ret == -ENOMEM) {
			SECTX_ERROR("cannot load cached credentials: out of memory");
			break;
		}
		if (ret == -EINVAL) {
			(void)sectx_state_move_aside(oc->dirfd, de->d_name, STATE_WHAT, why);
			continue;
		}
		if (ret != 0) {
			SECTX_ERROR("cannot read cached credential %s: %s", de->d_name, why);
			continue;
		}
		if (oc->n >= SECTX_OFFLINE_USERS_MAX || entry_find(oc, e->user, NULL) != NULL) {
			talloc_free(e);
			continue;
		}
		e->next = oc->head;
		oc->head = e;
		oc->n++;
		loaded++;
	}
	closedir(dir);
	SECTX_INFO("offline logins: %zu cached credential%s loaded", loaded,
		   loaded == 1 ? "" : "s");
}

/* Iterations that take about SECTX_OFFLINE_TARGET_MS here. */
static unsigned calibrate(void)
{
	static const uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	const unsigned probe = 2000;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
	int64_t best = 0;
	uint64_t iter;
	int i;

	for (i = 0; i < 3; i++) {
		struct timespec a, b;
		int64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		(void)PKCS5_PBKDF2_HMAC("calibration", 11, salt, sizeof(salt), (int)probe,
					EVP_sha512(), sizeof(out), out);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec);
		if (ns > 0 && (best == 0 || ns < best)) {
			best = ns;
		}
	}
	if (best <= 0) {
		best = 1;
	}
	iter = (uint64_t)probe * SECTX_OFFLINE_TARGET_MS * 1000000ull / (uint64_t)best;
	iter = iter / 1000 * 1000;
	if (iter < SECTX_OFFLINE_ITER_MIN) {
		iter = SECTX_OFFLINE_ITER_MIN;
	}
	if (iter > SECTX_OFFLINE_ITER_MAX) {
		iter = SECTX_OFFLINE_ITER_MAX;
	}
	return (unsigned)iter;
}

/* Open STATE_DIR/offline, calibrate and load.  Logs its failures; the cache
 * stays unusable (dirfd -1) if the directory cannot be used. */
static void cache_open(struct sectx_offline *oc)
{
	const struct sectx_config *cfg = oc->hctx->cfg;
	char *path = talloc_asprintf(oc, "%s/%s", cfg->sectxd.state_dir, SECTX_OFFLINE_DIR);
	int fd;

	if (path == NULL) {
		return;
	}
	fd = sectx_state_dir_open(cfg->sectxd.state_dir);
	if (fd >= 0) {
		close(fd);
		fd = sectx_state_dir_open(path);
	}
	if (fd < 0) {
		SECTX_ERROR("offline logins disabled: cannot use %s (must be owned by uid %u, mode "
			    "0700): %s",
			    path, (unsigned)geteuid(), strerror(-fd));
		talloc_free(path);
		return;
	}
	talloc_free(path);
	oc->dirfd = fd;
	oc->iterations = calibrate();
	SECTX_INFO("offline logins: PBKDF2-HMAC-SHA512 with %u iterations for new cached "
		   "credentials (%s)",
		   cfg->offline.kdf_iterations != 0 ? cfg->offline.kdf_iterations : oc->iterations,
		   cfg->offline.kdf_iterations != 0 ? "[offline] kdf_iterations"
						    : "calibrated to about 20 ms");
	cache_load(oc);
}

/* --- store ---------------------------------------------------------------------- */

static void store_done(struct tevent_req *subreq)
{
	struct store_job *job = tevent_req_callback_data(subreq, struct store_job);
	struct sectx_offline *oc = job->oc;
	struct offline_entry *e, *old, **link = NULL;
	uint8_t hash[SECTX_OFFLINE_HASH_LEN];
	int ret;

	ret = sectx_kdf_recv(subreq, hash);
	TALLOC_FREE(subreq);
	job->kdf = NULL;
	if (ret != 0 || job->cancelled || oc->dirfd < 0) {
		if (ret != 0) {
			SECTX_ERROR("cannot cache the credential of %s: KDF failed: %s", job->user,
				    strerror(-ret));
		}
		goto done;
	}
	e = talloc_zero(oc, struct offline_entry);
	if (e == NULL) {
		SECTX_ERROR("cannot cache the credential of %s: out of memory", job->user);
		goto done;
	}
	talloc_set_destructor(e, entry_destructor);
	e->user = talloc_steal(e, job->user);
	e->principal = talloc_steal(e, job->principal);
	e->iterations = job->iterations;
	memcpy(e->salt, job->salt, sizeof(e->salt));
	memcpy(e->hash, hash, sizeof(e->hash));
	e->stored = time(NULL);
	ret = entry_write(oc, e);
	if (ret != 0) {
		/* kept in memory: offline logins work until the helper restarts */
		SECTX_ERROR("cannot write the cached credential of %s: %s", e->user,
			    strerror(-ret));
	}
	old = entry_find(oc, e->user, &link);
	if (old != NULL) {
		e->next = old->next;
		*link = e;
		talloc_free(old);
	} else if (oc->n < SECTX_OFFLINE_USERS_MAX) {
		e->next = oc->head;
		oc->head = e;
		oc->n++;
	} else {
		SECTX_WARN("not caching the credential of %s: %u cached already", e->user,
			   SECTX_OFFLINE_USERS_MAX);
		talloc_free(e);
		goto done;
	}
	SECTX_INFO("cached credential of %s %s (%u iterations)", e->user,
		   old != NULL ? "refreshed" : "stored", e->iterations);
done:
	explicit_bzero(hash, sizeof(hash));
	talloc_free(job);
}

static int store_job_destructor(struct store_job *job)
{
	if (job->prev != NULL) {
		job->prev->next = job->next;
	} else {
		job->oc->stores = job->next;
	}
	if (job->next != NULL) {
		job->next->prev = job->prev;
	}
	return 0;
}

void sectx_offline_store(struct sectxd_ctx *hctx, const char *user, const char *principal,
			 const char *password, size_t password_len)
{
	struct sectx_offline *oc = cache_of(hctx);
	struct store_job *job, *next;

	if (!sectx_offline_enabled(hctx)) {
		return;
	}
	/* a store of user still waiting for a thread would be overwritten by
	 * this one: drop it (with its copy of the older password) */
	for (job = oc->stores; job != NULL; job = next) {
		next = job->next;
		if (strcmp(job->user, user) == 0 && !job->cancelled && job->kdf != NULL &&
		    kdf_waits(job->kdf)) {
			talloc_free(job);
		}
	}
	job = talloc_zero(oc, struct store_job);
	if (job == NULL || (job->user = talloc_strdup(job, user)) == NULL ||
	    (job->principal = talloc_strdup(job, principal)) == NULL) {
		SECTX_ERROR("cannot cache the credential of %s: out of memory", user);
		talloc_free(job);
		return;
	}
	job->oc = oc;
	job->next = oc->stores;
	if (oc->stores != NULL) {
		oc->stores->prev = job;
	}
	oc->stores = job;
	talloc_set_destructor(job, store_job_destructor);
	job->iterations = hctx->cfg->offline.kdf_iterations != 0 ? hctx->cfg->offline.kdf_iterations
								 : oc->iterations;
	if (getrandom(job->salt, sizeof(job->salt), 0) != (ssize_t)sizeof(job->salt)) {
		SECTX_ERROR("cannot cache the credential of %s: no random salt", user);
		talloc_free(job);
		return;
	}
	job->kdf = sectx_kdf_send(job, hctx->ev, user, password, password_len, job->salt,
				  job->iterations);
	if (job->kdf == NULL) {
		SECTX_ERROR("cannot cache the credential of %s: out of memory", user);
		talloc_free(job);
		return;
	}
	tevent_req_set_callback(job->kdf, store_done, job);
}

void sectx_offline_forget(struct sectxd_ctx *hctx, const char *user, const char *why)
{
	struct sectx_offline *oc = cache_of(hctx);
	struct offline_entry *e, **link = NULL;
	char name[FILE_NAME_LEN + 1];
	struct store_job *job, *next;

	if (oc == NULL || oc->dirfd < 0) {
		return;
	}
	/* a hash still being computed for user must not bring it back; one
	 * still waiting goes now, with its copy of the password */
	for (job = oc->stores; job != NULL; job = next) {
		next = job->next;
		if (strcmp(job->user, user) != 0) {
			continue;
		}
		if (job->kdf != NULL && kdf_waits(job->kdf)) {
			talloc_free(job);
		} else {
			job->cancelled = true;
		}
	}
	file_name(name, user);
	e = entry_find(oc, user, &link);
	if (unlinkat(oc->dirfd, name, 0) != 0 && errno != ENOENT) {
		SECTX_ERROR("cannot delete the cached credential of %s: %s", user, strerror(errno));
	}
	if (e != NULL) {
		*link = e->next;
		oc->n--;
		talloc_free(e);
		SECTX_INFO("cached credential of %s deleted: %s", user, why);
	}
}

/* --- verify --------------------------------------------------------------------- */

struct verify_state {
	struct sectxd_ctx *hctx;
	char *user;
	uint8_t expect[SECTX_OFFLINE_HASH_LEN];
	enum sectx_offline_result result;
	int64_t retry_ms;
	time_t stored;
};

static int verify_state_destructor(struct verify_state *st)
{
	explicit_bzero(st->expect, sizeof(st->expect));
	return 0;
}

static void verify_kdf_done(struct tevent_req *subreq);

struct tevent_req *sectx_offline_verify_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectxd_ctx *hctx, const char *user,
					     const char *password, size_t password_len)
{
	struct sectx_offline *oc = cache_of(hctx);
	const struct sectx_config *cfg = hctx->cfg;
	struct tevent_req *req, *subreq;
	struct verify_state *st;
	struct offline_entry *e;
	time_t now = time(NULL);
	int64_t now_ms = sectx_now_ms();

	req = tevent_req_create(mem_ctx, &st, struct verify_state);
	if (req == NULL) {
		return NULL;
	}
	talloc_set_destructor(st, verify_state_destructor);
	st->hctx = hctx;
	st->user = talloc_strdup(st, user);
	if (st->user == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	e = sectx_offline_enabled(hctx) ? entry_find(oc, user, NULL) : NULL;
	if (e == NULL) {
		st->result = SECTX_OFFLINE_NONE;
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	st->stored = e->stored;
	if (e->stored > now + CLOCK_SKEW_S ||
	    (uint64_t)(now - e->stored) > cfg->offline.max_age_ms / 1000) {
		st->result = SECTX_OFFLINE_TOO_OLD;
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	if (e->failures >= cfg->offline.failed_attempts &&
	    now_ms - e->last_fail_ms < (int64_t)cfg->offline.failed_delay_ms) {
		st->result = SECTX_OFFLINE_LOCKED;
		st->retry_ms = (int64_t)cfg->offline.failed_delay_ms - (now_ms - e->last_fail_ms);
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	memcpy(st->expect, e->hash, sizeof(st->expect));
	/* Counted as a failure until the KDF says otherwise: attempts made in
	 * parallel (one per connection) must meet the lock as serial ones do,
	 * not all pass the check above before the first result is in. */
	e->failures++;
	e->last_fail_ms = now_ms;
	subreq = sectx_kdf_send(st, ev, user, password, password_len, e->salt, e->iterations);
	if (tevent_req_nomem(subreq, req)) {
		e->failures--;
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, verify_kdf_done, req);
	return req;
}

static void verify_kdf_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct verify_state *st = tevent_req_data(req, struct verify_state);
	struct sectx_offline *oc = cache_of(st->hctx);
	uint8_t hash[SECTX_OFFLINE_HASH_LEN];
	struct offline_entry *e;
	int ret;

	ret = sectx_kdf_recv(subreq, hash);
	TALLOC_FREE(subreq);
	/* forgotten while we hashed: the KDC said no meanwhile */
	e = oc != NULL ? entry_find(oc, st->user, NULL) : NULL;
	if (ret != 0) {
		SECTX_ERROR("offline login of %s: KDF failed: %s", st->user, strerror(-ret));
		st->result = SECTX_OFFLINE_ERROR;
		if (e != NULL && e->failures > 0) {
			e->failures--; /* no password was tried */
		}
		tevent_req_done(req);
		return;
	}
	if (e == NULL) {
		st->result = SECTX_OFFLINE_NONE;
	} else if (CRYPTO_memcmp(hash, st->expect, sizeof(hash)) == 0) {
		st->result = SECTX_OFFLINE_OK;
		e->failures = 0;
	} else {
		st->result = SECTX_OFFLINE_BAD_PASSWORD; /* counted when it started */
		e->last_fail_ms = sectx_now_ms();
	}
	explicit_bzero(hash, sizeof(hash));
	tevent_req_done(req);
}

int sectx_offline_verify_recv(struct tevent_req *req, enum sectx_offline_result *result,
			      int64_t *retry_ms, time_t *stored)
{
	struct verify_state *st = tevent_req_data(req, struct verify_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*result = st->result;
	*retry_ms = st->retry_ms;
	*stored = st->stored;
	return 0;
}

/* --- subsystem ------------------------------------------------------------------ */

static int offline_destructor(struct sectx_offline *oc)
{
	if (oc->dirfd >= 0) {
		close(oc->dirfd);
		oc->dirfd = -1;
	}
	return 0;
}

static int offline_start(struct sectxd_ctx *hctx)
{
	struct sectx_offline *oc = talloc_zero(hctx, struct sectx_offline);

	if (oc == NULL) {
		return -ENOMEM;
	}
	oc->hctx = hctx;
	oc->dirfd = -1;
	talloc_set_destructor(oc, offline_destructor);
	hctx->offline = oc;
	if (hctx->cfg->offline.cache_credentials) {
		cache_open(oc);
	}
	return 0;
}

static void offline_reloaded(struct sectxd_ctx *hctx)
{
	struct sectx_offline *oc = cache_of(hctx);

	if (oc != NULL && oc->dirfd < 0 && hctx->cfg->offline.cache_credentials) {
		cache_open(oc);
	}
}

static void offline_status(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	struct sectx_offline *oc = cache_of(hctx);

	if (sectx_offline_enabled(hctx)) {
		sectx_put_u32(w, SECTX_TAG_OFFLINE_USERS, (uint32_t)oc->n);
	}
}

static void offline_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->offline);
}

const struct sectxd_subsystem sectxd_offline_subsystem = {
    .name = "offline logins",
    .start = offline_start,
    .reloaded = offline_reloaded,
    .status = offline_status,
    .stop = offline_stop,
};
