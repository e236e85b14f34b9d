/*
 * test_kdc_io.c - unit tests of the TCP framing of KDC messages
 * (helper/login/kdc_frame.c, used by kdc_io.c): the four-byte big-endian
 * length written before a message, and the reading of a reply's length and
 * body as a TCP connection delivers them: whole, one byte at a time, never
 * past the announced body; refused when the length is zero, above
 * SECTX_KDC_REPLY_MAX, or has the reserved top bit set (RFC 4120 7.2.2).
 * No network: the "connection" is a buffer handed out in chunks.
 */
#include "login/login_int.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Deliver stream (len bytes) to r as a socket would: each read at most chunk
 * bytes and never more than the reader asks for.  Returns the reader's last
 * answer; *used is how many bytes it took. */
static int feed(TALLOC_CTX *mem_ctx, struct sectx_kdc_reader *r, const uint8_t *stream, size_t len,
		size_t chunk, size_t *used)
{
	size_t off = 0;
	int ret = 0;

	while (off < len) {
		uint8_t *buf = NULL;
		size_t want = 0, n;

		sectx_kdc_reader_want(r, &buf, &want);
		assert_non_null(buf);
		assert_true(want > 0);
		n = want < chunk ? want : chunk;
		if (n > len - off) {
			n = len - off;
		}
		memcpy(buf, stream + off, n);
		off += n;
		ret = sectx_kdc_reader_got(mem_ctx, r, n);
		if (ret != 0) {
			break;
		}
	}
	*used = off;
	return ret;
}

/* A reply: the prefix for body_len (announced may differ), then body_len bytes. */
static uint8_t *make_reply(TALLOC_CTX *mem_ctx, uint32_t announced, size_t body_len, size_t *len)
{
	uint8_t *s = talloc_size(mem_ctx, SECTX_KDC_PREFIX_LEN + body_len);
	size_t i;

	assert_non_null(s);
	s[0] = (uint8_t)(announced >> 24);
	s[1] = (uint8_t)(announced >> 16);
	s[2] = (uint8_t)(announced >> 8);
	s[3] = (uint8_t)announced;
	for (i = 0; i < body_len; i++) {
		s[SECTX_KDC_PREFIX_LEN + i] = (uint8_t)(i * 7 + 1);
	}
	*len = SECTX_KDC_PREFIX_LEN + body_len;
	return s;
}

static void test_encode(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	const uint8_t expect[] = {0, 0, 0, 3, 'a', 'b', 'c'};
	uint8_t *out = NULL, *big;
	size_t out_len = 0;

	(void)state;
	assert_int_equal(sectx_kdc_frame_encode(mem_ctx, "abc", 3, &out, &out_len), 0);
	assert_int_equal(out_len, sizeof(expect));
	assert_memory_equal(out, expect, sizeof(expect));

	/* every byte of the length, big-endian */
	big = talloc_zero_size(mem_ctx, 0x012345);
	assert_non_null(big);
	big[0x012344] = 0x5a;
	assert_int_equal(sectx_kdc_frame_encode(mem_ctx, big, 0x012345, &out, &out_len), 0);
	assert_int_equal(out_len, 4 + 0x012345);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0x01);
	assert_int_equal(out[2], 0x23);
	assert_int_equal(out[3], 0x45);
	assert_int_equal(out[4 + 0x012344], 0x5a);

	/* as large as a reply may be, and no larger */
	big = talloc_zero_size(mem_ctx, SECTX_KDC_REPLY_MAX + 1);
	assert_non_null(big);
	assert_int_equal(sectx_kdc_frame_encode(mem_ctx, big, SECTX_KDC_REPLY_MAX, &out, &out_len),
			 0);
	assert_int_equal(out_len, 4 + SECTX_KDC_REPLY_MAX);
	assert_int_equal(out[1], (SECTX_KDC_REPLY_MAX >> 16) & 0xff);
	assert_int_equal(
	    sectx_kdc_frame_encode(mem_ctx, big, SECTX_KDC_REPLY_MAX + 1, &out, &out_len),
	    -EMSGSIZE);
	assert_null(out);
	assert_int_equal(out_len, 0);
	talloc_free(mem_ctx);
}

/* An encoded message is read back as the same bytes. */
static void test_decode_whole(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	uint8_t *out = NULL;
	size_t out_len = 0, used = 0;
	const char msg[] = "a KRB-AS-REP, or so";

	(void)state;
	assert_int_equal(sectx_kdc_frame_encode(mem_ctx, msg, sizeof(msg), &out, &out_len), 0);
	assert_int_equal(feed(mem_ctx, &r, out, out_len, out_len, &used), 1);
	assert_int_equal(used, out_len);
	assert_int_equal(r.in_len, sizeof(msg));
	assert_memory_equal(r.in, msg, sizeof(msg));
	assert_ptr_equal(talloc_parent(r.in), mem_ctx);
	talloc_free(mem_ctx);
}

/* One byte per read: the reply is complete with its last byte, not before;
 * bytes after the announced body are left on the connection. */
