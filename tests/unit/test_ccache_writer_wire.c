/*
 * test_ccache_writer_wire.c - unit tests for the ccache writer's messages
 * (helper/ccache_writer/wire.c).
 *
 * The job (helper -> writer) and the outcome (child -> writer -> helper):
 * each decoder takes what its encoder writes, op by op and at the named
 * maxima, and refuses every prefix of a good frame, input beyond every
 * named maximum (groups, creds, names, messages, the TGT, the frame
 * itself), a wrong version, op or reqid, a tag its encoder never writes for
 * that op, a missing required field and every singular field given twice.
 * Frames the encoders would never write are built here with the codec's
 * own writer (common/proto.h), field by field.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccache_writer/ccache_writer_int.h"

#define REQID 0x01020304u

static const gid_t some_groups[] = {1000, 27, 100};

static const struct sectx_writer_user alice = {
    .uid = 1000, .gid = 1000, .groups = some_groups, .n_groups = 3, .name = "alice"};

/* --- a field list builder for frames the encoders never write ------------- */

enum fkind { F_U32, F_U64, F_STR, F_BYTES };

struct fld {
	uint16_t tag;
	enum fkind kind;
	uint64_t u;
	const void *p; /* F_STR: a C string; F_BYTES: len bytes */
	size_t len;
};

#define U32(t, v)                                                                                  \
	{                                                                                          \
		(t), F_U32, (v), NULL, 0                                                           \
	}
#define U64(t, v)                                                                                  \
	{                                                                                          \
		(t), F_U64, (v), NULL, 0                                                           \
	}
#define STR(t, s)                                                                                  \
	{                                                                                          \
		(t), F_STR, 0, (s), 0                                                              \
	}
#define BYTES(t, b, n)                                                                             \
	{                                                                                          \
		(t), F_BYTES, 0, (b), (n)                                                          \
	}

static void put_fld(struct sectx_wbuf *w, const struct fld *f)
{
	switch (f->kind) {
	case F_U32:
		sectx_put_u32(w, f->tag, (uint32_t)f->u);
		break;
	case F_U64:
		sectx_put_u64(w, f->tag, f->u);
		break;
	case F_STR:
		/* as raw bytes: a string longer than the codec's own bound
		 * must reach the decoder too */
		sectx_put_bytes(w, f->tag, f->p, strlen(f->p));
		break;
	case F_BYTES:
		sectx_put_bytes(w, f->tag, f->p, f->len);
		break;
	}
}

/* Build a frame of fields f[0..n) into buf; with dup >= 0, field dup twice
 * (the second right after the first); field skip (if >= 0) left out. */
