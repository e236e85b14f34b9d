/*
 * test_login_wire.c - unit tests of the kpasswd worker's answer
 * (helper/login/passwd_wire.c): what the encoder writes in the worker, the
 * helper decodes to the same code and text; the text is made sendable
 * (bounded, cut at a character boundary, no control characters, UTF-8); and
 * the decoder refuses every truncated answer (each prefix), oversized ones
 * (a text over SECTX_CHPW_TEXT_MAX, a frame over SECTX_CHPW_ANSWER_MAX) and
 * malformed ones (another op, version or reqid, a missing or repeated field,
 * a code out of range, a text that is no string).  No process, no KDC.
 */
#include "login/login_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TEXTSZ (SECTX_CHPW_TEXT_MAX + 1)

/* Encode (code, text) and decode it back; assert both succeed. */
static void round_trip(int code, const char *text, size_t text_len, int *code_out, char *out)
{
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	size_t len = 0;

	assert_int_equal(sectx_chpw_answer_encode(buf, sizeof(buf), code, text, text_len, &len), 0);
	assert_true(len > SECTX_HDR_LEN && len <= SECTX_CHPW_ANSWER_MAX);
	assert_int_equal(sectx_chpw_answer_decode(buf, len, code_out, out, TEXTSZ), 0);
}

static void test_round_trip(void **state)
{
	char text[TEXTSZ];
	int code = 99;

	(void)state;
	round_trip(0, "Password changed", 16, &code, text);
	assert_int_equal(code, 0);
	assert_string_equal(text, "Password changed");

	round_trip(4, "Password is too short.", 22, &code, text);
	assert_int_equal(code, 4);
	assert_string_equal(text, "Password is too short.");

	/* libkrb5 failed before any answer */
	round_trip(-1, "Cannot contact any KDC for requested realm", 42, &code, text);
	assert_int_equal(code, -1);
	assert_string_equal(text, "Cannot contact any KDC for requested realm");

	round_trip(0xffff, "", 0, &code, text);
	assert_int_equal(code, 0xffff);
	assert_string_equal(text, "");

	round_trip(1, NULL, 0, &code, text);
	assert_int_equal(code, 1);
	assert_string_equal(text, "");

	/* UTF-8 goes through as it is */
	round_trip(4, "Mot de passe refus\xc3\xa9", 20, &code, text);
	assert_string_equal(text, "Mot de passe refus\xc3\xa9");
}

/* What the worker is handed is made sendable, never refused. */
static void test_text_made_sendable(void **state)
{
	char *big = malloc(SECTX_CHPW_TEXT_MAX + 100);
	char text[TEXTSZ];
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	size_t len = 0;
	int code = 99;

	(void)state;
	assert_non_null(big);
	/* control characters (an AD policy text has newlines) become spaces */
	round_trip(4, "too short\nat least 8\tcharacters\x7f", 32, &code, text);
	assert_string_equal(text, "too short at least 8 characters ");

	/* the text ends at its first NUL, as the old "%s" answer did */
	round_trip(4, "before\0after", 12, &code, text);
	assert_string_equal(text, "before");

	/* invalid UTF-8: every byte outside printable ASCII becomes '?' */
	round_trip(4, "bad \xff\xfe utf-8 \xc3\xa9", 16, &code, text);
	assert_string_equal(text, "bad ?? utf-8 ??");

	/* too long: cut to the bound */
	memset(big, 'a', SECTX_CHPW_TEXT_MAX + 100);
	round_trip(4, big, SECTX_CHPW_TEXT_MAX + 100, &code, text);
	assert_int_equal(strlen(text), SECTX_CHPW_TEXT_MAX);

	/* ... at a character boundary: a two-byte character astride the bound
	 * is left out whole */
	big[SECTX_CHPW_TEXT_MAX - 1] = '\xc3';
	big[SECTX_CHPW_TEXT_MAX] = '\xa9';
	round_trip(4, big, SECTX_CHPW_TEXT_MAX + 100, &code, text);
	assert_int_equal(strlen(text), SECTX_CHPW_TEXT_MAX - 1);
	assert_int_equal(text[SECTX_CHPW_TEXT_MAX - 2], 'a');

	/* the longest answer fits its cap exactly */
	memset(big, 'b', SECTX_CHPW_TEXT_MAX);
	assert_int_equal(
	    sectx_chpw_answer_encode(buf, sizeof(buf), 0, big, SECTX_CHPW_TEXT_MAX, &len), 0);
	assert_int_equal(len, SECTX_CHPW_ANSWER_MAX);

	/* a buffer too small is an error, not an overflow */
	assert_int_equal(sectx_chpw_answer_encode(buf, 20, 0, big, 100, &len), SECTX_ERR_TOOBIG);
	free(big);
}

static void test_encode_code_range(void **state)
{
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	size_t len = 1;

	(void)state;
	assert_int_equal(sectx_chpw_answer_encode(buf, sizeof(buf), -2, "x", 1, &len),
			 SECTX_ERR_BADLEN);
	assert_int_equal(len, 0);
	assert_int_equal(sectx_chpw_answer_encode(buf, sizeof(buf), 0x10000, "x", 1, &len),
			 SECTX_ERR_BADLEN);
}

/* Every prefix of a valid answer is refused, and leaves no result. */
static void test_truncated(void **state)
{
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	char text[TEXTSZ];
	size_t len = 0, n;
	int code;

	(void)state;
	assert_int_equal(
	    sectx_chpw_answer_encode(buf, sizeof(buf), 3, "Password has been used", 22, &len), 0);
	for (n = 0; n < len; n++) {
		code = 42;
		memset(text, 'x', sizeof(text));
		assert_int_not_equal(sectx_chpw_answer_decode(buf, n, &code, text, sizeof(text)),
				     0);
		assert_int_equal(code, -1);
		assert_string_equal(text, "");
	}
	assert_int_equal(sectx_chpw_answer_decode(buf, len, &code, text, sizeof(text)), 0);
	assert_int_equal(code, 3);
}

