/*
 * tests/unit/test_pam_ops.c - the checks every PAM operation of sectxd makes
 * before anything else (helper/ops/pam_common.c): the request's USER,
 * SERVICE, RHOST and HANDLE fields (sectx_pam_parse_args), how long its
 * client waits (sectx_pam_client_deadline: the TIMEOUT it sends, bounded, a
 * default without it) and who may act for a user (sectx_pam_may_act_for_send,
 * sectx_pam_authorise), with the account resolver it relies on
 * (helper/identity/account.c: local passwd first, on its lookup threads, then
 * the identity store), on a real tevent loop.
 *
 * Built with pam_common.c and the resolver's files only.  What they call
 * outside that is doubled here: the server's replies (recorded), the
 * credential store (no handles), the identity store (a fixed realm user
 * table), and the local passwd database (getpwnam_r / getpwuid_r, through
 * -Wl,--wrap, a fixed table; uid 4444 answers only after SLOW_MS, like a
 * remote source that does not answer in time).
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "identity/identity.h"
#include "identity/identity_int.h"
#include "log.h"
#include "ops/pam_int.h"
#include "proto.h"
#include "server/server.h"
#include "sessions/sessions.h"

/* --- test doubles ----------------------------------------------------------------- */

/* The local passwd database. */
struct fake_pw {
	const char *name;
	uid_t uid;
	gid_t gid;
};
static const struct fake_pw local_users[] = {
    {"root", 0, 0},
    {"alice", 1000, 1000},
    {"bob", 1001, 1001},
    {"slowpoke", 4444, 4444},
};

#define CLIENT_TIMEOUT_MS 200 /* account lookups give up after half of it */
#define SLOW_MS		  400 /* how long uid 4444 takes to answer */

static int fill_pw(const struct fake_pw *f, struct passwd *pw, char *buf, size_t buflen,
		   struct passwd **res)
{
	size_t n = strlen(f->name) + 1;

	if (buflen < n + 2) {
		return ERANGE;
	}
	memset(pw, 0, sizeof(*pw));
	memcpy(buf, f->name, n);
	buf[n] = '\0';
	pw->pw_name = buf;
	pw->pw_passwd = buf + n;
	pw->pw_gecos = buf + n;
	pw->pw_dir = buf + n; /* "" */
	pw->pw_shell = buf + n;
	pw->pw_uid = f->uid;
	pw->pw_gid = f->gid;
	*res = pw;
	return 0;
}

int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
		      struct passwd **res);
int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
		      struct passwd **res)
{
	*res = NULL;
	for (size_t i = 0; i < sizeof(local_users) / sizeof(local_users[0]); i++) {
		if (strcmp(local_users[i].name, name) == 0) {
			return fill_pw(&local_users[i], pw, buf, buflen, res);
		}
	}
	return 0;
}

