/*
 * test_pam_helper_call.c - unit tests for the module's side of a helper
 * call (pam/helper_call.c, pam/handle.c): result mapping per PAM group,
 * login handle validation, and whole calls against a fake helper.
 *
 * The fake helper is a thread on a socket in a temp dir that answers one
 * request with a reply the test composes, and keeps the request so the test
 * can look at what the module sent.  The client trusts only a root server,
 * so the tests that need one run as root (as CI does) and skip otherwise.
 * Messages relayed to the user go through a real libpam handle
 * (pam_start_confdir) whose conversation records them.  pam_syslog is
 * wrapped (-Wl,--wrap=pam_syslog) so the test sees what the module logs.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "internal.h"
#include "proto.h"

#define HANDLE_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* --- pam_syslog, wrapped ---------------------------------------------------- */

static char logged[16384];

void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	size_t used = strlen(logged);
	va_list ap;

	(void)pamh;
	(void)priority;
	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
	used = strlen(logged);
	if (used + 1 < sizeof(logged)) {
		logged[used] = '\n';
		logged[used + 1] = '\0';
	}
}

/* --- result mapping --------------------------------------------------------- */

static const struct pam_sectx_opts no_opts;

static int map(enum pam_sectx_group g, uint32_t result)
{
	return pam_sectx_map_result(g, 0, result, &no_opts);
}

