/*
 * ccache_writer/wire.c - the messages between sectxd, its ccache writers and
 * their children, on the common/proto frame codec.
 *
 * Two messages, each with its encoder and its decoder here and nowhere else:
 *  - a job (helper -> writer, one SOCK_SEQPACKET message): who (uid, gid,
 *    groups, login name), the cache name, the child's deadline and, by op,
 *    the credentials to store (SECRET), the principal a destroyed cache must
 *    have, or whether a read returns the TGT;
 *  - an outcome (child -> writer on a pipe, writer -> helper on the pair):
 *    an errno, the final cache name, a message for the helper's log, and
 *    for a read the principal and the TGT (SECRET).
 * The op and tag numbers are private to this folder (ccache_writer_int.h)
 * and the frames never leave this host; the framing and every bound are
 * the shared codec's (sectx_frame_begin / sectx_put_* / sectx_frame_end,
 * sectx_msg_parse / sectx_msg_get_*, sectx_cur_*).
 *
 * Runs in all three processes (the helper, the writer and, as the user, a
 * child), on bytes that may come from the other side of a privilege
 * boundary: an outcome from a child was written by a process of the user,
 * who may have tampered with it.  So every decoder checks the frame, the
 * version, the op and reqid it expects, that every tag is one its encoder
 * writes for that op, that each singular tag is there once, and every size
 * against its named maximum.
 *
 * Never: read an integer or a length other than through the codec, trust a
 * length, copy more than a buffer holds, or keep a credential: the buffers
 * with creds and TGTs are the callers', who scrub them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ccache_writer/ccache_writer_int.h"

#define TAG(t) (1u << (t))

/* The tags of every job, and of each op's. */
#define JOB_TAGS                                                                                   \
	(TAG(WT_UID) | TAG(WT_GID) | TAG(WT_GROUP) | TAG(WT_USER) | TAG(WT_CCACHE) |               \
	 TAG(WT_DEADLINE))
#define STORE_TAGS   (JOB_TAGS | TAG(WT_REPLACE) | TAG(WT_CRED))
#define DESTROY_TAGS (JOB_TAGS | TAG(WT_PRINCIPAL))
#define READ_TAGS    (JOB_TAGS | TAG(WT_WANT_TGT))

/* The tags of every reply, and of a read's. */
#define REPLY_TAGS	(TAG(WT_ERR) | TAG(WT_CCACHE) | TAG(WT_MESSAGE))
#define READ_REPLY_TAGS (REPLY_TAGS | TAG(WT_PRINCIPAL) | TAG(WT_CRED))

int ccw_fail(struct outcome *out, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	out->err = err;
	return -err;
}

int ccw_sys_fail(struct outcome *out, int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	n = strlen(out->msg);
	snprintf(out->msg + n, sizeof(out->msg) - n, ": %s", strerror(err));
	out->err = err;
	return -err;
}

/* Every field of msg (already parsed: its framing is sound) must have a
 * tag in allowed, a mask of TAG(t): a tag its encoder never writes is
 * refused, not skipped.  0 or SECTX_ERR_BADFRAME. */
static int only_tags(const struct sectx_msg *msg, uint32_t allowed)
{
	struct sectx_cur cur;

	sectx_cur_init(&cur, msg->fields, msg->fields_len);
	while (sectx_cur_left(&cur) > 0) {
		const uint8_t *value;
		uint16_t tag;
		uint32_t len;

		if (sectx_cur_get_u16(&cur, &tag) != 0 || sectx_cur_get_u32(&cur, &len) != 0 ||
		    sectx_cur_get_bytes(&cur, len, &value) != 0) {
			return SECTX_ERR_BADFRAME;
		}
		if (tag >= 32 || (allowed & TAG(tag)) == 0) {
			return SECTX_ERR_BADFRAME;
		}
	}
	return 0;
}

/* --- the job: helper -> writer --------------------------------------------- */

/* The tags a job of op may carry; 0 for an unknown op. */
static uint32_t job_tags(uint16_t op)
{
	switch (op) {
	case WOP_STORE:
		return STORE_TAGS;
	case WOP_DESTROY:
		return DESTROY_TAGS;
	case WOP_READ:
		return READ_TAGS;
	}
	return 0;
}

size_t ccw_job_size(const struct job_msg *m)
{
	const struct sectx_writer_user *who = m->who;
	size_t i, size;

	/* Bytes of the fields every job has. */
	size = SECTX_HDR_LEN + 2 * (SECTX_FIELD_HDR_LEN + 4) +
	       who->n_groups * (SECTX_FIELD_HDR_LEN + 4) + SECTX_FIELD_HDR_LEN + strlen(who->name) +
	       SECTX_FIELD_HDR_LEN + strlen(m->ccache) + SECTX_FIELD_HDR_LEN + 8;
	switch (m->op) {
	case WOP_STORE:
		size += SECTX_FIELD_HDR_LEN + 4;
		for (i = 0; i < m->n_creds; i++) {
			size += SECTX_FIELD_HDR_LEN + m->creds[i]->length;
		}
		break;
	case WOP_DESTROY:
		size += SECTX_FIELD_HDR_LEN + strlen(m->principal);
		break;
	case WOP_READ:
		size += SECTX_FIELD_HDR_LEN + 4;
		break;
	}
	return size;
}

