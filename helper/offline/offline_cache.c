/*
 * offline/offline_cache.c - cached credentials for offline logins (offline.h):
 * the in-memory table, store, forget and verify, and the subsystem.
 *
 * Who reaches this: the PAM ops (ops/pam_auth.c) only, for authentications it has authorised;
 * the status operation reads the count.  What a caller can make it do: hash
 * a password the KDC has just accepted (store), compare a password with the
 * stored hash while the realm is offline (verify, throttled per user by
 * [offline] failed_attempts / failed_delay), delete a user's entry (forget).
 * It never stores or logs a password; the only copies it makes are on the
 * heap of one KDF job (kdf.c), scrubbed by the KDF thread as soon as it is
 * done.  The files are cache_file.c's: one per user, written after each
 * store and read at start.  A newer store of a user replaces one still
 * waiting for a KDF thread.
 */
#include "offline/offline_int.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define CLOCK_SKEW_S 300 /* a credential "stored" further in the future is refused */

/* --- the table ------------------------------------------------------------------ */

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

struct offline_entry *sectx_offline_entry_new(TALLOC_CTX *mem_ctx)
{
	struct offline_entry *e = talloc_zero(mem_ctx, struct offline_entry);

	if (e != NULL) {
		talloc_set_destructor(e, entry_destructor);
	}
	return e;
}

struct offline_entry *sectx_offline_entry_find(struct sectx_offline *oc, const char *user,
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

bool sectx_offline_entry_add(struct sectx_offline *oc, struct offline_entry *e)
{
	if (oc->n >= SECTX_OFFLINE_USERS_MAX ||
	    sectx_offline_entry_find(oc, e->user, NULL) != NULL) {
		return false;
	}
	e->next = oc->head;
	oc->head = e;
	oc->n++;
	return true;
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
	e = sectx_offline_entry_new(oc);
	if (e == NULL) {
		SECTX_ERROR("cannot cache the credential of %s: out of memory", job->user);
		goto done;
	}
	e->user = talloc_steal(e, job->user);
	e->principal = talloc_steal(e, job->principal);
	e->iterations = job->iterations;
	memcpy(e->salt, job->salt, sizeof(e->salt));
	memcpy(e->hash, hash, sizeof(e->hash));
	e->stored = time(NULL);
	ret = sectx_offline_entry_write(oc, e);
	if (ret != 0) {
		/* kept in memory: offline logins work until the helper restarts */
		SECTX_ERROR("cannot write the cached credential of %s: %s", e->user,
			    strerror(-ret));
	}
	old = sectx_offline_entry_find(oc, e->user, &link);
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
		    sectx_kdf_waits(job->kdf)) {
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
	job->kdf = sectx_kdf_send(job, hctx->ev, oc->kdf, user, password, password_len, job->salt,
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
	char name[SECTX_OFFLINE_FILE_NAME_LEN + 1];
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
		if (job->kdf != NULL && sectx_kdf_waits(job->kdf)) {
			talloc_free(job);
		} else {
			job->cancelled = true;
		}
	}
	sectx_offline_file_name(name, user);
	e = sectx_offline_entry_find(oc, user, &link);
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
	e = sectx_offline_enabled(hctx) ? sectx_offline_entry_find(oc, user, NULL) : NULL;
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
	subreq =
	    sectx_kdf_send(st, ev, oc->kdf, user, password, password_len, e->salt, e->iterations);
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
	e = oc != NULL ? sectx_offline_entry_find(oc, st->user, NULL) : NULL;
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
	oc->kdf = sectx_kdf_pool_new(oc);
	if (oc->kdf == NULL) {
		talloc_free(oc);
		return -ENOMEM;
	}
	hctx->offline = oc;
	if (hctx->cfg->offline.cache_credentials) {
		sectx_offline_cache_open(oc);
	}
	return 0;
}

static void offline_reloaded(struct sectxd_ctx *hctx)
{
	struct sectx_offline *oc = cache_of(hctx);

	if (oc != NULL && oc->dirfd < 0 && hctx->cfg->offline.cache_credentials) {
		sectx_offline_cache_open(oc);
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
