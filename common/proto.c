/*
 * proto.c - the sectx wire codec (see proto.h for the frame layout).
 *
 * Both ends of every socket use this code, and the helper runs it as root on
 * bytes from any local user, so it must never read outside the buffer it was
 * given, never trust a length it has not checked against what is there, and
 * never allocate.  All reading goes through struct sectx_cur; no other code
 * in sectx does pointer arithmetic on received data.
 */
#include "proto.h"

#include <errno.h>
#include <string.h>

/* --- cursor --------------------------------------------------------------- */

void sectx_cur_init(struct sectx_cur *cur, const void *p, size_t len)
{
	cur->p = p;
	cur->len = p != NULL ? len : 0;
	cur->off = 0;
}

size_t sectx_cur_left(const struct sectx_cur *cur)
{
	return cur->len - cur->off;
}

int sectx_cur_get_bytes(struct sectx_cur *cur, size_t n, const uint8_t **out)
{
	if (n > sectx_cur_left(cur)) {
		return SECTX_ERR_SHORT;
	}
	*out = cur->p + cur->off;
	cur->off += n;
	return 0;
}

static int cur_get_be(struct sectx_cur *cur, size_t n, uint64_t *v)
{
	const uint8_t *b;
	uint64_t r = 0;
	size_t i;
	int ret;

	ret = sectx_cur_get_bytes(cur, n, &b);
	if (ret != 0) {
		return ret;
	}
	for (i = 0; i < n; i++) {
		r = (r << 8) | b[i];
	}
	*v = r;
	return 0;
}

int sectx_cur_get_u8(struct sectx_cur *cur, uint8_t *v)
{
	uint64_t r;
	int ret = cur_get_be(cur, 1, &r);

	if (ret == 0) {
		*v = (uint8_t)r;
	}
	return ret;
}

int sectx_cur_get_u16(struct sectx_cur *cur, uint16_t *v)
{
	uint64_t r;
	int ret = cur_get_be(cur, 2, &r);

	if (ret == 0) {
		*v = (uint16_t)r;
	}
	return ret;
}

int sectx_cur_get_u32(struct sectx_cur *cur, uint32_t *v)
{
	uint64_t r;
	int ret = cur_get_be(cur, 4, &r);

	if (ret == 0) {
		*v = (uint32_t)r;
	}
	return ret;
}

int sectx_cur_get_u64(struct sectx_cur *cur, uint64_t *v)
{
	return cur_get_be(cur, 8, v);
}

/* --- validation ----------------------------------------------------------- */

int sectx_validate_string(const uint8_t *p, size_t len, size_t max)
{
	size_t i = 0;

	if (len > max) {
		return SECTX_ERR_TOOBIG;
	}
	while (i < len) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			/* NUL, C0 controls and DEL never belong in a name or message. */
			if (c < 0x20 || c == 0x7f) {
				return SECTX_ERR_BADSTR;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return SECTX_ERR_BADSTR; /* continuation byte, overlong lead, > U+10FFFF */
		}
		if (n > len - i - 1) {
			return SECTX_ERR_BADSTR;
		}
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return SECTX_ERR_BADSTR;
			}
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)) {
			return SECTX_ERR_BADSTR; /* overlong, out of range, surrogate, C1 control */
		}
		i += n + 1;
	}
	return 0;
}

/* --- header --------------------------------------------------------------- */

int sectx_hdr_decode(const uint8_t *buf, size_t len, struct sectx_hdr *hdr)
{
	struct sectx_cur cur;

	if (len < SECTX_HDR_LEN) {
		return SECTX_ERR_SHORT;
	}
	sectx_cur_init(&cur, buf, SECTX_HDR_LEN);
	/* Cannot fail: exactly SECTX_HDR_LEN bytes are there. */
	(void)sectx_cur_get_u32(&cur, &hdr->length);
	(void)sectx_cur_get_u16(&cur, &hdr->version);
	(void)sectx_cur_get_u16(&cur, &hdr->op);
	(void)sectx_cur_get_u32(&cur, &hdr->reqid);
	if (hdr->length > SECTX_FRAME_MAX) {
		return SECTX_ERR_TOOBIG;
	}
	if (hdr->length < SECTX_HDR_LEN) {
		return SECTX_ERR_BADFRAME;
	}
	return 0;
}

int sectx_version_ok(uint16_t v)
{
	return v >= SECTX_PROTO_MIN_VERSION && v <= SECTX_PROTO_VERSION;
}

/* --- reading a frame ------------------------------------------------------ */

