/*
 * login/kdc_cache.c - a realm's KDC addresses, read from the krb5.conf profile
 * once per realm and configuration and resolved without blocking the loop.
 *
 * Who reaches this: kdc_io.c, once per KDC exchange (three per password
 * login), with a realm libkrb5 named.  The KDC list is root's configuration
 * ([realms] REALM kdc = host[:port]); nothing here comes from a user.
 *
 * Before, every exchange copied the profile and called getaddrinfo on the
 * loop: a KDC given by name cost a resolver round trip with the whole helper
 * waiting.  Now an entry per realm holds the addresses for
 * SECTX_KDC_CACHE_TTL_MS, after which the next exchange reads the profile
 * again (so an edited krb5.conf is seen within the TTL); sectx_kdc_cache_flush
 * (on a reload) drops them at once.  A numeric address is converted at once
 * (AI_NUMERICHOST never blocks); names go to glibc's getaddrinfo_a
 * (GAI_NOWAIT, its own threads), which the loop polls with a timer that
 * backs off from 1 to 50 ms.  Exchanges for a realm being resolved wait for
 * it, each within its own deadline; the resolution itself is not bounded
 * here (the resolver's timeouts are), and a resolution that is still running
 * when its entry is dropped is cancelled, or left to finish into memory that
 * is deliberately never freed (gai_cancel cannot always stop it).
 *
 * A realm krb5.conf names no KDC for (and dns_lookup_kdc not false) is
 * looked up in DNS: the SRV records _kerberos._tcp.REALM, then
 * _kerberos._udp.REALM (RFC 4120 7.2.3), each set ordered by priority and
 * weight (RFC 2782, core/dns_srv.c), their targets resolved.  libresolv has
 * no asynchronous query, so that runs on a detached thread of its own whose
 * job the same timer polls; the realm and the job each hold a reference, so
 * a realm dropped meanwhile leaves the job to free itself.  The realm name
 * comes from libkrb5 (it may be a user's principal's): only letters,
 * digits, '-', '_' and '.' go into a DNS query, and at most
 * KDC_SRV_THREADS_MAX lookups run at once (more: no KDC, logged), so that
 * logins naming many realms cannot pile up threads.
 */
#include "login/login_int.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <profile.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "core/dns_srv.h"
#include "log.h"

#define KDC_DEFAULT_PORT    "88"
#define POLL_FIRST_MS	    1
#define POLL_MAX_MS	    50
#define KDC_SRV_THREADS_MAX 8

static atomic_int srv_threads; /* SRV lookups running */

/* Doubly linked lists of realms and of waiters (head, element). */
#define KDC_LIST_ADD(head, p)                                                                      \
	do {                                                                                       \
		(p)->prev = NULL;                                                                  \
		(p)->next = (head);                                                                \
		if ((head) != NULL) {                                                              \
			(head)->prev = (p);                                                        \
		}                                                                                  \
		(head) = (p);                                                                      \
	} while (0)
#define KDC_LIST_REMOVE(head, p)                                                                   \
	do {                                                                                       \
		if ((p)->prev != NULL) {                                                           \
			(p)->prev->next = (p)->next;                                               \
		} else if ((head) == (p)) {                                                        \
			(head) = (p)->next;                                                        \
		}                                                                                  \
		if ((p)->next != NULL) {                                                           \
			(p)->next->prev = (p)->prev;                                               \
		}                                                                                  \
		(p)->prev = (p)->next = NULL;                                                      \
	} while (0)

struct kdc_host {
	char *host;
	const char *port;
	struct addrinfo hints;
	struct gaicb gcb; /* getaddrinfo_a's request, when the host is a name */
	struct addrinfo *res;
	bool pending;
};

struct kdc_waiter;

/* A DNS SRV lookup on its thread: the thread writes targets and n, then
 * sets done; the loop reads them only after seeing done. */
