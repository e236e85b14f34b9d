/*
 * helper_call.c - one PAM operation with the helper: build the request,
 * connect to pam.sock, exchange one frame under one deadline, check the
 * reply, relay its messages to the user, and turn its result into the PAM
 * code the calling group may return.
 *
 * A new connection per call (SO_PEERCRED is read at connect time, and the
 * caller may have forked or changed uid since the last call), closed before
 * pam_sectx_call returns on every path: a connection kept past the call would
 * carry the caller's credentials into whatever the process becomes (a login
 * service setuid()s to the user after pam_open_session).  Everything
 * the helper sends is checked by the codec before it is used, and a reply
 * we cannot act on fails closed.  The request buffer holds passwords and the
 * reply a login handle: both are scrubbed before they are freed.  This file
 * must never log a field of the request or the reply other than the escaped
 * user name and the helper's MESSAGE.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

#define RELAY_MAX_LINES 64u /* more USER_INFO/USER_ERROR lines are dropped */

int pam_sectx_req_new(const struct pam_sectx_ctx *c, uint16_t op, struct pam_sectx_req **out)
{
	struct pam_sectx_req *req = malloc(sizeof(*req));
	const void *rhost = NULL;

	*out = NULL;
	if (req == NULL) {
		return -ENOMEM;
	}
	/* Every request carries PAM_RHOST: a login handle is bound to the
	 * remote host it was issued for, and the helper checks it at claim. */
	if (pam_get_item(c->pamh, PAM_RHOST, &rhost) != PAM_SUCCESS || rhost == NULL) {
		rhost = "";
	}
	req->op = op;
	req->fd = -1;
	sectx_frame_begin(&req->w, req->buf, sizeof(req->buf), SECTX_PROTO_VERSION, op,
			  (uint32_t)getpid());
	sectx_put_string(&req->w, SECTX_TAG_USER, c->user);
	sectx_put_string(&req->w, SECTX_TAG_SERVICE, c->service);
	sectx_put_string(&req->w, SECTX_TAG_RHOST, rhost);
	/* how long we wait: the helper answers at once what it cannot in time */
	sectx_put_u32(&req->w, SECTX_TAG_TIMEOUT, c->opts.timeout_ms);
	*out = req;
	return 0;
}

void pam_sectx_req_free(struct pam_sectx_req *req)
{
	if (req != NULL) {
		explicit_bzero(req, sizeof(*req));
		free(req);
	}
}

/* How many bytes of a reply buffer the client can have written: the client
 * reads a header, then exactly the body it announces, and nothing more when
 * the announced length is out of bounds (common/client.c).  Scrubbing those
 * rather than the whole SECTX_FRAME_MAX buffer spares every call zeroing
 * (and faulting in) 128 KiB, which was most of the module's own CPU.  The
 * header's bytes must be zeroed before the call. */
static size_t reply_filled(const uint8_t *resp)
{
	struct sectx_hdr hdr;

	if (sectx_hdr_decode(resp, SECTX_HDR_LEN, &hdr) != 0) {
		return SECTX_HDR_LEN;
	}
	return hdr.length;
}

/* Statuses that say "not now" rather than "no". */
static bool status_unavailable(uint32_t status)
{
	return status == SECTX_E_BUSY || status == SECTX_E_SHUTDOWN || status == SECTX_E_TIMEOUT ||
	       status == SECTX_E_UNAVAIL;
}

/* Read an optional singular string field into out (outsz bytes, at most max
 * bytes of text).  0 with *present, or a SECTX_ERR_* code. */
static int optional_string(const struct sectx_msg *msg, uint16_t tag, char *out, size_t outsz,
			   size_t max, bool *present)
{
	struct sectx_field f;
	int ret = sectx_msg_find(msg, tag, &f);

	*present = false;
	out[0] = '\0';
	if (ret == SECTX_ERR_NOFIELD) {
		return 0;
	}
	if (ret != 0) {
		return ret;
	}
	ret = sectx_field_string(&f, out, outsz, max);
	if (ret == 0) {
		*present = true;
	}
	return ret;
}

