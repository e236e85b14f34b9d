/*
 * identity/service.c - the identity subsystem of sectxd: owns the store
 * (store.c and its parts), the existence checker (s4u.c) and the
 * publication of the NSS cache (publish.c); answers the lookups of the ops
 * (identity.h), sharing one existence check between every lookup of the
 * same principal and rate-limiting the checks each caller uid may start.
 *
 * Who reaches this: ops/nss.c for every local user's lookups, and root's
 * flush.  Must never: wait for a KDC or a child on the event loop, let one
 * uid run unbounded existence checks, or answer from a store it could not
 * load whole.
 */
#include "identity/identity.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "identity/directory_int.h"
#include "identity/identity_int.h"
#include "identity/nss_cache_writer.h"
#include "identity/s4u.h"
#include "log.h"

static struct sectxd_identity *ident(struct sectxd_ctx *hctx)
{
	return hctx->identity;
}

struct id_store *identity_store(struct sectxd_ctx *hctx)
{
	return hctx->identity != NULL ? hctx->identity->store : NULL;
}

/* --- lookups and existence checks ------------------------------------------------------------- */

struct lookup_state {
	struct lookup_state *prev, *next; /* waiting on the same check */
	struct tevent_req *req;
	struct sectxd_identity *id;
	struct pcheck *check;
	enum identity_kind kind;
	char name[SECTX_NAME_MAX + 1];
	uint32_t num;
	struct id_lookup lk;
	uint32_t ttl;
};

/* One existence check, shared by every lookup that needs it. */
struct pcheck {
	struct pcheck *prev, *next;
	struct sectxd_identity *id;
	char principal[SECTX_NAME_MAX + 1];
	struct lookup_state *waiting;
};

static enum id_result run_lookup(struct sectxd_identity *id, struct lookup_state *s,
				 bool allow_stale)
{
	int64_t now = id_realtime_now();

	switch (s->kind) {
	case IDENTITY_USER_BY_NAME:
		return id_store_user_by_name(id->store, s->name, now, allow_stale, &s->lk);
	case IDENTITY_USER_BY_UID:
		return id_store_user_by_uid(id->store, s->num, now, allow_stale, &s->lk);
	case IDENTITY_GROUP_BY_NAME:
		return id_store_group_by_name(id->store, s->name, now, allow_stale, &s->lk);
	case IDENTITY_GROUP_BY_GID:
		return id_store_group_by_gid(id->store, s->num, now, allow_stale, &s->lk);
	}
	return ID_NOTFOUND;
}

static uint32_t ttl_of(struct sectxd_identity *id, const struct id_lookup *lk)
{
	const struct id_user *u = lk->user != NULL    ? lk->user
				  : lk->group != NULL ? lk->group->upg_of
						      : NULL;
	int64_t now = id_realtime_now();

	if (lk->stale) {
		return 0;
	}
	if (u != NULL && !u->is_static) {
		return u->verified_until > now ? (uint32_t)(u->verified_until - now) : 0;
	}
	return (uint32_t)(id->hctx->cfg->identity.positive_ttl_ms / 1000);
}

/* Finish s according to a store result. */
static void lookup_finish(struct tevent_req *req, struct lookup_state *s, enum id_result r,
			  int unavailable_err)
{
	switch (r) {
	case ID_FOUND:
		s->ttl = ttl_of(s->id, &s->lk);
		tevent_req_done(req);
		break;
	case ID_NOTFOUND:
		tevent_req_error(req, ENOENT);
		break;
	case ID_CHECK:
		tevent_req_error(req, unavailable_err);
		break;
	}
}

/* --- the directory -------------------------------------------------------------------------- */

static void dir_done(struct tevent_req *subreq);

