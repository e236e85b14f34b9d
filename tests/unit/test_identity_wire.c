/*
 * test_identity_wire.c - unit tests of the identity subsystem's private wire
 * formats (helper/identity/wire.c): the NSS publisher's report, the S4U
 * worker's check and answer, the S4U spawner's request and answer, and the
 * id map state file's body.  Each decoder must accept what its encoder
 * writes and refuse every proper prefix of it, a frame past its cap, a
 * string past its bound, too many entries, another op, version or request
 * id, and a required field missing or given twice.  Then the store's
 * reading of the id map (helper/identity/mappings.c): version 2 round trip,
 * version 1 (the text of older builds) still read and rewritten as version
 * 2, a body the decoder refuses moved aside.  Works in a fresh directory
 * under $TMPDIR (or /tmp).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "identity/identity_int.h"

#include <errno.h>
#include <fcntl.h>
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

#include "log.h"

#define NOW   1700000000
#define REALM "SECTX.TEST"
#define BIG   (SECTX_FRAME_MAX + 64u)

/* --- helpers ---------------------------------------------------------------------------------- */

typedef int (*decode_fn)(const uint8_t *buf, size_t len, void *arg);

/* Every proper prefix of buf[len] is refused; the whole of it is accepted. */
static void assert_prefixes_refused(const uint8_t *buf, size_t len, decode_fn fn, void *arg)
{
	size_t k;

	for (k = 0; k < len; k++) {
		if (fn(buf, k, arg) == 0) {
			fail_msg("a prefix of %zu of %zu bytes was accepted", k, len);
		}
	}
	assert_int_equal(fn(buf, len, arg), 0);
	/* and a byte more is not the same frame either */
	{
		uint8_t more[BIG];

		memcpy(more, buf, len);
		more[len] = 0;
		assert_int_not_equal(fn(more, len + 1, arg), 0);
	}
}

/* A frame built by hand (for what an encoder refuses to write). */
struct hand {
	struct sectx_wbuf w;
	uint8_t buf[BIG];
	size_t len;
};

static void hand_begin(struct hand *h, uint16_t version, uint16_t op, uint32_t reqid)
{
	memset(h, 0, sizeof(*h));
	sectx_frame_begin(&h->w, h->buf, sizeof(h->buf), version, op, reqid);
}

static void hand_bytes(struct hand *h, uint16_t tag, char c, size_t n)
{
	uint8_t v[SECTX_FRAME_MAX];

	memset(v, c, n);
	sectx_put_bytes(&h->w, tag, v, n);
}

static void hand_end(struct hand *h)
{
	assert_int_equal(sectx_frame_end(&h->w, &h->len), 0);
}

/* --- frames ----------------------------------------------------------------------------------- */

static void test_frame_need(void **state)
{
	uint8_t buf[64];
	size_t len = 0, need = 0;

	(void)state;
	assert_int_equal(id_wire_spawn_encode(buf, sizeof(buf), 7, &len), 0);
	assert_int_equal(len, SECTX_HDR_LEN);
	for (size_t k = 0; k < SECTX_HDR_LEN; k++) {
		assert_int_equal(id_wire_frame_need(buf, k, 64, &need), SECTX_ERR_SHORT);
	}
	assert_int_equal(id_wire_frame_need(buf, len, 64, &need), 0);
	assert_int_equal(need, SECTX_HDR_LEN);
	assert_int_equal(id_wire_frame_need(buf, len, SECTX_HDR_LEN - 1, &need), SECTX_ERR_TOOBIG);
	buf[3] = SECTX_HDR_LEN - 1; /* shorter than a header */
	assert_int_equal(id_wire_frame_need(buf, len, 64, &need), SECTX_ERR_BADFRAME);
	buf[3] = 65;
	assert_int_equal(id_wire_frame_need(buf, len, 64, &need), SECTX_ERR_TOOBIG);
}

/* --- the publisher's report ------------------------------------------------------------------- */

static int dec_published(const uint8_t *buf, size_t len, void *arg)
{
	int result = 1;
	int ret = id_wire_published_decode(buf, len, 42, &result);

	if (ret == 0 && arg != NULL) {
		*(int *)arg = result;
	}
	return ret;
}

