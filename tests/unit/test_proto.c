/*
 * test_proto.c - unit tests for the wire codec (common/proto.c).
 *
 * Round trips, then every class of malformed frame the helper can be sent:
 * short header, length beyond the maximum, length beyond the data, fields
 * overrunning the frame, wrong field lengths, duplicate and missing tags,
 * and strings with NUL, control characters or invalid UTF-8.  Ends with a
 * seeded random-input run (under ASan in CI) that must never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static size_t build(uint8_t *buf, size_t cap, uint16_t version, uint16_t op)
{
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, buf, cap, version, op, 0x01020304);
	sectx_put_u32(&w, SECTX_TAG_STATUS, 7);
	sectx_put_u64(&w, SECTX_TAG_UPTIME, 0x1122334455667788ULL);
	sectx_put_string(&w, SECTX_TAG_REALM, "EXAMPLE.ORG");
	sectx_put_bytes(&w, SECTX_TAG_CONFIG_FILE, "", 0);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

/* Write a raw header: lets tests lie about the length. */
static void raw_hdr(uint8_t *b, uint32_t len, uint16_t version, uint16_t op, uint32_t reqid)
{
	b[0] = (uint8_t)(len >> 24);
	b[1] = (uint8_t)(len >> 16);
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[4] = (uint8_t)(version >> 8);
	b[5] = (uint8_t)version;
	b[6] = (uint8_t)(op >> 8);
	b[7] = (uint8_t)op;
	b[8] = (uint8_t)(reqid >> 24);
	b[9] = (uint8_t)(reqid >> 16);
	b[10] = (uint8_t)(reqid >> 8);
	b[11] = (uint8_t)reqid;
}

/* Append a raw field header at b: tag and announced length. */
static size_t raw_field(uint8_t *b, uint16_t tag, uint32_t len)
{
	b[0] = (uint8_t)(tag >> 8);
	b[1] = (uint8_t)tag;
	b[2] = (uint8_t)(len >> 24);
	b[3] = (uint8_t)(len >> 16);
	b[4] = (uint8_t)(len >> 8);
	b[5] = (uint8_t)len;
	return SECTX_FIELD_HDR_LEN;
}

static void test_round_trip(void **state)
{
	uint8_t buf[256];
	struct sectx_msg msg;
	char s[64];
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t len, plen;

	len = build(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_STATUS);
	assert_int_equal(len, SECTX_HDR_LEN + 6 + 4 + 6 + 8 + 6 + 11 + 6);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), 0);
	assert_int_equal(msg.hdr.length, len);
	assert_int_equal(msg.hdr.version, SECTX_PROTO_VERSION);
	assert_int_equal(msg.hdr.op, SECTX_OP_STATUS);
	assert_int_equal(msg.hdr.reqid, 0x01020304);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &u32), 0);
	assert_int_equal(u32, 7);
	assert_int_equal(sectx_msg_get_u64(&msg, SECTX_TAG_UPTIME, &u64), 0);
	assert_true(u64 == 0x1122334455667788ULL);
	assert_int_equal(sectx_msg_get_string(&msg, SECTX_TAG_REALM, s, sizeof(s), 63), 0);
	assert_string_equal(s, "EXAMPLE.ORG");
	assert_int_equal(sectx_msg_get_bytes(&msg, SECTX_TAG_CONFIG_FILE, &p, &plen), 0);
	assert_int_equal(plen, 0);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_PID, &u32), SECTX_ERR_NOFIELD);
}

static void test_short_header(void **state)
{
	uint8_t buf[SECTX_HDR_LEN];
	struct sectx_hdr hdr;
	struct sectx_msg msg;
	size_t n;

	raw_hdr(buf, SECTX_HDR_LEN, 1, 1, 1);
	for (n = 0; n < SECTX_HDR_LEN; n++) {
		assert_int_equal(sectx_hdr_decode(buf, n, &hdr), SECTX_ERR_SHORT);
		assert_int_equal(sectx_msg_parse(buf, n, &msg), SECTX_ERR_SHORT);
	}
	assert_int_equal(sectx_msg_parse(buf, SECTX_HDR_LEN, &msg), 0);
}