static void test_map_auth(void **state)
{
	const enum pam_sectx_group g = PAM_SECTX_GROUP_AUTH;

	assert_int_equal(map(g, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(g, SECTX_PAM_AUTH_ERR), PAM_AUTH_ERR);
	assert_int_equal(map(g, SECTX_PAM_USER_UNKNOWN), PAM_USER_UNKNOWN);
	assert_int_equal(map(g, SECTX_PAM_AUTHINFO_UNAVAIL), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(map(g, SECTX_PAM_CRED_INSUFFICIENT), PAM_CRED_INSUFFICIENT);
	assert_int_equal(map(g, SECTX_PAM_MAXTRIES), PAM_MAXTRIES);
	/* not an authenticate result: fail closed */
	assert_int_equal(map(g, SECTX_PAM_IGNORE), PAM_AUTH_ERR);
	assert_int_equal(map(g, SECTX_PAM_NEW_AUTHTOK_REQD), PAM_AUTH_ERR);
	assert_int_equal(map(g, SECTX_PAM_ACCT_EXPIRED), PAM_AUTH_ERR);
	assert_int_equal(map(g, SECTX_PAM_PERM_DENIED), PAM_AUTH_ERR);
	assert_int_equal(map(g, SECTX_PAM_SYSTEM_ERR), PAM_AUTH_ERR);
	assert_int_equal(map(g, 99), PAM_AUTH_ERR);
	assert_int_equal(map(g, UINT32_MAX), PAM_AUTH_ERR);
	/* helper unreachable vs. an answer we cannot act on (E_NOOP...) */
	assert_int_equal(pam_sectx_map_result(g, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(pam_sectx_map_result(g, PAM_SECTX_BADREPLY, SECTX_PAM_SUCCESS, &no_opts),
			 PAM_AUTH_ERR);
	assert_int_equal(pam_sectx_map_result(g, -EINVAL, SECTX_PAM_SUCCESS, &no_opts),
			 PAM_AUTH_ERR);
}

/* Whatever the helper says, pam_sm_authenticate returns only the codes the
 * Linux-PAM guide allows it (IGNORE only through the ignore_* options). */
static void test_map_auth_only_allowed_codes(void **state)
{
	static const int calls[] = {0, PAM_SECTX_UNREACHABLE, PAM_SECTX_BADREPLY, -EINVAL};
	size_t i;
	uint32_t r;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		for (r = 0; r < 40; r++) {
			int code =
			    pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, calls[i], r, &no_opts);

			assert_true(code == PAM_SUCCESS || code == PAM_AUTH_ERR ||
				    code == PAM_CRED_INSUFFICIENT || code == PAM_AUTHINFO_UNAVAIL ||
				    code == PAM_USER_UNKNOWN || code == PAM_MAXTRIES);
			assert_true(code != PAM_SUCCESS ||
				    (calls[i] == 0 && r == SECTX_PAM_SUCCESS));
		}
	}
}

static void test_map_acct(void **state)
{
	const enum pam_sectx_group g = PAM_SECTX_GROUP_ACCT;

	assert_int_equal(map(g, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(g, SECTX_PAM_IGNORE), PAM_IGNORE);
	assert_int_equal(map(g, SECTX_PAM_NEW_AUTHTOK_REQD), PAM_NEW_AUTHTOK_REQD);
	assert_int_equal(map(g, SECTX_PAM_ACCT_EXPIRED), PAM_ACCT_EXPIRED);
	assert_int_equal(map(g, SECTX_PAM_PERM_DENIED), PAM_PERM_DENIED);
	assert_int_equal(map(g, SECTX_PAM_USER_UNKNOWN), PAM_USER_UNKNOWN);
	assert_int_equal(map(g, SECTX_PAM_AUTHINFO_UNAVAIL), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(map(g, SECTX_PAM_SESSION_ERR), PAM_PERM_DENIED);
	assert_int_equal(map(g, 77), PAM_PERM_DENIED);
	assert_int_equal(pam_sectx_map_result(g, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(pam_sectx_map_result(g, PAM_SECTX_BADREPLY, 0, &no_opts), PAM_PERM_DENIED);
}

static void test_map_password(void **state)
{
	const enum pam_sectx_group p = PAM_SECTX_GROUP_PASSWORD_PRELIM;
	const enum pam_sectx_group u = PAM_SECTX_GROUP_PASSWORD_UPDATE;

	assert_int_equal(map(p, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(p, SECTX_PAM_IGNORE), PAM_IGNORE);
	assert_int_equal(map(p, SECTX_PAM_AUTH_ERR), PAM_AUTHTOK_RECOVERY_ERR);
	assert_int_equal(map(p, SECTX_PAM_AUTHTOK_RECOVERY_ERR), PAM_AUTHTOK_RECOVERY_ERR);
	assert_int_equal(map(p, SECTX_PAM_AUTHINFO_UNAVAIL), PAM_TRY_AGAIN);
	assert_int_equal(map(p, SECTX_PAM_MAXTRIES), PAM_AUTHTOK_ERR);
	assert_int_equal(pam_sectx_map_result(p, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_TRY_AGAIN);

	assert_int_equal(map(u, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(u, SECTX_PAM_AUTHTOK_ERR), PAM_AUTHTOK_ERR);
	assert_int_equal(map(u, SECTX_PAM_AUTHTOK_RECOVERY_ERR), PAM_AUTHTOK_RECOVERY_ERR);
	assert_int_equal(map(u, SECTX_PAM_PERM_DENIED), PAM_PERM_DENIED);
	assert_int_equal(map(u, SECTX_PAM_AUTH_ERR), PAM_AUTHTOK_ERR);
	assert_int_equal(pam_sectx_map_result(u, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_AUTHTOK_ERR);
	assert_int_equal(pam_sectx_map_result(u, PAM_SECTX_BADREPLY, 0, &no_opts), PAM_AUTHTOK_ERR);
}

static void test_map_setcred_and_session(void **state)
{
	const enum pam_sectx_group c = PAM_SECTX_GROUP_SETCRED;
	const enum pam_sectx_group s = PAM_SECTX_GROUP_SESSION;

	assert_int_equal(map(c, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(c, SECTX_PAM_IGNORE), PAM_IGNORE);
	assert_int_equal(map(c, SECTX_PAM_CRED_ERR), PAM_CRED_ERR);
	assert_int_equal(map(c, SECTX_PAM_AUTHINFO_UNAVAIL), PAM_CRED_UNAVAIL);
	assert_int_equal(map(c, SECTX_PAM_PERM_DENIED), PAM_CRED_ERR);
	assert_int_equal(pam_sectx_map_result(c, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_CRED_UNAVAIL);
	assert_int_equal(pam_sectx_map_result(c, PAM_SECTX_BADREPLY, 0, &no_opts), PAM_CRED_ERR);

	assert_int_equal(map(s, SECTX_PAM_SUCCESS), PAM_SUCCESS);
	assert_int_equal(map(s, SECTX_PAM_IGNORE), PAM_IGNORE);
	assert_int_equal(map(s, SECTX_PAM_SESSION_ERR), PAM_SESSION_ERR);
	assert_int_equal(map(s, SECTX_PAM_PERM_DENIED), PAM_SESSION_ERR); /* e.g. another user */
	assert_int_equal(map(s, SECTX_PAM_AUTH_ERR), PAM_SESSION_ERR);
	assert_int_equal(pam_sectx_map_result(s, PAM_SECTX_UNREACHABLE, 0, &no_opts),
			 PAM_SESSION_ERR);
	assert_int_equal(pam_sectx_map_result(s, PAM_SECTX_BADREPLY, 0, &no_opts), PAM_SESSION_ERR);
	assert_int_equal(pam_sectx_map_result((enum pam_sectx_group)42, 0, 0, &no_opts),
			 PAM_SYSTEM_ERR);
}

static void test_map_ignore_options(void **state)
{
	struct pam_sectx_opts o;

	memset(&o, 0, sizeof(o));
	o.ignore_unknown_user = true;
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, 0, SECTX_PAM_USER_UNKNOWN, &o),
			 PAM_IGNORE);
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_ACCT, 0, SECTX_PAM_USER_UNKNOWN, &o),
			 PAM_IGNORE);
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, 0, SECTX_PAM_AUTH_ERR, &o),
			 PAM_AUTH_ERR);
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, PAM_SECTX_UNREACHABLE, 0, &o),
			 PAM_AUTHINFO_UNAVAIL);

	memset(&o, 0, sizeof(o));
	o.ignore_authinfo_unavail = true;
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, PAM_SECTX_UNREACHABLE, 0, &o),
			 PAM_IGNORE);
	assert_int_equal(
	    pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, 0, SECTX_PAM_AUTHINFO_UNAVAIL, &o),
	    PAM_IGNORE);
	assert_int_equal(
	    pam_sectx_map_result(PAM_SECTX_GROUP_SESSION, PAM_SECTX_UNREACHABLE, 0, &o),
	    PAM_IGNORE);
	/* an answer we cannot act on is not "unavailable": still fail closed */
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, PAM_SECTX_BADREPLY, 0, &o),
			 PAM_AUTH_ERR);
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, 0, SECTX_PAM_USER_UNKNOWN, &o),
			 PAM_USER_UNKNOWN);
}

