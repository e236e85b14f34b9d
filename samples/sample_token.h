/*
 * sample_token.h - the token framing of MIT krb5's gss-sample programs, for
 * sectx-sample-client and sectx-sample-server.
 *
 * A token on the TCP stream is one flags byte, a four-byte big-endian length
 * and that many bytes.  The message sequence is the samples' one: the client
 * sends an empty NOOP|CONTEXT_NEXT token, then CONTEXT tokens both ways until
 * the context is complete, then DATA tokens (WRAPPED, ENCRYPTED, SEND_MIC)
 * each answered by a MIC token of the unwrapped message, then an empty NOOP.
 * The samples' old "v1" framing (no flags byte) is not spoken: a zero flags
 * byte is refused.
 *
 * Everything read here comes from an unauthenticated peer: the length is
 * checked against SAMPLE_TOKEN_MAX before a byte of the body is read, and
 * every read and write has an absolute deadline.  No allocation: the caller
 * provides the buffer.
 */
#ifndef SECTX_SAMPLE_TOKEN_H
#define SECTX_SAMPLE_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Token types and flags (values of the gss-sample programs). */
#define SAMPLE_TOKEN_NOOP	  0x01u
#define SAMPLE_TOKEN_CONTEXT	  0x02u
#define SAMPLE_TOKEN_DATA	  0x04u
#define SAMPLE_TOKEN_MIC	  0x08u
#define SAMPLE_TOKEN_CONTEXT_NEXT 0x10u
#define SAMPLE_TOKEN_WRAPPED	  0x20u
#define SAMPLE_TOKEN_ENCRYPTED	  0x40u
#define SAMPLE_TOKEN_SEND_MIC	  0x80u

/* Largest token either program sends or accepts: a Kerberos AP-REQ with a
 * large PAC stays well below it, and with its header it fits one helper frame
 * (SECTX_FRAME_MAX). */
#define SAMPLE_TOKEN_MAX (64u * 1024u)
/* Largest message the client sends (it is wrapped into one token). */
#define SAMPLE_MESSAGE_MAX (32u * 1024u)
/* Deadline of each socket read or write and of each helper call. */
#define SAMPLE_IO_TIMEOUT_MS 10000
/* Port of the gss-sample programs. */
#define SAMPLE_DEFAULT_PORT 4444

/*
 * Send one token (flags, len bytes at tok; tok may be NULL when len is 0) on
 * the stream socket fd before deadline (sectx_now_ms scale).  Returns 0,
 * -EMSGSIZE if len > SAMPLE_TOKEN_MAX, -ETIMEDOUT, or another -errno.
 */
int sample_send_token(int fd, uint8_t flags, const uint8_t *tok, size_t len, int64_t deadline);

/*
 * Receive one token from fd before deadline into buf (cap bytes) and set
 * *flags and *len.  Returns 0; -ECONNRESET if the peer closed the stream (at
 * a token boundary or inside one); -EPROTO for a zero flags byte (v1
 * framing); -EMSGSIZE if the announced length exceeds cap or
 * SAMPLE_TOKEN_MAX (nothing of the body is read); -ETIMEDOUT; another -errno.
 * After an error the stream is out of step: close it.
 */
int sample_recv_token(int fd, uint8_t *flags, uint8_t *buf, size_t cap, size_t *len,
		      int64_t deadline);

/* Parse a TCP port ("0".."65535"; 0 lets the server pick one).  Returns 0
 * with *port, or -EINVAL. */
int sample_parse_port(const char *s, uint16_t *port);

/* Write "TEXT" to out with every byte that is not printable ASCII shown as
 * \xHH, so that a peer's message cannot drive the terminal. */
void sample_print_quoted(FILE *out, const uint8_t *p, size_t len);

/* The GSS_C_*_FLAG bits of flags (RFC 2744 values, as in SECTX_TAG_CTX_FLAGS)
 * as words ("mutual replay conf integ"), into buf (cap bytes).  Returns buf;
 * "none" for no known bit. */
const char *sample_flags_text(uint32_t flags, char *buf, size_t cap);

#endif /* SECTX_SAMPLE_TOKEN_H */