static size_t build(uint8_t *buf, size_t cap, uint16_t version, uint16_t op, uint32_t reqid,
		    const struct fld *f, size_t n, int dup, int skip)
{
	struct sectx_wbuf w;
	size_t i, len = 0;

	sectx_frame_begin(&w, buf, cap, version, op, reqid);
	for (i = 0; i < n; i++) {
		if ((int)i == skip) {
			continue;
		}
		put_fld(&w, &f[i]);
		if ((int)i == dup) {
			put_fld(&w, &f[i]);
		}
	}
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

static struct job *new_job(void)
{
	struct job *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	return j;
}

static struct outcome *new_outcome(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	return o;
}

/* Decode buf as a job into a fresh struct; returns the result, and the
 * outcome's message in msg (if not NULL). */
static int decode_job(uint8_t *buf, size_t len, struct job **jout, char *msg, size_t msgsz)
{
	struct job *j = new_job();
	struct outcome *o = new_outcome();
	int ret = ccw_job_decode(buf, len, j, o);

	if (ret != 0) {
		assert_int_equal(ret, -o->err); /* a refusal always says why */
		assert_true(o->msg[0] != '\0');
	}
	if (msg != NULL) {
		snprintf(msg, msgsz, "%s", o->msg);
	}
	free(o);
	if (jout != NULL) {
		*jout = j;
	} else {
		free(j);
	}
	return ret;
}

/* The job refused as malformed for the codec's reason err. */
static void assert_malformed_job(uint8_t *buf, size_t len, int err)
{
	char msg[WRITER_MSG_MAX], want[WRITER_MSG_MAX];

	assert_int_equal(decode_job(buf, len, NULL, msg, sizeof(msg)), -EPROTO);
	snprintf(want, sizeof(want), "malformed job: %s", sectx_strerror(err));
	assert_string_equal(msg, want);
}

/* --- jobs: round trips ------------------------------------------------------ */

static size_t encode(const struct job_msg *m, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	assert_int_equal(ccw_job_encode(m, buf, cap, &len), 0);
	assert_int_equal(len, ccw_job_size(m));
	return len;
}

static void check_common(const struct job *j, const struct job_msg *m, uint8_t *buf, size_t len)
{
	size_t i;

	assert_int_equal(j->op, m->op);
	assert_int_equal(j->reqid, m->reqid);
	assert_int_equal(j->uid, m->who->uid);
	assert_int_equal(j->gid, m->who->gid);
	assert_int_equal(j->n_groups, m->who->n_groups);
	for (i = 0; i < j->n_groups; i++) {
		assert_int_equal(j->groups[i], m->who->groups[i]);
	}
	assert_string_equal(j->user, m->who->name);
	assert_string_equal(j->tmpl, m->ccache);
	assert_string_equal(j->ccache, ""); /* expanded by ccw_check_job, not here */
	assert_int_equal(j->deadline, (int64_t)m->deadline);
	assert_ptr_equal(j->frame, buf);
	assert_int_equal(j->frame_len, len);
}

static void test_job_store_round_trip(void **state)
{
	static uint8_t buf[4096];
	char c1[] = "first credential", c2[] = "\x00\x01\x02 second";
	krb5_data d1 = {.magic = KV5M_DATA, .length = sizeof(c1), .data = c1};
	krb5_data d2 = {.magic = KV5M_DATA, .length = sizeof(c2), .data = c2};
	krb5_data *creds[] = {&d1, &d2};
	struct job_msg m = {.op = WOP_STORE,
			    .reqid = REQID,
			    .who = &alice,
			    .ccache = "FILE:/tmp/krb5cc_%U_XXXXXX",
			    .deadline = 123456789,
			    .replace = true,
			    .creds = creds,
			    .n_creds = 2};
	struct job *j;
	size_t len;

	(void)state;
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	check_common(j, &m, buf, len);
	assert_true(j->replace);
	assert_false(j->want_tgt);
	assert_int_equal(j->n_creds, 2);
	assert_int_equal(j->creds[0].len, sizeof(c1));
	assert_memory_equal(j->creds[0].value, c1, sizeof(c1));
	assert_int_equal(j->creds[1].len, sizeof(c2));
	assert_memory_equal(j->creds[1].value, c2, sizeof(c2));
	free(j);

	m.replace = false;
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	assert_false(j->replace);
	free(j);
}

static void test_job_destroy_and_read_round_trip(void **state)
{
	static uint8_t buf[4096];
	struct sectx_writer_user nobody_else = {.uid = 4242, .gid = 4242, .name = "bob"};
	struct job_msg m = {.op = WOP_DESTROY,
			    .reqid = REQID,
			    .who = &nobody_else,
			    .ccache = "DIR::/run/user/4242/krb5cc/tktabc",
			    .deadline = UINT64_MAX, /* clamped, not wrapped */
			    .principal = "bob@EXAMPLE.ORG"};
	struct job *j;
	size_t len;

	(void)state;
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	assert_int_equal(j->deadline, INT64_MAX);
	m.deadline = INT64_MAX;
	check_common(j, &m, buf, len);
	assert_string_equal(j->principal, "bob@EXAMPLE.ORG");
	assert_int_equal(j->n_creds, 0);
	free(j);

	m.op = WOP_READ;
	m.principal = NULL;
	m.want_tgt = true;
	m.ccache = "KEYRING:persistent:4242:krb_ccache_x";
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	check_common(j, &m, buf, len);
	assert_true(j->want_tgt);
	assert_false(j->replace);
	assert_string_equal(j->principal, "");
	free(j);

	m.want_tgt = false;
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	assert_false(j->want_tgt);
	free(j);
}

/* Every named maximum at once is still taken. */
static void test_job_at_the_maxima(void **state)
{
	static gid_t groups[SECTX_WRITER_MAX_GROUPS];
	static uint8_t buf[WRITER_JOB_MAX];
	static char user[SECTX_NAME_MAX + 1], ccache[WRITER_CCNAME_MAX + 1];
	static krb5_data d[SECTX_WRITER_MAX_CREDS];
	krb5_data *creds[SECTX_WRITER_MAX_CREDS];
	struct sectx_writer_user who = {.uid = 1, .gid = 2, .groups = groups};
	struct job_msg m = {.op = WOP_STORE, .reqid = 1, .who = &who, .ccache = ccache};
	struct job *j;
	size_t i, len;

	(void)state;
	for (i = 0; i < SECTX_WRITER_MAX_GROUPS; i++) {
		groups[i] = (gid_t)(i + 1);
	}
	who.n_groups = SECTX_WRITER_MAX_GROUPS;
	memset(user, 'u', SECTX_NAME_MAX);
	who.name = user;
	memcpy(ccache, "FILE:/", 6);
	memset(ccache + 6, 'c', WRITER_CCNAME_MAX - 6);
	for (i = 0; i < SECTX_WRITER_MAX_CREDS; i++) {
		d[i].magic = KV5M_DATA;
		d[i].length = 100;
		d[i].data = user;
		creds[i] = &d[i];
	}
	m.creds = creds;
	m.n_creds = SECTX_WRITER_MAX_CREDS;
	len = encode(&m, buf, sizeof(buf));
	assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
	check_common(j, &m, buf, len);
	assert_int_equal(j->n_creds, SECTX_WRITER_MAX_CREDS);
	free(j);
}

static void test_job_ids(void **state)
{
	uint8_t buf[256];
	struct fld f[] = {U32(WT_UID, 1)};
	uint16_t op = 0;
	uint32_t reqid = 0;
	size_t len;

	(void)state;
	len = build(buf, sizeof(buf), 7, 0x7777, 0xabcdef01, f, 1, -1, -1);
	ccw_job_ids(buf, len, &op, &reqid);
	assert_int_equal(op, 0x7777);
	assert_int_equal(reqid, 0xabcdef01);
	op = 5;
	reqid = 6;
	ccw_job_ids(buf, SECTX_HDR_LEN - 1, &op, &reqid); /* too short: untouched */
	assert_int_equal(op, 5);
	assert_int_equal(reqid, 6);
}

/* --- jobs: refusals --------------------------------------------------------- */

static void test_job_truncated(void **state)
{
	static uint8_t buf[4096];
	char c1[] = "credential";
	krb5_data d1 = {.magic = KV5M_DATA, .length = sizeof(c1), .data = c1};
	krb5_data *creds[] = {&d1};
	struct job_msg m = {.reqid = REQID,
			    .who = &alice,
			    .ccache = "FILE:/tmp/x",
			    .deadline = 99,
			    .principal = "alice@EXAMPLE.ORG",
			    .creds = creds,
			    .n_creds = 1};
	const uint16_t ops[] = {WOP_STORE, WOP_DESTROY, WOP_READ};
	size_t o, len, cut;

	(void)state;
	for (o = 0; o < 3; o++) {
		m.op = ops[o];
		len = encode(&m, buf, sizeof(buf));
		for (cut = 0; cut < len; cut++) {
			assert_int_equal(decode_job(buf, cut, NULL, NULL, 0), -EPROTO);
		}
		assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);
	}
}