/* --- handles ------------------------------------------------------------------ */

static void test_handle_valid(void **state)
{
	char h[SECTX_HANDLE_LEN + 2];

	assert_true(pam_sectx_handle_valid(HANDLE_A));
	assert_true(pam_sectx_handle_valid(
	    "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"));
	assert_false(pam_sectx_handle_valid(NULL));
	assert_false(pam_sectx_handle_valid(""));
	assert_false(pam_sectx_handle_valid("abc"));

	memcpy(h, HANDLE_A, SECTX_HANDLE_LEN + 1);
	h[SECTX_HANDLE_LEN - 1] = '\0'; /* 63 digits */
	assert_false(pam_sectx_handle_valid(h));

	memcpy(h, HANDLE_A, SECTX_HANDLE_LEN);
	h[SECTX_HANDLE_LEN] = 'a'; /* 65 digits */
	h[SECTX_HANDLE_LEN + 1] = '\0';
	assert_false(pam_sectx_handle_valid(h));

	memcpy(h, HANDLE_A, SECTX_HANDLE_LEN + 1);
	h[10] = 'g';
	assert_false(pam_sectx_handle_valid(h));
	h[10] = ' ';
	assert_false(pam_sectx_handle_valid(h));
	h[10] = '/';
	assert_false(pam_sectx_handle_valid(h));
}

