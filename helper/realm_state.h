/*
 * realm_state.h - is the realm reachable?  The helper's online/offline state
 * for its one realm, fed by every KDC exchange and by a background probe.
 *
 * The realm goes offline when an exchange ends because no KDC could be
 * reached (every attempt timed out or was refused); it comes back online on
 * the first answer from any KDC, whatever the answer says.  A KDC's error
 * reply (wrong password, unknown principal) is an answer: it never makes the
 * realm offline, so a wrong password can never be taken for "offline".
 * While offline, logins do not wait for the KDC timeout again: pam_ops.c
 * asks sectx_realm_is_offline() first, and a probe (an AS-REQ whose answer,
 * of any kind, is all that matters) runs after [offline] offline_probe,
 * doubling up to offline_probe_max.  Nothing here holds a secret.
 */
#ifndef SECTX_REALM_STATE_H
#define SECTX_REALM_STATE_H

#include <krb5.h>
#include <stdbool.h>

#include "sectxd.h"

struct sectxd_krb5;

/* An errno value from kdc_io that means no KDC could be reached (as opposed
 * to the helper's own failures such as ENOMEM or EMSGSIZE). */
bool sectx_realm_unreachable_error(int err);

/* A KDC exchange with realm has ended: err is 0 when a KDC answered
 * (k->last_kdc names it), else the errno value of sectx_kdc_recv.  Moves the
 * host's realm online or offline and (re)arms the probe.  An exchange with any
 * other realm changes nothing: users choose those (the TGT realm of a ccache
 * they pass), and "no KDC for realm X" must never put the host's realm
 * offline, where logins are checked against cached hashes only.  Safe before
 * the subsystem started (does nothing then). */
void sectx_realm_note(struct sectxd_krb5 *k, const krb5_data *realm, int err);

/* True while the realm is known to be unreachable. */
bool sectx_realm_is_offline(const struct sectxd_ctx *hctx);

/* A login wants the realm while it is offline: unless a probe is in flight
 * or one was sent less than offline_probe ago, probe now and restart the
 * backoff at offline_probe.  The login itself does not wait for the probe
 * (it is served offline); the next one is online if the KDC answered.  So a
 * realm that comes back is used again at the first logins after it, not
 * only when the backed-off timer (up to offline_probe_max) fires. */
void sectx_realm_wanted(struct sectxd_ctx *hctx);

extern const struct sectxd_subsystem sectxd_realm_subsystem;

#endif /* SECTX_REALM_STATE_H */
