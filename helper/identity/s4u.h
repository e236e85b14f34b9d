/*
 * identity/s4u.h - "does the realm know this principal?", asked with the
 * host key by S4U2Self in a killable worker process.
 *
 * An authenticated request: the helper's host principal (its keytab key)
 * asks the KDC for a ticket to itself on behalf of the user
 * (krb5_get_credentials_for_user with a plain, non-enterprise principal, so
 * libkrb5 sends no AS-REQ for the user).  Unlike an AS-REQ probe this is not
 * an oracle anyone can use, and it returns nothing crackable for principals
 * without preauthentication.  The KDC answers with a ticket (the principal
 * exists; a locked-out principal also exists) or C_PRINCIPAL_UNKNOWN.
 *
 * libkrb5's call blocks and cannot be cancelled, so it runs in a worker
 * process (no descriptor but its socket, dies with its parent); the event
 * loop only writes a request and waits for the answer with a deadline
 * (kdc_timeout), after which the worker is killed and replaced.  Workers are
 * forked by a small spawner process that sectxd forks once at start, before
 * any request has brought a password or ticket into its memory, so a
 * replacement never carries a copy of what sectxd learnt since.  One check
 * runs at a time; others queue (bounded) behind it.
 */
#ifndef SECTX_IDENTITY_S4U_H
#define SECTX_IDENTITY_S4U_H

#include <stdbool.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>

#define ID_S4U_QUEUE_MAX 256

struct id_s4u;

/* Set up the checker (the worker is forked at once, and again after each
 * kill).  keytab: its path; realm: the users' realm; host_principal: ""
 * for the first keytab entry of the realm.  0, -errno (fork, socketpair). */
int id_s4u_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev, const char *keytab,
		 const char *realm, const char *host_principal, uint64_t timeout_ms,
		 struct id_s4u **out);

/* Ask about principal (validated by the caller). */
struct tevent_req *id_s4u_check_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct id_s4u *s, const char *principal);
/* 0 with *exists; -ETIMEDOUT (no answer within the deadline: the worker was
 * killed), -EBUSY (queue full), -EHOSTUNREACH (the worker could not ask:
 * realm unreachable, no host key; *why says what), -EINVAL (not a principal
 * the worker can be asked about), -ENOMEM. */
int id_s4u_check_recv(struct tevent_req *req, bool *exists, const char **why);

/* Kill the worker (also done by talloc_free). */
void id_s4u_stop(struct id_s4u *s);

#endif /* SECTX_IDENTITY_S4U_H */