/* Ask the directory what s's store lookup could not answer (lk.check_dir). */
static void lookup_ask_directory(struct tevent_req *req, struct lookup_state *s, uid_t caller)
{
	struct sectxd_identity *id = s->id;
	const char *name = NULL;
	struct tevent_req *subreq;
	struct id_name n;

	if (id->dir == NULL) {
		lookup_finish(req, s, run_lookup(id, s, true), EHOSTUNREACH);
		return;
	}
	if (!id_rate_take(id->dir_rate, RATE_BUCKETS, caller,
			  (double)id->hctx->cfg->directory.lookups_per_uid, sectx_now_ms())) {
		SECTX_INFO("directory lookup for uid %u refused: over lookups_per_uid",
			   (unsigned)caller);
		tevent_req_error(req, EBUSY);
		return;
	}
	switch (s->kind) {
	case IDENTITY_USER_BY_NAME:
		if (id_name_parse(s->lk.check_principal, id->store->realm, &n) != 0) {
			tevent_req_error(req, ENOENT);
			return;
		}
		name = n.name;
		break;
	case IDENTITY_GROUP_BY_NAME:
		name = s->lk.check_name;
		break;
	case IDENTITY_USER_BY_UID:
	case IDENTITY_GROUP_BY_GID:
		break;
	}
	if (s->kind == IDENTITY_USER_BY_NAME && s->lk.check_name[0] == '\0') {
		snprintf(s->lk.check_name, sizeof(s->lk.check_name), "%s", name);
	}
	subreq = id_dir_lookup_send(s, id->dir, (int)s->kind, name, s->lk.check_id);
	if (subreq == NULL) {
		tevent_req_error(req, ENOMEM);
		return;
	}
	tevent_req_set_callback(subreq, dir_done, req);
}

static void dir_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct lookup_state *s = tevent_req_data(req, struct lookup_state);
	struct sectxd_identity *id = s->id;
	struct id_store *st = id->store;
	int64_t now = id_realtime_now();
	struct id_dir_answer *ans = NULL;
	struct id_lookup asked = s->lk;
	enum id_result r;
	int ret;

	ret = id_dir_lookup_recv(subreq, s, &ans);
	talloc_free(subreq);
	if (ret != 0) {
		/* no server answered: what the store knew, stale */
		lookup_finish(req, s, run_lookup(id, s, true), EHOSTUNREACH);
		id_publish_changed(id);
		return;
	}
	if (ans->found && ans->is_user) {
		ret = id_store_dir_user(st, &ans->user, ans->gids, ans->ngids, now + st->pos_ttl);
		for (size_t i = 0; ret == 0 && i < ans->ngroups; i++) {
			/* a group refused (a static gid, id 0) is logged and left out */
			(void)id_store_dir_group(st, &ans->groups[i], now + st->pos_ttl);
		}
	} else if (ans->found) {
		ret = id_store_dir_group(st, &ans->group, now + st->pos_ttl);
	}
	if (!ans->found || ret == -EPERM) {
		id_store_dir_absent(st, (int)s->kind, &asked, now);
	}
	r = run_lookup(id, s, false);
	if (r == ID_CHECK) {
		/* the directory answered with another entry (another case of the
		 * name): not this one */
		r = ID_NOTFOUND;
	}
	lookup_finish(req, s, r, EHOSTUNREACH);
	id_publish_changed(id);
}

bool identity_directory_configured(const struct sectx_config *cfg)
{
	return cfg->directory.base[0] != '\0';
}

struct access_state {
	bool ok;
};

static void access_filter_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct access_state *s = tevent_req_data(req, struct access_state);
	int ret = id_dir_access_recv(subreq, &s->ok);

	talloc_free(subreq);
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	tevent_req_done(req);
}

struct tevent_req *identity_access_filter_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					       const char *name)
{
	struct sectxd_identity *id = ident(hctx);
	struct tevent_req *req, *subreq;
	struct access_state *s;
	struct id_name n;