static void test_length_beyond_max(void **state)
{
	uint8_t buf[SECTX_HDR_LEN];
	struct sectx_hdr hdr;

	raw_hdr(buf, 0xffffffffu, 1, 1, 99); /* a 4 GiB frame */
	assert_int_equal(sectx_hdr_decode(buf, sizeof(buf), &hdr), SECTX_ERR_TOOBIG);
	assert_int_equal(hdr.reqid, 99); /* still known, to address the error reply */
	raw_hdr(buf, SECTX_FRAME_MAX + 1, 1, 1, 1);
	assert_int_equal(sectx_hdr_decode(buf, sizeof(buf), &hdr), SECTX_ERR_TOOBIG);
	raw_hdr(buf, SECTX_FRAME_MAX, 1, 1, 1);
	assert_int_equal(sectx_hdr_decode(buf, sizeof(buf), &hdr), 0);
	raw_hdr(buf, SECTX_HDR_LEN - 1, 1, 1, 1);
	assert_int_equal(sectx_hdr_decode(buf, sizeof(buf), &hdr), SECTX_ERR_BADFRAME);
}

static void test_length_beyond_data(void **state)
{
	uint8_t buf[64];
	struct sectx_msg msg;
	size_t len = build(buf, sizeof(buf), 1, 1);

	assert_int_equal(sectx_msg_parse(buf, len - 1, &msg), SECTX_ERR_SHORT);
	/* more data than the header announces is just as wrong */
	raw_hdr(buf, (uint32_t)len - 6, 1, 1, 1);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), SECTX_ERR_BADFRAME);
}

static void test_field_overruns_frame(void **state)
{
	uint8_t buf[64];
	struct sectx_msg msg;
	size_t off = SECTX_HDR_LEN;

	off += raw_field(buf + off, SECTX_TAG_STATUS, 4);
	memset(buf + off, 0, 4);
	off += 4;
	off += raw_field(buf + off, SECTX_TAG_MESSAGE, 1000); /* only 2 bytes follow */
	buf[off++] = 'h';
	buf[off++] = 'i';
	raw_hdr(buf, (uint32_t)off, 1, 1, 1);
	assert_int_equal(sectx_msg_parse(buf, off, &msg), SECTX_ERR_BADFRAME);

	/* a field length near 4 GiB must not wrap any arithmetic */
	off = SECTX_HDR_LEN;
	off += raw_field(buf + off, SECTX_TAG_MESSAGE, 0xfffffffau);
	raw_hdr(buf, (uint32_t)off, 1, 1, 1);
	assert_int_equal(sectx_msg_parse(buf, off, &msg), SECTX_ERR_BADFRAME);

	/* a truncated field header */
	off = SECTX_HDR_LEN;
	buf[off++] = 0;
	buf[off++] = 1;
	buf[off++] = 0;
	raw_hdr(buf, (uint32_t)off, 1, 1, 1);
	assert_int_equal(sectx_msg_parse(buf, off, &msg), SECTX_ERR_BADFRAME);
}

static void test_bad_tags(void **state)
{
	uint8_t buf[64];
	struct sectx_msg msg;
	struct sectx_field f;
	uint32_t v;
	uint64_t v64;
	size_t off = SECTX_HDR_LEN, pos = 0;
	int seen = 0;

	/* STATUS with 3 bytes: wrong length for its type */
	off += raw_field(buf + off, SECTX_TAG_STATUS, 3);
	memset(buf + off, 0, 3);
	off += 3;
	/* PID twice: ambiguous */
	off += raw_field(buf + off, SECTX_TAG_PID, 4);
	memset(buf + off, 0, 4);
	off += 4;
	off += raw_field(buf + off, SECTX_TAG_PID, 4);
	memset(buf + off, 1, 4);
	off += 4;
	/* an unknown tag is carried, not interpreted */
	off += raw_field(buf + off, 0xbeef, 0);
	raw_hdr(buf, (uint32_t)off, 1, 1, 1);
	assert_int_equal(sectx_msg_parse(buf, off, &msg), 0);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &v), SECTX_ERR_BADLEN);
	assert_int_equal(sectx_msg_get_u64(&msg, SECTX_TAG_STATUS, &v64), SECTX_ERR_BADLEN);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_PID, &v), SECTX_ERR_DUPFIELD);
	assert_int_equal(sectx_msg_find(&msg, 0xbeef, &f), 0);
	assert_int_equal(f.len, 0);
	/* repeated tags are still reachable as a list */
	while (sectx_msg_next(&msg, SECTX_TAG_PID, &pos, &f) == 0) {
		assert_int_equal(sectx_field_u32(&f, &v), 0);
		assert_int_equal(v, seen == 0 ? 0 : 0x01010101);
		seen++;
	}
	assert_int_equal(seen, 2);
}