struct kdc_srv_job {
	atomic_int refs; /* the thread and the realm */
	atomic_bool done;
	char realm[256];
	struct sectx_kdc_target targets[SECTX_KDC_MAX_TARGETS];
	size_t n;
	int err; /* -errno of the last SRV query that found nothing */
};

struct kdc_realm {
	struct kdc_realm *prev, *next;
	struct sectx_kdc_cache *cache;
	char *name;
	int64_t expires; /* monotonic ms; meaningful when !resolving */
	bool resolving;	 /* getaddrinfo_a requests in flight */
	bool stale;	 /* flushed while resolving: not kept afterwards */
	struct sectx_kdc_target *targets;
	size_t n_targets;
	struct kdc_host *hosts; /* the profile's entries, in order */
	size_t n_hosts;
	struct kdc_srv_job *srv; /* no kdc in krb5.conf: the DNS SRV lookup */
	struct tevent_timer *poll;
	unsigned poll_ms;
	struct kdc_waiter *waiters;
};

struct sectx_kdc_cache {
	struct kdc_realm *realms;
};

struct kdc_waiter {
	struct kdc_waiter *prev, *next;
	struct kdc_realm *realm;
	struct tevent_req *req;
};

struct kdc_list_state {
	struct kdc_waiter *waiter;
	struct sectx_kdc_target *targets;
	size_t n;
};

/* Split "host", "host:port", "[v6]:port" into host and port (in place). */
static int split_host_port(char *entry, char **host, const char **port)
{
	char *p;

	*port = KDC_DEFAULT_PORT;
	if (entry[0] == '[') {
		p = strchr(entry, ']');
		if (p == NULL) {
			return -EINVAL;
		}
		*p = '\0';
		*host = entry + 1;
		if (p[1] == ':') {
			*port = p + 2;
		} else if (p[1] != '\0') {
			return -EINVAL;
		}
		return 0;
	}
	p = strchr(entry, ':');
	if (p != NULL) {
		if (strchr(p + 1, ':') != NULL) {
			*host = entry; /* a bare IPv6 address */
			return 0;
		}
		*p = '\0';
		*port = p + 1;
	}
	*host = entry;
	return 0;
}

/* --- DNS SRV discovery ----------------------------------------------------------- */

static void srv_job_unref(struct kdc_srv_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		free(j);
	}
}

/* A realm name that may go into a DNS query as it is. */
static bool realm_dns_safe(const char *realm)
{
	size_t i;

	for (i = 0; realm[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)realm[i];

		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
			return false;
		}
	}
	return i > 0 && i < 200 && realm[0] != '.';
}

/* Append the addresses of the SRV records of qname to j's targets. */
static void srv_job_add(struct kdc_srv_job *j, const char *qname)
{
	struct sectx_srv srv[SECTX_SRV_MAX];
	size_t n = 0;
	int ret = sectx_srv_query(qname, srv, SECTX_SRV_MAX, &n);

	if (ret != 0) {
		j->err = ret;
		return;
	}
	for (size_t i = 0; i < n && j->n < SECTX_KDC_MAX_TARGETS; i++) {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;
		char port[8], desc[sizeof(j->targets[0].desc)];
		size_t len = strlen(srv[i].target);
		bool seen = false;

		if (len > 0 && srv[i].target[len - 1] == '.') {
			srv[i].target[len - 1] = '\0';
		}
		snprintf(port, sizeof(port), "%u", (unsigned)srv[i].port);
		snprintf(desc, sizeof(desc), "%s:%s", srv[i].target, port);
		for (size_t k = 0; k < j->n; k++) {
			seen |= strcmp(j->targets[k].desc, desc) == 0;
		}
		if (seen || srv[i].port == 0 ||
		    getaddrinfo(srv[i].target, port, &hints, &res) != 0) {
			continue; /* the same KDC by TCP and UDP, or no address */
		}
		for (struct addrinfo *ai = res; ai != NULL && j->n < SECTX_KDC_MAX_TARGETS;
		     ai = ai->ai_next) {
			struct sectx_kdc_target *t = &j->targets[j->n];

			if (ai->ai_addrlen > sizeof(t->ss)) {
				continue;
			}
			memcpy(&t->ss, ai->ai_addr, ai->ai_addrlen);
			t->len = ai->ai_addrlen;
			t->socktype = SOCK_STREAM;
			memcpy(t->desc, desc, sizeof(desc));
			j->n++;
		}
		freeaddrinfo(res);
	}
}

