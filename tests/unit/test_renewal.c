/*
 * test_renewal.c - unit tests of helper/sessions/: when a session's next
 * renewal step is due (sectx_renew_next_delay: renew_interval against the
 * lifetime left, never past renew-till, backoff after failures), the renewal
 * worker's answer frame (round trip, every truncation, oversized and
 * malformed frames), and the body of the sessions state file (round trip,
 * every truncation, oversized and malformed records, a save and load through
 * a real state directory).
 *
 * No KDC and no ccache writer: the writer's entry points are test doubles
 * below that fail if anything calls them.  Longer than ~800 lines because it
 * is the one test of the sessions folder and its three untrusted inputs each
 * get their truncated, oversized and malformed cases.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "sessions/sessions_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccache_writer/ccache_writer.h"
#include "config.h"
#include "core/state_file.h"
#include "log.h"
#include "login/login.h"

/* --- test doubles: the ccache writer is not under test ------------------------ */

struct tevent_req *sectx_writer_read_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					  struct sectx_writer *w,
					  const struct sectx_writer_user *who, const char *ccache,
					  bool want_tgt, int64_t deadline_ms)
{
	fail_msg("the ccache writer was called");
	return NULL;
}

int sectx_writer_read_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, krb5_context kctx,
			   char **principal, krb5_creds **tgt)
{
	fail_msg("the ccache writer was called");
	return -EIO;
}

struct tevent_req *sectx_writer_rewrite_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_creds **creds, int64_t deadline_ms)
{
	fail_msg("the ccache writer was called");
	return NULL;
}

int sectx_writer_store_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char **ccache_name)
{
	fail_msg("the ccache writer was called");
	return -EIO;
}

struct tevent_req *sectx_writer_destroy_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_const_principal principal, int64_t deadline_ms)
{
	fail_msg("the ccache writer was called");
	return NULL;
}

int sectx_writer_destroy_recv(struct tevent_req *req)
{
	fail_msg("the ccache writer was called");
	return -EIO;
}

/* --- when the next step is due ------------------------------------------------ */

#define NOW	    1700000000
#define HOUR	    3600
#define DAY	    (24 * HOUR)
#define RETRY_MIN_S (SECTX_RENEW_RETRY_MIN_MS / 1000)
#define RETRY_MAX_S (SECTX_RENEW_RETRY_MAX_MS / 1000)

/* A fresh renewable TGT of 10 hours, renewable for 7 days. */
static struct sectx_renew_timing fresh(void)
{
	struct sectx_renew_timing t = {
	    .endtime = NOW + 10 * HOUR,
	    .renew_till = NOW + 7 * DAY,
	    .have_tgt = true,
	    .renewable = true,
	};
	return t;
}

static int64_t next(const struct sectx_renew_timing *t, uint64_t interval_ms, bool *done)
{
	*done = !*done; /* must be set either way */
	return sectx_renew_next_delay(t, NOW, interval_ms, done);
}

static void test_next_half_the_lifetime_left(void **state)
{
	struct sectx_renew_timing t = fresh();
	bool done = true;

	(void)state;
	assert_int_equal(next(&t, 0, &done), 5 * HOUR);
	assert_false(done);
	t.endtime = NOW + 101;
	assert_int_equal(next(&t, 0, &done), 50);
	assert_false(done);
	/* never sooner than the minimum, even with no time left */
	t.endtime = NOW + 1;
	assert_int_equal(next(&t, 0, &done), RENEW_MIN_DELAY_S);
	assert_false(done);
	t.endtime = NOW - 100;
	t.renew_till = NOW + DAY;
	assert_int_equal(next(&t, 0, &done), RENEW_MIN_DELAY_S);
	assert_false(done);
}

static void test_next_renew_interval(void **state)
{
	struct sectx_renew_timing t = fresh();
	bool done = true;

	(void)state;
	/* the interval when it comes first */
	assert_int_equal(next(&t, 3600000, &done), HOUR);
	assert_false(done);
	assert_int_equal(next(&t, 1500, &done), 1); /* whole seconds */
	assert_int_equal(next(&t, 999, &done), RENEW_MIN_DELAY_S);
	/* never later than four fifths of the lifetime left */
	assert_int_equal(next(&t, 9 * 3600000ull, &done), 8 * HOUR);
	assert_int_equal(next(&t, 30ull * DAY * 1000, &done), 8 * HOUR);
	t.endtime = NOW + 1000;
	assert_int_equal(next(&t, 3600000, &done), 800);
	assert_false(done);
}

