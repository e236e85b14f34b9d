/*
 * login/kdc_io.c - send one Kerberos message to a realm's KDCs and read the reply,
 * on the event loop, with a deadline.
 *
 * Who reaches this: the Kerberos engine only, with messages built by libkrb5
 * (AS-REQ, TGS-REQ).  What it talks to: the KDCs listed for the realm in the
 * krb5.conf profile, which root configured.  A KDC's reply is untrusted until
 * libkrb5 has checked it; here it is only bounded (SECTX_KDC_REPLY_MAX) and
 * read with the same deadline as everything else.  A black-hole KDC (no
 * answer, or a connect that never completes) costs the login at most its
 * deadline, never the event loop: every socket is non-blocking.
 *
 * Transport (RFC 4120 7.2): a message that fits SECTX_KDC_UDP_MAX goes by
 * UDP to each KDC first, then by TCP (four-byte length prefix, kdc_frame.c)
 * to each; a
 * larger one, or a retry after KRB_ERR_RESPONSE_TOO_BIG, by TCP only.  The
 * attempts start in that order, the next one after SECTX_KDC_STAGGER_MS or
 * as soon as one fails, earlier ones staying open; the first complete answer
 * wins.  This is MIT's own strategy, with one change: the KDC that
 * answered last is tried first, so a dead KDC costs one stagger, not one per
 * exchange.  A UDP socket is connected, so only its
 * KDC's datagrams reach it, and an ICMP refusal ends that attempt at once.
 * The realm's KDC addresses come from kdc_cache.c: read from the profile
 * once per realm (and TTL), names resolved with getaddrinfo_a, never on the
 * loop.
 */
#include "login/login_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct kdc_state;

struct kdc_conn {
	struct kdc_state *st;
	const struct sectx_kdc_target *target;
	int fd;
	struct tevent_fd *fde;
	bool connected;
	size_t out_off;
	struct sectx_kdc_reader rd; /* the reply, by TCP (kdc_frame.c) */
};

struct kdc_state {
	struct tevent_context *ev;
	struct sectxd_krb5 *k;
	struct sectx_kdc_target *targets;
	size_t n_targets;
	size_t next;	 /* next target to start */
	unsigned active; /* connections in flight */
	uint8_t *out;	 /* length-prefixed message */
	size_t out_len;
	struct tevent_timer *stagger;
	int last_err;
	uint8_t *reply;
	size_t reply_len;
	krb5_data realm; /* the exchange's, for the observer (sectx_kdc_set_observer) */
	bool udp;	 /* the message may go by UDP */
};

static void kdc_start_next(struct tevent_req *req);
static void kdc_listed(struct tevent_req *subreq);
static void kdc_conn_failed(struct tevent_req *req, struct kdc_conn *c, int err);

/* --- KDC list (kdc_cache.c) ----------------------------------------------- */

/* The KDC that answered last goes first (the others keep their order), so
 * that with a dead KDC listed first only the first exchange after it died
 * waits SECTX_KDC_STAGGER_MS for it, not every exchange of every login. */
static void kdc_prefer_last(const struct sectxd_krb5 *k, struct sectx_kdc_target *targets, size_t n)
{
	struct sectx_kdc_target first;
	size_t i, len;

	if (k->last_kdc == NULL) {
		return;
	}
	for (i = 1; i < n; i++) {
		len = strlen(targets[i].desc);
		if (strncmp(k->last_kdc, targets[i].desc, len) == 0 && k->last_kdc[len] == '/') {
			break;
		}
	}
	if (i >= n) {
		return;
	}
	first = targets[i];
	memmove(targets + 1, targets, i * sizeof(*targets));
	targets[0] = first;
}

/* The attempts for realm, from its KDC addresses: UDP to every address (when
 * udp), then TCP, the KDC that answered last first in each. */
static int kdc_attempts(TALLOC_CTX *mem_ctx, const struct sectxd_krb5 *k,
			const struct sectx_kdc_target *list, size_t n, bool udp,
			struct sectx_kdc_target **out, size_t *n_out)
{
	struct sectx_kdc_target *targets = talloc_array(mem_ctx, struct sectx_kdc_target, 2 * n);
	size_t i;

	if (targets == NULL) {
		return -ENOMEM;
	}
	memcpy(targets, list, n * sizeof(*targets));
	kdc_prefer_last(k, targets, n);
	if (udp) {
		/* UDP first, in the same KDC order, then the TCP attempts */
		memcpy(targets + n, targets, n * sizeof(*targets));
		for (i = 0; i < n; i++) {
			targets[i].socktype = SOCK_DGRAM;
		}
		n *= 2;
	}
	*out = targets;
	*n_out = n;
	return 0;
}

/* --- one connection -------------------------------------------------------- */

static int kdc_conn_destructor(struct kdc_conn *c)
{
	TALLOC_FREE(c->fde);
	if (c->fd >= 0) {
		close(c->fd);
	}
	if (c->st->active > 0) {
		c->st->active--;
	}
	return 0;
}