/* The fields of a good store, destroy and read (the first six are every
 * job's, all required; the last is the op's own). */
static const char cred_bytes[] = "cred";
static const struct fld store_f[] = {
    U32(WT_UID, 1000),	 STR(WT_USER, "alice"), U32(WT_GID, 1000),  STR(WT_CCACHE, "FILE:/tmp/x"),
    U64(WT_DEADLINE, 5), U32(WT_GROUP, 27),	U32(WT_REPLACE, 0), BYTES(WT_CRED, cred_bytes, 4),
};
static const struct fld destroy_f[] = {
    U32(WT_UID, 1000),
    STR(WT_USER, "alice"),
    U32(WT_GID, 1000),
    STR(WT_CCACHE, "FILE:/tmp/x"),
    U64(WT_DEADLINE, 5),
    U32(WT_GROUP, 27),
    STR(WT_PRINCIPAL, "alice@EXAMPLE.ORG"),
};
static const struct fld read_f[] = {
    U32(WT_UID, 1000),	 STR(WT_USER, "alice"), U32(WT_GID, 1000),   STR(WT_CCACHE, "FILE:/tmp/x"),
    U64(WT_DEADLINE, 5), U32(WT_GROUP, 27),	U32(WT_WANT_TGT, 1),
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

struct op_fields {
	uint16_t op;
	const struct fld *f;
	size_t n;
};

static const struct op_fields all_ops[] = {
    {WOP_STORE, store_f, N(store_f)},
    {WOP_DESTROY, destroy_f, N(destroy_f)},
    {WOP_READ, read_f, N(read_f)},
};

static void test_job_built_by_hand_is_good(void **state)
{
	static uint8_t buf[4096];
	size_t o, len;

	(void)state;
	for (o = 0; o < N(all_ops); o++) {
		len = build(buf, sizeof(buf), WRITER_VERSION, all_ops[o].op, REQID, all_ops[o].f,
			    all_ops[o].n, -1, -1);
		assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);
	}
}

/* Each singular field twice: refused; each repeated one (groups, creds)
 * twice: taken. */