static void put_raw_string(uint8_t *buf, size_t *len, const void *s, size_t slen)
{
	size_t off = SECTX_HDR_LEN;

	off += raw_field(buf + off, SECTX_TAG_MESSAGE, (uint32_t)slen);
	memcpy(buf + off, s, slen);
	off += slen;
	raw_hdr(buf, (uint32_t)off, 1, 1, 1);
	*len = off;
}

static int get_raw_string(const void *s, size_t slen, size_t max)
{
	uint8_t buf[128];
	char out[64];
	struct sectx_msg msg;
	size_t len;
	int ret;

	put_raw_string(buf, &len, s, slen);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), 0);
	ret = sectx_msg_get_string(&msg, SECTX_TAG_MESSAGE, out, sizeof(out), max);
	if (ret != 0) {
		assert_string_equal(out, ""); /* nothing half-copied on error */
	}
	return ret;
}

static void test_strings(void **state)
{
	assert_int_equal(get_raw_string("alice", 5, 32), 0);
	assert_int_equal(get_raw_string("", 0, 32), 0);
	assert_int_equal(get_raw_string("al\0ce", 5, 32), SECTX_ERR_BADSTR);   /* NUL */
	assert_int_equal(get_raw_string("al\nce", 5, 32), SECTX_ERR_BADSTR);   /* newline */
	assert_int_equal(get_raw_string("al\x1b[", 4, 32), SECTX_ERR_BADSTR);  /* escape */
	assert_int_equal(get_raw_string("a\x7f", 2, 32), SECTX_ERR_BADSTR);    /* DEL */
	assert_int_equal(get_raw_string("J\xc3\xbcrgen", 7, 32), 0);	       /* ü */
	assert_int_equal(get_raw_string("\xe2\x82\xac", 3, 32), 0);	       /* € */
	assert_int_equal(get_raw_string("\xf0\x9f\x94\x91", 4, 32), 0);	       /* U+1F511 */
	assert_int_equal(get_raw_string("\xc0\xaf", 2, 32), SECTX_ERR_BADSTR); /* overlong / */
	assert_int_equal(get_raw_string("\xe0\x80\xaf", 3, 32), SECTX_ERR_BADSTR);
	assert_int_equal(get_raw_string("\xed\xa0\x80", 3, 32), SECTX_ERR_BADSTR); /* surrogate */
	assert_int_equal(get_raw_string("\xf4\x90\x80\x80", 4, 32), SECTX_ERR_BADSTR); /* >10FFFF */
	assert_int_equal(get_raw_string("\xc2\x85", 2, 32), SECTX_ERR_BADSTR);	       /* C1 NEL */
	assert_int_equal(get_raw_string("\xc3", 1, 32), SECTX_ERR_BADSTR); /* truncated */
	assert_int_equal(get_raw_string("\x80", 1, 32), SECTX_ERR_BADSTR); /* lone cont. */
	assert_int_equal(get_raw_string("\xe2\x82", 2, 32), SECTX_ERR_BADSTR);
	assert_int_equal(get_raw_string("abcdef", 6, 5), SECTX_ERR_TOOBIG); /* bound */
	assert_int_equal(get_raw_string("abcde", 5, 5), 0);
}

static void test_output_buffer_bound(void **state)
{
	uint8_t buf[128];
	char out[4];
	struct sectx_msg msg;
	size_t len;

	put_raw_string(buf, &len, "abcd", 4);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), 0);
	/* fits the bound but not the caller's buffer: refused, not truncated */
	assert_int_equal(sectx_msg_get_string(&msg, SECTX_TAG_MESSAGE, out, sizeof(out), 32),
			 SECTX_ERR_TOOBIG);
	assert_string_equal(out, "");
}