/* This attempt is over without an answer: try the next KDC if none is left. */
static void kdc_conn_failed(struct tevent_req *req, struct kdc_conn *c, int err)
{
	struct kdc_state *st = tevent_req_data(req, struct kdc_state);

	SECTX_DEBUG("KDC %s: %s", c->target->desc, strerror(err));
	st->last_err = err;
	talloc_free(c);
	if (st->active == 0) {
		if (st->next < st->n_targets) {
			kdc_start_next(req);
		} else {
			tevent_req_error(req, st->last_err == ETIMEDOUT ? ETIMEDOUT : ECONNREFUSED);
		}
	}
}

/* A reply has arrived on c: it wins. */
static void kdc_answered(struct tevent_req *req, struct kdc_conn *c, uint8_t *reply, size_t len)
{
	struct kdc_state *st = c->st;

	st->reply = talloc_steal(st, reply);
	st->reply_len = len;
	talloc_free(st->k->last_kdc);
	st->k->last_kdc = talloc_asprintf(st->k, "%s/%s", c->target->desc,
					  c->target->socktype == SOCK_DGRAM ? "udp" : "tcp");
	SECTX_TRACE("KDC %s answered (%zu bytes)", st->k->last_kdc, len);
	talloc_free(c); /* the other attempts go with the request */
	tevent_req_done(req);
}

/* UDP: send the message (without the TCP length prefix) once the socket is
 * writable, then take the first datagram as the reply. */
static void kdc_udp_io(struct tevent_req *req, struct kdc_conn *c, uint16_t flags)
{
	struct kdc_state *st = c->st;
	uint8_t *buf;
	ssize_t n;

	if (!c->connected) {
		n = send(c->fd, st->out + SECTX_KDC_PREFIX_LEN, st->out_len - SECTX_KDC_PREFIX_LEN,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		if (n != (ssize_t)(st->out_len - SECTX_KDC_PREFIX_LEN)) {
			kdc_conn_failed(req, c, n < 0 ? errno : EMSGSIZE);
			return;
		}
		c->connected = true;
		TEVENT_FD_NOT_WRITEABLE(c->fde);
		TEVENT_FD_READABLE(c->fde);
		return;
	}
	if (!(flags & TEVENT_FD_READ)) {
		return;
	}
	buf = talloc_size(c, SECTX_KDC_UDP_REPLY_MAX);
	if (buf == NULL) {
		kdc_conn_failed(req, c, ENOMEM);
		return;
	}
	n = recv(c->fd, buf, SECTX_KDC_UDP_REPLY_MAX, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		talloc_free(buf);
		return;
	}
	if (n <= 0) {
		/* ECONNREFUSED: the KDC's host said no (ICMP) */
		kdc_conn_failed(req, c, n < 0 ? errno : EPROTO);
		return;
	}
	kdc_answered(req, c, buf, (size_t)n);
}

static void kdc_conn_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *private_data)
{
	struct kdc_conn *c = private_data;
	struct tevent_req *req = talloc_get_type_abort(talloc_parent(c), struct tevent_req);
	struct kdc_state *st = c->st;
	uint8_t *buf;
	size_t want;
	ssize_t n;
	int ret;

	if (c->target->socktype == SOCK_DGRAM) {
		kdc_udp_io(req, c, flags);
		return;
	}
	if (!c->connected) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
			err = errno;
		}
		if (err != 0) {
			kdc_conn_failed(req, c, err);
			return;
		}
		if (!(flags & TEVENT_FD_WRITE)) {
			return; /* not connected yet */
		}
		c->connected = true;
	}
	if (c->out_off < st->out_len) {
		n = send(c->fd, st->out + c->out_off, st->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		if (n <= 0) {
			kdc_conn_failed(req, c, n < 0 ? errno : EPIPE);
			return;
		}
		c->out_off += (size_t)n;
		if (c->out_off == st->out_len) {
			TEVENT_FD_NOT_WRITEABLE(c->fde);
		}
		return;
	}
	if (!(flags & TEVENT_FD_READ)) {
		return;
	}
	sectx_kdc_reader_want(&c->rd, &buf, &want);
	n = recv(c->fd, buf, want, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0) {
		kdc_conn_failed(req, c, n < 0 ? errno : ECONNRESET);
		return;
	}
	ret = sectx_kdc_reader_got(c, &c->rd, (size_t)n);
	if (ret == -EPROTO) {
		SECTX_WARN("KDC %s announced a reply of %zu bytes; ignoring it", c->target->desc,
			   c->rd.in_len);
	}
	if (ret < 0) {
		kdc_conn_failed(req, c, -ret);
		return;
	}
	if (ret == 0) {
		return;
	}
	/* The first whole answer wins. */
	kdc_answered(req, c, c->rd.in, c->rd.in_len);
}