static void test_next_never_past_renew_till(void **state)
{
	static const int64_t ends[] = {2, 10, 100, 3599, HOUR, 10 * HOUR, DAY, 7 * DAY};
	static const int64_t extra[] = {1, 2, 60, HOUR, 6 * DAY};
	static const uint64_t intervals[] = {0, 1000, 60000, 3600000, 30ull * DAY * 1000};
	size_t a, b, c;
	unsigned failures;

	(void)state;
	for (a = 0; a < sizeof(ends) / sizeof(ends[0]); a++) {
		for (b = 0; b < sizeof(extra) / sizeof(extra[0]); b++) {
			for (c = 0; c < sizeof(intervals) / sizeof(intervals[0]); c++) {
				for (failures = 0; failures < 12; failures++) {
					struct sectx_renew_timing t = fresh();
					bool done = true;
					int64_t d;

					t.endtime = NOW + ends[a];
					t.renew_till = t.endtime + extra[b];
					t.failures = failures;
					d = next(&t, intervals[c], &done);
					assert_false(done);
					assert_true(d >= RENEW_MIN_DELAY_S);
					/* a renewal is due by the TGT's end (with
					 * less than 5 s left, four fifths of the
					 * way rounds to the end itself) */
					assert_true(NOW + d <= t.endtime || d == RENEW_MIN_DELAY_S);
					if (ends[a] >= 5) {
						assert_true(NOW + d < t.endtime);
					}
					assert_true(NOW + d < t.renew_till);
				}
			}
		}
	}
}

static void test_next_done(void **state)
{
	struct sectx_renew_timing t = fresh();
	bool done = false;

	(void)state;
	/* renew-till at or before the end: nothing left to renew; the step is
	 * the drop at the TGT's end */
	t.renew_till = t.endtime;
	assert_int_equal(next(&t, 0, &done), 10 * HOUR);
	assert_true(done);
	t.renew_till = t.endtime - 1;
	assert_int_equal(next(&t, 3600000, &done), 10 * HOUR);
	assert_true(done);
	/* renew-till already past */
	t = fresh();
	t.renew_till = NOW;
	assert_int_equal(next(&t, 0, &done), 10 * HOUR);
	assert_true(done);
	/* not renewable */
	t = fresh();
	t.renewable = false;
	t.failures = 3;
	assert_int_equal(next(&t, 0, &done), 10 * HOUR);
	assert_true(done);
	/* known to be done already, whatever the TGT says */
	t = fresh();
	t.done = true;
	assert_int_equal(next(&t, 60000, &done), 10 * HOUR);
	assert_true(done);
	/* a done session whose TGT has ended goes at once (the minimum) */
	t.endtime = NOW - 5;
	assert_int_equal(next(&t, 0, &done), RENEW_MIN_DELAY_S);
	assert_true(done);
	/* no TGT in memory yet (after a restart): not known to be done; the
	 * cycle reads it back first */
	t = fresh();
	t.have_tgt = false;
	t.renewable = false;
	t.renew_till = NOW - 1;
	assert_int_equal(next(&t, 0, &done), 5 * HOUR);
	assert_false(done);
}

static void test_next_backoff(void **state)
{
	struct sectx_renew_timing t = fresh();
	int64_t expect = RETRY_MIN_S;
	bool done = true;
	unsigned f;

	(void)state;
	/* doubling from the minimum to the maximum, whatever the interval */
	for (f = 1; f < 40; f++) {
		t.failures = f;
		assert_int_equal(next(&t, 0, &done), expect);
		assert_false(done);
		assert_int_equal(next(&t, 60000, &done), expect);
		expect = expect * 2 < RETRY_MAX_S ? expect * 2 : RETRY_MAX_S;
	}
	assert_int_equal(expect, RETRY_MAX_S);
	t.failures = UINT32_MAX;
	assert_int_equal(next(&t, 0, &done), RETRY_MAX_S);
	/* but no later than half the lifetime left */
	t.endtime = NOW + 100;
	t.failures = 10;
	assert_int_equal(next(&t, 0, &done), 50);
	t.endtime = NOW + 7;
	t.failures = 1;
	assert_int_equal(next(&t, 0, &done), 3);
	t.endtime = NOW + 1;
	assert_int_equal(next(&t, 0, &done), RENEW_MIN_DELAY_S);
	assert_false(done);
}