static void test_writer_bounds(void **state)
{
	uint8_t buf[32];
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, buf, sizeof(buf), 1, 1, 1);
	sectx_put_string(&w, SECTX_TAG_MESSAGE, "0123456789"); /* 16 bytes: ok */
	sectx_put_u32(&w, SECTX_TAG_STATUS, 1);		       /* 10 more: 38 > 32 */
	assert_int_equal(sectx_frame_end(&w, &len), SECTX_ERR_TOOBIG);

	sectx_frame_begin(&w, buf, sizeof(buf), 1, 1, 1);
	sectx_put_string(&w, SECTX_TAG_MESSAGE, "bad\nline");
	assert_int_equal(sectx_frame_end(&w, &len), SECTX_ERR_BADSTR);

	sectx_frame_begin(&w, buf, 8, 1, 1, 1); /* not even a header */
	assert_int_equal(sectx_frame_end(&w, &len), SECTX_ERR_TOOBIG);
}

static void test_reply_status_and_versions(void **state)
{
	uint8_t buf[256];
	struct sectx_hdr req = {
	    .length = SECTX_HDR_LEN, .version = 99, .op = SECTX_OP_STATUS, .reqid = 42};
	struct sectx_msg msg;
	char text[64];
	uint32_t v;
	size_t len;

	assert_false(sectx_version_ok(0));
	assert_true(sectx_version_ok(SECTX_PROTO_VERSION));
	assert_true(sectx_version_ok(SECTX_PROTO_MIN_VERSION));
	assert_false(sectx_version_ok(SECTX_PROTO_VERSION + 1));

	assert_int_equal(sectx_reply_status(buf, sizeof(buf), &req, SECTX_E_VERSION, "no", &len),
			 0);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), 0);
	assert_int_equal(msg.hdr.op, SECTX_OP_STATUS | SECTX_OP_REPLY);
	assert_int_equal(msg.hdr.reqid, 42);
	assert_int_equal(msg.hdr.version, SECTX_PROTO_VERSION); /* ours, not the unknown one */
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &v), 0);
	assert_int_equal(v, SECTX_E_VERSION);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_MIN_VERSION, &v), 0);
	assert_int_equal(v, SECTX_PROTO_MIN_VERSION);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_MAX_VERSION, &v), 0);
	assert_int_equal(v, SECTX_PROTO_VERSION);
	assert_int_equal(sectx_msg_get_string(&msg, SECTX_TAG_MESSAGE, text, sizeof(text), 63), 0);
	assert_string_equal(text, "no");

	req.version = SECTX_PROTO_VERSION;
	assert_int_equal(sectx_reply_status(buf, sizeof(buf), &req, SECTX_OK, NULL, &len), 0);
	assert_int_equal(sectx_msg_parse(buf, len, &msg), 0);
	assert_int_equal(sectx_msg_get_u32(&msg, SECTX_TAG_MIN_VERSION, &v), SECTX_ERR_NOFIELD);
}

static void test_cursor(void **state)
{
	const uint8_t b[] = {1, 2, 3, 4, 5, 6, 7};
	struct sectx_cur cur;
	const uint8_t *p;
	uint32_t v32;
	uint64_t v64;
	uint16_t v16;
	uint8_t v8;

	sectx_cur_init(&cur, b, sizeof(b));
	assert_int_equal(sectx_cur_get_u64(&cur, &v64), SECTX_ERR_SHORT);
	assert_int_equal(cur.off, 0); /* a failed get consumes nothing */
	assert_int_equal(sectx_cur_get_u32(&cur, &v32), 0);
	assert_int_equal(v32, 0x01020304);
	assert_int_equal(sectx_cur_get_u16(&cur, &v16), 0);
	assert_int_equal(v16, 0x0506);
	assert_int_equal(sectx_cur_get_u16(&cur, &v16), SECTX_ERR_SHORT);
	assert_int_equal(sectx_cur_get_u8(&cur, &v8), 0);
	assert_int_equal(v8, 7);
	assert_int_equal(sectx_cur_left(&cur), 0);
	assert_int_equal(sectx_cur_get_bytes(&cur, 1, &p), SECTX_ERR_SHORT);
	assert_int_equal(sectx_cur_get_bytes(&cur, 0, &p), 0);
	sectx_cur_init(&cur, NULL, 100); /* no buffer means no bytes */
	assert_int_equal(sectx_cur_left(&cur), 0);
}