/* --- a fake helper -------------------------------------------------------------- */

enum reply_kind {
	R_STATUS,      /* STATUS only (with status) */
	R_SUCCESS,     /* OK, PAM_RESULT SUCCESS, HANDLE, CCACHE, info/error lines */
	R_RESULT,      /* OK, PAM_RESULT result */
	R_NO_RESULT,   /* OK without PAM_RESULT */
	R_BAD_HANDLE,  /* OK, SUCCESS, a 63-digit handle */
	R_BAD_LINE,    /* OK, AUTH_ERR, a USER_ERROR line with a control character */
	R_TWO_HANDLES, /* OK, SUCCESS, HANDLE twice */
	R_SILENT,      /* read the request, never answer */
};

struct fake {
	char dir[64];
	int lfd;
	enum reply_kind kind;
	uint32_t status;
	uint32_t result;
	pthread_t thread;
	uint8_t req[SECTX_FRAME_MAX];
	size_t req_len;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	static const char bad_line[] = "bad\x01line";
	uint8_t buf[4096];
	struct sectx_hdr h;
	struct sectx_wbuf w;
	size_t len = 0;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0) {
		return NULL;
	}
	if (recv(fd, f->req, SECTX_HDR_LEN, MSG_WAITALL) != SECTX_HDR_LEN ||
	    sectx_hdr_decode(f->req, SECTX_HDR_LEN, &h) != 0 ||
	    (h.length > SECTX_HDR_LEN &&
	     recv(fd, f->req + SECTX_HDR_LEN, h.length - SECTX_HDR_LEN, MSG_WAITALL) !=
		 (ssize_t)(h.length - SECTX_HDR_LEN))) {
		close(fd);
		return NULL;
	}
	f->req_len = h.length;
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_PROTO_VERSION, h.op | SECTX_OP_REPLY,
			  h.reqid);
	sectx_put_u32(&w, SECTX_TAG_STATUS, f->kind == R_STATUS ? f->status : SECTX_OK);
	switch (f->kind) {
	case R_STATUS:
		sectx_put_string(&w, SECTX_TAG_MESSAGE, "not served");
		break;
	case R_SUCCESS:
		sectx_put_string(&w, SECTX_TAG_USER_INFO, "first info");
		sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, SECTX_PAM_SUCCESS);
		sectx_put_string(&w, SECTX_TAG_USER_ERROR, "then an error");
		sectx_put_string(&w, SECTX_TAG_HANDLE, HANDLE_A);
		sectx_put_string(&w, SECTX_TAG_USER_INFO, "last info");
		sectx_put_string(&w, SECTX_TAG_CCACHE, "FILE:/tmp/krb5cc_1000_abc");
		break;
	case R_RESULT:
		sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, f->result);
		sectx_put_string(&w, SECTX_TAG_USER_ERROR, "Authentication failed");
		break;
	case R_NO_RESULT:
		sectx_put_string(&w, SECTX_TAG_HANDLE, HANDLE_A);
		break;
	case R_BAD_HANDLE:
		sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, SECTX_PAM_SUCCESS);
		sectx_put_bytes(&w, SECTX_TAG_HANDLE, HANDLE_A, SECTX_HANDLE_LEN - 1);
		break;
	case R_BAD_LINE:
		sectx_put_string(&w, SECTX_TAG_USER_INFO, "a fine line");
		sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, SECTX_PAM_AUTH_ERR);
		sectx_put_bytes(&w, SECTX_TAG_USER_ERROR, bad_line, sizeof(bad_line) - 1);
		break;
	case R_TWO_HANDLES:
		sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, SECTX_PAM_SUCCESS);
		sectx_put_string(&w, SECTX_TAG_HANDLE, HANDLE_A);
		sectx_put_string(&w, SECTX_TAG_HANDLE, HANDLE_A);
		break;
	case R_SILENT:
		break;
	}
	if (f->kind != R_SILENT && sectx_frame_end(&w, &len) == 0) {
		(void)!send(fd, buf, len, MSG_NOSIGNAL);
	}
	/* hold the connection until the client closes it */
	while (recv(fd, buf, sizeof(buf), 0) > 0) {
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, enum reply_kind kind)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	memset(f, 0, sizeof(*f));
	f->kind = kind;
	strcpy(f->dir, "/tmp/sectx-test-pam-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", f->dir, SECTX_PAM_SOCKET);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	char path[128];

	pthread_join(f->thread, NULL);
	close(f->lfd);
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECTX_PAM_SOCKET);
	unlink(path);
	rmdir(f->dir);
}