/* --- the worker's answer ---------------------------------------------------------- */

static uint8_t frame[2 * RENEW_ANSWER_MAX];

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		p[i] = (uint8_t)(seed + i * 131u);
	}
}

static void test_answer_round_trip(void **state)
{
	static uint8_t cred[RENEW_CRED_MAX];
	static const size_t sizes[] = {1, 100, 4000, RENEW_CRED_MAX};
	struct sectx_renew_answer a;
	size_t len = 0, i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(cred, sizes[i], (unsigned)i);
		assert_int_equal(
		    sectx_renew_answer_encode(frame, sizeof(frame), 0, "", cred, sizes[i], &len),
		    0);
		assert_true(len <= RENEW_ANSWER_MAX);
		assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
		assert_int_equal(a.kerr, 0);
		assert_string_equal(a.msg, "");
		assert_int_equal(a.cred_len, sizes[i]);
		assert_memory_equal(a.cred, cred, sizes[i]);
		assert_true(a.cred >= frame && a.cred + a.cred_len <= frame + len);
	}
	/* a refusal: its code and the KDC's text, no credentials */
	assert_int_equal(sectx_renew_answer_encode(frame, sizeof(frame), KRB5KDC_ERR_BADOPTION,
						   "KDC can't fulfill requested option", NULL, 0,
						   &len),
			 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	assert_int_equal(a.kerr, KRB5KDC_ERR_BADOPTION);
	assert_string_equal(a.msg, "KDC can't fulfill requested option");
	assert_null(a.cred);
	assert_int_equal(a.cred_len, 0);
	/* a negative code survives the u32 on the wire */
	assert_int_equal(
	    sectx_renew_answer_encode(frame, sizeof(frame), -1765328360, "x", NULL, 0, &len), 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	assert_int_equal(a.kerr, -1765328360);
}

static void test_answer_message_made_sendable(void **state)
{
	char long_msg[RENEW_MSG_MAX * 2];
	struct sectx_renew_answer a;
	size_t len = 0;

	(void)state;
	/* control characters: reduced to printable ASCII, never refused */
	assert_int_equal(
	    sectx_renew_answer_encode(frame, sizeof(frame), 5, "bad\n\x01msg\xff", NULL, 0, &len),
	    0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	assert_string_equal(a.msg, "bad??msg?");
	/* valid UTF-8 passes as it is */
	assert_int_equal(
	    sectx_renew_answer_encode(frame, sizeof(frame), 5, "d\xc3\xa9j\xc3\xa0", NULL, 0, &len),
	    0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	assert_string_equal(a.msg, "d\xc3\xa9j\xc3\xa0");
	/* too long: cut to what the parent takes */
	memset(long_msg, 'm', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	assert_int_equal(
	    sectx_renew_answer_encode(frame, sizeof(frame), 5, long_msg, NULL, 0, &len), 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	assert_int_equal(strlen(a.msg), RENEW_MSG_MAX - 1);
}

static void test_answer_encoder_refuses(void **state)
{
	static uint8_t cred[RENEW_CRED_MAX + 1];
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    sectx_renew_answer_encode(frame, sizeof(frame), 0, "", cred, RENEW_CRED_MAX + 1, &len),
	    SECTX_ERR_TOOBIG);
	assert_int_equal(sectx_renew_answer_encode(frame, sizeof(frame), 0, "", NULL, 0, &len),
			 SECTX_ERR_BADFRAME);
	assert_int_equal(sectx_renew_answer_encode(frame, sizeof(frame), 5, "", cred, 10, &len),
			 SECTX_ERR_BADFRAME);
	/* a buffer too small is an error, never an overrun */
	assert_int_equal(sectx_renew_answer_encode(frame, 100, 0, "", cred, 200, &len),
			 SECTX_ERR_TOOBIG);
}

static void test_answer_truncated_at_every_prefix(void **state)
{
	uint8_t cred[300];
	struct sectx_renew_answer a;
	size_t len = 0, n;
	int kerr;

	(void)state;
	fill(cred, sizeof(cred), 7);
	for (kerr = 0; kerr < 2; kerr++) {
		assert_int_equal(
		    sectx_renew_answer_encode(frame, sizeof(frame), kerr, kerr ? "refused" : "",
					      kerr ? NULL : cred, kerr ? 0 : sizeof(cred), &len),
		    0);
		for (n = 0; n < len; n++) {
			assert_int_not_equal(sectx_renew_answer_decode(frame, n, &a), 0);
			assert_null(a.cred);
		}
		/* and a byte too many */
		frame[len] = 0;
		assert_int_not_equal(sectx_renew_answer_decode(frame, len + 1, &a), 0);
		assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	}
}

/* Build a frame by hand: the fields an encoder of ours would never write. */
static size_t build(uint16_t version, uint16_t op, uint32_t reqid, int with_kerr, uint32_t kerr,
		    const char *msg, const uint8_t *cred, size_t cred_len, size_t cap)
{
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, frame, cap, version, op, reqid);
	if (with_kerr) {
		sectx_put_u32(&w, RA_KERR, kerr);
	}
	if (msg != NULL) {
		sectx_put_bytes(&w, RA_MESSAGE, msg, strlen(msg));
	}
	if (cred != NULL) {
		sectx_put_bytes(&w, RA_CRED, cred, cred_len);
	}
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

static void test_answer_oversized(void **state)
{
	static uint8_t cred[RENEW_ANSWER_MAX + 100];
	char msg[RENEW_MSG_MAX + 1];
	struct sectx_renew_answer a;
	size_t len;

	(void)state;
	memset(msg, 'm', RENEW_MSG_MAX);
	msg[RENEW_MSG_MAX] = '\0';
	/* a message of RENEW_MSG_MAX bytes: one too many */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 5, msg, NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_TOOBIG);
	msg[RENEW_MSG_MAX - 1] = '\0';
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 5, msg, NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), 0);
	/* credentials one byte over their bound */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", cred, RENEW_CRED_MAX + 1,
		    sizeof(frame));
	assert_true(len <= RENEW_ANSWER_MAX);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_TOOBIG);
	assert_null(a.cred);
	/* a whole frame over the answer's bound (but within the codec's) */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", cred, RENEW_ANSWER_MAX + 1,
		    sizeof(frame));
	assert_true(len > RENEW_ANSWER_MAX && len <= SECTX_FRAME_MAX);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_TOOBIG);
	/* a header claiming more than it holds, and more than a frame may be */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", cred, 10, sizeof(frame));
	frame[0] = 0x7f;
	assert_int_not_equal(sectx_renew_answer_decode(frame, len, &a), 0);
}