static void *srv_job_thread(void *arg)
{
	struct kdc_srv_job *j = arg;
	char qname[300];

	snprintf(qname, sizeof(qname), "_kerberos._tcp.%s", j->realm);
	srv_job_add(j, qname);
	snprintf(qname, sizeof(qname), "_kerberos._udp.%s", j->realm);
	srv_job_add(j, qname);
	atomic_store(&j->done, true);
	srv_job_unref(j);
	atomic_fetch_sub(&srv_threads, 1);
	return NULL;
}

/* Start looking r's KDCs up in DNS.  0 (r->srv set) or -errno. */
static int realm_start_srv(struct kdc_realm *r)
{
	struct kdc_srv_job *j;
	pthread_attr_t attr;
	pthread_t tid;
	int ret;

	if (!realm_dns_safe(r->name)) {
		return -ENOENT;
	}
	if (atomic_fetch_add(&srv_threads, 1) >= KDC_SRV_THREADS_MAX) {
		atomic_fetch_sub(&srv_threads, 1);
		SECTX_WARN("too many DNS SRV lookups of KDCs running; realm %s not looked up",
			   r->name);
		return -EAGAIN;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		atomic_fetch_sub(&srv_threads, 1);
		return -ENOMEM;
	}
	snprintf(j->realm, sizeof(j->realm), "%s", r->name);
	atomic_init(&j->refs, 2);
	atomic_init(&j->done, false);
	ret = pthread_attr_init(&attr);
	if (ret == 0) {
		(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = pthread_create(&tid, &attr, srv_job_thread, j);
		pthread_attr_destroy(&attr);
	}
	if (ret != 0) {
		atomic_fetch_sub(&srv_threads, 1);
		free(j);
		return -ret;
	}
	r->srv = j;
	return 0;
}

/* --- an entry's life --------------------------------------------------------- */

static int realm_destructor(struct kdc_realm *r)
{
	bool leak = false;

	TALLOC_FREE(r->poll);
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct kdc_host *h = &r->hosts[i];

		if (h->pending && gai_cancel(&h->gcb) == EAI_NOTCANCELED) {
			leak = true; /* glibc still writes into h->gcb */
			continue;
		}
		if (h->pending) {
			h->res = h->gcb.ar_result;
		}
		if (h->res != NULL) {
			freeaddrinfo(h->res);
			h->res = NULL;
		}
	}
	if (leak && r->hosts != NULL) {
		talloc_steal(NULL, r->hosts); /* never freed: see the file's header */
	}
	if (r->srv != NULL) {
		srv_job_unref(r->srv);
		r->srv = NULL;
	}
	if (r->cache != NULL) {
		KDC_LIST_REMOVE(r->cache->realms, r);
	}
	while (r->waiters != NULL) {
		struct kdc_waiter *w = r->waiters;

		r->waiters = w->next;
		w->realm = NULL;
		tevent_req_error(w->req, ENOENT);
	}
	return 0;
}