static void test_job_duplicate_field(void **state)
{
	static uint8_t buf[4096];
	size_t o, i, len;

	(void)state;
	for (o = 0; o < N(all_ops); o++) {
		for (i = 0; i < all_ops[o].n; i++) {
			uint16_t tag = all_ops[o].f[i].tag;

			len = build(buf, sizeof(buf), WRITER_VERSION, all_ops[o].op, REQID,
				    all_ops[o].f, all_ops[o].n, (int)i, -1);
			if (tag == WT_GROUP || tag == WT_CRED) {
				assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);
			} else {
				assert_malformed_job(buf, len, SECTX_ERR_DUPFIELD);
			}
		}
	}
}

/* Each required field missing: refused (groups may be none; a store needs
 * a credential; replace and want_tgt default to 0). */
static void test_job_missing_field(void **state)
{
	static uint8_t buf[4096];
	struct job *j;
	size_t o, i, len;

	(void)state;
	for (o = 0; o < N(all_ops); o++) {
		for (i = 0; i < all_ops[o].n; i++) {
			uint16_t tag = all_ops[o].f[i].tag;

			len = build(buf, sizeof(buf), WRITER_VERSION, all_ops[o].op, REQID,
				    all_ops[o].f, all_ops[o].n, -1, (int)i);
			if (tag == WT_GROUP || tag == WT_REPLACE || tag == WT_WANT_TGT) {
				assert_int_equal(decode_job(buf, len, &j, NULL, 0), 0);
				if (tag == WT_GROUP) {
					assert_int_equal(j->n_groups, 0);
				} else {
					assert_false(j->replace || j->want_tgt);
				}
				free(j);
			} else if (tag == WT_CRED) {
				assert_int_equal(decode_job(buf, len, NULL, NULL, 0), -EINVAL);
			} else {
				assert_malformed_job(buf, len, SECTX_ERR_NOFIELD);
			}
		}
	}
}

/* A wrong version or op, or a tag the encoder never writes for the op. */
static void test_job_wrong_op_version_or_tag(void **state)
{
	static uint8_t buf[4096];
	const uint16_t bad_ops[] = {0, 4, WOP_STORE | SECTX_OP_REPLY, SECTX_OP_PAM_SETCRED};
	const uint16_t foreign[] = {WT_ERR,	WT_MESSAGE, WT_PRINCIPAL, WT_CRED, WT_WANT_TGT,
				    WT_REPLACE, 0,	    13,		  31,	   32,
				    0x8001};
	struct fld f[N(store_f) + 1];
	char msg[WRITER_MSG_MAX];
	size_t o, i, len;

	(void)state;
	for (i = 0; i < N(bad_ops); i++) {
		len = build(buf, sizeof(buf), WRITER_VERSION, bad_ops[i], REQID, store_f,
			    N(store_f), -1, -1);
		assert_int_equal(decode_job(buf, len, NULL, msg, sizeof(msg)), -EPROTO);
		assert_non_null(strstr(msg, "unknown job"));
	}
	len = build(buf, sizeof(buf), WRITER_VERSION + 1, WOP_STORE, REQID, store_f, N(store_f), -1,
		    -1);
	assert_malformed_job(buf, len, SECTX_ERR_VERSION);

	for (o = 0; o < N(all_ops); o++) {
		for (i = 0; i < N(foreign); i++) {
			size_t k, n = all_ops[o].n;
			bool own = false;

			for (k = 0; k < n; k++) {
				f[k] = all_ops[o].f[k];
				own |= f[k].tag == foreign[i];
			}
			if (own) {
				continue; /* this op's own tag */
			}
			f[n] = (struct fld)U32(foreign[i], 1);
			len = build(buf, sizeof(buf), WRITER_VERSION, all_ops[o].op, REQID, f,
				    n + 1, -1, -1);
			assert_malformed_job(buf, len, SECTX_ERR_BADFRAME);
		}
	}
}

/* A field of the wrong type (length) for its tag. */
static void test_job_wrong_field_type(void **state)
{
	static uint8_t buf[4096];
	struct fld f[N(store_f)];
	size_t i, k, len;

	(void)state;
	for (i = 0; i < N(store_f); i++) {
		if (store_f[i].kind != F_U32 && store_f[i].kind != F_U64) {
			continue;
		}
		for (k = 0; k < N(store_f); k++) {
			f[k] = store_f[k];
		}
		f[i] = (struct fld)BYTES(store_f[i].tag, cred_bytes, 3);
		len = build(buf, sizeof(buf), WRITER_VERSION, WOP_STORE, REQID, f, N(f), -1, -1);
		assert_malformed_job(buf, len, SECTX_ERR_BADLEN);
	}
}

