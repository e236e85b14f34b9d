/*
 * ops/pam_int.h - what the PAM operation groups of sectxd share: the request
 * fields every PAM operation carries, who may act for a user, the principal
 * of a PAM user, the shape of a PAM reply, secrets and login handles taken
 * from a request (all defined in pam_common.c), and each group's handlers
 * for the op table in pam.c.  Every group (pam_auth.c, pam_account.c,
 * pam_password.c, pam_session.c, pam_tickets.c) applies the same
 * authorisation and the same user-name rules through these.
 *
 * Only helper/ops/ includes this.
 */
#ifndef SECTX_PAM_INT_H
#define SECTX_PAM_INT_H

#include <krb5.h>
#include <stdbool.h>
#include <talloc.h>
#include <tevent.h>

#include "core/daemon.h"
#include "server/server.h"

struct sectx_handle;

/* USER, SERVICE and the optional RHOST / HANDLE of a PAM request. */
struct pam_args {
	char user[SECTX_NAME_MAX + 1];
	char service[SECTX_NAME_MAX + 1];
	char rhost[SECTX_NAME_MAX + 1];
	char handle[SECTX_HANDLE_LEN + 1];
	bool has_handle;
	bool has_rhost;
};

/* --- pam_common.c ------------------------------------------------------------ */

/* Parse the fields of struct pam_args from req.  Returns true; on a
 * malformed request replies E_PROTO (req is then gone) and returns false. */
bool sectx_pam_parse_args(struct sectx_request *req, struct pam_args *a);

/* May the caller (req->uid) act for user?  Root may (the request is then
 * finished when this returns: tevent_req_is_in_progress() false); anyone
 * else only for its own user (local account, or a realm user mapped to its
 * uid: see identity_account_by_uid_send), which takes a lookup off the
 * loop.  NULL when out of memory. */
struct tevent_req *sectx_pam_may_act_for_send(TALLOC_CTX *mem_ctx, struct sectx_request *req,
					      const char *user);
/* 0 with *allowed (false for a uid neither source knows); -ETIMEDOUT,
 * -EBUSY, -ECANCELED: the passwd database could not be asked in time, so
 * it cannot be told (identity.h). */
int sectx_pam_may_act_for_recv(struct tevent_req *req, bool *allowed);

/* The rest of a PAM operation once its caller is authorised: returns as an
 * operation handler does (0, having replied or to reply later; or a
 * positive enum sectx_status for a reply with that status). */
typedef int (*sectx_pam_next_fn)(void *op);

/* Authorise req's caller for user (sectx_pam_may_act_for_send), then run
 * next(op): at once for root, inside this call; for anyone else from the
 * loop once the account is looked up.  op is the operation's state, a
 * talloc child of req (freed with it if the client goes).  Refused: a
 * warning "uid U pid P may not <what>; refused" unless what is NULL, and
 * E_PERM; not told in time: a warning and E_UNAVAIL.  Returns what a
 * handler returns: next's value when it ran at once, 0 when it will run
 * later, or a positive status for the server to reply with. */
int sectx_pam_authorise(struct sectx_request *req, void *op, const char *user, const char *what,
			sectx_pam_next_fn next);

/* The principal of a PAM user: user@REALM (the effective realm), or user as
 * given if it names that realm.  Returns 0 with *out (free with
 * krb5_free_principal); -ENOENT for a name that is not a user of the realm
 * ('/', ':', '\\', whitespace, another realm), -ENOMEM. */
int sectx_pam_user_principal(struct sectxd_ctx *hctx, const char *user, krb5_principal *out);

/* Reply with PAM_RESULT result, an optional string field extra_tag = extra
 * (a HANDLE, a CCACHE) and optional USER_INFO / USER_ERROR lines; frees req. */
void sectx_pam_reply(struct sectx_request *req, uint32_t result, uint16_t extra_tag,
		     const char *extra, const char *info, const char *error);

/* The password field tag of req, copied into a buffer on mem_ctx that is
 * scrubbed when freed.  Returns 0 with *out and *len; a SECTX_ERR_* code for
 * a missing field or one that is empty (unless allow_empty), longer than
 * SECTX_PASSWORD_MAX or holds a NUL; -ENOMEM. */
int sectx_pam_get_secret(TALLOC_CTX *mem_ctx, struct sectx_request *req, uint16_t tag,
			 bool allow_empty, char **out, size_t *len);

/* The login handle named in the request, checked against its user, service
 * and remote host; NULL (and a log line) if there is none or it does not
 * match.  The handle stays the credential store's. */
struct sectx_handle *sectx_pam_claimable_handle(struct sectx_request *req,
						const struct pam_args *a);

/* When the client of req stops waiting for its reply (monotonic ms): now
 * plus the TIMEOUT it sent (SECTX_CLIENT_TIMEOUT_DEFAULT_MS when absent or
 * malformed, at most SECTX_CLIENT_TIMEOUT_MAX_MS).  Call it as req arrives:
 * the bound of every throttle wait of the request (login.h). */
int64_t sectx_pam_client_deadline(const struct sectx_request *req);

/* --- the groups' handlers (the op table is pam.c's) ----------------------------- */

int sectx_pam_op_authenticate(struct sectx_request *req);  /* pam_auth.c */
int sectx_pam_op_acct_mgmt(struct sectx_request *req);	   /* pam_account.c */
int sectx_pam_op_chauthtok(struct sectx_request *req);	   /* pam_password.c */
int sectx_pam_op_setcred(struct sectx_request *req);	   /* pam_session.c */
int sectx_pam_op_open_session(struct sectx_request *req);  /* pam_session.c */
int sectx_pam_op_close_session(struct sectx_request *req); /* pam_session.c */

#endif /* SECTX_PAM_INT_H */