/* --- a libpam handle whose conversation records messages ------------------- */

struct world {
	char confdir[64];
	pam_handle_t *pamh;
	char said[4096]; /* "I:text\n" and "E:text\n" lines */
	struct pam_sectx_ctx ctx;
};

static int record_conv(int n, const struct pam_message **msg, struct pam_response **resp,
		       void *appdata)
{
	struct world *wd = appdata;
	int i;

	for (i = 0; i < n; i++) {
		size_t used = strlen(wd->said);

		snprintf(wd->said + used, sizeof(wd->said) - used, "%s:%s\n",
			 msg[i]->msg_style == PAM_TEXT_INFO   ? "I"
			 : msg[i]->msg_style == PAM_ERROR_MSG ? "E"
							      : "?",
			 msg[i]->msg);
	}
	*resp = NULL;
	return PAM_SUCCESS;
}

static int world_setup(void **state)
{
	struct world *wd = calloc(1, sizeof(*wd));
	struct pam_conv conv = {record_conv, NULL};
	char path[128];
	FILE *fp;

	assert_non_null(wd);
	conv.appdata_ptr = wd;
	strcpy(wd->confdir, "/tmp/sectx-test-pamconf-XXXXXX");
	assert_non_null(mkdtemp(wd->confdir));
	snprintf(path, sizeof(path), "%s/sectx-unit", wd->confdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("auth required pam_permit.so\n", fp);
	fclose(fp);
	assert_int_equal(pam_start_confdir("sectx-unit", "alice", &conv, wd->confdir, &wd->pamh),
			 PAM_SUCCESS);
	wd->ctx.pamh = wd->pamh;
	wd->ctx.user = "alice";
	wd->ctx.service = "sectx-unit";
	strcpy(wd->ctx.user_log, "alice");
	strcpy(wd->ctx.service_log, "sectx-unit");
	logged[0] = '\0';
	*state = wd;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *wd = *state;
	char path[128];

	pam_end(wd->pamh, PAM_SUCCESS);
	snprintf(path, sizeof(path), "%s/sectx-unit", wd->confdir);
	unlink(path);
	rmdir(wd->confdir);
	free(wd);
	return 0;
}

static void root_or_skip(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the client trusts only a root server; run as root\n");
		skip();
	}
}

/* One PAM_AUTHENTICATE call with password "pw" against a fake of kind. */
static int call_fake(struct world *wd, struct fake *f, enum reply_kind kind, uint32_t status,
		     uint32_t result, int flags, struct pam_sectx_reply *rep)
{
	struct pam_sectx_req *req = NULL;
	int ret;

	fake_start(f, kind);
	f->status = status;
	f->result = result;
	wd->ctx.flags = flags;
	pam_sectx_opts_parse(NULL, 0, NULL, &wd->ctx.opts);
	wd->ctx.opts.socket_dir = f->dir;
	wd->ctx.opts.timeout_ms = 300;
	assert_int_equal(pam_sectx_req_new(&wd->ctx, SECTX_OP_PAM_AUTHENTICATE, &req), 0);
	sectx_put_bytes(&req->w, SECTX_TAG_PASSWORD, "pw", 2); /* RHOST: pam_sectx_req_new */
	sectx_put_string(&req->w, SECTX_TAG_TTY, "pts/1");
	ret = pam_sectx_call(&wd->ctx, req, rep);
	pam_sectx_req_free(req);
	fake_stop(f);
	return ret;
}