	req = tevent_req_create(mem_ctx, &s, struct access_state);
	if (req == NULL) {
		return NULL;
	}
	if (id == NULL || id->dir == NULL || hctx->cfg->directory.access_filter[0] == '\0') {
		s->ok = true;
		tevent_req_done(req);
		return tevent_req_post(req, hctx->ev);
	}
	if (id_name_parse(name, id->store->realm, &n) != 0 || !n.has_short) {
		s->ok = false;
		tevent_req_done(req);
		return tevent_req_post(req, hctx->ev);
	}
	subreq = id_dir_access_send(s, id->dir, n.name);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	tevent_req_set_callback(subreq, access_filter_done, req);
	return req;
}

int identity_access_filter_recv(struct tevent_req *req, bool *ok)
{
	struct access_state *s = tevent_req_data(req, struct access_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*ok = s->ok;
	return 0;
}

/* May caller start another existence check now?  Its own token bucket,
 * keyed by its uid exactly (rate.c). */
static bool rate_ok(struct sectxd_identity *id, uid_t caller)
{
	return id_rate_take(id->rate, RATE_BUCKETS, caller,
			    (double)id->hctx->cfg->identity.checks_per_uid, sectx_now_ms());
}

static void pcheck_unlink(struct pcheck *c)
{
	struct sectxd_identity *id = c->id;

	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else if (id->checks == c) {
		id->checks = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	c->prev = c->next = NULL;
}

static int pcheck_destructor(struct pcheck *c)
{
	struct lookup_state *s;

	pcheck_unlink(c);
	for (s = c->waiting; s != NULL; s = s->next) {
		s->check = NULL;
	}
	return 0;
}

static void lookup_unwait(struct lookup_state *s)
{
	if (s->check == NULL) {
		return;
	}
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		s->check->waiting = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	s->prev = s->next = NULL;
	s->check = NULL;
}

static int lookup_state_destructor(struct lookup_state *s)
{
	lookup_unwait(s);
	return 0;
}

static void check_done(struct tevent_req *subreq)
{
	struct pcheck *c = tevent_req_callback_data(subreq, struct pcheck);
	struct sectxd_identity *id = c->id;
	const char *why = "";
	bool exists = false;
	int ret;

	ret = id_s4u_check_recv(subreq, &exists, &why);
	if (ret == 0) {
		SECTX_DEBUG("existence check of %s: %s", c->principal,
			    exists ? "known to the realm" : "unknown to the realm");
		ret = id_store_check_result(id->store, c->principal, exists, id_realtime_now(),
					    id->state_dirfd);
	} else {
		SECTX_WARN("existence check of %s failed: %s%s%s", c->principal, strerror(-ret),
			   why[0] != '\0' ? ": " : "", why);
	}
	talloc_free(subreq);
	/* Answer every lookup that waited: again from the store, which now
	 * knows (or, the realm unreachable, may serve what it knew). */
	while (c->waiting != NULL) {
		struct lookup_state *s = c->waiting;
		struct tevent_req *req = s->req;

		lookup_unwait(s);
		lookup_finish(req, s, run_lookup(id, s, ret != 0), EHOSTUNREACH);
	}
	talloc_free(c);
	id_publish_changed(id);
}

struct tevent_req *identity_lookup_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					enum identity_kind kind, const char *name, uint32_t num,
					uid_t caller)
{
	struct sectxd_identity *id = ident(hctx);
	struct lookup_state *s;
	struct tevent_req *req, *subreq;
	struct pcheck *c;
	enum id_result r;

	req = tevent_req_create(mem_ctx, &s, struct lookup_state);
	if (req == NULL) {
		return NULL;
	}
	if (id == NULL || id->store == NULL) {
		tevent_req_error(req, ENOENT);
		return tevent_req_post(req, hctx->ev);
	}
	s->req = req;
	s->id = id;
	s->kind = kind;
	s->num = num;
	snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "");
	talloc_set_destructor(s, lookup_state_destructor);
	r = run_lookup(id, s, false);
	id_publish_changed(id);
	if (r != ID_CHECK) {
		lookup_finish(req, s, r, EHOSTUNREACH);
		return tevent_req_post(req, hctx->ev);
	}
	if (s->lk.check_dir) {
		lookup_ask_directory(req, s, caller);
		if (!tevent_req_is_in_progress(req)) {
			return tevent_req_post(req, hctx->ev);
		}
		return req;
	}
	for (c = id->checks; c != NULL; c = c->next) {
		if (strcmp(c->principal, s->lk.check_principal) == 0) {
			break;
		}
	}
	if (c == NULL) {
		if (id->s4u == NULL) {
			lookup_finish(req, s, run_lookup(id, s, true), EHOSTUNREACH);
			return tevent_req_post(req, hctx->ev);
		}
		if (!rate_ok(id, caller)) {
			SECTX_INFO("existence check of %s for uid %u refused: over checks_per_uid",
				   s->lk.check_principal, (unsigned)caller);
			tevent_req_error(req, EBUSY);
			return tevent_req_post(req, hctx->ev);
		}
		c = talloc_zero(id, struct pcheck);
		if (c == NULL) {
			tevent_req_error(req, ENOMEM);
			return tevent_req_post(req, hctx->ev);
		}
		c->id = id;
		snprintf(c->principal, sizeof(c->principal), "%s", s->lk.check_principal);
		subreq = id_s4u_check_send(c, hctx->ev, id->s4u, c->principal);
		if (subreq == NULL) {
			talloc_free(c);
			tevent_req_error(req, ENOMEM);
			return tevent_req_post(req, hctx->ev);
		}
		tevent_req_set_callback(subreq, check_done, c);
		c->next = id->checks;
		if (id->checks != NULL) {
			id->checks->prev = c;
		}
		id->checks = c;
		talloc_set_destructor(c, pcheck_destructor);
	}
	s->check = c;
	s->next = c->waiting;
	if (c->waiting != NULL) {
		c->waiting->prev = s;
	}
	c->waiting = s;
	return req;
}