/* The entry's targets, in the profile's order: every address of each entry. */
static void realm_collect(struct kdc_realm *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_hosts && n < SECTX_KDC_MAX_TARGETS; i++) {
		struct kdc_host *h = &r->hosts[i];

		for (struct addrinfo *ai = h->res; ai != NULL && n < SECTX_KDC_MAX_TARGETS;
		     ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof(r->targets[n].ss)) {
				continue;
			}
			memcpy(&r->targets[n].ss, ai->ai_addr, ai->ai_addrlen);
			r->targets[n].len = ai->ai_addrlen;
			r->targets[n].socktype = SOCK_STREAM;
			snprintf(r->targets[n].desc, sizeof(r->targets[n].desc), "%s:%s", h->host,
				 h->port);
			n++;
		}
		if (h->res != NULL) {
			freeaddrinfo(h->res);
			h->res = NULL;
		}
	}
	if (r->srv != NULL) {
		if (r->srv->n == 0) {
			SECTX_WARN("no KDC for realm %s in krb5.conf nor in DNS SRV records",
				   r->name);
		}
		for (size_t i = 0; i < r->srv->n && n < SECTX_KDC_MAX_TARGETS; i++) {
			r->targets[n++] = r->srv->targets[i];
		}
		if (r->srv->n > 0) {
			SECTX_INFO("KDCs of realm %s from DNS SRV records: %s first", r->name,
				   r->srv->targets[0].desc);
		}
		srv_job_unref(r->srv);
		r->srv = NULL;
	}
	r->n_targets = n;
}

/* Resolution over: answer the waiters; keep the entry for the TTL if it has
 * addresses and was not flushed meanwhile, else drop it. */
static void realm_resolved(struct kdc_realm *r)
{
	struct kdc_waiter *w;

	r->resolving = false;
	TALLOC_FREE(r->poll);
	realm_collect(r);
	TALLOC_FREE(r->hosts);
	r->n_hosts = 0;
	if (r->n_targets == 0) {
		SECTX_WARN("no KDC address for realm %s", r->name);
	}
	r->expires = sectx_now_ms() + SECTX_KDC_CACHE_TTL_MS;
	while ((w = r->waiters) != NULL) {
		struct kdc_list_state *st = tevent_req_data(w->req, struct kdc_list_state);

		KDC_LIST_REMOVE(r->waiters, w);
		w->realm = NULL;
		if (r->n_targets == 0) {
			tevent_req_error(w->req, ENOENT);
			continue;
		}
		st->targets = talloc_memdup(st, r->targets, r->n_targets * sizeof(*r->targets));
		if (st->targets == NULL) {
			tevent_req_oom(w->req);
			continue;
		}
		st->n = r->n_targets;
		tevent_req_done(w->req);
	}
	if (r->stale || r->n_targets == 0) {
		talloc_free(r);
	}
}

static void realm_poll(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		       void *data)
{
	struct kdc_realm *r = data;
	bool left = false;

	r->poll = NULL;
	if (r->srv != NULL && !atomic_load(&r->srv->done)) {
		left = true;
	}
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct kdc_host *h = &r->hosts[i];
		int err;

		if (!h->pending) {
			continue;
		}
		err = gai_error(&h->gcb);
		/* the answer is written before glibc's thread lets go of the
		 * request: only EAI_ALLDONE from gai_cancel says it has */
		if (err == EAI_INPROGRESS || gai_cancel(&h->gcb) != EAI_ALLDONE) {
			left = true;
			continue;
		}
		h->pending = false;
		h->res = h->gcb.ar_result;
		if (err != 0) {
			SECTX_WARN("cannot resolve KDC %s of realm %s: %s", h->host, r->name,
				   gai_strerror(err));
			if (h->res != NULL) {
				freeaddrinfo(h->res);
			}
			h->res = NULL;
		}
	}
	if (!left) {
		realm_resolved(r);
		return;
	}
	r->poll_ms = r->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : r->poll_ms * 2;
	r->poll = tevent_add_timer(ev, r, tevent_timeval_current_ofs(0, r->poll_ms * 1000),
				   realm_poll, r);
	if (r->poll == NULL) {
		SECTX_ERROR("out of memory polling the KDC names of realm %s", r->name);
	}
}

/* Read the realm's entries from the profile and start resolving them.
 * Numeric addresses are converted here; names go to getaddrinfo_a. */