/* Random and mutated frames: whatever the bytes, parse and every getter
 * either succeed within bounds or return an error.  ASan checks the rest. */
static void test_random_input(void **state)
{
	static uint8_t buf[1024];
	uint64_t seed = 0x5ec7c0ffee;
	char s[SECTX_STRING_MAX + 1];
	struct sectx_msg msg;
	size_t i, j, len, good = 0;

	for (i = 0; i < 200000; i++) {
		uint32_t v;
		uint64_t v64;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		len = (size_t)(seed >> 33) % sizeof(buf);
		if (i % 2 == 0) {
			/* mutate a valid frame so parsing gets past the header */
			size_t base = build(buf, sizeof(buf), 1, 1);

			len = base;
			for (j = 0; j < 3; j++) {
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				buf[(seed >> 33) % base] = (uint8_t)(seed >> 13);
			}
		} else {
			for (j = 0; j < len; j++) {
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				buf[j] = (uint8_t)(seed >> 40);
			}
		}
		if (sectx_msg_parse(buf, len, &msg) != 0) {
			continue;
		}
		good++;
		(void)sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &v);
		(void)sectx_msg_get_u64(&msg, SECTX_TAG_UPTIME, &v64);
		(void)sectx_msg_get_string(&msg, SECTX_TAG_REALM, s, sizeof(s), SECTX_STRING_MAX);
	}
	assert_true(good > 1000); /* the mutations did reach the field code */
}

/* The raw writer is the cursor's mirror: what it writes the cursor reads
 * back, and it never writes past its buffer. */
static void test_raw_writer(void **state)
{
	uint8_t buf[16], big[32];
	struct sectx_wbuf w;
	struct sectx_cur cur;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	const uint8_t *raw = NULL;

	(void)state;
	sectx_wbuf_init(&w, buf, sizeof(buf));
	sectx_wbuf_put_raw(&w, "ab", 2);
	sectx_wbuf_put_u32(&w, 0x01020304u);
	sectx_wbuf_put_u64(&w, 0x1122334455667788ull);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 14);
	assert_int_equal(buf[2], 0x01);
	assert_int_equal(buf[13], 0x88);
	sectx_cur_init(&cur, buf, w.len);
	assert_int_equal(sectx_cur_get_bytes(&cur, 2, &raw), 0);
	assert_memory_equal(raw, "ab", 2);
	assert_int_equal(sectx_cur_get_u32(&cur, &u32), 0);
	assert_int_equal(u32, 0x01020304u);
	assert_int_equal(sectx_cur_get_u64(&cur, &u64), 0);
	assert_true(u64 == 0x1122334455667788ull);
	assert_int_equal(sectx_cur_left(&cur), 0);

	/* 14 bytes used: a u32 does not fit, and the error sticks */
	memset(big, 0xee, sizeof(big));
	sectx_wbuf_init(&w, big, 14);
	sectx_wbuf_put_raw(&w, buf, 14);
	sectx_wbuf_put_u32(&w, 0);
	assert_int_equal(w.err, SECTX_ERR_TOOBIG);
	sectx_wbuf_put_raw(&w, "", 0);
	assert_int_equal(w.err, SECTX_ERR_TOOBIG);
	assert_int_equal(w.len, 14);
	assert_int_equal(big[14], 0xee);

	sectx_wbuf_init(&w, NULL, 8);
	sectx_wbuf_put_u32(&w, 1);
	assert_int_not_equal(w.err, 0);
	assert_int_equal(w.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_short_header),
	    cmocka_unit_test(test_length_beyond_max),
	    cmocka_unit_test(test_length_beyond_data),
	    cmocka_unit_test(test_field_overruns_frame),
	    cmocka_unit_test(test_bad_tags),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_output_buffer_bound),
	    cmocka_unit_test(test_writer_bounds),
	    cmocka_unit_test(test_reply_status_and_versions),
	    cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_raw_writer),
	    cmocka_unit_test(test_random_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