/* Check every USER_INFO and USER_ERROR line before any is shown: a reply
 * with one bad line is refused whole.  0 or a SECTX_ERR_* code. */
static int check_lines(const struct sectx_msg *msg, char *line, size_t linesz)
{
	static const uint16_t tags[] = {SECTX_TAG_USER_INFO, SECTX_TAG_USER_ERROR};
	struct sectx_field f;
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t pos = 0;

		while (sectx_msg_next(msg, tags[i], &pos, &f) == 0) {
			int ret = sectx_field_string(&f, line, linesz, SECTX_STRING_MAX);

			if (ret != 0) {
				return ret;
			}
		}
	}
	return 0;
}

/* Show the (checked) lines in the order the helper sent them. */
static void relay_lines(const struct pam_sectx_ctx *c, const struct sectx_msg *msg, char *line,
			size_t linesz)
{
	struct sectx_field fi, fe;
	size_t pi = 0, pe = 0;
	bool has_i = sectx_msg_next(msg, SECTX_TAG_USER_INFO, &pi, &fi) == 0;
	bool has_e = sectx_msg_next(msg, SECTX_TAG_USER_ERROR, &pe, &fe) == 0;
	unsigned shown = 0;

	while (has_i || has_e) {
		/* pos is the offset just past the field found: smaller is earlier */
		bool info = has_i && (!has_e || pi < pe);
		const struct sectx_field *f = info ? &fi : &fe;

		if (shown == RELAY_MAX_LINES) {
			pam_syslog(c->pamh, LOG_WARNING,
				   "sectxd sent more than %u message lines: "
				   "the rest are not shown",
				   RELAY_MAX_LINES);
			break;
		}
		if (sectx_field_string(f, line, linesz, SECTX_STRING_MAX) == 0 &&
		    !(c->flags & PAM_SILENT)) {
			if (info) {
				pam_info(c->pamh, "%s", line);
			} else {
				pam_error(c->pamh, "%s", line);
			}
		}
		shown++;
		if (info) {
			has_i = sectx_msg_next(msg, SECTX_TAG_USER_INFO, &pi, &fi) == 0;
		} else {
			has_e = sectx_msg_next(msg, SECTX_TAG_USER_ERROR, &pe, &fe) == 0;
		}
	}
}

int pam_sectx_call(const struct pam_sectx_ctx *c, struct pam_sectx_req *req,
		   struct pam_sectx_reply *rep)
{
	struct sectx_conn conn = SECTX_CONN_INIT;
	struct sectx_msg msg;
	const char *opname = sectx_op_name(req->op);
	uint8_t *resp = NULL;
	char *line = NULL;
	char text[512];
	size_t reqlen = 0;
	uint32_t status = 0;
	int64_t deadline;
	bool present;
	int ret;