static int realm_start(struct kdc_realm *r, struct sectxd_krb5 *k)
{
	const char *names[4] = {"realms", r->name, "kdc", NULL};
	struct gaicb *list[SECTX_KDC_MAX_TARGETS];
	profile_t profile = NULL;
	char **values = NULL;
	size_t n_names = 0;
	int ret;

	if (krb5_get_profile(k->ctx, &profile) != 0) {
		SECTX_WARN("cannot read krb5.conf for the KDCs of realm %s", r->name);
		ret = -ENOENT;
		goto done;
	}
	if (profile_get_values(profile, names, &values) != 0 || values == NULL) {
		int dns = 1;

		values = NULL;
		(void)profile_get_boolean(profile, "libdefaults", "dns_lookup_kdc", NULL, 1, &dns);
		ret = dns ? realm_start_srv(r) : -ENOENT;
		if (ret != 0) {
			SECTX_WARN("no KDC configured for realm %s in krb5.conf%s", r->name,
				   dns ? "" : " (and dns_lookup_kdc = false)");
			ret = -ENOENT;
		}
		goto done;
	}
	for (r->n_hosts = 0; values[r->n_hosts] != NULL; r->n_hosts++) {
	}
	if (r->n_hosts > SECTX_KDC_MAX_TARGETS) {
		r->n_hosts = SECTX_KDC_MAX_TARGETS;
	}
	r->hosts = talloc_zero_array(r, struct kdc_host, r->n_hosts);
	if (r->hosts == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct kdc_host *h = &r->hosts[i];
		char *entry = talloc_strdup(r->hosts, values[i]);

		if (entry == NULL) {
			ret = -ENOMEM;
			goto done;
		}
		if (split_host_port(entry, &h->host, &h->port) != 0 || h->host[0] == '\0') {
			SECTX_WARN("ignoring malformed kdc entry '%s' for realm %s", values[i],
				   r->name);
			continue;
		}
		h->hints.ai_family = AF_UNSPEC;
		h->hints.ai_socktype = SOCK_STREAM;
		h->hints.ai_flags = AI_NUMERICHOST;
		if (getaddrinfo(h->host, h->port, &h->hints, &h->res) == 0) {
			continue; /* an address: nothing to wait for */
		}
		h->res = NULL;
		h->hints.ai_flags = 0;
		h->gcb.ar_name = h->host;
		h->gcb.ar_service = h->port;
		h->gcb.ar_request = &h->hints;
		h->pending = true;
		list[n_names++] = &h->gcb;
	}
	if (n_names > 0) {
		struct sigevent sev = {.sigev_notify = SIGEV_NONE};
		int gai = getaddrinfo_a(GAI_NOWAIT, list, (int)n_names, &sev);

		if (gai != 0) {
			/* not one started (EAI_AGAIN, EAI_MEMORY): treat as failed */
			SECTX_WARN("cannot resolve the KDCs of realm %s: %s", r->name,
				   gai_strerror(gai));
			for (size_t i = 0; i < r->n_hosts; i++) {
				struct kdc_host *h = &r->hosts[i];
				int err = h->pending ? gai_error(&h->gcb) : EAI_INPROGRESS;

				if (err != EAI_INPROGRESS) {
					h->pending = false; /* not queued, or done already */
					h->res = err == 0 ? h->gcb.ar_result : NULL;
				}
			}
		}
	}
	ret = 0;
done:
	if (values != NULL) {
		profile_free_list(values);
	}
	if (profile != NULL) {
		profile_release(profile);
	}
	return ret;
}

/* --- the request --------------------------------------------------------------- */

static int waiter_destructor(struct kdc_waiter *w)
{
	if (w->realm != NULL) {
		KDC_LIST_REMOVE(w->realm->waiters, w);
	}
	return 0;
}

static struct kdc_realm *realm_find(struct sectx_kdc_cache *c, const krb5_data *realm)
{
	for (struct kdc_realm *r = c->realms; r != NULL; r = r->next) {
		if (strlen(r->name) == realm->length &&
		    memcmp(r->name, realm->data, realm->length) == 0) {
			return r;
		}
	}
	return NULL;
}