static void test_published(void **state)
{
	static const int results[] = {0, -ENOSPC, -EEXIST, -E2BIG, -4095};
	uint8_t buf[ID_PUB_FRAME_MAX];
	struct hand h;
	size_t len = 0;
	int result;

	(void)state;
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		assert_int_equal(id_wire_published_encode(buf, sizeof(buf), 42, results[i], &len),
				 0);
		assert_int_equal(len, ID_PUB_FRAME_MAX);
		assert_prefixes_refused(buf, len, dec_published, &result);
		assert_int_equal(result, results[i]);
	}
	/* what is not -errno is reported as -EIO */
	assert_int_equal(id_wire_published_encode(buf, sizeof(buf), 42, 3, &len), 0);
	assert_int_equal(dec_published(buf, len, &result), 0);
	assert_int_equal(result, -EIO);
	assert_int_equal(id_wire_published_encode(buf, sizeof(buf), 42, -5000, &len), 0);
	assert_int_equal(dec_published(buf, len, &result), 0);
	assert_int_equal(result, -EIO);
	/* too small a buffer */
	assert_int_not_equal(id_wire_published_encode(buf, ID_PUB_FRAME_MAX - 1, 42, 0, &len), 0);
	/* another generation, op, version */
	assert_int_equal(id_wire_published_encode(buf, sizeof(buf), 41, 0, &len), 0);
	assert_int_equal(dec_published(buf, len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN, 42);
	sectx_put_u32(&h.w, ID_TAG_ERR, 0);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION + 1, ID_OP_PUBLISHED, 42);
	sectx_put_u32(&h.w, ID_TAG_ERR, 0);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	/* missing, repeated, out of bounds, wrong size */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_PUBLISHED, 42);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_NOFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_PUBLISHED, 42);
	sectx_put_u32(&h.w, ID_TAG_ERR, 0);
	sectx_put_u32(&h.w, ID_TAG_ERR, 0);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_TOOBIG); /* past the cap */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_PUBLISHED, 42);
	sectx_put_u32(&h.w, ID_TAG_ERR, ID_ERR_MAX + 1);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_BADLEN);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_PUBLISHED, 42);
	hand_bytes(&h, ID_TAG_ERR, 0, 2);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_BADLEN);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_PUBLISHED, 42);
	sectx_put_u32(&h.w, ID_TAG_ERR, 0);
	hand_bytes(&h, 99, 'x', 100);
	hand_end(&h);
	assert_int_equal(dec_published(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);
}

/* --- the S4U worker --------------------------------------------------------------------------- */

struct check_out {
	uint32_t reqid;
	char principal[SECTX_NAME_MAX + 1];
};

static int dec_check(const uint8_t *buf, size_t len, void *arg)
{
	struct check_out tmp, *o = arg != NULL ? arg : &tmp;

	return id_wire_s4u_check_decode(buf, len, &o->reqid, o->principal, sizeof(o->principal));
}

static void test_s4u_check(void **state)
{
	char longest[SECTX_NAME_MAX + 2];
	uint8_t buf[ID_S4U_FRAME_MAX];
	struct check_out o;
	struct hand h;
	size_t len = 0;

	(void)state;
	assert_int_equal(id_wire_s4u_check_encode(buf, sizeof(buf), 9, "alice@SECTX.TEST", &len),
			 0);
	assert_prefixes_refused(buf, len, dec_check, &o);
	assert_int_equal(o.reqid, 9);
	assert_string_equal(o.principal, "alice@SECTX.TEST");
	/* the longest principal goes through; one byte more is refused both ways */
	memset(longest, 'a', SECTX_NAME_MAX);
	longest[SECTX_NAME_MAX] = '\0';
	assert_int_equal(id_wire_s4u_check_encode(buf, sizeof(buf), 10, longest, &len), 0);
	assert_prefixes_refused(buf, len, dec_check, &o);
	assert_string_equal(o.principal, longest);
	longest[SECTX_NAME_MAX] = 'a';
	longest[SECTX_NAME_MAX + 1] = '\0';
	assert_int_not_equal(id_wire_s4u_check_encode(buf, sizeof(buf), 11, longest, &len), 0);
	assert_int_not_equal(id_wire_s4u_check_encode(buf, sizeof(buf), 11, "", &len), 0);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	hand_bytes(&h, ID_TAG_PRINCIPAL, 'a', SECTX_NAME_MAX + 1);
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);
	/* empty, not a string, missing, repeated */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	hand_bytes(&h, ID_TAG_PRINCIPAL, 'a', 0);
	hand_end(&h);
	assert_int_not_equal(dec_check(h.buf, h.len, NULL), 0);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	hand_bytes(&h, ID_TAG_PRINCIPAL, '\n', 4);
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_BADSTR);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_NOFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "b@R");
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_DUPFIELD);
	/* another op (its own reply), another version, past the cap */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 11);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, 0, ID_OP_S4U_CHECK, 11);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 11);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
	hand_bytes(&h, 99, 'x', ID_S4U_FRAME_MAX);
	hand_end(&h);
	assert_int_equal(dec_check(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);
}