static void test_job_too_many_groups_or_creds(void **state)
{
	static uint8_t buf[WRITER_JOB_MAX];
	static struct fld f[N(store_f) + SECTX_WRITER_MAX_GROUPS + SECTX_WRITER_MAX_CREDS + 2];
	char msg[WRITER_MSG_MAX];
	size_t i, n, len;

	(void)state;
	/* one group beyond the maximum */
	for (n = 0; n < N(store_f); n++) {
		f[n] = store_f[n]; /* one group and one cred already */
	}
	for (i = 0; i < SECTX_WRITER_MAX_GROUPS; i++) {
		f[n++] = (struct fld)U32(WT_GROUP, 5000 + i);
	}
	len = build(buf, sizeof(buf), WRITER_VERSION, WOP_STORE, REQID, f, n, -1, -1);
	assert_int_equal(decode_job(buf, len, NULL, msg, sizeof(msg)), -E2BIG);
	assert_string_equal(msg, "too many groups");
	/* exactly the maximum */
	len = build(buf, sizeof(buf), WRITER_VERSION, WOP_STORE, REQID, f, n - 1, -1, -1);
	assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);

	/* one credential beyond the maximum */
	for (n = 0; n < N(store_f); n++) {
		f[n] = store_f[n];
	}
	for (i = 0; i < SECTX_WRITER_MAX_CREDS; i++) {
		f[n++] = (struct fld)BYTES(WT_CRED, cred_bytes, 4);
	}
	len = build(buf, sizeof(buf), WRITER_VERSION, WOP_STORE, REQID, f, n, -1, -1);
	assert_int_equal(decode_job(buf, len, NULL, msg, sizeof(msg)), -E2BIG);
	assert_string_equal(msg, "too many credentials");
	len = build(buf, sizeof(buf), WRITER_VERSION, WOP_STORE, REQID, f, n - 1, -1, -1);
	assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);
}

/* A string one byte beyond its bound: the user, the cache name, the
 * principal. */
static void test_job_too_long_names(void **state)
{
	static uint8_t buf[WRITER_JOB_MAX];
	static char user[SECTX_NAME_MAX + 2], name[SECTX_STRING_MAX + 2];
	struct fld f[N(store_f)];
	const struct op_fields *of;
	size_t o, i, k, len;
	int at;

	(void)state;
	memset(user, 'u', SECTX_NAME_MAX + 1);
	memset(name, 'n', SECTX_STRING_MAX + 1);
	for (o = 0; o < N(all_ops); o++) {
		of = &all_ops[o];
		for (i = 0; i < of->n; i++) {
			uint16_t tag = of->f[i].tag;

			if (tag != WT_USER && tag != WT_CCACHE && tag != WT_PRINCIPAL) {
				continue;
			}
			for (k = 0; k < of->n; k++) {
				f[k] = of->f[k];
			}
			for (at = 0; at < 2; at++) { /* at the bound, then one beyond it */
				const char *s = tag == WT_USER ? user : name;
				size_t max = tag == WT_USER ? SECTX_NAME_MAX : SECTX_STRING_MAX;

				f[i] = (struct fld)BYTES(tag, s, max + (size_t)at);
				len = build(buf, sizeof(buf), WRITER_VERSION, of->op, REQID, f,
					    of->n, -1, -1);
				if (at == 0) {
					assert_int_equal(decode_job(buf, len, NULL, NULL, 0), 0);
				} else {
					assert_malformed_job(buf, len, SECTX_ERR_TOOBIG);
				}
			}
		}
	}
}

/* A frame beyond WRITER_JOB_MAX, or a header that claims more than the
 * frame holds. */
static void test_job_frame_beyond_the_cap(void **state)
{
	static uint8_t buf[WRITER_JOB_MAX + 64];
	char msg[WRITER_MSG_MAX];
	size_t len;

	(void)state;
	len = build(buf, sizeof(buf), WRITER_VERSION, WOP_READ, REQID, read_f, N(read_f), -1, -1);
	/* the same frame, its header and the buffer claiming one byte more
	 * than the cap */
	buf[0] = (uint8_t)((WRITER_JOB_MAX + 1) >> 24);
	buf[1] = (uint8_t)((WRITER_JOB_MAX + 1) >> 16);
	buf[2] = (uint8_t)((WRITER_JOB_MAX + 1) >> 8);
	buf[3] = (uint8_t)(WRITER_JOB_MAX + 1);
	assert_int_equal(decode_job(buf, WRITER_JOB_MAX + 1, NULL, msg, sizeof(msg)), -EMSGSIZE);
	assert_non_null(strstr(msg, "larger than"));
	/* a header beyond the cap over a short buffer */
	assert_malformed_job(buf, len, SECTX_ERR_TOOBIG);
}