int ccw_job_encode(const struct job_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
	const struct sectx_writer_user *who = m->who;
	struct sectx_wbuf wb;
	size_t i;

	if (job_tags(m->op) == 0 || (m->op == WOP_STORE && m->n_creds == 0) ||
	    (m->op == WOP_DESTROY && m->principal == NULL)) {
		return -EINVAL;
	}
	if (who->n_groups > SECTX_WRITER_MAX_GROUPS || m->n_creds > SECTX_WRITER_MAX_CREDS) {
		return SECTX_ERR_TOOBIG;
	}
	sectx_frame_begin(&wb, buf, cap < WRITER_JOB_MAX ? cap : WRITER_JOB_MAX, WRITER_VERSION,
			  m->op, m->reqid);
	sectx_put_u32(&wb, WT_UID, (uint32_t)who->uid);
	sectx_put_u32(&wb, WT_GID, (uint32_t)who->gid);
	for (i = 0; i < who->n_groups; i++) {
		sectx_put_u32(&wb, WT_GROUP, (uint32_t)who->groups[i]);
	}
	sectx_put_string(&wb, WT_USER, who->name);
	sectx_put_string(&wb, WT_CCACHE, m->ccache);
	sectx_put_u64(&wb, WT_DEADLINE, m->deadline);
	switch (m->op) {
	case WOP_STORE:
		sectx_put_u32(&wb, WT_REPLACE, m->replace ? 1 : 0);
		for (i = 0; i < m->n_creds; i++) {
			sectx_put_bytes(&wb, WT_CRED, m->creds[i]->data, m->creds[i]->length);
		}
		break;
	case WOP_DESTROY:
		sectx_put_string(&wb, WT_PRINCIPAL, m->principal);
		break;
	case WOP_READ:
		sectx_put_u32(&wb, WT_WANT_TGT, m->want_tgt ? 1 : 0);
		break;
	}
	return sectx_frame_end(&wb, len);
}

void ccw_job_ids(const uint8_t *buf, size_t len, uint16_t *op, uint32_t *reqid)
{
	struct sectx_hdr h;

	if (len >= SECTX_HDR_LEN) {
		(void)sectx_hdr_decode(buf, len, &h); /* fills h whatever it says */
		*op = h.op;
		*reqid = h.reqid;
	}
}