int __wrap_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, struct passwd **res);
int __wrap_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, struct passwd **res)
{
	if (uid == 4444) {
		struct timespec ts = {SLOW_MS / 1000, (SLOW_MS % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	*res = NULL;
	for (size_t i = 0; i < sizeof(local_users) / sizeof(local_users[0]); i++) {
		if (local_users[i].uid == uid) {
			return fill_pw(&local_users[i], pw, buf, buflen, res);
		}
	}
	return 0;
}

/* The identity store: realm users mapped by sectxd.  "mallory" holds uid
 * 1000 too, which only the local passwd database may answer (it is asked
 * first). */
static const struct id_user realm_users[] = {
    {.principal = "carol@EXAMPLE.ORG",
     .display = "carol",
     .alias = "carol@EXAMPLE.ORG",
     .home = "/home/carol",
     .uid = 70001,
     .gid = 70001},
    {.principal = "dave@EXAMPLE.ORG",
     .display = "dave@EXAMPLE.ORG",
     .alias = NULL,
     .home = NULL,
     .uid = 70002,
     .gid = 70002},
    {.principal = "mallory@EXAMPLE.ORG",
     .display = "mallory",
     .alias = "alice",
     .home = "/home/mallory",
     .uid = 1000,
     .gid = 1000},
    {.principal = "eve@EXAMPLE.ORG",
     .display = "eve",
     .alias = NULL,
     .home = "/home/eve",
     .uid = 4444,
     .gid = 4444},
};
static int store_asked; /* lookups the store answered or refused */

struct id_store *identity_store(struct sectxd_ctx *hctx)
{
	(void)hctx;
	return (struct id_store *)(uintptr_t)1; /* never dereferenced here */
}

enum id_result id_store_user_by_uid(struct id_store *st, uint32_t uid, int64_t now,
				    bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	store_asked++;
	for (size_t i = 0; i < sizeof(realm_users) / sizeof(realm_users[0]); i++) {
		if (realm_users[i].uid == uid) {
			lk->user = &realm_users[i];
			return ID_FOUND;
		}
	}
	return ID_NOTFOUND;
}

enum id_result id_store_user_by_name(struct id_store *st, const char *name, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	store_asked++;
	for (size_t i = 0; i < sizeof(realm_users) / sizeof(realm_users[0]); i++) {
		if (strcmp(realm_users[i].display, name) == 0 ||
		    (realm_users[i].alias != NULL && strcmp(realm_users[i].alias, name) == 0)) {
			lk->user = &realm_users[i];
			return ID_FOUND;
		}
	}
	return ID_NOTFOUND;
}

enum id_result id_store_groups_of(struct id_store *st, const char *name, const uint32_t **gids,
				  size_t *n)
{
	static const uint32_t carol_groups[] = {80001, 80002};

	(void)st;
	if (strcmp(name, "carol") == 0) {
		*gids = carol_groups;
		*n = 2;
		return ID_FOUND;
	}
	*gids = NULL;
	*n = 0;
	return ID_NOTFOUND;
}

enum id_result id_store_group_by_gid(struct id_store *st, uint32_t gid, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)gid;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	return ID_NOTFOUND;
}

/* The realm is never asked here (identity_account_send is not under test). */
struct tevent_req *identity_lookup_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					enum identity_kind kind, const char *name, uint32_t id,
					uid_t caller)
{
	(void)mem_ctx;
	(void)hctx;
	(void)kind;
	(void)name;
	(void)id;
	(void)caller;
	fail_msg("identity_lookup_send called");
	return NULL;
}

int identity_lookup_recv(struct tevent_req *req, struct id_lookup *lk, uint32_t *ttl)
{
	(void)req;
	(void)lk;
	(void)ttl;
	fail_msg("identity_lookup_recv called");
	return -ENOENT;
}

/* The server: replies are recorded, not sent. */
static int n_replies;
static uint32_t last_status;

void sectx_request_reply_status(struct sectx_request *req, uint32_t status, const char *msg)
{
	(void)req;
	(void)msg;
	n_replies++;
	last_status = status;
}

int sectx_request_reply_begin(struct sectx_request *req, size_t cap, struct sectx_wbuf *w)
{
	(void)req;
	(void)cap;
	(void)w;
	return -ENOMEM;
}

void sectx_request_reply(struct sectx_request *req, struct sectx_wbuf *w)
{
	(void)req;
	(void)w;
	n_replies++;
}

void sectx_request_on_finish(struct sectx_request *req,
			     void (*fn)(struct sectx_request *req, void *data), void *data)
{
	req->on_finish = fn;
	req->on_finish_data = data;
}

void sectx_request_log_call(struct sectx_request *req, const char *fmt, ...)
{
	(void)req;
	(void)fmt;
	fail_msg("sectx_request_log_call called: the test frees no request");
}

/* Refusals are logged, as the server would within its rate limit. */
void sectx_request_log_refusal(struct sectx_request *req, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	(void)req;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sectx_log(SECTX_LOG_WARNING, "%s", line);
}

/* The credential store: no login handles. */
struct sectx_handle *sectx_handle_find(struct sectxd_ctx *hctx, const char *id)
{
	(void)hctx;
	(void)id;
	return NULL;
}

/* --- a request --------------------------------------------------------------- */

struct test_req {
	struct sectxd_ctx hctx;
	struct sectx_request *req; /* talloc: the ops hang their state below it */
	uint8_t frame[8192];
	struct sectx_wbuf w;
};

static int setup(void **state)
{
	struct test_req *t = talloc_zero(NULL, struct test_req);
	struct sectx_config *cfg = NULL;

	if (t == NULL || sectx_config_defaults(t, &cfg) != 0) {
		return -1;
	}
	cfg->sectxd.client_timeout_ms = CLIENT_TIMEOUT_MS;
	t->hctx.cfg = cfg;
	t->hctx.ev = tevent_context_init(t);
	t->hctx.identity = talloc_zero(t, struct sectxd_identity);
	if (t->hctx.ev == NULL || t->hctx.identity == NULL) {
		return -1;
	}
	t->req = talloc_zero(t, struct sectx_request);
	if (t->req == NULL) {
		return -1;
	}
	t->req->hctx = &t->hctx;
	t->req->passed_fd = -1;
	sectx_frame_begin(&t->w, t->frame, sizeof(t->frame), SECTX_PROTO_VERSION,
			  SECTX_OP_PAM_AUTHENTICATE, 7);
	n_replies = 0;
	last_status = 0;
	store_asked = 0;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	talloc_free(*state);
	return 0;
}

/* Finish the frame built in t->w and parse it into the request. */
static struct sectx_request *request(struct test_req *t)
{
	size_t len = 0;

	assert_int_equal(sectx_frame_end(&t->w, &len), 0);
	assert_int_equal(sectx_msg_parse(t->frame, len, &t->req->msg), 0);
	return t->req;
}

/* A string of n copies of c, on mem_ctx. */
static char *repeat(TALLOC_CTX *mem_ctx, char c, size_t n)
{
	char *s = talloc_size(mem_ctx, n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* The request is refused: false, one E_PROTO reply. */
static void assert_refused(struct test_req *t)
{
	struct pam_args a;

	assert_false(sectx_pam_parse_args(request(t), &a));
	assert_int_equal(n_replies, 1);
	assert_int_equal(last_status, SECTX_E_PROTO);
}

/* --- sectx_pam_parse_args ------------------------------------------------------- */

static void test_parse_minimal(void **state)
{
	struct test_req *t = *state;
	struct pam_args a;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	assert_true(sectx_pam_parse_args(request(t), &a));
	assert_int_equal(n_replies, 0);
	assert_string_equal(a.user, "alice");
	assert_string_equal(a.service, "login");
	assert_false(a.has_rhost);
	assert_false(a.has_handle);
	assert_string_equal(a.rhost, "");
	assert_string_equal(a.handle, "");
}

static void test_parse_full(void **state)
{
	struct test_req *t = *state;
	char *handle = repeat(t, 'f', SECTX_HANDLE_LEN);
	struct pam_args a;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice@EXAMPLE.ORG");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "sshd");
	sectx_put_string(&t->w, SECTX_TAG_RHOST, "client.example.org");
	sectx_put_string(&t->w, SECTX_TAG_HANDLE, handle);
	assert_true(sectx_pam_parse_args(request(t), &a));
	assert_int_equal(n_replies, 0);
	assert_string_equal(a.user, "alice@EXAMPLE.ORG");
	assert_string_equal(a.service, "sshd");
	assert_true(a.has_rhost);
	assert_string_equal(a.rhost, "client.example.org");
	assert_true(a.has_handle);
	assert_string_equal(a.handle, handle);
}

static void test_parse_longest_fields(void **state)
{
	struct test_req *t = *state;
	char *name = repeat(t, 'u', SECTX_NAME_MAX);
	struct pam_args a;

	sectx_put_string(&t->w, SECTX_TAG_USER, name);
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, name);
	sectx_put_string(&t->w, SECTX_TAG_RHOST, name);
	assert_true(sectx_pam_parse_args(request(t), &a));
	assert_int_equal(strlen(a.user), SECTX_NAME_MAX);
	assert_int_equal(strlen(a.service), SECTX_NAME_MAX);
	assert_int_equal(strlen(a.rhost), SECTX_NAME_MAX);
}

static void test_parse_missing_user(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	assert_refused(t);
}

static void test_parse_missing_service(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_RHOST, "host");
	assert_refused(t);
}

static void test_parse_empty_request(void **state)
{
	assert_refused(*state);
}

static void test_parse_user_too_long(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, repeat(t, 'u', SECTX_NAME_MAX + 1));
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	assert_refused(t);
}