/* Read one field header and value from cur. */
static int next_field(struct sectx_cur *cur, struct sectx_field *f)
{
	int ret;

	ret = sectx_cur_get_u16(cur, &f->tag);
	if (ret == 0) {
		ret = sectx_cur_get_u32(cur, &f->len);
	}
	if (ret == 0) {
		ret = sectx_cur_get_bytes(cur, f->len, &f->value);
	}
	return ret == 0 ? 0 : SECTX_ERR_BADFRAME;
}

int sectx_msg_parse(const uint8_t *buf, size_t len, struct sectx_msg *msg)
{
	struct sectx_cur cur;
	struct sectx_field f;
	int ret;

	memset(msg, 0, sizeof(*msg));
	ret = sectx_hdr_decode(buf, len, &msg->hdr);
	if (ret != 0) {
		return ret;
	}
	if (msg->hdr.length != len) {
		return msg->hdr.length > len ? SECTX_ERR_SHORT : SECTX_ERR_BADFRAME;
	}
	msg->fields = buf + SECTX_HDR_LEN;
	msg->fields_len = len - SECTX_HDR_LEN;

	/* Walk every field once so that later lookups only meet sound framing. */
	sectx_cur_init(&cur, msg->fields, msg->fields_len);
	while (sectx_cur_left(&cur) > 0) {
		ret = next_field(&cur, &f);
		if (ret != 0) {
			memset(msg, 0, sizeof(*msg));
			return ret;
		}
	}
	return 0;
}

int sectx_msg_next(const struct sectx_msg *msg, uint16_t tag, size_t *pos, struct sectx_field *f)
{
	struct sectx_cur cur;

	if (*pos > msg->fields_len) {
		return SECTX_ERR_NOFIELD;
	}
	sectx_cur_init(&cur, msg->fields, msg->fields_len);
	cur.off = *pos;
	while (sectx_cur_left(&cur) > 0) {
		if (next_field(&cur, f) != 0) {
			return SECTX_ERR_BADFRAME; /* not reached after sectx_msg_parse */
		}
		if (f->tag == tag) {
			*pos = cur.off;
			return 0;
		}
	}
	*pos = msg->fields_len;
	return SECTX_ERR_NOFIELD;
}

int sectx_msg_find(const struct sectx_msg *msg, uint16_t tag, struct sectx_field *f)
{
	struct sectx_field again;
	size_t pos = 0;
	int ret;

	ret = sectx_msg_next(msg, tag, &pos, f);
	if (ret != 0) {
		return ret;
	}
	if (sectx_msg_next(msg, tag, &pos, &again) == 0) {
		return SECTX_ERR_DUPFIELD;
	}
	return 0;
}

int sectx_field_u32(const struct sectx_field *f, uint32_t *v)
{
	struct sectx_cur cur;

	if (f->len != 4) {
		return SECTX_ERR_BADLEN;
	}
	sectx_cur_init(&cur, f->value, f->len);
	return sectx_cur_get_u32(&cur, v);
}

int sectx_msg_get_u32(const struct sectx_msg *msg, uint16_t tag, uint32_t *v)
{
	struct sectx_field f;
	int ret = sectx_msg_find(msg, tag, &f);

	return ret != 0 ? ret : sectx_field_u32(&f, v);
}

int sectx_msg_get_u64(const struct sectx_msg *msg, uint16_t tag, uint64_t *v)
{
	struct sectx_field f;
	struct sectx_cur cur;
	int ret = sectx_msg_find(msg, tag, &f);

	if (ret != 0) {
		return ret;
	}
	if (f.len != 8) {
		return SECTX_ERR_BADLEN;
	}
	sectx_cur_init(&cur, f.value, f.len);
	return sectx_cur_get_u64(&cur, v);
}

int sectx_field_string(const struct sectx_field *f, char *out, size_t outsz, size_t max)
{
	int ret;

	if (outsz == 0) {
		return SECTX_ERR_TOOBIG;
	}
	out[0] = '\0';
	ret = sectx_validate_string(f->value, f->len, max);
	if (ret != 0) {
		return ret;
	}
	if (f->len >= outsz) {
		return SECTX_ERR_TOOBIG;
	}
	memcpy(out, f->value, f->len);
	out[f->len] = '\0';
	return 0;
}

int sectx_msg_get_string(const struct sectx_msg *msg, uint16_t tag, char *out, size_t outsz,
			 size_t max)
{
	struct sectx_field f;
	int ret;

	if (outsz > 0) {
		out[0] = '\0';
	}
	ret = sectx_msg_find(msg, tag, &f);
	return ret != 0 ? ret : sectx_field_string(&f, out, outsz, max);
}

