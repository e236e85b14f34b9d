/*
 * login/login_int.h - what only the Kerberos engine's own files share: the
 * driver of libkrb5's step APIs over kdc_io (tgs.c), the keytab listing
 * (keytab.c), the TCP framing of KDC messages (kdc_frame.c) and the private
 * message of the kpasswd worker (passwd_wire.c).
 *
 * Nothing outside helper/login/ includes this; the engine's API is
 * login/login.h.  Who reaches these functions: the engine, with messages
 * libkrb5 built, bytes a KDC sent (untrusted, bounded here) and the answer of
 * its own kpasswd worker (untrusted too: the worker talked to a server).
 * They must never trust a length they read, nor hold a secret: the kpasswd
 * answer carries a result code and a text, never the password.
 */
#ifndef SECTX_LOGIN_INT_H
#define SECTX_LOGIN_INT_H

#include <krb5.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <talloc.h>
#include <tevent.h>

#include "login/login.h"
#include "proto.h"

/* --- tgs.c: driving a step API over kdc_io ---------------------------------- */

typedef krb5_error_code (*sectx_step_fn)(krb5_context ctx, void *sctx, krb5_data *in,
					 krb5_data *out, krb5_data *realm, unsigned int *flags);

/* The two step APIs, as sectx_step_fn: sctx is a krb5_init_creds_context
 * (sectx_icc_step) or a krb5_tkt_creds_context (sectx_tcc_step). */
krb5_error_code sectx_icc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags);
krb5_error_code sectx_tcc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags);

/* Run a step API context (init_creds or tkt_creds) to completion, each
 * message to a KDC of the realm libkrb5 names, by deadline (monotonic ms).
 * sctx stays the caller's and must outlive the request.  NULL only when out
 * of memory. */
struct tevent_req *sectx_step_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_krb5 *k, sectx_step_fn step, void *sctx,
				   int64_t deadline);
/* 0 when the exchange completed (*kerr 0); -EIO with *kerr the libkrb5
 * error it ended with; another -errno when no KDC answered (-ETIMEDOUT,
 * -ECONNREFUSED, -ENOENT: none configured) or the request failed (-ENOMEM),
 * *kerr then KRB5_KDC_UNREACH. */
int sectx_step_recv(struct tevent_req *req, krb5_error_code *kerr);

/* --- kdc_cache.c: a realm's KDC addresses ---------------------------------- */

#define SECTX_KDC_MAX_TARGETS  32    /* addresses of a realm's KDCs we try */
#define SECTX_KDC_CACHE_TTL_MS 60000 /* a realm's list is read again after this */

/* One address of a KDC, and how to reach it. */
struct sectx_kdc_target {
	struct sockaddr_storage ss;
	socklen_t len;
	int socktype;	/* SOCK_DGRAM or SOCK_STREAM */
	char desc[300]; /* "host:port" as krb5.conf names it */
};

/* The addresses of realm's KDCs ([realms] REALM kdc = ... in the krb5.conf
 * profile), in the profile's order, every address of each entry, each
 * SOCK_STREAM; for a realm with none there (and dns_lookup_kdc not false),
 * from its DNS SRV records (_kerberos._tcp, then _udp), looked up on a
 * thread.  Served from k's cache (read once per realm, kept
 * SECTX_KDC_CACHE_TTL_MS); host names are resolved with getaddrinfo_a,
 * which the loop polls, never waits on.  NULL only when out of memory. */
struct tevent_req *sectx_kdc_list_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				       struct sectxd_krb5 *k, const krb5_data *realm);
/* 0 with *targets (on mem_ctx, *n >= 1); -ENOENT when the realm has no KDC
 * configured or none resolved; -ENOMEM. */
int sectx_kdc_list_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
			struct sectx_kdc_target **targets, size_t *n);

/* --- keytab.c --------------------------------------------------------------- */

/* Principals of realm in the keytab, host/ ones first (at most 64).
 * Returns 0 and a talloc array on mem_ctx (release it with
 * sectx_free_principals) or a krb5 error. */
krb5_error_code sectx_keytab_principals(TALLOC_CTX *mem_ctx, krb5_context ctx, krb5_keytab kt,
					const krb5_data *realm, krb5_principal **out,
					size_t *n_out);

/* Free the n principals of list and list itself (NULL is fine). */
void sectx_free_principals(krb5_context ctx, krb5_principal *list, size_t n);

/* --- kdc_frame.c: the TCP length prefix (RFC 4120 7.2.2) -------------------- */

#define SECTX_KDC_PREFIX_LEN 4u /* the big-endian length before a message over TCP */

/* A KDC message over TCP: its length as four big-endian bytes, then msg.
 * Returns 0 with *out (on mem_ctx, *out_len = SECTX_KDC_PREFIX_LEN + len
 * bytes); -EMSGSIZE when len exceeds SECTX_KDC_REPLY_MAX (no message we
 * send is larger than what we would read); -ENOMEM. */