static void test_parse_service_too_long(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, repeat(t, 's', SECTX_NAME_MAX + 1));
	assert_refused(t);
}

static void test_parse_rhost_too_long(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_RHOST, repeat(t, 'h', SECTX_NAME_MAX + 1));
	assert_refused(t);
}

static void test_parse_user_embedded_nul(void **state)
{
	struct test_req *t = *state;

	/* "alice\0root": a C string would stop at alice */
	sectx_put_bytes(&t->w, SECTX_TAG_USER, "alice\0root", 10);
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	assert_refused(t);
}

static void test_parse_service_embedded_nul(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_bytes(&t->w, SECTX_TAG_SERVICE, "login\0x", 7);
	assert_refused(t);
}

static void test_parse_rhost_embedded_nul(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_bytes(&t->w, SECTX_TAG_RHOST, "a\0b", 3);
	assert_refused(t);
}

static void test_parse_user_control_char(void **state)
{
	struct test_req *t = *state;

	sectx_put_bytes(&t->w, SECTX_TAG_USER, "ali\nce", 6);
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	assert_refused(t);
}

static void test_parse_duplicate_user(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_USER, "root");
	assert_refused(t);
}

static void test_parse_duplicate_service(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "sshd");
	assert_refused(t);
}

static void test_parse_duplicate_rhost(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_RHOST, "a");
	sectx_put_string(&t->w, SECTX_TAG_RHOST, "b");
	assert_refused(t);
}