static void kdc_stagger(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct tevent_req *req = private_data;
	struct kdc_state *st = tevent_req_data(req, struct kdc_state);

	st->stagger = NULL;
	if (st->next < st->n_targets) {
		SECTX_DEBUG("no answer yet from %s; trying the next KDC too",
			    st->targets[st->next - 1].desc);
		kdc_start_next(req);
	}
}

/* Start an attempt on the next target (and arm the stagger timer). */
static void kdc_start_next(struct tevent_req *req)
{
	struct kdc_state *st = tevent_req_data(req, struct kdc_state);

	while (st->next < st->n_targets) {
		const struct sectx_kdc_target *t = &st->targets[st->next++];
		struct kdc_conn *c = talloc_zero(req, struct kdc_conn);

		if (c == NULL) {
			tevent_req_oom(req);
			return;
		}
		c->st = st;
		c->target = t;
		c->fd = socket(t->ss.ss_family, t->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		st->active++;
		talloc_set_destructor(c, kdc_conn_destructor);
		if (c->fd < 0 || (connect(c->fd, (const struct sockaddr *)&t->ss, t->len) != 0 &&
				  errno != EINPROGRESS)) {
			SECTX_DEBUG("KDC %s: %s", t->desc, strerror(errno));
			st->last_err = errno;
			talloc_free(c);
			continue; /* refused at once: straight to the next one */
		}
		/* TCP waits for readable too: tevent reports a socket error (a
		 * refused connect) only to a reader, and would otherwise leave
		 * this attempt hanging until the deadline */
		c->fde = tevent_add_fd(st->ev, c, c->fd,
				       t->socktype == SOCK_STREAM ? TEVENT_FD_READ | TEVENT_FD_WRITE
								  : TEVENT_FD_WRITE,
				       kdc_conn_handler, c);
		if (c->fde == NULL) {
			tevent_req_oom(req);
			return;
		}
		TALLOC_FREE(st->stagger);
		if (st->next < st->n_targets) {
			st->stagger = tevent_add_timer(
			    st->ev, st, tevent_timeval_current_ofs(0, SECTX_KDC_STAGGER_MS * 1000),
			    kdc_stagger, req);
		}
		return;
	}
	if (st->active == 0) {
		tevent_req_error(req, ECONNREFUSED);
	}
}

struct tevent_req *sectx_kdc_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectxd_krb5 *k, const krb5_data *realm,
				  const krb5_data *msg, bool tcp_only, int64_t deadline)
{
	struct tevent_req *req, *subreq;
	struct kdc_state *st;
	int64_t left = deadline - sectx_now_ms();
	int ret;

	req = tevent_req_create(mem_ctx, &st, struct kdc_state);
	if (req == NULL) {
		return NULL;
	}
	st->ev = ev;
	st->k = k;
	st->realm.length = realm->length;
	st->realm.data = talloc_memdup(st, realm->data, realm->length > 0 ? realm->length : 1);
	if (st->realm.data == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	if (left <= 0) {
		tevent_req_error(req, ETIMEDOUT);
		return tevent_req_post(req, ev);
	}
	if (!tevent_req_set_endtime(
		req, ev, tevent_timeval_current_ofs(left / 1000, (left % 1000) * 1000))) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	st->udp = !tcp_only && msg->length <= SECTX_KDC_UDP_MAX;
	ret = sectx_kdc_frame_encode(st, msg->data, msg->length, &st->out, &st->out_len);
	if (ret == -ENOMEM) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return tevent_req_post(req, ev);
	}
	subreq = sectx_kdc_list_send(st, ev, k, realm);
	if (subreq == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, kdc_listed, req);
	return req;
}

/* The realm's KDC addresses are known: start the first attempt. */
static void kdc_listed(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct kdc_state *st = tevent_req_data(req, struct kdc_state);
	struct sectx_kdc_target *list = NULL;
	size_t n = 0;
	int ret;

	ret = sectx_kdc_list_recv(subreq, st, &list, &n);
	talloc_free(subreq);
	if (ret == 0) {
		ret = kdc_attempts(st, st->k, list, n, st->udp, &st->targets, &st->n_targets);
		talloc_free(list);
	}
	if (ret == -ENOMEM) {
		tevent_req_oom(req);
		return;
	}
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	kdc_start_next(req);
}

int sectx_kdc_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, uint8_t **reply, size_t *reply_len)
{
	struct kdc_state *st = tevent_req_data(req, struct kdc_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		if (st->k->observer != NULL) {
			st->k->observer(st->k->observer_data, &st->realm, -err);
		}
		return -err;
	}
	if (st->k->observer != NULL) {
		st->k->observer(st->k->observer_data, &st->realm, 0);
	}
	*reply = talloc_steal(mem_ctx, st->reply);
	*reply_len = st->reply_len;
	return 0;
}

void sectx_kdc_set_observer(struct sectxd_krb5 *k, sectx_kdc_observer_fn fn, void *data)
{
	k->observer = fn;
	k->observer_data = fn != NULL ? data : NULL;
}