int ccw_job_decode(uint8_t *buf, size_t len, struct job *j, struct outcome *out)
{
	struct sectx_field f;
	struct sectx_msg msg;
	uint32_t u;
	uint64_t dl;
	size_t pos = 0;
	int ret;

	if (len > WRITER_JOB_MAX) {
		return ccw_fail(out, EMSGSIZE, "job larger than %u bytes", WRITER_JOB_MAX);
	}
	ret = sectx_msg_parse(buf, len, &msg);
	if (ret != 0) {
		return ccw_fail(out, EPROTO, "malformed job: %s", sectx_strerror(ret));
	}
	j->op = msg.hdr.op;
	j->reqid = msg.hdr.reqid;
	j->frame = buf;
	j->frame_len = len;
	if (j->op != WOP_STORE && j->op != WOP_DESTROY && j->op != WOP_READ) {
		return ccw_fail(out, EPROTO, "unknown job %u", (unsigned)j->op);
	}
	ret = msg.hdr.version == WRITER_VERSION ? 0 : SECTX_ERR_VERSION;
	if (ret == 0) {
		ret = only_tags(&msg, job_tags(j->op));
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, WT_UID, &u);
		j->uid = (uid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, WT_GID, &u);
		j->gid = (gid_t)u;
	}
	while (ret == 0 && sectx_msg_next(&msg, WT_GROUP, &pos, &f) == 0) {
		if (j->n_groups == SECTX_WRITER_MAX_GROUPS) {
			return ccw_fail(out, E2BIG, "too many groups");
		}
		ret = sectx_field_u32(&f, &u);
		j->groups[j->n_groups++] = (gid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_string(&msg, WT_USER, j->user, sizeof(j->user), SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_string(&msg, WT_CCACHE, j->tmpl, sizeof(j->tmpl),
					   WRITER_CCNAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(&msg, WT_DEADLINE, &dl);
		j->deadline = dl > INT64_MAX ? INT64_MAX : (int64_t)dl;
	}
	if (ret == 0 && j->op == WOP_DESTROY) {
		ret = sectx_msg_get_string(&msg, WT_PRINCIPAL, j->principal, sizeof(j->principal),
					   SECTX_STRING_MAX);
	}
	if (ret == 0 && j->op != WOP_DESTROY) {
		ret = sectx_msg_get_u32(&msg, j->op == WOP_READ ? WT_WANT_TGT : WT_REPLACE, &u);
		if (ret == 0) {
			j->want_tgt = j->op == WOP_READ && u != 0;
			j->replace = j->op == WOP_STORE && u != 0;
		}
		ret = ret == SECTX_ERR_NOFIELD ? 0 : ret;
	}
	pos = 0;
	while (ret == 0 && j->op == WOP_STORE && sectx_msg_next(&msg, WT_CRED, &pos, &f) == 0) {
		if (j->n_creds == SECTX_WRITER_MAX_CREDS) {
			return ccw_fail(out, E2BIG, "too many credentials");
		}
		j->creds[j->n_creds++] = f;
	}
	if (ret != 0) {
		return ccw_fail(out, EPROTO, "malformed job: %s", sectx_strerror(ret));
	}
	if (j->op == WOP_STORE && j->n_creds == 0) {
		return ccw_fail(out, EINVAL, "no credentials to store");
	}
	return 0;
}

/* --- the outcome: child -> writer -> helper -------------------------------- */

int ccw_outcome_encode(uint8_t *buf, size_t cap, uint16_t op, uint32_t reqid,
		       const struct outcome *out, size_t *len)
{
	struct sectx_wbuf w;
	char clean[WRITER_MSG_MAX];
	size_t i;

	sectx_frame_begin(&w, buf, cap, WRITER_VERSION, (uint16_t)(op | SECTX_OP_REPLY), reqid);
	sectx_put_u32(&w, WT_ERR, (uint32_t)out->err);
	if (out->ccache[0] != '\0') {
		sectx_put_string(&w, WT_CCACHE, out->ccache);
	}
	if (op == WOP_READ && out->principal[0] != '\0') {
		sectx_put_string(&w, WT_PRINCIPAL, out->principal);
	}
	if (op == WOP_READ && out->cred_len > 0) {
		sectx_put_bytes(&w, WT_CRED, out->cred, out->cred_len);
	}
	if (out->msg[0] != '\0') {
		for (i = 0; i < sizeof(clean) - 1 && out->msg[i] != '\0'; i++) {
			unsigned char c = (unsigned char)out->msg[i];

			clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		clean[i] = '\0';
		sectx_put_string(&w, WT_MESSAGE, clean);
	}
	return sectx_frame_end(&w, len);
}

int ccw_outcome_decode(const uint8_t *buf, size_t len, uint16_t op, uint32_t reqid,
		       struct outcome *out)
{
	struct sectx_msg msg;
	uint32_t err;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > WRITER_REPLY_MAX) {
		return SECTX_ERR_TOOBIG;
	}
	ret = sectx_msg_parse(buf, len, &msg);
	if (ret != 0) {
		return ret;
	}
	if (msg.hdr.version != WRITER_VERSION) {
		return SECTX_ERR_VERSION;
	}
	if (msg.hdr.op != (uint16_t)(op | SECTX_OP_REPLY) || msg.hdr.reqid != reqid) {
		return SECTX_ERR_BADFRAME;
	}
	ret = only_tags(&msg, op == WOP_READ ? READ_REPLY_TAGS : REPLY_TAGS);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_msg_get_u32(&msg, WT_ERR, &err);
	if (ret != 0) {
		return ret;
	}
	if (err > 4095) {
		return SECTX_ERR_BADLEN;
	}
	out->err = (int)err;
	ret = sectx_msg_get_string(&msg, WT_CCACHE, out->ccache, sizeof(out->ccache),
				   WRITER_CCNAME_MAX);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	ret =
	    sectx_msg_get_string(&msg, WT_MESSAGE, out->msg, sizeof(out->msg), WRITER_MSG_MAX - 1);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	if (op != WOP_READ) {
		return 0;
	}
	ret = sectx_msg_get_string(&msg, WT_PRINCIPAL, out->principal, sizeof(out->principal),
				   SECTX_STRING_MAX);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	{
		const uint8_t *p = NULL;
		size_t n = 0;

		ret = sectx_msg_get_bytes(&msg, WT_CRED, &p, &n);
		if (ret == 0) {
			if (n == 0 || n > sizeof(out->cred)) {
				return SECTX_ERR_BADLEN;
			}
			memcpy(out->cred, p, n);
			out->cred_len = n;
		} else if (ret != SECTX_ERR_NOFIELD) {
			return ret;
		}
	}
	return 0;
}
