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

/* May the caller (req->uid) act for user?  Root may; anyone else only for
 * its own user (local account, or a realm user mapped to its uid: see
 * identity_account_by_uid).  False for a uid neither knows. */
bool sectx_pam_caller_may_act_for(const struct sectx_request *req, const char *user);

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