	memset(rep, 0, sizeof(*rep));
	rep->result = SECTX_PAM_SYSTEM_ERR;
	ret = sectx_frame_end(&req->w, &reqlen);
	if (ret != 0) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: cannot build the request: %s", opname,
			   c->user_log, sectx_strerror(ret));
		ret = -EINVAL;
		goto done;
	}
	resp = malloc(SECTX_FRAME_MAX);
	line = malloc(SECTX_STRING_MAX + 1);
	if (resp != NULL) {
		memset(resp, 0, SECTX_HDR_LEN); /* read by reply_filled even if no reply came */
	}
	if (resp == NULL || line == NULL) {
		pam_syslog(c->pamh, LOG_CRIT, "%s for %s: out of memory", opname, c->user_log);
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}

	deadline = sectx_deadline_after(c->opts.timeout_ms);
	ret = sectx_client_connect(c->opts.socket_dir, SECTX_PAM_SOCKET, deadline, &conn);
	if (ret != 0) {
		sectx_log_escape(c->opts.socket_dir, strlen(c->opts.socket_dir), text,
				 sizeof(text));
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: cannot reach sectxd at %s/%s: %s", opname,
			   c->user_log, text, SECTX_PAM_SOCKET, sectx_strerror(ret));
		ret = PAM_SECTX_UNREACHABLE;
		goto done;
	}
	ret = sectx_client_call_fd(&conn, req->buf, reqlen, req->fd, resp, SECTX_FRAME_MAX, &msg,
				   &status, deadline);
	if (ret != 0) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: no usable answer from sectxd: %s", opname,
			   c->user_log, sectx_strerror(ret));
		ret = PAM_SECTX_UNREACHABLE;
		goto done;
	}
	if (status != SECTX_OK) {
		struct sectx_field f;

		text[0] = '\0';
		if (sectx_msg_find(&msg, SECTX_TAG_MESSAGE, &f) == 0) {
			sectx_log_escape((const char *)f.value, f.len, text, sizeof(text));
		}
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: sectxd answered %s%s%s", opname,
			   c->user_log, sectx_status_name(status), text[0] ? ": " : "", text);
		ret = status_unavailable(status) ? PAM_SECTX_UNREACHABLE : PAM_SECTX_BADREPLY;
		goto done;
	}
	ret = sectx_msg_get_u32(&msg, SECTX_TAG_PAM_RESULT, &rep->result);
	if (ret != 0 || rep->result > SECTX_PAM_SYSTEM_ERR) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: sectxd sent no valid PAM result", opname,
			   c->user_log);
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	ret = optional_string(&msg, SECTX_TAG_HANDLE, rep->handle, sizeof(rep->handle),
			      SECTX_HANDLE_LEN, &present);
	if (ret != 0 || (present && !pam_sectx_handle_valid(rep->handle))) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: sectxd sent a malformed login handle",
			   opname, c->user_log);
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	rep->has_handle = present;
	ret = optional_string(&msg, SECTX_TAG_CCACHE, rep->ccache, sizeof(rep->ccache),
			      SECTX_STRING_MAX, &present);
	if (ret != 0 || (present && rep->ccache[0] == '\0')) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: sectxd sent a malformed ccache name",
			   opname, c->user_log);
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	rep->has_ccache = present;
	ret = check_lines(&msg, line, SECTX_STRING_MAX + 1);
	if (ret != 0) {
		pam_syslog(c->pamh, LOG_ERR, "%s for %s: sectxd sent a malformed message line: %s",
			   opname, c->user_log, sectx_strerror(ret));
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	relay_lines(c, &msg, line, SECTX_STRING_MAX + 1);
	ret = 0;
done:
	if (ret != 0) {
		explicit_bzero(rep->handle, sizeof(rep->handle));
		rep->has_handle = false;
		rep->has_ccache = false;
		rep->result = SECTX_PAM_SYSTEM_ERR;
	}
	sectx_client_close(&conn);
	if (resp != NULL) {
		explicit_bzero(resp, reply_filled(resp));
		free(resp);
	}
	free(line);
	return ret;
}

/* --- results ---------------------------------------------------------------- */

#define R(x) (1u << SECTX_PAM_##x)

/* What each group may return as it is, and what it returns when the helper
 * or the realm is unavailable and when the answer is anything else.  The
 * lists follow the Linux-PAM Module Writers' Guide for each function (one
 * row per group, kept as written). */
