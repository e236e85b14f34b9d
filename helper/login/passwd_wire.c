/*
 * login/passwd_wire.c - the one message of the kpasswd worker: its answer to
 * the helper (result code and text), a frame of the common/proto codec with
 * the private op and tags of login_int.h.
 *
 * Who reaches this: the worker (passwd.c's child, a fork of sectxd that has
 * talked to a kpasswd server) encodes; the helper's event loop decodes what
 * came up the worker's pipe, which it treats as untrusted: exact frame
 * length, a bounded frame and text, the op, version and fields checked.  The
 * encoder runs in the forked worker, so it must never allocate (no talloc,
 * no malloc) nor log; neither side ever carries a password.
 */
#include "login/login_int.h"

#include <string.h>

/* Copy text (len bytes) into clean as a string sectx_put_string takes: up to
 * its first NUL, at most SECTX_CHPW_TEXT_MAX bytes cut at a character
 * boundary, control characters as spaces; bytes outside printable ASCII as
 * '?' when that is still not valid UTF-8. */
static void chpw_clean_text(char clean[SECTX_CHPW_TEXT_MAX + 1], const char *text, size_t len)
{
	const char *nul = len > 0 ? memchr(text, '\0', len) : NULL;
	size_t n, i, k;

	if (nul != NULL) {
		len = (size_t)(nul - text);
	}
	n = len;
	if (n > SECTX_CHPW_TEXT_MAX) {
		n = SECTX_CHPW_TEXT_MAX;
		/* text[n], the first byte left out, must not continue a character */
		for (k = 0; k < 3 && n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80; k++) {
			n--;
		}
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		clean[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	clean[n] = '\0';
	if (sectx_validate_string((const uint8_t *)clean, n, SECTX_CHPW_TEXT_MAX) != 0) {
		for (i = 0; i < n; i++) {
			if ((unsigned char)clean[i] >= 0x80) {
				clean[i] = '?';
			}
		}
	}
}

int sectx_chpw_answer_encode(void *buf, size_t cap, int code, const char *text, size_t text_len,
			     size_t *len)
{
	char clean[SECTX_CHPW_TEXT_MAX + 1];
	struct sectx_wbuf w;
	uint32_t wire_code;

	*len = 0;
	if (code == -1) {
		wire_code = SECTX_CHPW_NO_ANSWER;
	} else if (code >= 0 && code <= 0xffff) {
		wire_code = (uint32_t)code;
	} else {
		return SECTX_ERR_BADLEN;
	}
	chpw_clean_text(clean, text, text != NULL ? text_len : 0);
	sectx_frame_begin(&w, buf, cap, SECTX_CHPW_VERSION, SECTX_CHPW_OP_ANSWER, 0);
	sectx_put_u32(&w, SECTX_CHPW_TAG_CODE, wire_code);
	sectx_put_string(&w, SECTX_CHPW_TAG_TEXT, clean);
	return sectx_frame_end(&w, len);
}

int sectx_chpw_answer_decode(const uint8_t *buf, size_t len, int *code, char *text, size_t textsz)
{
	struct sectx_msg msg;
	uint32_t wire_code;
	int ret;

	*code = -1;
	if (textsz > 0) {
		text[0] = '\0';
	}
	if (len > SECTX_CHPW_ANSWER_MAX || textsz < SECTX_CHPW_TEXT_MAX + 1) {
		return SECTX_ERR_TOOBIG;
	}
	ret = sectx_msg_parse(buf, len, &msg);
	if (ret != 0) {
		return ret;
	}
	if (msg.hdr.version != SECTX_CHPW_VERSION) {
		return SECTX_ERR_VERSION;
	}
	if (msg.hdr.op != SECTX_CHPW_OP_ANSWER || msg.hdr.reqid != 0) {
		return SECTX_ERR_BADFRAME;
	}
	ret = sectx_msg_get_u32(&msg, SECTX_CHPW_TAG_CODE, &wire_code);
	if (ret != 0) {
		return ret;
	}
	if (wire_code > SECTX_CHPW_NO_ANSWER) {
		return SECTX_ERR_BADLEN;
	}
	ret = sectx_msg_get_string(&msg, SECTX_CHPW_TAG_TEXT, text, textsz, SECTX_CHPW_TEXT_MAX);
	if (ret != 0) {
		return ret;
	}
	*code = wire_code == SECTX_CHPW_NO_ANSWER ? -1 : (int)wire_code;
	return 0;
}