static void test_answer_malformed(void **state)
{
	uint8_t cred[16] = {1, 2, 3};
	struct sectx_renew_answer a;
	struct sectx_wbuf w;
	size_t len;

	(void)state;
	/* another version, op or request id */
	len = build(RENEW_ANSWER_VERSION + 1, RENEW_OP_ANSWER, 0, 1, 5, "", NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_VERSION);
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER + 1, 0, 1, 5, "", NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADFRAME);
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 9, 1, 5, "", NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADFRAME);
	/* a field missing */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 0, 0, "", cred, 3, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_NOFIELD);
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, NULL, cred, 3, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_NOFIELD);
	/* renewed without credentials, refused with them, or empty ones */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_NOFIELD);
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 5, "no", cred, 3, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADFRAME);
	assert_null(a.cred);
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", cred, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADLEN);
	/* a message that is not a string */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 5, "a\nb", NULL, 0, sizeof(frame));
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADSTR);
	/* a field twice, or of the wrong size */
	sectx_frame_begin(&w, frame, sizeof(frame), RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0);
	sectx_put_u32(&w, RA_KERR, 0);
	sectx_put_u32(&w, RA_KERR, 5);
	sectx_put_string(&w, RA_MESSAGE, "");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_DUPFIELD);
	sectx_frame_begin(&w, frame, sizeof(frame), RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0);
	sectx_put_u64(&w, RA_KERR, 5);
	sectx_put_string(&w, RA_MESSAGE, "");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_BADLEN);
	sectx_frame_begin(&w, frame, sizeof(frame), RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0);
	sectx_put_u32(&w, RA_KERR, 0);
	sectx_put_string(&w, RA_MESSAGE, "");
	sectx_put_bytes(&w, RA_CRED, cred, 3);
	sectx_put_bytes(&w, RA_CRED, cred, 3);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(sectx_renew_answer_decode(frame, len, &a), SECTX_ERR_DUPFIELD);
	/* nothing at all: the worker died before answering */
	assert_int_not_equal(sectx_renew_answer_decode(frame, 0, &a), 0);
	/* a field header running past the frame's end */
	len = build(RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0, 1, 0, "", cred, 3, sizeof(frame));
	frame[len - 4] = 0x40;
	assert_int_not_equal(sectx_renew_answer_decode(frame, len, &a), 0);
}

