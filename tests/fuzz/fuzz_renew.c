/*
 * fuzz_renew.c - libFuzzer harness for the renewal worker's answer
 * (sectx_renew_answer_decode and _encode, helper/sessions/renew_worker.c).
 * The worker talked to a KDC; the loop decodes its answer as untrusted.
 *
 * The first byte picks a mode:
 *   0  arbitrary bytes as an answer: never a crash; an answer accepted has
 *      credentials inside the input and within RENEW_CRED_MAX exactly when
 *      its error code is 0, a terminated message, and encodes again to an
 *      answer that decodes the same;
 *   1  an error code, a message (any bytes) and credentials from the input:
 *      what the encoder writes the decoder takes back, the message cut and
 *      made printable as the encoder promises; the pairs the encoder refuses
 *      (credentials with an error, none without, too many) are refused.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "sessions/sessions_int.h"

static uint8_t frame[RENEW_ANSWER_MAX + 64];
static uint8_t frame2[RENEW_ANSWER_MAX + 64];
static char msg[RENEW_MSG_MAX + 8];

static void check_answer(const struct sectx_renew_answer *a, const uint8_t *buf, size_t len)
{
	const char *nul = memchr(a->msg, '\0', sizeof(a->msg));

	FUZZ_CHECK(nul != NULL);
	FUZZ_CHECK(sectx_validate_string((const uint8_t *)a->msg, (size_t)(nul - a->msg),
					 RENEW_MSG_MAX - 1) == 0);
	FUZZ_CHECK((a->kerr == 0) == (a->cred_len > 0));
	FUZZ_CHECK(a->cred_len <= RENEW_CRED_MAX);
	if (a->cred_len > 0) {
		FUZZ_CHECK(a->cred >= buf && a->cred + a->cred_len <= buf + len);
	}
}

static void mode_bytes(const uint8_t *data, size_t size)
{
	struct sectx_renew_answer a, b;
	size_t len = 0;
	int ret;

	ret = sectx_renew_answer_decode(data, size, &a);
	if (ret != 0) {
		FUZZ_CHECK(a.cred == NULL && a.cred_len == 0 && a.msg[0] == '\0');
		return;
	}
	check_answer(&a, data, size);
	FUZZ_CHECK(sectx_renew_answer_encode(frame2, sizeof(frame2), a.kerr, a.msg, a.cred,
					     a.cred_len, &len) == 0);
	FUZZ_CHECK(sectx_renew_answer_decode(frame2, len, &b) == 0);
	check_answer(&b, frame2, len);
	FUZZ_CHECK(b.kerr == a.kerr && strcmp(b.msg, a.msg) == 0 && b.cred_len == a.cred_len);
	FUZZ_CHECK(a.cred_len == 0 || memcmp(b.cred, a.cred, a.cred_len) == 0);
}

static void mode_fields(struct fz *in)
{
	struct sectx_renew_answer a;
	krb5_error_code kerr = fz_u8(in) & 1 ? 0 : (krb5_error_code)fz_u32(in);
	size_t mlen = fz_u16(in) % (RENEW_MSG_MAX + 4), got, clen, len = 0, i, n;
	const uint8_t *m = fz_bytes(in, mlen, &got);
	const uint8_t *cred;
	int ret;

	if (got > 0) {
		memcpy(msg, m, got);
	}
	msg[got] = '\0';
	mlen = strlen(msg);
	clen = fz_u32(in) % (RENEW_CRED_MAX + 2);
	cred = fz_bytes(in, clen, &clen);
	ret = sectx_renew_answer_encode(frame, sizeof(frame), kerr, msg, cred, clen, &len);
	if ((kerr == 0) != (clen > 0)) {
		FUZZ_CHECK(ret == SECTX_ERR_BADFRAME);
		return;
	}
	if (clen > RENEW_CRED_MAX) {
		FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
		return;
	}
	FUZZ_CHECK(ret == 0 && len <= RENEW_ANSWER_MAX);
	FUZZ_CHECK(sectx_renew_answer_decode(frame, len, &a) == 0);
	check_answer(&a, frame, len);
	FUZZ_CHECK(a.kerr == kerr && a.cred_len == clen &&
		   (clen == 0 || memcmp(a.cred, cred, clen) == 0));
	/* the message: cut to RENEW_MSG_MAX - 1 bytes, kept if that is a valid
	 * string, else every byte outside printable ASCII a '?' */
	n = mlen < RENEW_MSG_MAX - 1 ? mlen : RENEW_MSG_MAX - 1;
	FUZZ_CHECK(strlen(a.msg) == n);
	if (sectx_validate_string((const uint8_t *)msg, n, RENEW_MSG_MAX - 1) == 0) {
		FUZZ_CHECK(memcmp(a.msg, msg, n) == 0);
	} else {
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)msg[i];

			FUZZ_CHECK(a.msg[i] == (c >= 0x20 && c < 0x7f ? (char)c : '?'));
		}
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