static void test_call_success_relays_lines_in_order(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct sectx_msg msg;
	const uint8_t *pw;
	size_t pwlen;
	char s[SECTX_NAME_MAX + 1];
	struct fake f;

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_SUCCESS, 0, 0, 0, &rep), 0);
	assert_int_equal(rep.result, SECTX_PAM_SUCCESS);
	assert_true(rep.has_handle);
	assert_string_equal(rep.handle, HANDLE_A);
	assert_true(rep.has_ccache);
	assert_string_equal(rep.ccache, "FILE:/tmp/krb5cc_1000_abc");
	assert_string_equal(wd->said, "I:first info\nE:then an error\nI:last info\n");

	/* what the module sent */
	assert_int_equal(sectx_msg_parse(f.req, f.req_len, &msg), 0);
	assert_int_equal(msg.hdr.op, SECTX_OP_PAM_AUTHENTICATE);
	assert_int_equal(msg.hdr.version, SECTX_PROTO_VERSION);
	assert_int_equal(sectx_msg_get_string(&msg, SECTX_TAG_USER, s, sizeof(s), SECTX_NAME_MAX),
			 0);
	assert_string_equal(s, "alice");
	assert_int_equal(
	    sectx_msg_get_string(&msg, SECTX_TAG_SERVICE, s, sizeof(s), SECTX_NAME_MAX), 0);
	assert_string_equal(s, "sectx-unit");
	assert_int_equal(sectx_msg_get_bytes(&msg, SECTX_TAG_PASSWORD, &pw, &pwlen), 0);
	assert_int_equal(pwlen, 2);
	assert_memory_equal(pw, "pw", 2);
	assert_int_equal(sectx_msg_get_string(&msg, SECTX_TAG_RHOST, s, sizeof(s), SECTX_NAME_MAX),
			 0);
	assert_string_equal(s, "");
}

static void test_call_silent_shows_nothing(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_SUCCESS, 0, 0, PAM_SILENT, &rep), 0);
	assert_int_equal(rep.result, SECTX_PAM_SUCCESS);
	assert_string_equal(wd->said, "");
}

static void test_call_result_is_returned(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_RESULT, 0, SECTX_PAM_AUTH_ERR, 0, &rep), 0);
	assert_int_equal(rep.result, SECTX_PAM_AUTH_ERR);
	assert_false(rep.has_handle);
	assert_string_equal(wd->said, "E:Authentication failed\n");
}

/* A helper that does not know the PAM operations answers E_NOOP: the call
 * is refused, and authenticate fails closed (AUTH_ERR, not "unavailable"). */
static void test_call_noop_fails_closed(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;
	int ret;

	root_or_skip();
	ret = call_fake(wd, &f, R_STATUS, SECTX_E_NOOP, 0, 0, &rep);
	assert_int_equal(ret, PAM_SECTX_BADREPLY);
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, ret, rep.result, &wd->ctx.opts),
			 PAM_AUTH_ERR);
	assert_false(rep.has_handle);
	assert_non_null(strstr(logged, "operation not supported"));
	assert_non_null(strstr(logged, "not served"));
}

static void test_call_busy_is_unreachable(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_STATUS, SECTX_E_BUSY, 0, 0, &rep),
			 PAM_SECTX_UNREACHABLE);
	assert_int_equal(call_fake(wd, &f, R_STATUS, SECTX_E_SHUTDOWN, 0, 0, &rep),
			 PAM_SECTX_UNREACHABLE);
	assert_int_equal(call_fake(wd, &f, R_STATUS, SECTX_E_PERM, 0, 0, &rep), PAM_SECTX_BADREPLY);
	assert_int_equal(call_fake(wd, &f, R_STATUS, SECTX_E_INTERNAL, 0, 0, &rep),
			 PAM_SECTX_BADREPLY);
}