static void test_parse_duplicate_handle(void **state)
{
	struct test_req *t = *state;
	char *handle = repeat(t, 'a', SECTX_HANDLE_LEN);

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_HANDLE, handle);
	sectx_put_string(&t->w, SECTX_TAG_HANDLE, handle);
	assert_refused(t);
}

static void test_parse_handle_too_long(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_string(&t->w, SECTX_TAG_HANDLE, repeat(t, 'a', SECTX_HANDLE_LEN + 1));
	assert_refused(t);
}

static void test_parse_handle_embedded_nul(void **state)
{
	struct test_req *t = *state;
	char *handle = repeat(t, 'a', SECTX_HANDLE_LEN);

	handle[10] = '\0';
	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_string(&t->w, SECTX_TAG_SERVICE, "login");
	sectx_put_bytes(&t->w, SECTX_TAG_HANDLE, handle, SECTX_HANDLE_LEN);
	assert_refused(t);
}

/* --- who may act for a user ------------------------------------------------------ */

/* Run the loop until req is finished (at most 5 s). */
static void wait_for(struct test_req *t, struct tevent_req *req)
{
	for (int i = 0; i < 500 && tevent_req_is_in_progress(req); i++) {
		assert_int_equal(tevent_loop_once(t->hctx.ev), 0);
	}
	assert_false(tevent_req_is_in_progress(req));
}

static int may_act(struct test_req *t, uid_t uid, const char *user, bool *allowed)
{
	struct tevent_req *req;
	int ret;

	t->req->uid = uid;
	req = sectx_pam_may_act_for_send(t, t->req, user);
	assert_non_null(req);
	/* root is answered at once; anyone else after a lookup off the loop */
	assert_int_equal(tevent_req_is_in_progress(req), uid != 0);
	wait_for(t, req);
	ret = sectx_pam_may_act_for_recv(req, allowed);
	talloc_free(req);
	return ret;
}

static bool may(struct test_req *t, uid_t uid, const char *user)
{
	bool allowed = false;

	assert_int_equal(may_act(t, uid, user, &allowed), 0);
	return allowed;
}

static void test_root_acts_for_anyone(void **state)
{
	struct test_req *t = *state;

	assert_true(may(t, 0, "alice"));
	assert_true(may(t, 0, "carol"));
	assert_true(may(t, 0, "root"));
	assert_true(may(t, 0, "nobody-known-here"));
	assert_int_equal(store_asked, 0); /* root is not looked up */
}

static void test_local_user_acts_for_itself_only(void **state)
{
	struct test_req *t = *state;

	assert_true(may(t, 1000, "alice"));
	assert_false(may(t, 1000, "bob"));
	assert_false(may(t, 1000, "root"));
	assert_false(may(t, 1000, "carol"));
	assert_false(may(t, 1000, "Alice"));
	assert_false(may(t, 1000, "alice@EXAMPLE.ORG"));
	assert_false(may(t, 1000, ""));
	assert_true(may(t, 1001, "bob"));
	assert_false(may(t, 1001, "alice"));
	/* a local account answers: the store is never asked */
	assert_int_equal(store_asked, 0);
}

static void test_local_passwd_comes_first(void **state)
{
	struct test_req *t = *state;

	/* the store maps uid 1000 to mallory: the local account wins */
	assert_false(may(t, 1000, "mallory"));
}