/* --- the sessions file ---------------------------------------------------------- */

struct file_fixture {
	TALLOC_CTX *mem;
	struct sectxd_ctx *hctx;
	char dir[PATH_MAX];
};

static struct sectxd_renewal *new_registry(struct file_fixture *f, int dirfd)
{
	struct sectxd_renewal *rn = talloc_zero(f->mem, struct sectxd_renewal);

	assert_non_null(rn);
	rn->hctx = f->hctx;
	rn->dirfd = dirfd;
	return rn;
}

static int file_setup(void **state)
{
	struct file_fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct sectx_config *cfg = NULL;

	if (f == NULL) {
		return -1;
	}
	f->mem = talloc_new(NULL);
	if (f->mem == NULL || sectx_config_defaults(f->mem, &cfg) != 0) {
		return -1;
	}
	f->hctx = talloc_zero(f->mem, struct sectxd_ctx);
	if (f->hctx == NULL) {
		return -1;
	}
	f->hctx->cfg = cfg;
	snprintf(f->dir, sizeof(f->dir), "%s/test_renewal.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int file_teardown(void **state)
{
	struct file_fixture *f = *state;

	(void)nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	talloc_free(f->mem);
	free(f);
	return 0;
}

/* A session as register would make it (no TGT: the file never holds one). */
static struct renew_session *add_session(struct sectxd_renewal *rn, unsigned n, size_t groups)
{
	struct renew_session *s = sectx_renew_session_new(rn);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < SESSION_ID_LEN; i++) {
		s->id[i] = "0123456789abcdef"[(n + i) % 16];
	}
	s->id[0] = "0123456789abcdef"[n % 16];
	s->id[1] = "0123456789abcdef"[(n / 16) % 16];
	s->id[2] = "0123456789abcdef"[(n / 256) % 16];
	s->id[3] = "0123456789abcdef"[(n / 4096) % 16];
	s->id[SESSION_ID_LEN] = '\0';
	s->user = talloc_asprintf(s, "user%u", n);
	s->service = talloc_strdup(s, "sshd");
	s->rhost = talloc_strdup(s, n % 2 ? "" : "client.example.com");
	s->ccache = talloc_asprintf(s, "FILE:/tmp/krb5cc_%u_abc", 1000 + n);
	s->principal = talloc_asprintf(s, "user%u@EXAMPLE.COM", n);
	s->uid = 1000 + n;
	s->gid = 100 + n;
	s->n_groups = groups;
	s->groups = groups > 0 ? talloc_array(s, gid_t, groups) : NULL;
	for (i = 0; i < groups; i++) {
		s->groups[i] = (gid_t)(5000 + i);
	}
	s->endtime = NOW + n;
	s->renew_till = NOW + DAY + n;
	s->done = n % 3 == 0;
	assert_non_null(s->user);
	return s;
}

static void assert_same_sessions(const struct sectxd_renewal *a, const struct sectxd_renewal *b)
{
	const struct renew_session *s = a->head, *t = b->head;

	assert_int_equal(a->n, b->n);
	for (; s != NULL && t != NULL; s = s->next, t = t->next) {
		assert_string_equal(s->id, t->id);
		assert_string_equal(s->user, t->user);
		assert_string_equal(s->service, t->service);
		assert_string_equal(s->rhost, t->rhost);
		assert_string_equal(s->ccache, t->ccache);
		assert_string_equal(s->principal, t->principal);
		assert_int_equal(s->uid, t->uid);
		assert_int_equal(s->gid, t->gid);
		assert_int_equal(s->n_groups, t->n_groups);
		if (s->n_groups > 0) {
			assert_memory_equal(s->groups, t->groups, s->n_groups * sizeof(gid_t));
		}
		assert_int_equal(s->endtime, t->endtime);
		assert_int_equal(s->renew_till, t->renew_till);
		assert_int_equal(s->done, t->done);
		assert_null(t->tgt);
		assert_string_equal(t->handle, ""); /* never in the file */
		assert_true(t->next == NULL || t->next->prev == t);
	}
	assert_null(s);
	assert_null(t);
}

static void test_file_round_trip(void **state)
{
	struct file_fixture *f = *state;
	struct sectxd_renewal *rn = new_registry(f, -1), *back = new_registry(f, -1);
	uint8_t *body = NULL;
	size_t len = 0, bad = 0;

	add_session(rn, 1, 0);
	add_session(rn, 2, 3);
	add_session(rn, 3, SECTX_RENEW_GROUPS_MAX);
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &body, &len), 0);
	assert_int_equal(sectx_sessions_file_decode(back, body, len, &bad), 0);
	assert_same_sessions(rn, back);
	/* an empty registry is an empty body, and back */
	talloc_free(back);
	back = new_registry(f, -1);
	while (rn->head != NULL) {
		talloc_free(rn->head);
	}
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &body, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(sectx_sessions_file_decode(back, body, len, &bad), 0);
	assert_int_equal(back->n, 0);
}