int sectx_kdc_frame_encode(TALLOC_CTX *mem_ctx, const void *msg, size_t len, uint8_t **out,
			   size_t *out_len);

/* Reading one reply from a TCP connection: first the four length bytes,
 * then the body.  Zero it to start. */
struct sectx_kdc_reader {
	uint8_t lenbuf[SECTX_KDC_PREFIX_LEN];
	size_t len_got;
	uint8_t *in; /* the body, allocated once the length is known */
	size_t in_len;
	size_t in_got;
};

/* Where the next read goes: *buf and *want (> 0) bytes, never past the
 * length prefix or the announced body.  Only while the reply is incomplete. */
void sectx_kdc_reader_want(struct sectx_kdc_reader *r, uint8_t **buf, size_t *want);

/* n (> 0, at most *want) bytes were read into the place sectx_kdc_reader_want
 * gave.  Returns 0 when more is needed; 1 when the reply is complete
 * (r->in, r->in_len bytes, on mem_ctx); -EPROTO when the announced length is
 * zero (no answer) or above SECTX_KDC_REPLY_MAX, which also refuses a length
 * with the top bit set (reserved by RFC 4120 7.2.2 for extensions we do not
 * speak): r->in_len is then the announced length, for the log; -ENOMEM. */
int sectx_kdc_reader_got(TALLOC_CTX *mem_ctx, struct sectx_kdc_reader *r, size_t n);

/* --- passwd_wire.c: the kpasswd worker's answer ------------------------------ */

/* The worker (passwd.c, in a child process) answers its parent with one
 * frame of the common/proto codec: op SECTX_CHPW_OP_ANSWER, version
 * SECTX_CHPW_VERSION, reqid 0, and these fields. */
enum sectx_chpw_op {
	SECTX_CHPW_OP_ANSWER = 1,
};

enum sectx_chpw_tag {
	SECTX_CHPW_TAG_CODE = 1, /* u32: the kpasswd result code (RFC 3244: 0..0xffff,
				  * 0 = changed), or SECTX_CHPW_NO_ANSWER */
	SECTX_CHPW_TAG_TEXT = 2, /* string (may be empty), at most SECTX_CHPW_TEXT_MAX:
				  * the server's explanation, or libkrb5's message */
};

#define SECTX_CHPW_VERSION   1u
#define SECTX_CHPW_NO_ANSWER 0x10000u /* libkrb5 failed before any kpasswd answer */
#define SECTX_CHPW_TEXT_MAX  4000u    /* bytes of the text */
/* The largest answer: header, the code and the longest text. */
#define SECTX_CHPW_ANSWER_MAX (SECTX_HDR_LEN + 2u * SECTX_FIELD_HDR_LEN + 4u + SECTX_CHPW_TEXT_MAX)

/* Build the worker's answer into buf (cap bytes; SECTX_CHPW_ANSWER_MAX is
 * always enough).  code: the kpasswd result code (0..0xffff), or -1 when
 * libkrb5 failed before an answer.  text: text_len bytes (NULL if 0), the
 * server's explanation or libkrb5's message; it is made sendable first: cut
 * to SECTX_CHPW_TEXT_MAX bytes at a character boundary, control characters
 * turned to spaces, and if it is still not valid UTF-8, every byte outside
 * printable ASCII turned to '?'.  Returns 0 and *len, or a SECTX_ERR_* code
 * (SECTX_ERR_BADLEN: code out of range).  Allocates nothing: it runs in the
 * worker, which may not use talloc. */
int sectx_chpw_answer_encode(void *buf, size_t cap, int code, const char *text, size_t text_len,
			     size_t *len);

/* Decode the worker's answer: exactly len bytes, at most
 * SECTX_CHPW_ANSWER_MAX.  Returns 0 with *code (-1 when libkrb5 failed, else
 * 0..0xffff) and text NUL-terminated (textsz must be at least
 * SECTX_CHPW_TEXT_MAX + 1); or a SECTX_ERR_* code, *code -1 and text "":
 * SECTX_ERR_TOOBIG (frame or text over its bound, or textsz too small),
 * SECTX_ERR_SHORT (truncated), SECTX_ERR_VERSION, SECTX_ERR_BADFRAME (another
 * op or reqid, bytes after the frame), SECTX_ERR_NOFIELD, SECTX_ERR_DUPFIELD,
 * SECTX_ERR_BADLEN (a code out of range), SECTX_ERR_BADSTR. */
int sectx_chpw_answer_decode(const uint8_t *buf, size_t len, int *code, char *text, size_t textsz);

#endif /* SECTX_LOGIN_INT_H */