/* Build a frame by hand: code (unless < 0), text (unless NULL). */
static size_t build(uint8_t *buf, size_t cap, uint16_t version, uint16_t op, uint32_t reqid,
		    int64_t code, const char *text)
{
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, buf, cap, version, op, reqid);
	if (code >= 0) {
		sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, (uint32_t)code);
	}
	if (text != NULL) {
		sectx_put_bytes(&w, SECTX_CHPW_TAG_TEXT, text, strlen(text));
	}
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

static int decode(const uint8_t *buf, size_t len)
{
	char text[TEXTSZ];
	int code = 0;

	return sectx_chpw_answer_decode(buf, len, &code, text, sizeof(text));
}

static void test_oversized(void **state)
{
	const size_t cap = 2 * SECTX_CHPW_ANSWER_MAX;
	uint8_t *buf = malloc(cap);
	char *big = malloc(SECTX_CHPW_TEXT_MAX + 2);
	struct sectx_wbuf w;
	char text[TEXTSZ];
	size_t len = 0;
	int code;

	(void)state;
	assert_non_null(buf);
	assert_non_null(big);
	/* the text at its bound is taken */
	memset(big, 'a', SECTX_CHPW_TEXT_MAX);
	big[SECTX_CHPW_TEXT_MAX] = '\0';
	len = build(buf, cap, SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, big);
	assert_int_equal(len, SECTX_CHPW_ANSWER_MAX);
	assert_int_equal(decode(buf, len), 0);

	/* one byte over: refused, although the frame is under its cap */
	big[SECTX_CHPW_TEXT_MAX] = 'a';
	big[SECTX_CHPW_TEXT_MAX + 1] = '\0';
	len = build(buf, cap, SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, big);
	assert_int_equal(decode(buf, len), SECTX_ERR_TOOBIG);

	/* a frame over the cap (a valid answer padded with an unknown field) */
	big[SECTX_CHPW_TEXT_MAX] = '\0';
	sectx_frame_begin(&w, buf, cap, SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, 0);
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, "short");
	sectx_put_bytes(&w, 0x7777, big, SECTX_CHPW_TEXT_MAX);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_true(len > SECTX_CHPW_ANSWER_MAX);
	assert_int_equal(decode(buf, len), SECTX_ERR_TOOBIG);

	/* more bytes than the frame says: refused as well */
	len = build(buf, cap, SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, "ok");
	assert_int_equal(decode(buf, len), 0);
	buf[len] = 0;
	assert_int_not_equal(decode(buf, len + 1), 0);

	/* an output buffer smaller than the bound is refused, not overrun */
	assert_int_equal(sectx_chpw_answer_decode(buf, len, &code, text, 16), SECTX_ERR_TOOBIG);
	free(big);
	free(buf);
}

static void test_malformed(void **state)
{
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	struct sectx_wbuf w;
	size_t len;

	(void)state;
	/* the frame the others vary */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, "ok");
	assert_int_equal(decode(buf, len), 0);

	/* wrong op, version or reqid */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, 2, 0, 0, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADFRAME);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER | SECTX_OP_REPLY, 0,
		    0, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADFRAME);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION + 1, SECTX_CHPW_OP_ANSWER, 0, 0, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_VERSION);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 7, 0, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADFRAME);

	/* a missing field */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, -1, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_NOFIELD);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, NULL);
	assert_int_equal(decode(buf, len), SECTX_ERR_NOFIELD);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, -1, NULL);
	assert_int_equal(decode(buf, len), SECTX_ERR_NOFIELD);

	/* a field given twice */
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, 4);
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, "ok");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(decode(buf, len), SECTX_ERR_DUPFIELD);
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, 0);
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, "ok");
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, "or not");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(decode(buf, len), SECTX_ERR_DUPFIELD);

	/* a code out of range: beyond "no answer", or not four bytes */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0,
		    SECTX_CHPW_NO_ANSWER + 1, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADLEN);
	len =
	    build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0xffffffffu, "ok");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADLEN);
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_bytes(&w, SECTX_CHPW_TAG_CODE, "\0\0", 2);
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, "ok");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(decode(buf, len), SECTX_ERR_BADLEN);

	/* a text that is no string: a control character, invalid UTF-8, a NUL */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, "two\nlines");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADSTR);
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, "bad \xff");
	assert_int_equal(decode(buf, len), SECTX_ERR_BADSTR);
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, 0);
	sectx_put_bytes(&w, SECTX_CHPW_TAG_TEXT, "a\0b", 3);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(decode(buf, len), SECTX_ERR_BADSTR);

	/* a field header that runs past the frame */
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0, 0, "ok");
	buf[len - 3] = 0x7f; /* the text's length, now far past the end */
	assert_int_not_equal(decode(buf, len), 0);
}

/* The "no answer" code decodes to -1 whatever its text. */
static void test_no_answer(void **state)
{
	uint8_t buf[SECTX_CHPW_ANSWER_MAX];
	char text[TEXTSZ];
	size_t len;
	int code = 0;

	(void)state;
	len = build(buf, sizeof(buf), SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0,
		    SECTX_CHPW_NO_ANSWER, "libkrb5 said no");
	assert_int_equal(sectx_chpw_answer_decode(buf, len, &code, text, sizeof(text)), 0);
	assert_int_equal(code, -1);
	assert_string_equal(text, "libkrb5 said no");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	      cmocka_unit_test(test_text_made_sendable),
	    cmocka_unit_test(test_encode_code_range), cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_oversized),	      cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_no_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