/* clang-format off */
static const struct {
	uint32_t allowed; /* bits of enum sectx_pam_result returned as the PAM code */
	int unavailable;
	int fail_closed;
} group_map[] = {
	[PAM_SECTX_GROUP_AUTH] = {
		R(SUCCESS) | R(AUTH_ERR) | R(CRED_INSUFFICIENT) | R(USER_UNKNOWN) | R(MAXTRIES),
		PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR },
	[PAM_SECTX_GROUP_ACCT] = {
		R(SUCCESS) | R(IGNORE) | R(AUTH_ERR) | R(USER_UNKNOWN) | R(NEW_AUTHTOK_REQD) |
		R(ACCT_EXPIRED) | R(PERM_DENIED),
		PAM_AUTHINFO_UNAVAIL, PAM_PERM_DENIED },
	[PAM_SECTX_GROUP_PASSWORD_PRELIM] = {
		R(SUCCESS) | R(IGNORE) | R(USER_UNKNOWN) | R(PERM_DENIED) | R(AUTHTOK_ERR) |
		R(AUTHTOK_RECOVERY_ERR),
		PAM_TRY_AGAIN, PAM_AUTHTOK_ERR },
	[PAM_SECTX_GROUP_PASSWORD_UPDATE] = {
		R(SUCCESS) | R(IGNORE) | R(USER_UNKNOWN) | R(PERM_DENIED) | R(AUTHTOK_ERR) |
		R(AUTHTOK_RECOVERY_ERR),
		PAM_AUTHTOK_ERR, PAM_AUTHTOK_ERR },
	[PAM_SECTX_GROUP_SETCRED] = {
		R(SUCCESS) | R(IGNORE) | R(USER_UNKNOWN) | R(CRED_ERR),
		PAM_CRED_UNAVAIL, PAM_CRED_ERR },
	[PAM_SECTX_GROUP_SESSION] = {
		R(SUCCESS) | R(IGNORE) | R(SESSION_ERR),
		PAM_SESSION_ERR, PAM_SESSION_ERR },
};
/* clang-format on */

/* enum sectx_pam_result -> the PAM code of the same name. */
static const int pam_code_of[] = {
    [SECTX_PAM_SUCCESS] = PAM_SUCCESS,
    [SECTX_PAM_IGNORE] = PAM_IGNORE,
    [SECTX_PAM_AUTH_ERR] = PAM_AUTH_ERR,
    [SECTX_PAM_USER_UNKNOWN] = PAM_USER_UNKNOWN,
    [SECTX_PAM_AUTHINFO_UNAVAIL] = PAM_AUTHINFO_UNAVAIL,
    [SECTX_PAM_CRED_INSUFFICIENT] = PAM_CRED_INSUFFICIENT,
    [SECTX_PAM_MAXTRIES] = PAM_MAXTRIES,
    [SECTX_PAM_NEW_AUTHTOK_REQD] = PAM_NEW_AUTHTOK_REQD,
    [SECTX_PAM_ACCT_EXPIRED] = PAM_ACCT_EXPIRED,
    [SECTX_PAM_PERM_DENIED] = PAM_PERM_DENIED,
    [SECTX_PAM_AUTHTOK_ERR] = PAM_AUTHTOK_ERR,
    [SECTX_PAM_AUTHTOK_RECOVERY_ERR] = PAM_AUTHTOK_RECOVERY_ERR,
    [SECTX_PAM_CRED_ERR] = PAM_CRED_ERR,
    [SECTX_PAM_SESSION_ERR] = PAM_SESSION_ERR,
    [SECTX_PAM_SYSTEM_ERR] = PAM_SYSTEM_ERR,
};

int pam_sectx_map_result(enum pam_sectx_group group, int call_ret, uint32_t rep_result,
			 const struct pam_sectx_opts *opts)
{
	size_t g = (size_t)group;

	if (g >= sizeof(group_map) / sizeof(group_map[0])) {
		return PAM_SYSTEM_ERR;
	}
	if (call_ret == PAM_SECTX_UNREACHABLE ||
	    (call_ret == 0 && rep_result == SECTX_PAM_AUTHINFO_UNAVAIL)) {
		return opts->ignore_authinfo_unavail ? PAM_IGNORE : group_map[g].unavailable;
	}
	if (call_ret != 0 || rep_result >= sizeof(pam_code_of) / sizeof(pam_code_of[0])) {
		return group_map[g].fail_closed;
	}
	if (rep_result == SECTX_PAM_USER_UNKNOWN && opts->ignore_unknown_user) {
		return PAM_IGNORE;
	}
	if (group == PAM_SECTX_GROUP_PASSWORD_PRELIM && rep_result == SECTX_PAM_AUTH_ERR) {
		return PAM_AUTHTOK_RECOVERY_ERR; /* the old password is wrong */
	}
	if (group_map[g].allowed & (1u << rep_result)) {
		return pam_code_of[rep_result];
	}
	return group_map[g].fail_closed;
}