struct answer_out {
	uint32_t answer;
	char msg[ID_S4U_MSG_MAX + 1];
};

static int dec_answer(const uint8_t *buf, size_t len, void *arg)
{
	struct answer_out tmp, *o = arg != NULL ? arg : &tmp;

	return id_wire_s4u_answer_decode(buf, len, 5, &o->answer, o->msg, sizeof(o->msg));
}

static void test_s4u_answer(void **state)
{
	char longmsg[ID_S4U_MSG_MAX + 100];
	uint8_t buf[ID_S4U_FRAME_MAX];
	struct answer_out o;
	struct hand h;
	size_t len = 0;

	(void)state;
	assert_int_equal(id_wire_s4u_answer_encode(buf, sizeof(buf), 5, ID_S4U_EXISTS, NULL, &len),
			 0);
	assert_prefixes_refused(buf, len, dec_answer, &o);
	assert_int_equal(o.answer, ID_S4U_EXISTS);
	assert_string_equal(o.msg, "");
	assert_int_equal(id_wire_s4u_answer_encode(buf, sizeof(buf), 5, ID_S4U_UNKNOWN, "", &len),
			 0);
	assert_int_equal(dec_answer(buf, len, &o), 0);
	assert_int_equal(o.answer, ID_S4U_UNKNOWN);
	/* a Kerberos message arrives as printable ASCII, cut at its bound */
	assert_int_equal(id_wire_s4u_answer_encode(buf, sizeof(buf), 5, ID_S4U_ERROR,
						   "KDC\tsaid\n\x01no \xc3\xa9", &len),
			 0);
	assert_prefixes_refused(buf, len, dec_answer, &o);
	assert_int_equal(o.answer, ID_S4U_ERROR);
	assert_string_equal(o.msg, "KDC?said??no ??");
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(
	    id_wire_s4u_answer_encode(buf, sizeof(buf), 5, ID_S4U_ERROR, longmsg, &len), 0);
	assert_int_equal(len, ID_S4U_FRAME_MAX);
	assert_prefixes_refused(buf, len, dec_answer, &o);
	assert_int_equal(strlen(o.msg), ID_S4U_MSG_MAX);
	/* the reply to another request, or a request */
	assert_int_equal(id_wire_s4u_answer_encode(buf, sizeof(buf), 6, ID_S4U_EXISTS, NULL, &len),
			 0);
	assert_int_equal(dec_answer(buf, len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK, 5);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_EXISTS);
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	/* unknown answer, missing, repeated */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 5);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_ERROR + 1);
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_BADLEN);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 5);
	sectx_put_string(&h.w, ID_TAG_MESSAGE, "m");
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_NOFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 5);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_EXISTS);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_UNKNOWN);
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_DUPFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 5);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_ERROR);
	sectx_put_string(&h.w, ID_TAG_MESSAGE, "a");
	sectx_put_string(&h.w, ID_TAG_MESSAGE, "b");
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_DUPFIELD);
	/* a message past its bound makes a frame past the cap */
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_CHECK | SECTX_OP_REPLY, 5);
	sectx_put_u32(&h.w, ID_TAG_ANSWER, ID_S4U_ERROR);
	hand_bytes(&h, ID_TAG_MESSAGE, 'm', ID_S4U_MSG_MAX + 1);
	hand_end(&h);
	assert_int_equal(dec_answer(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);
}

