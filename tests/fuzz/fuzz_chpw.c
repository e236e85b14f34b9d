/*
 * fuzz_chpw.c - libFuzzer harness for the kpasswd worker's answer
 * (helper/login/passwd_wire.c).  The worker has talked to a kpasswd server
 * over the network, so the helper's loop decodes its answer as untrusted.
 *
 * The first byte picks a mode:
 *   0  arbitrary bytes as an answer: the decoder must not crash, must leave
 *      a terminated text within its bound, and an answer it accepts must
 *      encode again to an answer with the same code and text;
 *   1  a code and a text (any bytes) from the input: whatever the encoder
 *      writes, the decoder takes; the text comes back as the encoder's
 *      cleaning makes it (a valid string, cut at a character boundary), and
 *      unchanged when it was already a short valid string without control
 *      characters; a code out of range is refused by the encoder.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "login/login_int.h"

static uint8_t frame[SECTX_CHPW_ANSWER_MAX + 64];
static uint8_t frame2[SECTX_CHPW_ANSWER_MAX + 64];
static char text[SECTX_CHPW_TEXT_MAX + 1];
static char text2[SECTX_CHPW_TEXT_MAX + 1];

static void check_text(const char *t)
{
	const char *nul = memchr(t, '\0', SECTX_CHPW_TEXT_MAX + 1);

	FUZZ_CHECK(nul != NULL);
	FUZZ_CHECK(
	    sectx_validate_string((const uint8_t *)t, (size_t)(nul - t), SECTX_CHPW_TEXT_MAX) == 0);
}

static void mode_bytes(const uint8_t *data, size_t size)
{
	size_t textsz = sizeof(text), len = 0;
	int code = 7, code2 = 7, ret;

	ret = sectx_chpw_answer_decode(data, size, &code, text, textsz);
	if (ret != 0) {
		FUZZ_CHECK(code == -1 && text[0] == '\0');
		return;
	}
	FUZZ_CHECK(code >= -1 && code <= 0xffff);
	check_text(text);
	/* what the decoder took, the encoder writes again, and it reads back */
	FUZZ_CHECK(
	    sectx_chpw_answer_encode(frame2, sizeof(frame2), code, text, strlen(text), &len) == 0);
	FUZZ_CHECK(len <= SECTX_CHPW_ANSWER_MAX);
	FUZZ_CHECK(sectx_chpw_answer_decode(frame2, len, &code2, text2, sizeof(text2)) == 0);
	FUZZ_CHECK(code2 == code && strcmp(text2, text) == 0);
	/* and a buffer below the bound is refused, never written past */
	FUZZ_CHECK(sectx_chpw_answer_decode(frame2, len, &code2, text2, SECTX_CHPW_TEXT_MAX) ==
		   SECTX_ERR_TOOBIG);
}

static void mode_fields(struct fz *in)
{
	uint32_t pick = fz_u32(in);
	int code = pick & 0x80000000u ? (int)(pick & 0x1ffff) - 2 : (int)(pick % 0x10000);
	size_t want = fz_u16(in), got, len = 0, i, n;
	const uint8_t *t = fz_bytes(in, want, &got);
	int code2 = 0, ret;
	bool plain;

	ret = sectx_chpw_answer_encode(frame, sizeof(frame), code, (const char *)t, got, &len);
	if (code < -1 || code > 0xffff) {
		FUZZ_CHECK(ret == SECTX_ERR_BADLEN && len == 0);
		return;
	}
	FUZZ_CHECK(ret == 0 && len <= SECTX_CHPW_ANSWER_MAX);
	FUZZ_CHECK(sectx_chpw_answer_decode(frame, len, &code2, text, sizeof(text)) == 0);
	FUZZ_CHECK(code2 == code);
	check_text(text);
	n = strlen(text);
	/* the text is a prefix of the input's, up to its first NUL, cut short
	 * only beyond the bound */
	for (i = 0; i < got && t[i] != '\0'; i++) {
	}
	FUZZ_CHECK(n <= i && (n == i || i > SECTX_CHPW_TEXT_MAX));
	FUZZ_CHECK(i <= SECTX_CHPW_TEXT_MAX || n + 3 >= SECTX_CHPW_TEXT_MAX);
	/* a valid string without control characters comes through unchanged */
	plain = i <= SECTX_CHPW_TEXT_MAX && sectx_validate_string(t, i, SECTX_CHPW_TEXT_MAX) == 0;
	if (plain) {
		FUZZ_CHECK(n == i && memcmp(text, t, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};

	if (fz_u8(&in) & 1) {
		mode_fields(&in);
	} else {
		mode_bytes(in.p, in.n);
	}
	return 0;
}