int identity_lookup_recv(struct tevent_req *req, struct id_lookup *lk, uint32_t *ttl)
{
	struct lookup_state *s = tevent_req_data(req, struct lookup_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*lk = s->lk;
	if (lk->group == &s->lk.upg) {
		lk->group = &lk->upg; /* it pointed into s */
	}
	*ttl = s->ttl;
	return 0;
}

/* The key of what the S4U worker depends on. */
static char *s4u_key(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, const struct sectx_config *cfg,
		     const char *realm)
{
	return talloc_asprintf(mem_ctx, "%s|%s|%s|%llu", cfg->kerberos.keytab, realm,
			       cfg->identity.host_principal,
			       (unsigned long long)cfg->kerberos.kdc_timeout_ms);
}

/* Start, restart or stop the worker to match cfg. */
static int s4u_configure(struct sectxd_identity *id, const struct sectx_config *cfg,
			 const char *realm)
{
	char *key;
	int ret;

	if (!cfg->identity.auto_id) {
		TALLOC_FREE(id->s4u);
		TALLOC_FREE(id->s4u_key);
		return 0;
	}
	key = s4u_key(id, id->hctx, cfg, realm);
	if (key == NULL) {
		return -ENOMEM;
	}
	if (id->s4u != NULL && id->s4u_key != NULL && strcmp(key, id->s4u_key) == 0) {
		talloc_free(key);
		return 0;
	}
	TALLOC_FREE(id->s4u);
	talloc_free(id->s4u_key);
	id->s4u_key = key;
	ret = id_s4u_start(id, id->hctx->ev, cfg->kerberos.keytab, realm,
			   cfg->identity.host_principal, cfg->kerberos.kdc_timeout_ms, &id->s4u);
	if (ret != 0) {
		SECTX_ERROR("cannot start the existence-check worker: %s", strerror(-ret));
	}
	return ret;
}

/* Start, restart or stop the directory engine to match cfg. */
static int dir_configure(struct sectxd_identity *id, const struct sectx_config *cfg,
			 const char *realm)
{
	char why[256] = "";
	char *key;
	int ret;

	if (!identity_directory_configured(cfg)) {
		TALLOC_FREE(id->dir);
		TALLOC_FREE(id->dir_key);
		return 0;
	}
	key = id_dir_key(id, cfg, realm);
	if (key == NULL) {
		return -ENOMEM;
	}
	if (id->dir != NULL && id->dir_key != NULL && strcmp(key, id->dir_key) == 0) {
		talloc_free(key);
		return 0;
	}
	TALLOC_FREE(id->dir);
	talloc_free(id->dir_key);
	id->dir_key = key;
	ret = id_dir_new(id, id->hctx->ev, cfg, realm, &id->dir, why, sizeof(why));
	if (ret != 0) {
		SECTX_ERROR("directory: %s", why[0] != '\0' ? why : strerror(-ret));
	}
	return ret;
}

/* A store for cfg, loaded from the static files and the map file. */
static int build_store(struct sectxd_identity *id, const struct sectx_config *cfg,
		       const char *realm, struct id_store **out, char *why, size_t whylen)
{
	struct id_store *st = NULL;
	int ret;

	if (cfg->identity.auto_id && (realm == NULL || realm[0] == '\0')) {
		snprintf(why, whylen, "auto_id needs a realm ([kerberos] realm or krb5.conf)");
		return -EINVAL;
	}
	ret = id_store_new(id, cfg, realm, &st);
	if (ret != 0) {
		snprintf(why, whylen, "invalid [identity] id_range or min_id");
		return ret;
	}
	id_store_set_directory(st, identity_directory_configured(cfg));
	ret = id_store_load_static(st, why, whylen);
	if (ret == 0) {
		ret = id_store_load_mappings(st, id->state_dirfd, why, whylen);
	}
	if (ret != 0) {
		talloc_free(st);
		return ret;
	}
	*out = st;
	return 0;
}

static int identity_destructor(struct sectxd_identity *id)
{
	if (id->pub_pid > 0) {
		/* Let it finish (see publish_start, publish.c): bounded by one file write. */
		(void)waitpid(id->pub_pid, NULL, 0);
	}
	if (id->pub_fd >= 0) {
		close(id->pub_fd);
	}
	if (id->lock_fd >= 0) {
		close(id->lock_fd);
	}
	if (id->cache_dirfd >= 0) {
		close(id->cache_dirfd);
	}
	if (id->state_dirfd >= 0) {
		close(id->state_dirfd);
	}
	return 0;
}

static int identity_start(struct sectxd_ctx *hctx)
{
	const struct sectx_config *cfg = hctx->cfg;
	struct sectxd_identity *id;
	struct sectx_nss_cache_map old;
	char why[1024] = "";
	size_t size = 0;
	int ret;

	id = talloc_zero(hctx, struct sectxd_identity);
	if (id == NULL) {
		return -ENOMEM;
	}
	id->hctx = hctx;
	id->state_dirfd = id->cache_dirfd = id->lock_fd = id->pub_fd = -1;
	talloc_set_destructor(id, identity_destructor);

	ret = sectx_open_dir_verified(cfg->sectxd.state_dir, geteuid(), 0700, true);
	if (ret < 0) {
		SECTX_ERROR("state directory %s must be a directory owned by uid %u, mode 0700: %s",
			    cfg->sectxd.state_dir, (unsigned)geteuid(), strerror(-ret));
		goto done;
	}
	id->state_dirfd = ret;
	ret = id_publish_open_dir(id, cfg->sectxd.socket_dir);
	if (ret != 0) {
		goto done;
	}
	ret = build_store(id, cfg, hctx->realm, &id->store, why, sizeof(why));
	if (ret != 0) {
		SECTX_ERROR("identity store: %s", why);
		goto done;
	}
	/* What the last run published: its generation, and the existence
	 * checks still valid in it. */
	if (nss_cache_map_file(id->cache_dirfd, SECTX_NSS_CACHE_FILE, &old) == 0) {
		id->generation = old.generation;
		id_store_seed_from_cache(id->store, &old, id_realtime_now());
		nss_cache_unmap(&old);
	}
	ret = s4u_configure(id, cfg, hctx->realm);
	if (ret == 0) {
		ret = dir_configure(id, cfg, hctx->realm);
	}
	if (ret == 0) {
		id_dir_enum_configure(id, cfg);
	}
	if (ret != 0) {
		goto done;
	}
	/* The first publication in-process, before the sockets open. */
	id->pub_started_ms = sectx_now_ms();
	id->generation++;
	id->scheduled_version = id_store_version(id->store);
	ret = id_publish_write(id, id->generation, &size);
	if (ret != 0) {
		SECTX_ERROR("cannot publish the NSS cache in %s/%s: %s", cfg->sectxd.socket_dir,
			    SECTX_NSS_CACHE_DIR, strerror(-ret));
		goto done;
	}
	id->published_gen = id->generation;
	id->last_pub_end_ms = sectx_now_ms();
	id->last_pub_ms = id->last_pub_end_ms - id->pub_started_ms;
	id_publish_refresh_arm(id);
	SECTX_INFO("identity: %zu static users, %zu mappings (range %s), auto_id %s; NSS cache "
		   "generation %" PRIu64 " (%zu bytes) in %s/%s",
		   id_store_n_static_users(id->store), id_store_n_mappings(id->store),
		   id_store_range(id->store), cfg->identity.auto_id ? "on" : "off", id->generation,
		   size, cfg->sectxd.socket_dir, SECTX_NSS_CACHE_DIR);
	hctx->identity = id;
	id = NULL;
	ret = 0;
done:
	talloc_free(id);
	return ret;
}

static int identity_check_reload(struct sectxd_ctx *hctx, const struct sectx_config *newcfg,
				 char *why, size_t whylen)
{
	struct sectxd_identity *id = ident(hctx);
	char *realm;
	int ret;

	if (id == NULL) {
		return 0;
	}
	if (strcmp(newcfg->identity.id_range, hctx->cfg->identity.id_range) != 0 &&
	    id_store_n_mappings(id->store) > 0) {
		snprintf(why, whylen,
			 "[identity] id_range cannot change from %s to %s while %zu principals are "
			 "mapped (every one would get another uid)",
			 hctx->cfg->identity.id_range, newcfg->identity.id_range,
			 id_store_n_mappings(id->store));
		return -EINVAL;
	}
	TALLOC_FREE(id->pending);
	realm = sectxd_effective_realm(id, newcfg);
	if (realm == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	ret = build_store(id, newcfg, realm, &id->pending, why, whylen);
	talloc_free(realm);
	return ret != 0 ? -EINVAL : 0;
}

static void identity_reloaded(struct sectxd_ctx *hctx)
{
	struct sectxd_identity *id = ident(hctx);

	if (id == NULL || id->pending == NULL) {
		return;
	}
	/* Lookups waiting for a check re-run against the new store when it
	 * answers: they hold no pointer into the old one. */
	id_store_adopt(id->pending, id->store);
	id_store_dir_adopt(id->pending, id->store);
	talloc_free(id->retired);
	id->retired = id->store;
	id->store = id->pending;
	id->pending = NULL;
	(void)s4u_configure(id, hctx->cfg, hctx->realm);
	(void)dir_configure(id, hctx->cfg, hctx->realm);
	id_dir_enum_configure(id, hctx->cfg);
	id->scheduled_version = id_store_version(id->store);
	id_publish_schedule(id, true);
	id_publish_refresh_arm(id);
}

static void identity_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->identity);
}

const struct sectxd_subsystem sectxd_identity_subsystem = {
    .name = "identity",
    .start = identity_start,
    .check_reload = identity_check_reload,
    .reloaded = identity_reloaded,
    .status = identity_status_fields,
    .stop = identity_stop,
};
