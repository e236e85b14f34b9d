/*
 * offline/offline_int.h - what only the offline folder's files share: the
 * cache's state and its in-memory table (offline_cache.c), the KDF on
 * threads (kdf.c) and the per-user state file (cache_file.c).
 *
 * Nothing outside helper/offline includes this (tests excepted): the
 * folder's API is offline.h.  Nothing here holds a password beyond one KDF
 * job; hashes and salts are scrubbed when their entry is freed.
 */
#ifndef SECTX_OFFLINE_INT_H
#define SECTX_OFFLINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>
#include <time.h>

#include "offline/offline.h"

#define SECTX_OFFLINE_KDF_NAME	    "pbkdf2-hmac-sha512"
#define SECTX_OFFLINE_FILE_PREFIX   "u-"
#define SECTX_OFFLINE_FILE_NAME_LEN (2 + 2 * 32) /* "u-" and SHA-256 in hex */

/* --- the cache and its table (offline_cache.c) --------------------------- */

/* One user's cached credential, in memory. */
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

struct store_job;
struct sectx_kdf_pool;

/* The subsystem's state: hctx->offline, allocated under hctx at start. */
struct sectx_offline {
	struct sectxd_ctx *hctx;
	int dirfd;	     /* STATE_DIR/offline, -1 until opened */
	unsigned iterations; /* calibrated */
	struct offline_entry *head;
	size_t n;
	struct store_job *stores;   /* hashes being computed */
	struct sectx_kdf_pool *kdf; /* the KDF threads and their queue */
};

/* A new, zeroed entry on mem_ctx whose destructor scrubs its hash and salt;
 * NULL when out of memory. */
struct offline_entry *sectx_offline_entry_new(TALLOC_CTX *mem_ctx);

/* The entry of user in oc's table, or NULL; if link_out is not NULL and the
 * entry is found, *link_out is the pointer that points at it. */
struct offline_entry *sectx_offline_entry_find(struct sectx_offline *oc, const char *user,
					       struct offline_entry ***link_out);

/* Put e (allocated on oc) in oc's table, unless it is full or holds user
 * already.  Returns true if added; false leaves e to the caller. */
bool sectx_offline_entry_add(struct sectx_offline *oc, struct offline_entry *e);

/* --- the KDF on threads (kdf.c) ------------------------------------------ */

/* The scheduler of KDF threads: SECTX_OFFLINE_KDF_MAX running, a bounded
 * FIFO of the others, one running per user.  Allocated on mem_ctx; freeing
 * it fails the jobs still waiting (ECANCELED) and leaves the running ones to
 * finish (their requests join their threads when freed).  NULL when out of
 * memory.  The loop's thread only. */
struct sectx_kdf_pool *sectx_kdf_pool_new(TALLOC_CTX *mem_ctx);

/* PBKDF2-HMAC-SHA512(password, salt (SECTX_OFFLINE_SALT_LEN bytes),
 * iterations) into SECTX_OFFLINE_HASH_LEN bytes, computed on a thread of
 * pool; the request completes on ev.  user is whose password it is: one KDF
 * per user runs at a time, the others (and any beyond SECTX_OFFLINE_KDF_MAX)
 * wait their turn, first come first served; fails with EBUSY (logged) if
 * user has SECTX_OFFLINE_KDF_USER_MAX running or waiting, or
 * SECTX_OFFLINE_KDF_QUEUE_MAX wait already; EINVAL for a password longer
 * than SECTX_PASSWORD_MAX.  The password is copied at once; the copy is
 * scrubbed when hashed or freed.  Freeing the request while its thread runs
 * joins it (at most one KDF's wait). */
struct tevent_req *sectx_kdf_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectx_kdf_pool *pool, const char *user,
				  const char *password, size_t password_len, const uint8_t *salt,
				  unsigned iterations);
/* 0 and out filled, or -errno (-EBUSY, -EINVAL, -ENOMEM, -EIO when the KDF
 * itself failed, -ECANCELED when its pool went away first). */
int sectx_kdf_recv(struct tevent_req *req, uint8_t out[SECTX_OFFLINE_HASH_LEN]);

/* KDF threads running now, those of cancelled requests included (for
 * status and tests). */
unsigned sectx_kdf_running(const struct sectx_kdf_pool *pool);

/* Is the KDF of req (from sectx_kdf_send) still waiting for a thread? */
bool sectx_kdf_waits(struct tevent_req *req);

/* Iterations of PBKDF2-HMAC-SHA512 that take about SECTX_OFFLINE_TARGET_MS
 * here, within SECTX_OFFLINE_ITER_MIN..SECTX_OFFLINE_ITER_MAX.  Runs three
 * short KDFs on the calling thread (a few ms, once at start). */
unsigned sectx_kdf_calibrate(void);

/* --- the per-user state file (cache_file.c) ------------------------------ */

/* The file name of user: "u-" and the SHA-256 of the name in hex. */
void sectx_offline_file_name(char out[SECTX_OFFLINE_FILE_NAME_LEN + 1], const char *user);

/* Encode e as the payload of its state file (one codec frame).  0 and *out
 * (talloc on mem_ctx, holds the hash: the caller scrubs it) with *out_len;
 * -EINVAL for a user or principal the decoder would refuse, -EFBIG beyond
 * SECTX_OFFLINE_FILE_MAX, -ENOMEM. */
int sectx_offline_entry_encode(TALLOC_CTX *mem_ctx, const struct offline_entry *e, uint8_t **out,
			       size_t *out_len);

/* Decode the payload of the file called name (untrusted bytes).  0 and a new
 * entry on mem_ctx (its user's file name is name); -EINVAL with a reason in
 * *why (static text) for anything that is not exactly one well-formed
 * credential; -ENOMEM. */
int sectx_offline_entry_decode(TALLOC_CTX *mem_ctx, const uint8_t *payload, size_t len,
			       const char *name, struct offline_entry **out, const char **why);

/* Write e to its file in oc's directory (through state_file: header, CRC,
 * atomic replace).  0 or -errno. */
int sectx_offline_entry_write(struct sectx_offline *oc, const struct offline_entry *e);

/* Open STATE_DIR/offline, calibrate the KDF and load every file into oc's
 * table.  Logs its failures; the cache stays unusable (oc->dirfd -1) if the
 * directory cannot be used. */
void sectx_offline_cache_open(struct sectx_offline *oc);

#endif /* SECTX_OFFLINE_INT_H */
