/*
 * core/dns_srv.c - DNS SRV records (RFC 2782): the query (blocking: only on
 * threads of the directory's connection and of the KDC list) and the order
 * by priority and weight.
 *
 * Who reaches this: the directory source and the KDC list, with names made
 * of root's configuration or of a realm name (checked by the caller).  The
 * answers come from DNS: each record's target is uncompressed by libresolv
 * into a bounded buffer, and targets with characters no host name has are
 * dropped.
 */
#include "core/dns_srv.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void sectx_srv_order(struct sectx_srv *v, size_t *n, uint32_t (*rnd)(void *), void *arg)
{
	size_t i, j, start;

	/* "." targets out */
	for (i = 0, j = 0; i < *n; i++) {
		if (strcmp(v[i].target, ".") != 0 && v[i].target[0] != '\0') {
			struct sectx_srv t = v[j];

			v[j++] = v[i];
			v[i] = t;
		}
	}
	*n = j;
	/* by priority (insertion sort: a handful of records) */
	for (i = 1; i < *n; i++) {
		struct sectx_srv t = v[i];

		for (j = i; j > 0 && v[j - 1].prio > t.prio; j--) {
			v[j] = v[j - 1];
		}
		v[j] = t;
	}
	/* within a priority: repeatedly pick by weight among the rest */
	for (start = 0; start < *n; start = j) {
		for (j = start; j < *n && v[j].prio == v[start].prio; j++) {
		}
		for (i = start; i + 1 < j; i++) {
			uint64_t total = 0, pick, run = 0;
			size_t k;

			for (k = i; k < j; k++) {
				total +=
				    (uint64_t)v[k].weight + 1; /* weight 0 keeps a small chance */
			}
			pick = rnd(arg) % total;
			for (k = i; k < j; k++) {
				run += (uint64_t)v[k].weight + 1;
				if (pick < run) {
					break;
				}
			}
			if (k != i) {
				struct sectx_srv t = v[i];

				v[i] = v[k];
				v[k] = t;
			}
		}
	}
}

static uint32_t srv_random(void *arg)
{
	uint32_t r = 0;

	(void)arg;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		r = (uint32_t)time(NULL);
	}
	return r;
}

int sectx_srv_query(const char *qname, struct sectx_srv *out, size_t max, size_t *n)
{
	unsigned char answer[8192];
	struct __res_state rs;
	ns_msg msg;
	ns_rr rr;
	int len, i, count;

	*n = 0;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0) {
		return -EIO;
	}
	len = res_nquery(&rs, qname, ns_c_in, ns_t_srv, answer, sizeof(answer));
	res_nclose(&rs);
	if (len < 0 || ns_initparse(answer, len, &msg) != 0) {
		return -EHOSTUNREACH;
	}
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count && *n < max; i++) {
		const unsigned char *rd;
		struct sectx_srv *s = &out[*n];

		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv ||
		    ns_rr_rdlen(rr) < 7) {
			continue;
		}
		rd = ns_rr_rdata(rr);
		s->prio = (uint16_t)(rd[0] << 8 | rd[1]);
		s->weight = (uint16_t)(rd[2] << 8 | rd[3]);
		s->port = (uint16_t)(rd[4] << 8 | rd[5]);
		if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, s->target,
				       sizeof(s->target)) < 0 ||
		    strpbrk(s->target, " /\"'") != NULL) {
			continue;
		}
		(*n)++;
	}
	sectx_srv_order(out, n, srv_random, NULL);
	return *n == 0 ? -EHOSTUNREACH : 0;
}