static void test_call_bad_replies_are_refused(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_NO_RESULT, 0, 0, 0, &rep), PAM_SECTX_BADREPLY);
	assert_false(rep.has_handle);
	assert_int_equal(call_fake(wd, &f, R_RESULT, 0, 99, 0, &rep), PAM_SECTX_BADREPLY);
	assert_int_equal(call_fake(wd, &f, R_BAD_HANDLE, 0, 0, 0, &rep), PAM_SECTX_BADREPLY);
	assert_false(rep.has_handle);
	assert_int_equal(call_fake(wd, &f, R_TWO_HANDLES, 0, 0, 0, &rep), PAM_SECTX_BADREPLY);
	assert_false(rep.has_handle);
	wd->said[0] = '\0';
	assert_int_equal(call_fake(wd, &f, R_BAD_LINE, 0, 0, 0, &rep), PAM_SECTX_BADREPLY);
	/* refused whole: not even the good line was shown */
	assert_string_equal(wd->said, "");
}

static void test_call_silent_helper_times_out(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_reply rep;
	struct fake f;
	int64_t start = sectx_now_ms();

	root_or_skip();
	assert_int_equal(call_fake(wd, &f, R_SILENT, 0, 0, 0, &rep), PAM_SECTX_UNREACHABLE);
	/* timeout is 300 ms: generous bound, this only proves nothing hangs */
	assert_true(sectx_now_ms() - start < 3000);
	assert_true(sectx_now_ms() - start >= 250);
}

static void test_call_without_helper_is_unreachable_at_once(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_req *req = NULL;
	struct pam_sectx_reply rep;
	int64_t start;

	pam_sectx_opts_parse(NULL, 0, NULL, &wd->ctx.opts);
	wd->ctx.opts.socket_dir = "/nonexistent/sectx-test";
	assert_int_equal(pam_sectx_req_new(&wd->ctx, SECTX_OP_PAM_ACCT_MGMT, &req), 0);
	sectx_put_string(&req->w, SECTX_TAG_HANDLE, HANDLE_A);
	start = sectx_now_ms();
	assert_int_equal(pam_sectx_call(&wd->ctx, req, &rep), PAM_SECTX_UNREACHABLE);
	assert_true(sectx_now_ms() - start < 1000); /* not the 10 s deadline */
	pam_sectx_req_free(req);
	assert_non_null(strstr(logged, "cannot reach sectxd at /nonexistent/sectx-test/pam.sock"));
	assert_int_equal(
	    pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, PAM_SECTX_UNREACHABLE, 0, &wd->ctx.opts),
	    PAM_AUTHINFO_UNAVAIL);
}

/* A field that is not a valid string is never sent (the codec refuses it). */
static void test_invalid_request_string_is_not_sent(void **state)
{
	struct world *wd = *state;
	struct pam_sectx_req *req = NULL;
	struct pam_sectx_reply rep;

	pam_sectx_opts_parse(NULL, 0, NULL, &wd->ctx.opts);
	wd->ctx.opts.socket_dir = "/nonexistent/sectx-test";
	assert_int_equal(pam_sectx_req_new(&wd->ctx, SECTX_OP_PAM_AUTHENTICATE, &req), 0);
	sectx_put_string(&req->w, SECTX_TAG_TTY, "bad\ntty");
	assert_int_equal(pam_sectx_call(&wd->ctx, req, &rep), -EINVAL);
	pam_sectx_req_free(req);
	assert_non_null(strstr(logged, "cannot build the request"));
	assert_int_equal(pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, -EINVAL, 0, &wd->ctx.opts),
			 PAM_AUTH_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_auth),
	    cmocka_unit_test(test_map_auth_only_allowed_codes),
	    cmocka_unit_test(test_map_acct),
	    cmocka_unit_test(test_map_password),
	    cmocka_unit_test(test_map_setcred_and_session),
	    cmocka_unit_test(test_map_ignore_options),
	    cmocka_unit_test(test_handle_valid),
	    cmocka_unit_test_setup_teardown(test_call_success_relays_lines_in_order, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_silent_shows_nothing, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_result_is_returned, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_noop_fails_closed, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_busy_is_unreachable, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_bad_replies_are_refused, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_silent_helper_times_out, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_call_without_helper_is_unreachable_at_once,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_request_string_is_not_sent, world_setup,
					    world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