static void test_realm_user_acts_for_itself_only(void **state)
{
	struct test_req *t = *state;

	assert_true(may(t, 70001, "carol"));
	assert_true(may(t, 70001, "carol@EXAMPLE.ORG")); /* its other name */
	assert_false(may(t, 70001, "alice"));
	assert_false(may(t, 70001, "dave@EXAMPLE.ORG"));
	assert_false(may(t, 70001, "carol@OTHER.ORG"));
	assert_true(may(t, 70002, "dave@EXAMPLE.ORG"));
	assert_false(may(t, 70002, "dave"));
	assert_false(may(t, 70002, "carol"));
	assert_true(store_asked > 0);
}

static void test_unknown_uid_refused(void **state)
{
	struct test_req *t = *state;

	assert_false(may(t, 5555, "alice"));
	assert_false(may(t, 5555, "5555"));
	assert_false(may(t, 5555, ""));
	assert_false(may(t, 70003, "carol"));
}

static void test_slow_passwd_is_not_an_answer(void **state)
{
	struct test_req *t = *state;
	bool allowed = true;

	/* uid 4444's passwd entry (slowpoke) comes too late; the store's eve
	 * must not be taken for it, nor a refusal given */
	assert_int_equal(may_act(t, 4444, "eve", &allowed), -ETIMEDOUT);
	assert_false(allowed);
	assert_int_equal(store_asked, 0);
}

/* --- sectx_pam_authorise ------------------------------------------------------------ */

static int next_calls;
static int next_ret;

static int next_fn(void *op)
{
	assert_non_null(op);
	next_calls++;
	return next_ret;
}

static int authorise(struct test_req *t, uid_t uid, const char *user)
{
	t->req->uid = uid;
	next_calls = 0;
	return sectx_pam_authorise(t->req, t, user, "act for another user", next_fn);
}

static void test_authorise_root_at_once(void **state)
{
	struct test_req *t = *state;

	/* the rest of the operation runs inside the call; its value is returned */
	next_ret = SECTX_E_INVAL;
	assert_int_equal(authorise(t, 0, "alice"), SECTX_E_INVAL);
	assert_int_equal(next_calls, 1);
	next_ret = 0;
	assert_int_equal(authorise(t, 0, "anyone"), 0);
	assert_int_equal(next_calls, 1);
	assert_int_equal(n_replies, 0);
}

static void test_authorise_user_later(void **state)
{
	struct test_req *t = *state;

	next_ret = 0;
	assert_int_equal(authorise(t, 1000, "alice"), 0);
	assert_int_equal(next_calls, 0);
	for (int i = 0; i < 100 && next_calls == 0; i++) {
		assert_int_equal(tevent_loop_once(t->hctx.ev), 0);
	}
	assert_int_equal(next_calls, 1);
	assert_int_equal(n_replies, 0);
	/* a positive value from the rest is replied by the authoriser */
	next_ret = SECTX_E_INVAL;
	assert_int_equal(authorise(t, 1000, "alice"), 0);
	for (int i = 0; i < 100 && n_replies == 0; i++) {
		assert_int_equal(tevent_loop_once(t->hctx.ev), 0);
	}
	assert_int_equal(next_calls, 1);
	assert_int_equal(n_replies, 1);
	assert_int_equal(last_status, SECTX_E_INVAL);
}

static void test_authorise_refused(void **state)
{
	struct test_req *t = *state;

	assert_int_equal(authorise(t, 1000, "bob"), 0);
	for (int i = 0; i < 100 && n_replies == 0; i++) {
		assert_int_equal(tevent_loop_once(t->hctx.ev), 0);
	}
	assert_int_equal(next_calls, 0);
	assert_int_equal(n_replies, 1);
	assert_int_equal(last_status, SECTX_E_PERM);
}

static void test_authorise_unavailable(void **state)
{
	struct test_req *t = *state;

	assert_int_equal(authorise(t, 4444, "slowpoke"), 0);
	for (int i = 0; i < 100 && n_replies == 0; i++) {
		assert_int_equal(tevent_loop_once(t->hctx.ev), 0);
	}
	assert_int_equal(next_calls, 0);
	assert_int_equal(n_replies, 1);
	assert_int_equal(last_status, SECTX_E_UNAVAIL);
}

/* --- the account resolver under it ---------------------------------------------- */