/* --- the S4U spawner -------------------------------------------------------------------------- */

static int dec_spawn(const uint8_t *buf, size_t len, void *arg)
{
	uint32_t tmp, *reqid = arg != NULL ? arg : &tmp;

	return id_wire_spawn_decode(buf, len, reqid);
}

static int dec_spawned(const uint8_t *buf, size_t len, void *arg)
{
	uint32_t tmp, *pid = arg != NULL ? arg : &tmp;

	return id_wire_spawned_decode(buf, len, 77, pid);
}

static void test_spawn(void **state)
{
	uint8_t buf[ID_S4U_FRAME_MAX];
	uint32_t v = 0;
	struct hand h;
	size_t len = 0;

	(void)state;
	assert_int_equal(id_wire_spawn_encode(buf, sizeof(buf), 77, &len), 0);
	assert_prefixes_refused(buf, len, dec_spawn, &v);
	assert_int_equal(v, 77);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, 77);
	hand_end(&h);
	assert_int_equal(dec_spawn(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN, 77);
	hand_bytes(&h, 99, 'x', ID_S4U_FRAME_MAX);
	hand_end(&h);
	assert_int_equal(dec_spawn(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);

	assert_int_equal(id_wire_spawned_encode(buf, sizeof(buf), 77, 4242, &len), 0);
	assert_prefixes_refused(buf, len, dec_spawned, &v);
	assert_int_equal(v, 4242);
	assert_int_equal(id_wire_spawned_encode(buf, sizeof(buf), 77, 0, &len), 0);
	assert_int_equal(dec_spawned(buf, len, &v), 0);
	assert_int_equal(v, 0);
	/* another request, another op, no pid, two, out of range, past the cap */
	assert_int_equal(id_wire_spawned_encode(buf, sizeof(buf), 78, 4242, &len), 0);
	assert_int_equal(dec_spawned(buf, len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN, 77);
	sectx_put_u32(&h.w, ID_TAG_PID, 1);
	hand_end(&h);
	assert_int_equal(dec_spawned(h.buf, h.len, NULL), SECTX_ERR_BADFRAME);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, 77);
	hand_end(&h);
	assert_int_equal(dec_spawned(h.buf, h.len, NULL), SECTX_ERR_NOFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, 77);
	sectx_put_u32(&h.w, ID_TAG_PID, 1);
	sectx_put_u32(&h.w, ID_TAG_PID, 2);
	hand_end(&h);
	assert_int_equal(dec_spawned(h.buf, h.len, NULL), SECTX_ERR_DUPFIELD);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, 77);
	sectx_put_u32(&h.w, ID_TAG_PID, (uint32_t)INT32_MAX + 1);
	hand_end(&h);
	assert_int_equal(dec_spawned(h.buf, h.len, NULL), SECTX_ERR_BADLEN);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, 77);
	sectx_put_u32(&h.w, ID_TAG_PID, 1);
	hand_bytes(&h, 99, 'x', ID_S4U_FRAME_MAX);
	hand_end(&h);
	assert_int_equal(dec_spawned(h.buf, h.len, NULL), SECTX_ERR_TOOBIG);
}

/* --- the id map body -------------------------------------------------------------------------- */

/* Read a whole body: 0 with the head and entries (up to max) or the first
 * error. */
static int read_body(const uint8_t *p, size_t len, struct id_map_rec *recs, size_t max, size_t *n)
{
	struct id_map_reader r;
	struct id_map_rec rec;
	int ret;

	*n = 0;
	id_wire_map_reader_init(&r, p, len);
	while (!id_wire_map_done(&r)) {
		ret = id_wire_map_next(&r, &rec);
		if (ret != 0) {
			return ret;
		}
		if (*n < max) {
			recs[*n] = rec;
		}
		(*n)++;
	}
	return 0;
}

static int dec_body(const uint8_t *buf, size_t len, void *arg)
{
	size_t n;

	(void)arg;
	return read_body(buf, len, NULL, 0, &n);
}

/* users with principal u<i>@SECTX.TEST and uid 200000 + i */
static struct id_user **make_users(TALLOC_CTX *mem_ctx, size_t n, size_t name_len)
{
	struct id_user **users = talloc_zero_array(mem_ctx, struct id_user *, n + 1);