struct tevent_req *sectx_kdc_list_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				       struct sectxd_krb5 *k, const krb5_data *realm)
{
	struct tevent_req *req;
	struct kdc_list_state *st;
	struct kdc_realm *r;
	struct kdc_waiter *w;
	bool pending = false, created = false;
	int ret;

	req = tevent_req_create(mem_ctx, &st, struct kdc_list_state);
	if (req == NULL) {
		return NULL;
	}
	if (k->kdc_cache == NULL) {
		k->kdc_cache = talloc_zero(k, struct sectx_kdc_cache);
		if (k->kdc_cache == NULL) {
			tevent_req_oom(req);
			return tevent_req_post(req, ev);
		}
	}
	r = realm_find(k->kdc_cache, realm);
	if (r != NULL && !r->resolving && sectx_now_ms() >= r->expires) {
		TALLOC_FREE(r); /* past its TTL: read the profile again */
	}
	if (r == NULL) {
		r = talloc_zero(k->kdc_cache, struct kdc_realm);
		if (r == NULL ||
		    (r->name = talloc_strndup(r, realm->data, realm->length)) == NULL) {
			talloc_free(r);
			tevent_req_oom(req);
			return tevent_req_post(req, ev);
		}
		r->cache = k->kdc_cache;
		r->targets = talloc_zero_array(r, struct sectx_kdc_target, SECTX_KDC_MAX_TARGETS);
		if (r->targets == NULL) {
			talloc_free(r);
			tevent_req_oom(req);
			return tevent_req_post(req, ev);
		}
		KDC_LIST_ADD(k->kdc_cache->realms, r);
		talloc_set_destructor(r, realm_destructor);
		r->resolving = true;
		ret = realm_start(r, k);
		if (ret != 0) {
			talloc_free(r);
			tevent_req_error(req, -ret);
			return tevent_req_post(req, ev);
		}
		created = true;
		pending = r->srv != NULL;
		for (size_t i = 0; i < r->n_hosts; i++) {
			pending |= r->hosts[i].pending;
		}
		if (pending) {
			r->poll_ms = POLL_FIRST_MS;
			r->poll = tevent_add_timer(ev, r, tevent_timeval_current_ofs(0, 1000),
						   realm_poll, r);
			if (r->poll == NULL) {
				talloc_free(r);
				tevent_req_oom(req);
				return tevent_req_post(req, ev);
			}
		}
	}
	w = talloc_zero(st, struct kdc_waiter);
	if (w == NULL) {
		if (created && !pending) {
			realm_resolved(r);
		}
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	w->req = req;
	w->realm = r;
	st->waiter = w;
	talloc_set_destructor(w, waiter_destructor);
	if (r->resolving) {
		KDC_LIST_ADD(r->waiters, w);
		if (created && !pending) {
			realm_resolved(r); /* numeric addresses only: answered at once */
		}
		if (!tevent_req_is_in_progress(req)) {
			return tevent_req_post(req, ev);
		}
		return req;
	}
	w->realm = NULL;
	st->targets = talloc_memdup(st, r->targets, r->n_targets * sizeof(*r->targets));
	if (st->targets == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	st->n = r->n_targets;
	tevent_req_done(req);
	return tevent_req_post(req, ev);
}

int sectx_kdc_list_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
			struct sectx_kdc_target **targets, size_t *n)
{
	struct kdc_list_state *st = tevent_req_data(req, struct kdc_list_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*targets = talloc_steal(mem_ctx, st->targets);
	*n = st->n;
	return 0;
}

void sectx_kdc_cache_flush(struct sectxd_krb5 *k)
{
	struct kdc_realm *r, *next;

	if (k->kdc_cache == NULL) {
		return;
	}
	for (r = k->kdc_cache->realms; r != NULL; r = next) {
		next = r->next;
		if (r->resolving) {
			r->stale = true; /* its waiters get its answer, then it goes */
		} else {
			talloc_free(r);
		}
	}
}