int sectx_msg_get_bytes(const struct sectx_msg *msg, uint16_t tag, const uint8_t **p, size_t *len)
{
	struct sectx_field f;
	int ret = sectx_msg_find(msg, tag, &f);

	if (ret != 0) {
		return ret;
	}
	*p = f.value;
	*len = f.len;
	return 0;
}

/* --- writing a frame ------------------------------------------------------ */

static void put_be(struct sectx_wbuf *w, uint64_t v, size_t n)
{
	size_t i;

	if (w->err != 0) {
		return;
	}
	if (n > w->cap - w->len) {
		w->err = SECTX_ERR_TOOBIG;
		return;
	}
	for (i = 0; i < n; i++) {
		w->data[w->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	}
	w->len += n;
}

void sectx_wbuf_init(struct sectx_wbuf *w, void *buf, size_t cap)
{
	w->data = buf;
	w->cap = buf != NULL ? cap : 0;
	w->len = 0;
	w->err = buf != NULL ? 0 : -EINVAL;
}

void sectx_wbuf_put_u32(struct sectx_wbuf *w, uint32_t v)
{
	put_be(w, v, 4);
}

void sectx_wbuf_put_u64(struct sectx_wbuf *w, uint64_t v)
{
	put_be(w, v, 8);
}

void sectx_wbuf_put_raw(struct sectx_wbuf *w, const void *p, size_t len)
{
	if (w->err != 0) {
		return;
	}
	if (len > w->cap - w->len) {
		w->err = SECTX_ERR_TOOBIG;
		return;
	}
	if (len > 0) {
		memcpy(w->data + w->len, p, len);
		w->len += len;
	}
}

void sectx_frame_begin(struct sectx_wbuf *w, void *buf, size_t cap, uint16_t version, uint16_t op,
		       uint32_t reqid)
{
	w->data = buf;
	w->cap = cap > SECTX_FRAME_MAX ? SECTX_FRAME_MAX : cap;
	w->len = 0;
	w->err = buf != NULL ? 0 : -EINVAL;
	put_be(w, 0, 4); /* length, patched by sectx_frame_end */
	put_be(w, version, 2);
	put_be(w, op, 2);
	put_be(w, reqid, 4);
}

void sectx_put_bytes(struct sectx_wbuf *w, uint16_t tag, const void *p, size_t len)
{
	if (w->err != 0) {
		return;
	}
	if (len > w->cap - w->len || w->cap - w->len - len < SECTX_FIELD_HDR_LEN) {
		w->err = SECTX_ERR_TOOBIG;
		return;
	}
	put_be(w, tag, 2);
	put_be(w, len, 4);
	if (len > 0) {
		memcpy(w->data + w->len, p, len);
		w->len += len;
	}
}

void sectx_put_u32(struct sectx_wbuf *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	sectx_put_bytes(w, tag, b, sizeof(b));
}

void sectx_put_u64(struct sectx_wbuf *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < 8; i++) {
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	}
	sectx_put_bytes(w, tag, b, sizeof(b));
}

void sectx_put_string(struct sectx_wbuf *w, uint16_t tag, const char *s)
{
	size_t len;

	if (w->err != 0) {
		return;
	}
	if (s == NULL) {
		w->err = -EINVAL;
		return;
	}
	len = strnlen(s, SECTX_STRING_MAX + 1);
	if (sectx_validate_string((const uint8_t *)s, len, SECTX_STRING_MAX) != 0) {
		w->err = SECTX_ERR_BADSTR;
		return;
	}
	sectx_put_bytes(w, tag, s, len);
}

int sectx_frame_end(struct sectx_wbuf *w, size_t *len)
{
	if (w->err != 0) {
		return w->err;
	}
	w->data[0] = (uint8_t)(w->len >> 24);
	w->data[1] = (uint8_t)(w->len >> 16);
	w->data[2] = (uint8_t)(w->len >> 8);
	w->data[3] = (uint8_t)w->len;
	*len = w->len;
	return 0;
}

int sectx_reply_status(void *buf, size_t cap, const struct sectx_hdr *req, uint32_t status,
		       const char *message, size_t *len)
{
	struct sectx_wbuf w;
	uint16_t version = sectx_version_ok(req->version) ? req->version : SECTX_PROTO_VERSION;

	sectx_frame_begin(&w, buf, cap, version, (uint16_t)(req->op | SECTX_OP_REPLY), req->reqid);
	sectx_put_u32(&w, SECTX_TAG_STATUS, status);
	if (message != NULL) {
		sectx_put_string(&w, SECTX_TAG_MESSAGE, message);
	}
	if (status == SECTX_E_VERSION) {
		sectx_put_u32(&w, SECTX_TAG_MIN_VERSION, SECTX_PROTO_MIN_VERSION);
		sectx_put_u32(&w, SECTX_TAG_MAX_VERSION, SECTX_PROTO_VERSION);
	}
	return sectx_frame_end(&w, len);
}