	for (size_t i = 0; i < n; i++) {
		char *p = talloc_asprintf(mem_ctx, "u%zu@SECTX.TEST", i);

		users[i] = talloc_zero(users, struct id_user);
		if (name_len > 0) {
			p = talloc_zero_size(mem_ctx, name_len + 1);
			memset(p, 'p', name_len);
		}
		users[i]->principal = p;
		users[i]->uid = 200000 + (uint32_t)i;
	}
	return users;
}

/* A body from frames built by hand: a head, then entries. */
struct hbody {
	uint8_t data[8 * BIG];
	size_t len;
};

static void hbody_add(struct hbody *b, const struct hand *h)
{
	memcpy(b->data + b->len, h->buf, h->len);
	b->len += h->len;
}

static void hbody_head(struct hbody *b, const char *range, uint32_t count)
{
	struct hand h;

	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_HEAD, 0);
	sectx_put_string(&h.w, ID_TAG_RANGE, range);
	sectx_put_u32(&h.w, ID_TAG_COUNT, count);
	hand_end(&h);
	hbody_add(b, &h);
}

static void hbody_entry(struct hbody *b, uint32_t uid, const char *principal)
{
	struct hand h;

	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_ENTRY, 0);
	sectx_put_u32(&h.w, ID_TAG_UID, uid);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, principal);
	hand_end(&h);
	hbody_add(b, &h);
}