/* The encoder never writes what the decoder would refuse. */
static void test_job_encoder_refusals(void **state)
{
	static gid_t groups[SECTX_WRITER_MAX_GROUPS + 1];
	static uint8_t buf[4096];
	static krb5_data *creds[SECTX_WRITER_MAX_CREDS + 1];
	krb5_data d = {.magic = KV5M_DATA, .length = 4, .data = (char *)"abcd"};
	struct sectx_writer_user who = alice;
	struct job_msg m = {.op = WOP_READ, .reqid = 1, .who = &who, .ccache = "FILE:/tmp/x"};
	size_t i, len = 0;

	(void)state;
	who.groups = groups;
	who.n_groups = SECTX_WRITER_MAX_GROUPS + 1;
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), SECTX_ERR_TOOBIG);
	who = alice;

	for (i = 0; i <= SECTX_WRITER_MAX_CREDS; i++) {
		creds[i] = &d;
	}
	m.op = WOP_STORE;
	m.creds = creds;
	m.n_creds = SECTX_WRITER_MAX_CREDS + 1;
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), SECTX_ERR_TOOBIG);
	m.n_creds = 0;
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.n_creds = 1;
	assert_int_equal(ccw_job_encode(&m, buf, ccw_job_size(&m) - 1, &len), SECTX_ERR_TOOBIG);

	m.op = WOP_DESTROY; /* without a principal */
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.op = 9;
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), -EINVAL);

	m.op = WOP_READ;
	m.ccache = "FILE:/tmp/\x01";
	assert_int_equal(ccw_job_encode(&m, buf, sizeof(buf), &len), SECTX_ERR_BADSTR);
}

/* --- outcomes --------------------------------------------------------------- */

static size_t encode_outcome(uint8_t *buf, size_t cap, uint16_t op, const struct outcome *o)
{
	size_t len = 0;

	assert_int_equal(ccw_outcome_encode(buf, cap, op, REQID, o, &len), 0);
	return len;
}

static void test_outcome_round_trip(void **state)
{
	static uint8_t buf[WRITER_REPLY_MAX];
	struct outcome *o = new_outcome(), *got = new_outcome();
	size_t len;

	(void)state;
	/* a store's success */
	snprintf(o->ccache, sizeof(o->ccache), "FILE:/tmp/krb5cc_1000_aBc123");
	len = encode_outcome(buf, sizeof(buf), WOP_STORE, o);
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_STORE, REQID, got), 0);
	assert_int_equal(got->err, 0);
	assert_string_equal(got->ccache, o->ccache);
	assert_string_equal(got->msg, "");

	/* a failure; the message reduced to printable ASCII */
	memset(o, 0, sizeof(*o));
	o->err = ESTALE;
	snprintf(o->msg, sizeof(o->msg), "/tmp/x\n\x1b[31mholds another principal's cache\xc3\xa9");
	len = encode_outcome(buf, sizeof(buf), WOP_DESTROY, o);
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_DESTROY, REQID, got), 0);
	assert_int_equal(got->err, ESTALE);
	assert_string_equal(got->msg, "/tmp/x??[31mholds another principal's cache??");
	assert_string_equal(got->ccache, "");

	/* a read, with the TGT at its maximum size */
	memset(o, 0, sizeof(*o));
	snprintf(o->principal, sizeof(o->principal), "alice@EXAMPLE.ORG");
	memset(o->cred, 0xa5, WRITER_CRED_MAX);
	o->cred_len = WRITER_CRED_MAX;
	len = encode_outcome(buf, sizeof(buf), WOP_READ, o);
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_READ, REQID, got), 0);
	assert_string_equal(got->principal, "alice@EXAMPLE.ORG");
	assert_int_equal(got->cred_len, WRITER_CRED_MAX);
	assert_memory_equal(got->cred, o->cred, WRITER_CRED_MAX);

	/* a principal and a TGT go only in a read's reply */
	len = encode_outcome(buf, sizeof(buf), WOP_STORE, o);
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_STORE, REQID, got), 0);
	assert_string_equal(got->principal, "");
	assert_int_equal(got->cred_len, 0);

	/* the longest message is cut to fit, never refused */
	memset(o, 0, sizeof(*o));
	o->err = EIO;
	memset(o->msg, 'm', sizeof(o->msg) - 1);
	len = encode_outcome(buf, sizeof(buf), WOP_STORE, o);
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_STORE, REQID, got), 0);
	assert_int_equal(strlen(got->msg), WRITER_MSG_MAX - 1);
	free(o);
	free(got);
}