static void test_file_truncated_at_every_prefix(void **state)
{
	struct file_fixture *f = *state;
	struct sectxd_renewal *rn = new_registry(f, -1), *back;
	uint8_t *body = NULL, *one = NULL;
	size_t len = 0, first = 0, n, bad;
	int ret;

	add_session(rn, 1, 2); /* the older: the file's second record */
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &one, &first), 0);
	add_session(rn, 2, 5);
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &body, &len), 0);
	first = len - first; /* where the second record starts */
	for (n = 0; n < len; n++) {
		back = new_registry(f, -1);
		bad = SIZE_MAX;
		ret = sectx_sessions_file_decode(back, body, n, &bad);
		if (n == 0 || n == first) {
			/* a cut between records leaves whole records */
			assert_int_equal(ret, 0);
			assert_int_equal(back->n, n == 0 ? 0 : 1);
		} else {
			assert_int_not_equal(ret, 0);
			assert_int_equal(back->n, 0);
			assert_null(back->head);
			assert_true(bad <= n);
		}
		talloc_free(back);
	}
}

/* One record frame by hand (fields as put_* would make them). */
struct rec {
	const char *id, *user, *service, *rhost, *ccache, *principal;
	uint32_t uid, gid, done, op;
	size_t groups;
	uint64_t end, till;
	bool no_uid;
};

static const char ID_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char ID_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static struct rec good_rec(const char *id)
{
	struct rec r = {
	    .id = id,
	    .user = "alice",
	    .service = "login",
	    .rhost = "",
	    .ccache = "FILE:/tmp/krb5cc_1000",
	    .principal = "alice@EXAMPLE.COM",
	    .uid = 1000,
	    .gid = 1000,
	    .op = RECORD_OP,
	    .end = NOW,
	    .till = NOW + DAY,
	};
	return r;
}