static void test_map_body(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct id_map_rec recs[8];
	struct id_user **users;
	struct hbody *b = talloc_zero(mem, struct hbody);
	struct hand h;
	uint8_t *body = NULL;
	size_t len = 0, n = 0;

	(void)state;
	/* empty, a few, the longest principal */
	users = make_users(mem, 5, 0);
	assert_int_equal(id_wire_map_encode(mem, "200000-300000", users, 0, &body, &len), 0);
	assert_prefixes_refused(body, len, dec_body, NULL);
	assert_int_equal(read_body(body, len, recs, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].op, ID_OP_MAP_HEAD);
	assert_string_equal(recs[0].range, "200000-300000");
	assert_int_equal(recs[0].count, 0);
	assert_int_equal(id_wire_map_encode(mem, "200000-300000", users, 5, &body, &len), 0);
	assert_prefixes_refused(body, len, dec_body, NULL);
	assert_int_equal(read_body(body, len, recs, 8, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(recs[0].count, 5);
	for (size_t i = 1; i < 6; i++) {
		char want[32];

		snprintf(want, sizeof(want), "u%zu@SECTX.TEST", i - 1);
		assert_int_equal(recs[i].op, ID_OP_MAP_ENTRY);
		assert_int_equal(recs[i].uid, 200000 + i - 1);
		assert_string_equal(recs[i].principal, want);
	}
	users = make_users(mem, 2, SECTX_NAME_MAX);
	assert_int_equal(id_wire_map_encode(mem, "200000-300000", users, 2, &body, &len), 0);
	assert_prefixes_refused(body, len, dec_body, NULL);
	assert_int_equal(read_body(body, len, recs, 8, &n), 0);
	assert_int_equal(strlen(recs[2].principal), SECTX_NAME_MAX);
	/* the encoder refuses what the decoder would */
	users = make_users(mem, 1, SECTX_NAME_MAX + 1);
	assert_int_equal(id_wire_map_encode(mem, "200000-300000", users, 1, &body, &len), -EINVAL);
	users = make_users(mem, 1, 0);
	users[0]->principal = "";
	assert_int_equal(id_wire_map_encode(mem, "200000-300000", users, 1, &body, &len), -EINVAL);
	{
		char range[ID_RANGE_STR_MAX + 2];

		memset(range, '1', sizeof(range) - 1);
		range[sizeof(range) - 1] = '\0';
		assert_int_equal(id_wire_map_encode(mem, range, users, 0, &body, &len), -EINVAL);
	}

	/* no head, an empty body, a second head */
	b->len = 0;
	hbody_entry(b, 200001, "a@SECTX.TEST");
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_NOFIELD);
	assert_int_equal(dec_body(b->data, 0, NULL), SECTX_ERR_SHORT);
	b->len = 0;
	hbody_head(b, "200000-300000", 0);
	hbody_head(b, "200000-300000", 0);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_DUPFIELD);
	b->len = 0;
	hbody_head(b, "200000-300000", 1);
	hbody_head(b, "200000-300000", 0);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_DUPFIELD);
	/* fewer entries than the count (cut at a frame's end), more than it */
	b->len = 0;
	hbody_head(b, "200000-300000", 2);
	hbody_entry(b, 200001, "a@SECTX.TEST");
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_SHORT);
	hbody_entry(b, 200002, "b@SECTX.TEST");
	assert_int_equal(dec_body(b->data, b->len, NULL), 0);
	hbody_entry(b, 200003, "c@SECTX.TEST");
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_TOOBIG);
	/* a count past the ids of the range */
	b->len = 0;
	hbody_head(b, "200000-200999", 1001);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_TOOBIG);
	b->len = 0;
	hbody_head(b, "200000-200999", 1000);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_SHORT);
	/* a range that is not one, too long, missing; a count missing */
	b->len = 0;
	hbody_head(b, "200000", 0);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_BADSTR);
	b->len = 0;
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_HEAD, 0);
	hand_bytes(&h, ID_TAG_RANGE, '1', ID_RANGE_STR_MAX + 1);
	sectx_put_u32(&h.w, ID_TAG_COUNT, 0);
	hand_end(&h);
	hbody_add(b, &h);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_TOOBIG);
	b->len = 0;
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_HEAD, 0);
	sectx_put_u32(&h.w, ID_TAG_COUNT, 0);
	hand_end(&h);
	hbody_add(b, &h);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_NOFIELD);
	b->len = 0;
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_HEAD, 0);
	sectx_put_string(&h.w, ID_TAG_RANGE, "200000-300000");
	hand_end(&h);
	hbody_add(b, &h);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_NOFIELD);
	/* entries: a principal too long, empty, missing, twice; a uid missing, twice */
	b->len = 0;
	hbody_head(b, "200000-300000", 1);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_ENTRY, 0);
	sectx_put_u32(&h.w, ID_TAG_UID, 200001);
	hand_bytes(&h, ID_TAG_PRINCIPAL, 'p', SECTX_NAME_MAX + 1);
	hand_end(&h);
	hbody_add(b, &h);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_TOOBIG);
	{
		static const struct {
			int uids, principals;
			const char *principal;
			int want;
		} bad[] = {
		    {1, 1, "", SECTX_ERR_BADSTR},      {1, 0, NULL, SECTX_ERR_NOFIELD},
		    {1, 2, "a@R", SECTX_ERR_DUPFIELD}, {0, 1, "a@R", SECTX_ERR_NOFIELD},
		    {2, 1, "a@R", SECTX_ERR_DUPFIELD},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			b->len = 0;
			hbody_head(b, "200000-300000", 1);
			hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_ENTRY, 0);
			for (int k = 0; k < bad[i].uids; k++) {
				sectx_put_u32(&h.w, ID_TAG_UID, 200001);
			}
			for (int k = 0; k < bad[i].principals; k++) {
				sectx_put_string(&h.w, ID_TAG_PRINCIPAL, bad[i].principal);
			}
			hand_end(&h);
			hbody_add(b, &h);
			assert_int_equal(dec_body(b->data, b->len, NULL), bad[i].want);
		}
	}
	/* another op, version, request id; a frame past the cap */
	{
		static const struct {
			uint16_t version, op;
			uint32_t reqid;
		} bad[] = {
		    {ID_WIRE_VERSION, ID_OP_PUBLISHED, 0},
		    {ID_WIRE_VERSION, ID_OP_MAP_ENTRY | SECTX_OP_REPLY, 0},
		    {ID_WIRE_VERSION + 1, ID_OP_MAP_ENTRY, 0},
		    {ID_WIRE_VERSION, ID_OP_MAP_ENTRY, 1},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			b->len = 0;
			hbody_head(b, "200000-300000", 1);
			hand_begin(&h, bad[i].version, bad[i].op, bad[i].reqid);
			sectx_put_u32(&h.w, ID_TAG_UID, 200001);
			sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
			hand_end(&h);
			hbody_add(b, &h);
			assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_BADFRAME);
		}
	}
	b->len = 0;
	hbody_head(b, "200000-300000", 1);
	hand_begin(&h, ID_WIRE_VERSION, ID_OP_MAP_ENTRY, 0);
	sectx_put_u32(&h.w, ID_TAG_UID, 200001);
	sectx_put_string(&h.w, ID_TAG_PRINCIPAL, "a@R");
	hand_bytes(&h, 99, 'x', ID_MAP_FRAME_MAX);
	hand_end(&h);
	hbody_add(b, &h);
	assert_int_equal(dec_body(b->data, b->len, NULL), SECTX_ERR_TOOBIG);
	talloc_free(mem);
}