static void test_outcome_truncated(void **state)
{
	static uint8_t buf[WRITER_REPLY_MAX];
	struct outcome *o = new_outcome(), *got = new_outcome();
	size_t len, cut;

	(void)state;
	o->err = ENOENT;
	snprintf(o->ccache, sizeof(o->ccache), "FILE:/tmp/x");
	snprintf(o->msg, sizeof(o->msg), "no such cache");
	snprintf(o->principal, sizeof(o->principal), "alice@EXAMPLE.ORG");
	memset(o->cred, 1, 64);
	o->cred_len = 64;
	len = encode_outcome(buf, sizeof(buf), WOP_READ, o);
	for (cut = 0; cut < len; cut++) {
		assert_int_not_equal(ccw_outcome_decode(buf, cut, WOP_READ, REQID, got), 0);
		assert_int_equal(got->err, 0); /* nothing half-decoded is kept */
		assert_int_equal(got->cred_len, 0);
	}
	assert_int_equal(ccw_outcome_decode(buf, len, WOP_READ, REQID, got), 0);
	free(o);
	free(got);
}

static const struct fld reply_f[] = {
    U32(WT_ERR, 0),
    STR(WT_CCACHE, "FILE:/tmp/x"),
    STR(WT_MESSAGE, "done"),
    STR(WT_PRINCIPAL, "alice@EXAMPLE.ORG"),
    BYTES(WT_CRED, cred_bytes, 4),
};

static int decode_reply(const struct fld *f, size_t n, int dup, int skip, uint16_t version,
			uint16_t op, uint32_t reqid)
{
	static uint8_t buf[2 * WRITER_REPLY_MAX];
	struct outcome *got = new_outcome();
	size_t len;
	int ret;

	len = build(buf, sizeof(buf), version, op, reqid, f, n, dup, skip);
	ret = ccw_outcome_decode(buf, len, WOP_READ, REQID, got);
	free(got);
	return ret;
}

static void test_outcome_duplicate_or_missing_field(void **state)
{
	const uint16_t rop = WOP_READ | SECTX_OP_REPLY;
	size_t i;

	(void)state;
	assert_int_equal(decode_reply(reply_f, N(reply_f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	for (i = 0; i < N(reply_f); i++) {
		assert_int_equal(
		    decode_reply(reply_f, N(reply_f), (int)i, -1, WRITER_VERSION, rop, REQID),
		    SECTX_ERR_DUPFIELD);
		/* only the errno is required */
		assert_int_equal(
		    decode_reply(reply_f, N(reply_f), -1, (int)i, WRITER_VERSION, rop, REQID),
		    reply_f[i].tag == WT_ERR ? SECTX_ERR_NOFIELD : 0);
	}
}

static void test_outcome_wrong_op_reqid_version_or_tag(void **state)
{
	static uint8_t buf[4096];
	struct outcome *got = new_outcome();
	const uint16_t rop = WOP_READ | SECTX_OP_REPLY;
	const uint16_t foreign[] = {WT_UID,	 WT_GID, WT_GROUP, WT_USER, WT_DEADLINE, WT_REPLACE,
				    WT_WANT_TGT, 0,	 13,	   31,	    32};
	struct fld f[N(reply_f) + 1];
	size_t i, len;

	(void)state;
	assert_int_equal(decode_reply(reply_f, N(reply_f), -1, -1, WRITER_VERSION, WOP_READ, REQID),
			 SECTX_ERR_BADFRAME); /* a job, not its reply */
	assert_int_equal(decode_reply(reply_f, N(reply_f), -1, -1, WRITER_VERSION,
				      WOP_STORE | SECTX_OP_REPLY, REQID),
			 SECTX_ERR_BADFRAME); /* another op's reply */
	assert_int_equal(decode_reply(reply_f, N(reply_f), -1, -1, WRITER_VERSION, rop, REQID + 1),
			 SECTX_ERR_BADFRAME);
	assert_int_equal(decode_reply(reply_f, N(reply_f), -1, -1, WRITER_VERSION + 1, rop, REQID),
			 SECTX_ERR_VERSION);
	for (i = 0; i < N(foreign); i++) {
		memcpy(f, reply_f, sizeof(reply_f));
		f[N(reply_f)] = (struct fld)U32(foreign[i], 1);
		assert_int_equal(
		    decode_reply(f, N(reply_f) + 1, -1, -1, WRITER_VERSION, rop, REQID),
		    SECTX_ERR_BADFRAME);
	}
	/* a principal or a TGT in the reply to a store or a destroy */
	for (i = 3; i < N(reply_f); i++) {
		uint16_t op = i == 3 ? WOP_STORE : WOP_DESTROY;

		len = build(buf, sizeof(buf), WRITER_VERSION, op | SECTX_OP_REPLY, REQID, reply_f,
			    i + 1, -1, -1);
		assert_int_equal(ccw_outcome_decode(buf, len, op, REQID, got), SECTX_ERR_BADFRAME);
		len = build(buf, sizeof(buf), WRITER_VERSION, op | SECTX_OP_REPLY, REQID, reply_f,
			    3, -1, -1);
		assert_int_equal(ccw_outcome_decode(buf, len, op, REQID, got), 0);
	}
	free(got);
}

/* Every bound of a reply: the errno, the strings, the TGT, the frame. */
static void test_outcome_oversized(void **state)
{
	static uint8_t big[WRITER_REPLY_MAX + 2];
	static uint8_t buf[2 * WRITER_REPLY_MAX];
	struct outcome *got = new_outcome();
	const uint16_t rop = WOP_READ | SECTX_OP_REPLY;
	struct fld f[N(reply_f)];
	size_t len;

	(void)state;
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';

#define WITH(i, x)                                                                                 \
	do {                                                                                       \
		memcpy(f, reply_f, sizeof(reply_f));                                               \
		f[i] = (struct fld)x;                                                              \
	} while (0)

	WITH(0, U32(WT_ERR, 4095));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	WITH(0, U32(WT_ERR, 4096));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_BADLEN);
	WITH(1, BYTES(WT_CCACHE, big, WRITER_CCNAME_MAX));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	WITH(1, BYTES(WT_CCACHE, big, WRITER_CCNAME_MAX + 1));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_TOOBIG);
	WITH(2, BYTES(WT_MESSAGE, big, WRITER_MSG_MAX - 1));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	WITH(2, BYTES(WT_MESSAGE, big, WRITER_MSG_MAX));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_TOOBIG);
	WITH(3, BYTES(WT_PRINCIPAL, big, SECTX_STRING_MAX));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	WITH(3, BYTES(WT_PRINCIPAL, big, SECTX_STRING_MAX + 1));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_TOOBIG);
	WITH(4, BYTES(WT_CRED, big, WRITER_CRED_MAX));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID), 0);
	WITH(4, BYTES(WT_CRED, big, WRITER_CRED_MAX + 1));
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_BADLEN);
	WITH(4, BYTES(WT_CRED, big, 0)); /* an empty TGT is no TGT */
	assert_int_equal(decode_reply(f, N(f), -1, -1, WRITER_VERSION, rop, REQID),
			 SECTX_ERR_BADLEN);