static size_t put_rec(uint8_t *buf, size_t cap, const struct rec *r)
{
	struct sectx_wbuf w;
	size_t len = 0, i;

	sectx_frame_begin(&w, buf, cap, 1, (uint16_t)r->op, 0);
	sectx_put_bytes(&w, RT_ID, r->id, strlen(r->id));
	sectx_put_bytes(&w, RT_USER, r->user, strlen(r->user));
	sectx_put_bytes(&w, RT_SERVICE, r->service, strlen(r->service));
	sectx_put_bytes(&w, RT_RHOST, r->rhost, strlen(r->rhost));
	if (!r->no_uid) {
		sectx_put_u32(&w, RT_UID, r->uid);
	}
	sectx_put_u32(&w, RT_GID, r->gid);
	for (i = 0; i < r->groups; i++) {
		sectx_put_u32(&w, RT_GROUP, (uint32_t)i);
	}
	sectx_put_bytes(&w, RT_CCACHE, r->ccache, strlen(r->ccache));
	sectx_put_bytes(&w, RT_PRINCIPAL, r->principal, strlen(r->principal));
	sectx_put_u64(&w, RT_ENDTIME, r->end);
	sectx_put_u64(&w, RT_RENEW_TILL, r->till);
	sectx_put_u32(&w, RT_DONE, r->done);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

/* Decode a body made of a good record and then r: 0 or the error. */
static int decode_with(struct file_fixture *f, const struct rec *r)
{
	static uint8_t body[2 * SECTX_FRAME_MAX];
	struct sectxd_renewal *rn = new_registry(f, -1);
	struct rec ok = good_rec(ID_A);
	size_t len = put_rec(body, sizeof(body), &ok), bad = 0;
	int ret;

	len += put_rec(body + len, sizeof(body) - len, r);
	ret = sectx_sessions_file_decode(rn, body, len, &bad);
	assert_int_equal(rn->n, ret == 0 ? 2 : 0);
	talloc_free(rn);
	return ret;
}

static void test_file_oversized(void **state)
{
	struct file_fixture *f = *state;
	char big[SECTX_STRING_MAX + 2];
	struct rec r;

	assert_int_equal(decode_with(f, (r = good_rec(ID_B), &r)), 0);
	/* groups: the bound, and one more */
	r.groups = SECTX_RENEW_GROUPS_MAX;
	assert_int_equal(decode_with(f, &r), 0);
	r.groups = SECTX_RENEW_GROUPS_MAX + 1;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_TOOBIG);
	/* names over SECTX_NAME_MAX, a cache name over SECTX_STRING_MAX */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[SECTX_NAME_MAX + 1] = '\0';
	r = good_rec(ID_B);
	r.user = big;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_TOOBIG);
	r = good_rec(ID_B);
	r.principal = big;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_TOOBIG);
	big[SECTX_NAME_MAX + 1] = 'x';
	r = good_rec(ID_B);
	r.ccache = big;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_TOOBIG);
	/* times beyond int64 */
	r = good_rec(ID_B);
	r.till = (uint64_t)INT64_MAX + 1;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADLEN);
}

static void test_file_record_length_checked(void **state)
{
	struct file_fixture *f = *state;
	static uint8_t body[SECTX_FRAME_MAX];
	struct sectxd_renewal *rn = new_registry(f, -1);
	struct rec r = good_rec(ID_A);
	size_t len = put_rec(body, sizeof(body), &r), bad = 0;

	/* a header claiming more than a frame may be */
	body[0] = 0x00;
	body[1] = 0x10;
	body[2] = 0x00;
	body[3] = 0x00;
	assert_int_equal(sectx_sessions_file_decode(rn, body, len, &bad), SECTX_ERR_TOOBIG);
	/* or more than the file holds */
	len = put_rec(body, sizeof(body), &r);
	body[3] = (uint8_t)(body[3] + 1);
	assert_int_equal(sectx_sessions_file_decode(rn, body, len, &bad), SECTX_ERR_SHORT);
	/* or less than its fields */
	len = put_rec(body, sizeof(body), &r);
	body[3] = (uint8_t)(body[3] - 1);
	assert_int_not_equal(sectx_sessions_file_decode(rn, body, len, &bad), 0);
	/* or less than a header */
	len = put_rec(body, sizeof(body), &r);
	body[0] = body[1] = body[2] = 0;
	body[3] = SECTX_HDR_LEN - 1;
	assert_int_equal(sectx_sessions_file_decode(rn, body, len, &bad), SECTX_ERR_BADFRAME);
	assert_int_equal(rn->n, 0);
}

