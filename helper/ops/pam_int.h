/*
 * ops/pam_int.h - what the PAM operation groups of sectxd share: the request
 * fields every PAM operation carries, who may act for a user, the principal
 * of a PAM user, and the shape of a PAM reply.  Defined in pam_ops.c; used
 * by pam_gss_ops.c (authentication by existing tickets), so both apply the
 * same authorisation and the same user-name rules.
 */
#ifndef SECTX_PAM_OPS_H
#define SECTX_PAM_OPS_H

#include <krb5.h>
#include <stdbool.h>

#include "core/daemon.h"

/* USER, SERVICE and the optional RHOST / HANDLE of a PAM request. */
struct pam_args {
	char user[SECTX_NAME_MAX + 1];
	char service[SECTX_NAME_MAX + 1];
	char rhost[SECTX_NAME_MAX + 1];
	char handle[SECTX_HANDLE_LEN + 1];
	bool has_handle;
	bool has_rhost;
};

/* Parse the fields of struct pam_args from req.  Returns true; on a
 * malformed request replies E_PROTO (req is then gone) and returns false. */
bool sectx_pam_parse_args(struct sectx_request *req, struct pam_args *a);

/* May the caller (req->uid) act for user?  Root may; anyone else only for
 * its own user (local account, or a realm user mapped to its uid). */
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

#endif /* SECTX_PAM_OPS_H */