#undef WITH

	/* a frame beyond WRITER_REPLY_MAX, whatever it holds: refused before
	 * anything is looked at */
	len = build(buf, sizeof(buf), WRITER_VERSION, rop, REQID, reply_f, N(reply_f), -1, -1);
	assert_int_equal(ccw_outcome_decode(buf, WRITER_REPLY_MAX + 1, WOP_READ, REQID, got),
			 SECTX_ERR_TOOBIG);
	{
		struct fld pad[N(reply_f) + 1];

		memcpy(pad, reply_f, sizeof(reply_f));
		pad[N(reply_f)] = (struct fld)BYTES(0x7000, big, WRITER_REPLY_MAX);
		len = build(buf, sizeof(buf), WRITER_VERSION, rop, REQID, pad, N(pad), -1, -1);
		assert_true(len > WRITER_REPLY_MAX);
		assert_int_equal(ccw_outcome_decode(buf, len, WOP_READ, REQID, got),
				 SECTX_ERR_TOOBIG);
	}
	/* the encoder does not write past its buffer */
	memset(got, 0, sizeof(*got));
	got->cred_len = WRITER_CRED_MAX;
	assert_int_equal(ccw_outcome_encode(buf, 100, WOP_READ, REQID, got, &len),
			 SECTX_ERR_TOOBIG);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_job_store_round_trip),
	    cmocka_unit_test(test_job_destroy_and_read_round_trip),
	    cmocka_unit_test(test_job_at_the_maxima),
	    cmocka_unit_test(test_job_ids),
	    cmocka_unit_test(test_job_truncated),
	    cmocka_unit_test(test_job_built_by_hand_is_good),
	    cmocka_unit_test(test_job_duplicate_field),
	    cmocka_unit_test(test_job_missing_field),
	    cmocka_unit_test(test_job_wrong_op_version_or_tag),
	    cmocka_unit_test(test_job_wrong_field_type),
	    cmocka_unit_test(test_job_too_many_groups_or_creds),
	    cmocka_unit_test(test_job_too_long_names),
	    cmocka_unit_test(test_job_frame_beyond_the_cap),
	    cmocka_unit_test(test_job_encoder_refusals),
	    cmocka_unit_test(test_outcome_round_trip),
	    cmocka_unit_test(test_outcome_truncated),
	    cmocka_unit_test(test_outcome_duplicate_or_missing_field),
	    cmocka_unit_test(test_outcome_wrong_op_reqid_version_or_tag),
	    cmocka_unit_test(test_outcome_oversized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