static int account_by_name(struct test_req *t, const char *name, struct identity_account **a)
{
	struct tevent_req *req = identity_account_by_name_send(t, &t->hctx, name);

	assert_non_null(req);
	wait_for(t, req);
	return identity_account_by_name_recv(req, t, a);
}

static void test_account_by_name(void **state)
{
	struct test_req *t = *state;
	struct identity_account *a = NULL;
	struct tevent_req *req;
	gid_t *groups = NULL;
	size_t n = 0;

	assert_int_equal(account_by_name(t, "alice", &a), 0);
	assert_true(a->local);
	assert_int_equal(a->uid, 1000);
	assert_string_equal(a->name, "alice");
	assert_int_equal(store_asked, 0);

	assert_int_equal(account_by_name(t, "carol", &a), 0);
	assert_false(a->local);
	assert_int_equal(a->uid, 70001);
	assert_string_equal(a->home, "/home/carol");
	req = identity_account_groups_send(t, &t->hctx, a);
	wait_for(t, req);
	assert_int_equal(identity_account_groups_recv(req, t, &groups, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(groups[0], 70001);
	assert_int_equal(groups[1], 80001);
	assert_int_equal(groups[2], 80002);

	assert_int_equal(account_by_name(t, "dave@EXAMPLE.ORG", &a), 0);
	assert_string_equal(a->home, "");

	assert_int_equal(account_by_name(t, "nobody", &a), -ENOENT);
	assert_null(a);
}

/* --- sectx_pam_client_deadline ------------------------------------------------------ */

/* The deadline of the request built in t, less now: how long the helper
 * reckons its client waits (real clock: within a second of it). */
static int64_t client_wait_ms(struct test_req *t)
{
	int64_t before = sectx_now_ms();
	int64_t deadline = sectx_pam_client_deadline(request(t));

	assert_true(sectx_now_ms() - before < 1000);
	return deadline - before;
}

static void assert_about(int64_t got, int64_t want)
{
	assert_true(got >= want && got < want + 1000);
}

static void test_deadline_from_the_clients_timeout(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	sectx_put_u32(&t->w, SECTX_TAG_TIMEOUT, 3000);
	assert_about(client_wait_ms(t), 3000);
	assert_int_equal(n_replies, 0);
}

static void test_deadline_default_when_absent(void **state)
{
	struct test_req *t = *state;

	sectx_put_string(&t->w, SECTX_TAG_USER, "alice");
	assert_about(client_wait_ms(t), SECTX_CLIENT_TIMEOUT_DEFAULT_MS);
}

static void test_deadline_capped(void **state)
{
	struct test_req *t = *state;

	sectx_put_u32(&t->w, SECTX_TAG_TIMEOUT, UINT32_MAX);
	assert_about(client_wait_ms(t), SECTX_CLIENT_TIMEOUT_MAX_MS);
}

static void test_deadline_zero_is_now(void **state)
{
	struct test_req *t = *state;

	sectx_put_u32(&t->w, SECTX_TAG_TIMEOUT, 0);
	assert_about(client_wait_ms(t), 0);
}

static void test_deadline_malformed_is_default(void **state)
{
	struct test_req *t = *state;

	/* a field of the wrong size, then one given twice */
	sectx_put_bytes(&t->w, SECTX_TAG_TIMEOUT, "\x00\x00\x0b\xb8\x00", 5);
	assert_about(client_wait_ms(t), SECTX_CLIENT_TIMEOUT_DEFAULT_MS);
	teardown(state);
	setup(state);
	t = *state;
	sectx_put_u32(&t->w, SECTX_TAG_TIMEOUT, 500);
	sectx_put_u32(&t->w, SECTX_TAG_TIMEOUT, 500);
	assert_about(client_wait_ms(t), SECTX_CLIENT_TIMEOUT_DEFAULT_MS);
	assert_int_equal(n_replies, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_minimal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_longest_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_missing_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_missing_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_empty_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_user_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_service_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_rhost_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_user_embedded_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_service_embedded_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_rhost_embedded_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_user_control_char, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_duplicate_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_duplicate_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_duplicate_rhost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_duplicate_handle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_handle_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_handle_embedded_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_acts_for_anyone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_user_acts_for_itself_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_passwd_comes_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_realm_user_acts_for_itself_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_uid_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_passwd_is_not_an_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authorise_root_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authorise_user_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authorise_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authorise_unavailable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_by_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_from_the_clients_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_default_when_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_zero_is_now, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_malformed_is_default, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