static void test_decode_in_pieces(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	size_t len, used = 0, i;
	uint8_t *s = make_reply(mem_ctx, 300, 300 + 10, &len);
	uint8_t *buf = NULL;
	size_t want = 0;

	(void)state;
	/* the prefix, byte by byte: asks for exactly what is left of it */
	for (i = 0; i < SECTX_KDC_PREFIX_LEN; i++) {
		sectx_kdc_reader_want(&r, &buf, &want);
		assert_int_equal(want, SECTX_KDC_PREFIX_LEN - i);
		*buf = s[i];
		assert_int_equal(sectx_kdc_reader_got(mem_ctx, &r, 1), 0);
	}
	assert_int_equal(r.in_len, 300);
	sectx_kdc_reader_want(&r, &buf, &want);
	assert_int_equal(want, 300); /* the body only, never the bytes after it */
	for (i = 0; i < 299; i++) {
		sectx_kdc_reader_want(&r, &buf, &want);
		assert_int_equal(want, 300 - i);
		*buf = s[SECTX_KDC_PREFIX_LEN + i];
		assert_int_equal(sectx_kdc_reader_got(mem_ctx, &r, 1), 0);
	}
	sectx_kdc_reader_want(&r, &buf, &want);
	assert_int_equal(want, 1);
	*buf = s[SECTX_KDC_PREFIX_LEN + 299];
	assert_int_equal(sectx_kdc_reader_got(mem_ctx, &r, 1), 1);
	assert_memory_equal(r.in, s + SECTX_KDC_PREFIX_LEN, 300);

	/* the same through feed(), from a fresh reader */
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(mem_ctx, &r, s, len, 1, &used), 1);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN + 300);
	assert_memory_equal(r.in, s + SECTX_KDC_PREFIX_LEN, 300);

	/* and in uneven chunks */
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(mem_ctx, &r, s, len, 3, &used), 1);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN + 300);
	assert_memory_equal(r.in, s + SECTX_KDC_PREFIX_LEN, 300);
	talloc_free(mem_ctx);
}

/* A body that stops short is not a reply. */
static void test_decode_short(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	size_t len, used = 0;
	uint8_t *s = make_reply(mem_ctx, 100, 99, &len);

	(void)state;
	assert_int_equal(feed(mem_ctx, &r, s, len, len, &used), 0);
	assert_int_equal(used, len);
	assert_int_equal(r.in_got, 99);
	talloc_free(mem_ctx);
}

/* The largest reply is read; one byte more is refused before any body is
 * allocated, whether the prefix comes whole or in pieces. */
static void test_decode_over_max(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	size_t len, used = 0;
	uint8_t *s;

	(void)state;
	s = make_reply(mem_ctx, SECTX_KDC_REPLY_MAX, SECTX_KDC_REPLY_MAX, &len);
	assert_int_equal(feed(mem_ctx, &r, s, len, 65536, &used), 1);
	assert_int_equal(r.in_len, SECTX_KDC_REPLY_MAX);

	memset(&r, 0, sizeof(r));
	s = make_reply(mem_ctx, SECTX_KDC_REPLY_MAX + 1, 16, &len);
	assert_int_equal(feed(mem_ctx, &r, s, len, len, &used), -EPROTO);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN);
	assert_int_equal(r.in_len, SECTX_KDC_REPLY_MAX + 1); /* for the log */
	assert_null(r.in);

	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(mem_ctx, &r, s, len, 1, &used), -EPROTO);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN);
	assert_null(r.in);

	memset(&r, 0, sizeof(r));
	s = make_reply(mem_ctx, 0x7fffffffu, 16, &len);
	assert_int_equal(feed(mem_ctx, &r, s, len, len, &used), -EPROTO);
	assert_null(r.in);
	talloc_free(mem_ctx);
}

/* The top bit of the length is reserved (RFC 4120 7.2.2: a KDC that sets it
 * speaks an extension we do not): such a reply is refused, as any length
 * over the maximum, even when the other bits make a small length. */
static void test_decode_high_bit(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	size_t len, used = 0;
	uint8_t *s = make_reply(mem_ctx, 0x80000005u, 5, &len);

	(void)state;
	assert_int_equal(feed(mem_ctx, &r, s, len, len, &used), -EPROTO);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN);
	assert_int_equal(r.in_len, 0x80000005u);
	assert_null(r.in);

	memset(&r, 0, sizeof(r));
	s = make_reply(mem_ctx, 0x80000000u, 0, &len);
	assert_int_equal(feed(mem_ctx, &r, s, len, 1, &used), -EPROTO);
	assert_null(r.in);
	talloc_free(mem_ctx);
}

/* A zero length is no answer. */
static void test_decode_zero(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_kdc_reader r = {0};
	size_t len, used = 0;
	uint8_t *s = make_reply(mem_ctx, 0, 8, &len);

	(void)state;
	assert_int_equal(feed(mem_ctx, &r, s, len, len, &used), -EPROTO);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN);
	assert_int_equal(r.in_len, 0);
	assert_null(r.in);

	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(mem_ctx, &r, s, len, 1, &used), -EPROTO);
	assert_int_equal(used, SECTX_KDC_PREFIX_LEN);
	talloc_free(mem_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),	     cmocka_unit_test(test_decode_whole),
	    cmocka_unit_test(test_decode_in_pieces), cmocka_unit_test(test_decode_short),
	    cmocka_unit_test(test_decode_over_max),  cmocka_unit_test(test_decode_high_bit),
	    cmocka_unit_test(test_decode_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