/* --- the store's reading of the id map -------------------------------------------------------- */

struct fixture {
	char path[PATH_MAX];
	int dirfd;
	TALLOC_CTX *mem_ctx;
	struct sectx_config *cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL) {
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/test_identity_wire.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->path) == NULL) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mem_ctx = talloc_new(NULL);
	if (f->mem_ctx == NULL || sectx_config_defaults(f->mem_ctx, &f->cfg) != 0) {
		return -1;
	}
	f->cfg->identity.auto_id = true;
	f->cfg->identity.id_range = "200000-300000";
	*state = f;
	return f->dirfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->path);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", f->path);
	}
	talloc_free(f->mem_ctx);
	free(f);
	return 0;
}

static struct id_store *new_store(struct fixture *f, int want)
{
	struct id_store *st = NULL;
	char why[512] = "";

	assert_int_equal(id_store_new(f->mem_ctx, f->cfg, REALM, &st), 0);
	assert_int_equal(id_store_load_static(st, why, sizeof(why)), 0);
	assert_int_equal(id_store_load_mappings(st, f->dirfd, why, sizeof(why)), want);
	return st;
}

/* The version and payload of the map file now. */
static uint32_t map_version(struct fixture *f, uint8_t **payload, size_t *len)
{
	uint32_t version = 0;

	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, ID_MAPFILE, "id map",
					  ID_MAPFILE_KIND, ID_MAPFILE_VERSION, ID_MAPFILE_MAX,
					  payload, len, &version),
			 0);
	return version;
}

static bool moved_aside(struct fixture *f)
{
	char *cmd =
	    talloc_asprintf(f->mem_ctx, "ls '%s' | grep -q '^%s\\.corrupt-'", f->path, ID_MAPFILE);

	return system(cmd) == 0;
}