static void test_file_malformed(void **state)
{
	struct file_fixture *f = *state;
	struct rec r;

	r = good_rec(ID_B);
	r.op = RECORD_OP + 1;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADFRAME);
	r = good_rec(ID_A); /* the same session twice */
	assert_int_equal(decode_with(f, &r), SECTX_ERR_DUPFIELD);
	r = good_rec("abcdef");
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADLEN);
	r = good_rec(ID_B);
	r.uid = 0; /* never root's */
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADLEN);
	r.uid = UINT32_MAX;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADLEN);
	r = good_rec(ID_B);
	r.gid = UINT32_MAX;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADLEN);
	r = good_rec(ID_B);
	r.no_uid = true;
	assert_int_equal(decode_with(f, &r), SECTX_ERR_NOFIELD);
	r = good_rec(ID_B);
	r.user = "al\nice";
	assert_int_equal(decode_with(f, &r), SECTX_ERR_BADSTR);
}

static void test_file_sessions_bounded(void **state)
{
	struct file_fixture *f = *state;
	struct sectxd_renewal *rn = new_registry(f, -1), *back = new_registry(f, -1);
	uint8_t *body = NULL;
	size_t len = 0, bad = 0;
	unsigned i;

	for (i = 0; i < SECTX_RENEW_SESSIONS_MAX + 1; i++) {
		add_session(rn, i, 0);
	}
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &body, &len), 0);
	assert_int_not_equal(sectx_sessions_file_decode(back, body, len, &bad), 0);
	assert_int_equal(back->n, 0);
	talloc_free(rn->head); /* the newest */
	assert_int_equal(sectx_sessions_file_encode(f->mem, rn, &body, &len), 0);
	assert_int_equal(sectx_sessions_file_decode(back, body, len, &bad), 0);
	assert_same_sessions(rn, back);
}

/* How many files of dir were moved aside as corrupt. */
static int corrupt_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		n += strncmp(e->d_name, SECTX_RENEW_FILE ".corrupt-",
			     strlen(SECTX_RENEW_FILE ".corrupt-")) == 0;
	}
	closedir(d);
	return n;
}

static void test_file_save_and_load(void **state)
{
	struct file_fixture *f = *state;
	int dirfd = sectx_state_dir_open(f->dir);
	struct sectxd_renewal *rn, *back, *none;
	char path[PATH_MAX + 32];

	assert_true(dirfd >= 0);
	rn = new_registry(f, dirfd);
	add_session(rn, 1, 4);
	add_session(rn, 2, 0);
	sectx_sessions_save(rn);
	back = new_registry(f, dirfd);
	sectx_sessions_load(back);
	assert_same_sessions(rn, back);
	/* a body that does not decode is moved aside, and the registry starts
	 * empty (the file's envelope is sound: the records are not) */
	assert_int_equal(sectx_state_save(dirfd, SECTX_RENEW_FILE, SECTX_RENEW_FILE_KIND,
					  SECTX_RENEW_FILE_VERSION, "junk", 4),
			 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECTX_RENEW_FILE);
	assert_int_equal(access(path, F_OK), 0);
	none = new_registry(f, dirfd);
	sectx_sessions_load(none);
	assert_int_equal(none->n, 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_true(corrupt_files(f->dir) == 1);
	close(dirfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_next_half_the_lifetime_left),
	    cmocka_unit_test(test_next_renew_interval),
	    cmocka_unit_test(test_next_never_past_renew_till),
	    cmocka_unit_test(test_next_done),
	    cmocka_unit_test(test_next_backoff),
	    cmocka_unit_test(test_answer_round_trip),
	    cmocka_unit_test(test_answer_message_made_sendable),
	    cmocka_unit_test(test_answer_encoder_refuses),
	    cmocka_unit_test(test_answer_truncated_at_every_prefix),
	    cmocka_unit_test(test_answer_oversized),
	    cmocka_unit_test(test_answer_malformed),
	    cmocka_unit_test_setup_teardown(test_file_round_trip, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_truncated_at_every_prefix, file_setup,
					    file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_oversized, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_record_length_checked, file_setup,
					    file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_malformed, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_sessions_bounded, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(test_file_save_and_load, file_setup, file_teardown),
	};

	sectx_log_init("test_renewal", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
