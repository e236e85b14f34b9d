/*
 * core/dns_srv.h - DNS SRV records (RFC 2782): one query, and the order to
 * try the servers it names.  Used by the directory (_ldap._tcp) and the
 * login engine (_kerberos._tcp/_udp) when no server is configured.
 */
#ifndef SECTX_CORE_DNS_SRV_H
#define SECTX_CORE_DNS_SRV_H

#include <stddef.h>
#include <stdint.h>

#define SECTX_SRV_MAX 32u

/* One SRV record. */
struct sectx_srv {
	char target[256];
	uint16_t port, prio, weight;
};

/* Order v[n] for trying: by priority, lowest first; within one priority by
 * RFC 2782's weighted random choice, rnd(arg) giving the random numbers.
 * Records with target "." (service not offered) are moved to the end and
 * *n lowered past them. */
void sectx_srv_order(struct sectx_srv *v, size_t *n, uint32_t (*rnd)(void *), void *arg);

/* The SRV records of qname, at most max, in the order to try them
 * (sectx_srv_order with getrandom).  It BLOCKS on the resolver: call it on
 * a thread of its own, never on the loop.  0 with *n > 0; -EHOSTUNREACH (no
 * record, or none usable), -EIO (no resolver). */
int sectx_srv_query(const char *qname, struct sectx_srv *out, size_t max, size_t *n);

#endif