static void test_store_map_v2(void **state)
{
	struct fixture *f = *state;
	uint32_t dave = id_auto_uid("dave@SECTX.TEST", 200000, 300000);
	struct id_store *st;
	struct id_lookup lk;
	uint8_t *payload;
	size_t len, n;
	struct id_map_rec recs[4];

	st = new_store(f, 0);
	assert_int_equal(id_store_check_result(st, "dave@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_check_result(st, "erin@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(map_version(f, &payload, &len), 2);
	assert_int_equal(read_body(payload, len, recs, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(recs[0].range, "200000-300000");
	assert_int_equal(recs[1].uid, dave);
	assert_string_equal(recs[1].principal, "dave@SECTX.TEST");
	/* read back by a new store */
	st = new_store(f, 0);
	assert_int_equal(id_store_n_mappings(st), 2);
	assert_int_equal(id_store_user_by_uid(st, dave, NOW, true, &lk), ID_FOUND);
	assert_string_equal(lk.user->principal, "dave@SECTX.TEST");
	assert_false(moved_aside(f));
	/* another range: refused, the file kept */
	f->cfg->identity.id_range = "200000-400000";
	(void)new_store(f, -ESTALE);
	assert_false(moved_aside(f));
}

/* A mapping in a sound body that does not fit (another uid than its hash)
 * is refused and reported; the others are served. */
static void test_store_map_v2_bad_entry(void **state)
{
	struct fixture *f = *state;
	struct hbody *b = talloc_zero(f->mem_ctx, struct hbody);
	uint32_t dave = id_auto_uid("dave@SECTX.TEST", 200000, 300000);
	struct id_store *st;

	hbody_head(b, "200000-300000", 2);
	hbody_entry(b, dave, "dave@SECTX.TEST");
	hbody_entry(b, dave == 200000 ? 200001 : 200000, "erin@SECTX.TEST");
	assert_int_equal(
	    sectx_state_save(f->dirfd, ID_MAPFILE, ID_MAPFILE_KIND, 2, b->data, b->len), 0);
	st = new_store(f, 0);
	assert_int_equal(id_store_n_mappings(st), 1);
	assert_int_equal(id_store_n_problems(st), 1);
	assert_non_null(strstr(id_store_problem_at(st, 0), "idmap:3: not a valid mapping"));
	assert_false(moved_aside(f));
}

/* A body the decoder refuses (here: cut after its head, and garbage) is
 * moved aside and the store starts without mappings. */
static void test_store_map_v2_corrupt(void **state)
{
	struct fixture *f = *state;
	struct hbody *b = talloc_zero(f->mem_ctx, struct hbody);
	struct id_store *st;
	struct stat sb;

	hbody_head(b, "200000-300000", 2);
	hbody_entry(b, id_auto_uid("dave@SECTX.TEST", 200000, 300000), "dave@SECTX.TEST");
	assert_int_equal(
	    sectx_state_save(f->dirfd, ID_MAPFILE, ID_MAPFILE_KIND, 2, b->data, b->len), 0);
	st = new_store(f, 0);
	assert_int_equal(id_store_n_mappings(st), 0);
	assert_int_equal(fstatat(f->dirfd, ID_MAPFILE, &sb, 0), -1);
	assert_true(moved_aside(f));
	assert_int_equal(
	    sectx_state_save(f->dirfd, ID_MAPFILE, ID_MAPFILE_KIND, 2, "range 200000-300000\n", 20),
	    0);
	st = new_store(f, 0);
	assert_int_equal(id_store_n_mappings(st), 0);
	assert_int_equal(fstatat(f->dirfd, ID_MAPFILE, &sb, 0), -1);
	/* and a new mapping writes a sound file again */
	assert_int_equal(id_store_check_result(st, "dave@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_n_mappings(new_store(f, 0)), 1);
}

/* Version 1, the text of older builds: read (an upgrade keeps its
 * mappings), checked as before, and replaced by version 2 at the next save. */
static void test_store_map_v1_upgrade(void **state)
{
	struct fixture *f = *state;
	uint32_t dave = id_auto_uid("dave@SECTX.TEST", 200000, 300000);
	char *text = talloc_asprintf(f->mem_ctx,
				     "# sectxd id mappings; written by sectxd, do not edit "
				     "while it runs\nrange 200000-300000\nmap %u dave@SECTX.TEST\n"
				     "map 5 x@SECTX.TEST\nmap 99999999999 y@SECTX.TEST\n",
				     dave);
	struct id_store *st;
	struct id_lookup lk;
	uint8_t *payload;
	size_t len, n;
	struct id_map_rec recs[4];

	assert_int_equal(
	    sectx_state_save(f->dirfd, ID_MAPFILE, ID_MAPFILE_KIND, 1, text, strlen(text)), 0);
	st = new_store(f, 0);
	assert_int_equal(id_store_n_mappings(st), 1);
	assert_int_equal(id_store_n_problems(st), 2);
	assert_int_equal(id_store_user_by_uid(st, dave, NOW, true, &lk), ID_FOUND);
	assert_int_equal(map_version(f, &payload, &len), 1);
	assert_int_equal(id_store_check_result(st, "erin@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(map_version(f, &payload, &len), 2);
	assert_int_equal(read_body(payload, len, recs, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(id_store_n_mappings(new_store(f, 0)), 2);
	/* a version-1 file of another range is refused as before */
	text = "range 200000-400000\n";
	assert_int_equal(
	    sectx_state_save(f->dirfd, ID_MAPFILE, ID_MAPFILE_KIND, 1, text, strlen(text)), 0);
	(void)new_store(f, -ESTALE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_need),
	    cmocka_unit_test(test_published),
	    cmocka_unit_test(test_s4u_check),
	    cmocka_unit_test(test_s4u_answer),
	    cmocka_unit_test(test_spawn),
	    cmocka_unit_test(test_map_body),
	    cmocka_unit_test_setup_teardown(test_store_map_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_map_v2_bad_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_map_v2_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_map_v1_upgrade, setup, teardown),
	};

	sectx_log_init("test_identity_wire", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
