/*
 * login/kdc_frame.c - the TCP framing of Kerberos messages (RFC 4120 7.2.2):
 * a four-byte big-endian length, then the message.
 *
 * Who reaches this: kdc_io.c, with messages libkrb5 built (encode) and the
 * bytes a KDC's TCP connection delivers, as they come (the reader).  Those
 * bytes are untrusted: the announced length is bounded by
 * SECTX_KDC_REPLY_MAX before anything is allocated, a zero length is no
 * answer, and the reader never asks for a byte past the prefix or the
 * announced body.  It must never do I/O itself nor interpret a message: the
 * socket is kdc_io's, the message libkrb5's.
 */
#include "login/login_int.h"

#include <errno.h>
#include <string.h>

int sectx_kdc_frame_encode(TALLOC_CTX *mem_ctx, const void *msg, size_t len, uint8_t **out,
			   size_t *out_len)
{
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	if (len > SECTX_KDC_REPLY_MAX) {
		return -EMSGSIZE;
	}
	buf = talloc_size(mem_ctx, SECTX_KDC_PREFIX_LEN + len);
	if (buf == NULL) {
		return -ENOMEM;
	}
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	if (len > 0) {
		memcpy(buf + SECTX_KDC_PREFIX_LEN, msg, len);
	}
	*out = buf;
	*out_len = SECTX_KDC_PREFIX_LEN + len;
	return 0;
}

void sectx_kdc_reader_want(struct sectx_kdc_reader *r, uint8_t **buf, size_t *want)
{
	if (r->len_got < sizeof(r->lenbuf)) {
		*buf = r->lenbuf + r->len_got;
		*want = sizeof(r->lenbuf) - r->len_got;
	} else {
		*buf = r->in + r->in_got;
		*want = r->in_len - r->in_got;
	}
}

int sectx_kdc_reader_got(TALLOC_CTX *mem_ctx, struct sectx_kdc_reader *r, size_t n)
{
	if (r->len_got < sizeof(r->lenbuf)) {
		r->len_got += n;
		if (r->len_got < sizeof(r->lenbuf)) {
			return 0;
		}
		r->in_len = ((size_t)r->lenbuf[0] << 24) | ((size_t)r->lenbuf[1] << 16) |
			    ((size_t)r->lenbuf[2] << 8) | r->lenbuf[3];
		/* the top bit is reserved (RFC 4120 7.2.2); zero is no answer */
		if (r->in_len == 0 || r->in_len > SECTX_KDC_REPLY_MAX) {
			return -EPROTO;
		}
		r->in = talloc_size(mem_ctx, r->in_len);
		if (r->in == NULL) {
			return -ENOMEM;
		}
		return 0;
	}
	r->in_got += n;
	return r->in_got < r->in_len ? 0 : 1;
}