/* --- names ---------------------------------------------------------------- */

const char *sectx_op_name(uint16_t op)
{
	switch (op & ~SECTX_OP_REPLY) {
	case SECTX_OP_PING:
		return "ping";
	case SECTX_OP_STATUS:
		return "status";
	case SECTX_OP_DEBUG_LEVEL:
		return "debug-level";
	case SECTX_OP_CACHE_FLUSH:
		return "cache-flush";
	case SECTX_OP_ID_MAP:
		return "id-map";
	case SECTX_OP_ID_INFO:
		return "id-info";
	case SECTX_OP_TICKETS:
		return "tickets";
	case SECTX_OP_LOG_TAIL:
		return "log-tail";
	case SECTX_OP_CACHE_LIST:
		return "cache-list";
	case SECTX_OP_CACHE_DROP:
		return "cache-drop";
	case SECTX_OP_NSS_GETPWNAM:
		return "getpwnam";
	case SECTX_OP_NSS_GETPWUID:
		return "getpwuid";
	case SECTX_OP_NSS_GETGRNAM:
		return "getgrnam";
	case SECTX_OP_NSS_GETGRGID:
		return "getgrgid";
	case SECTX_OP_NSS_INITGROUPS:
		return "initgroups";
	case SECTX_OP_NSS_ENUM_USERS:
		return "enumerate-users";
	case SECTX_OP_NSS_ENUM_GROUPS:
		return "enumerate-groups";
	case SECTX_OP_PAM_AUTHENTICATE:
		return "pam-authenticate";
	case SECTX_OP_PAM_ACCT_MGMT:
		return "pam-acct-mgmt";
	case SECTX_OP_PAM_CHAUTHTOK:
		return "pam-chauthtok";
	case SECTX_OP_PAM_SETCRED:
		return "pam-setcred";
	case SECTX_OP_PAM_OPEN_SESSION:
		return "pam-open-session";
	case SECTX_OP_PAM_CLOSE_SESSION:
		return "pam-close-session";
	case SECTX_OP_PAM_GSS_AUTH:
		return "pam-gss-auth";
	case SECTX_OP_CTX_ACCEPT_STEP:
		return "ctx-accept-step";
	case SECTX_OP_CTX_INIT_STEP:
		return "ctx-init-step";
	case SECTX_OP_CTX_WRAP:
		return "ctx-wrap";
	case SECTX_OP_CTX_UNWRAP:
		return "ctx-unwrap";
	case SECTX_OP_CTX_GET_MIC:
		return "ctx-get-mic";
	case SECTX_OP_CTX_VERIFY_MIC:
		return "ctx-verify-mic";
	case SECTX_OP_CTX_RELEASE:
		return "ctx-release";
	}
	return "unknown";
}

const char *sectx_status_name(uint32_t status)
{
	switch (status) {
	case SECTX_OK:
		return "ok";
	case SECTX_E_PROTO:
		return "protocol error";
	case SECTX_E_VERSION:
		return "protocol version not supported";
	case SECTX_E_NOOP:
		return "operation not supported";
	case SECTX_E_PERM:
		return "permission denied";
	case SECTX_E_BUSY:
		return "helper busy";
	case SECTX_E_INTERNAL:
		return "internal error";
	case SECTX_E_INVAL:
		return "invalid argument";
	case SECTX_E_NOTFOUND:
		return "not found";
	case SECTX_E_SHUTDOWN:
		return "helper shutting down";
	case SECTX_E_TIMEOUT:
		return "timed out";
	case SECTX_E_UNAVAIL:
		return "service unavailable";
	}
	return "unknown status";
}

const char *sectx_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case SECTX_ERR_SHORT:
		return "truncated frame";
	case SECTX_ERR_TOOBIG:
		return "frame or field too large";
	case SECTX_ERR_BADSTR:
		return "invalid string";
	case SECTX_ERR_BADFRAME:
		return "malformed frame";
	case SECTX_ERR_NOFIELD:
		return "missing field";
	case SECTX_ERR_DUPFIELD:
		return "duplicate field";
	case SECTX_ERR_BADLEN:
		return "field has the wrong length";
	case SECTX_ERR_VERSION:
		return "protocol version not supported";
	}
	if (err < 0 && err > -4096) {
		return strerror(-err); /* glibc: thread-safe for known errnos */
	}
	return "unknown error";
}
