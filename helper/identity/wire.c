/*
 * identity/wire.c - the identity subsystem's private wire formats (ops and
 * tags in identity_int.h): the NSS publisher's report, the S4U spawner's and
 * worker's requests and answers, and the body of the id map state file.
 * All of them are frames of the common/proto codec; this file is their only
 * encoder and decoder, and a unit test (test_identity_wire.c) holds each
 * decoder to what its encoder writes.
 *
 * Who reaches this: sectxd and its own children, on bytes from a pipe, a
 * socketpair or the state directory.  Those bytes come from processes and
 * files of our own, but a decoder still treats them as hostile: it never
 * trusts a length, refuses what is past a named bound, and never reads
 * outside the buffer it is given.  No I/O, no global state.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <string.h>

/* --- frames ----------------------------------------------------------------------------------- */

int id_wire_frame_need(const uint8_t *buf, size_t len, size_t max, size_t *need)
{
	struct sectx_hdr hdr;
	int ret;

	ret = sectx_hdr_decode(buf, len, &hdr);
	if (ret != 0) {
		return ret;
	}
	if (hdr.length > max) {
		return SECTX_ERR_TOOBIG;
	}
	*need = hdr.length;
	return 0;
}

/* Parse buf[len] as a frame of ours: at most max bytes, our version, the
 * op wanted, and (when check_reqid) the request id wanted. */
static int parse(const uint8_t *buf, size_t len, size_t max, uint16_t op, bool check_reqid,
		 uint32_t reqid, struct sectx_msg *msg)
{
	int ret;

	if (len > max) {
		return SECTX_ERR_TOOBIG;
	}
	ret = sectx_msg_parse(buf, len, msg);
	if (ret != 0) {
		return ret;
	}
	if (msg->hdr.version != ID_WIRE_VERSION || msg->hdr.op != op ||
	    (check_reqid && msg->hdr.reqid != reqid)) {
		return SECTX_ERR_BADFRAME;
	}
	return 0;
}

/* A non-empty string field of at most max bytes into out[outsz]. */
static int get_name(const struct sectx_msg *msg, uint16_t tag, char *out, size_t outsz, size_t max)
{
	int ret = sectx_msg_get_string(msg, tag, out, outsz, max);

	if (ret == 0 && out[0] == '\0') {
		ret = SECTX_ERR_BADSTR;
	}
	return ret;
}

/* --- the NSS publisher's report --------------------------------------------------------------- */

int id_wire_published_encode(uint8_t *buf, size_t cap, uint32_t gen, int result, size_t *len)
{
	struct sectx_wbuf w;
	uint32_t err = result <= 0 && result >= -(int)ID_ERR_MAX ? (uint32_t)-result : EIO;

	sectx_frame_begin(&w, buf, cap, ID_WIRE_VERSION, ID_OP_PUBLISHED, gen);
	sectx_put_u32(&w, ID_TAG_ERR, err);
	return sectx_frame_end(&w, len);
}

int id_wire_published_decode(const uint8_t *buf, size_t len, uint32_t gen, int *result)
{
	struct sectx_msg msg;
	uint32_t err;
	int ret;

	ret = parse(buf, len, ID_PUB_FRAME_MAX, ID_OP_PUBLISHED, true, gen, &msg);
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, ID_TAG_ERR, &err);
	}
	if (ret == 0 && err > ID_ERR_MAX) {
		ret = SECTX_ERR_BADLEN;
	}
	if (ret == 0) {
		*result = -(int)err;
	}
	return ret;
}

/* --- the S4U worker --------------------------------------------------------------------------- */

int id_wire_s4u_check_encode(uint8_t *buf, size_t cap, uint32_t reqid, const char *principal,
			     size_t *len)
{
	struct sectx_wbuf w;

	if (principal == NULL || principal[0] == '\0' ||
	    strnlen(principal, SECTX_NAME_MAX + 1) > SECTX_NAME_MAX) {
		return SECTX_ERR_TOOBIG;
	}
	sectx_frame_begin(&w, buf, cap > ID_S4U_FRAME_MAX ? ID_S4U_FRAME_MAX : cap, ID_WIRE_VERSION,
			  ID_OP_S4U_CHECK, reqid);
	sectx_put_string(&w, ID_TAG_PRINCIPAL, principal);
	return sectx_frame_end(&w, len);
}

int id_wire_s4u_check_decode(const uint8_t *buf, size_t len, uint32_t *reqid, char *principal,
			     size_t size)
{
	struct sectx_msg msg;
	int ret;

	ret = parse(buf, len, ID_S4U_FRAME_MAX, ID_OP_S4U_CHECK, false, 0, &msg);
	if (ret == 0) {
		ret = get_name(&msg, ID_TAG_PRINCIPAL, principal, size, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		*reqid = msg.hdr.reqid;
	}
	return ret;
}

int id_wire_s4u_answer_encode(uint8_t *buf, size_t cap, uint32_t reqid, uint32_t answer,
			      const char *msg, size_t *len)
{
	char clean[ID_S4U_MSG_MAX + 1];
	struct sectx_wbuf w;
	size_t i = 0;

	/* a Kerberos message may quote anything: printable ASCII only */
	for (; msg != NULL && i < ID_S4U_MSG_MAX && msg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)msg[i];

		clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	clean[i] = '\0';
	sectx_frame_begin(&w, buf, cap > ID_S4U_FRAME_MAX ? ID_S4U_FRAME_MAX : cap, ID_WIRE_VERSION,
			  (uint16_t)(ID_OP_S4U_CHECK | SECTX_OP_REPLY), reqid);
	sectx_put_u32(&w, ID_TAG_ANSWER, answer);
	if (clean[0] != '\0') {
		sectx_put_string(&w, ID_TAG_MESSAGE, clean);
	}
	return sectx_frame_end(&w, len);
}

int id_wire_s4u_answer_decode(const uint8_t *buf, size_t len, uint32_t reqid, uint32_t *answer,
			      char *msg, size_t msgsz)
{
	struct sectx_msg m;
	int ret;

	ret = parse(buf, len, ID_S4U_FRAME_MAX, ID_OP_S4U_CHECK | SECTX_OP_REPLY, true, reqid, &m);
	if (ret == 0) {
		ret = sectx_msg_get_u32(&m, ID_TAG_ANSWER, answer);
	}
	if (ret == 0 && *answer > ID_S4U_ERROR) {
		ret = SECTX_ERR_BADLEN;
	}
	if (ret == 0) {
		ret = sectx_msg_get_string(&m, ID_TAG_MESSAGE, msg, msgsz, ID_S4U_MSG_MAX);
		if (ret == SECTX_ERR_NOFIELD) {
			ret = 0;
		}
	}
	return ret;
}

/* --- the S4U spawner -------------------------------------------------------------------------- */

int id_wire_spawn_encode(uint8_t *buf, size_t cap, uint32_t reqid, size_t *len)
{
	struct sectx_wbuf w;

	sectx_frame_begin(&w, buf, cap > ID_S4U_FRAME_MAX ? ID_S4U_FRAME_MAX : cap, ID_WIRE_VERSION,
			  ID_OP_S4U_SPAWN, reqid);
	return sectx_frame_end(&w, len);
}

int id_wire_spawn_decode(const uint8_t *buf, size_t len, uint32_t *reqid)
{
	struct sectx_msg msg;
	int ret;

	ret = parse(buf, len, ID_S4U_FRAME_MAX, ID_OP_S4U_SPAWN, false, 0, &msg);
	if (ret == 0) {
		*reqid = msg.hdr.reqid;
	}
	return ret;
}

int id_wire_spawned_encode(uint8_t *buf, size_t cap, uint32_t reqid, uint32_t pid, size_t *len)
{
	struct sectx_wbuf w;

	sectx_frame_begin(&w, buf, cap > ID_S4U_FRAME_MAX ? ID_S4U_FRAME_MAX : cap, ID_WIRE_VERSION,
			  (uint16_t)(ID_OP_S4U_SPAWN | SECTX_OP_REPLY), reqid);
	sectx_put_u32(&w, ID_TAG_PID, pid);
	return sectx_frame_end(&w, len);
}

int id_wire_spawned_decode(const uint8_t *buf, size_t len, uint32_t reqid, uint32_t *pid)
{
	struct sectx_msg msg;
	int ret;

	ret =
	    parse(buf, len, ID_S4U_FRAME_MAX, ID_OP_S4U_SPAWN | SECTX_OP_REPLY, true, reqid, &msg);
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, ID_TAG_PID, pid);
	}
	if (ret == 0 && *pid > INT32_MAX) {
		ret = SECTX_ERR_BADLEN;
	}
	return ret;
}

/* --- the id map body -------------------------------------------------------------------------- */

int id_wire_map_encode(TALLOC_CTX *mem_ctx, const char *range, struct id_user *const *users,
		       size_t n, uint8_t **out, size_t *out_len)
{
	struct sectx_wbuf w;
	uint8_t *body = NULL;
	size_t len = 0, cap = 0, flen, i;
	int ret = 0;

	if (range == NULL || strnlen(range, ID_RANGE_STR_MAX + 1) > ID_RANGE_STR_MAX ||
	    (uint64_t)n > UINT32_MAX) {
		return -EINVAL;
	}
	for (i = 0; i <= n; i++) {
		if (cap - len < ID_MAP_FRAME_MAX) {
			uint8_t *grown;

			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > ID_MAPFILE_MAX + ID_MAP_FRAME_MAX) {
				ret = -EFBIG;
				goto done;
			}
			grown = talloc_realloc(mem_ctx, body, uint8_t, cap);
			if (grown == NULL) {
				ret = -ENOMEM;
				goto done;
			}
			body = grown;
		}
		if (i == 0) {
			sectx_frame_begin(&w, body + len, ID_MAP_FRAME_MAX, ID_WIRE_VERSION,
					  ID_OP_MAP_HEAD, 0);
			sectx_put_string(&w, ID_TAG_RANGE, range);
			sectx_put_u32(&w, ID_TAG_COUNT, (uint32_t)n);
		} else {
			const struct id_user *u = users[i - 1];

			if (u->principal[0] == '\0' ||
			    strnlen(u->principal, SECTX_NAME_MAX + 1) > SECTX_NAME_MAX) {
				ret = -EINVAL;
				goto done;
			}
			sectx_frame_begin(&w, body + len, ID_MAP_FRAME_MAX, ID_WIRE_VERSION,
					  ID_OP_MAP_ENTRY, 0);
			sectx_put_u32(&w, ID_TAG_UID, u->uid);
			sectx_put_string(&w, ID_TAG_PRINCIPAL, u->principal);
		}
		if (sectx_frame_end(&w, &flen) != 0) {
			ret = -EINVAL; /* a string the codec refuses to send */
			goto done;
		}
		len += flen;
	}
	if (len > ID_MAPFILE_MAX) {
		ret = -EFBIG;
		goto done;
	}
	*out = body;
	*out_len = len;
	body = NULL;
done:
	talloc_free(body);
	return ret;
}

void id_wire_map_reader_init(struct id_map_reader *r, const uint8_t *p, size_t len)
{
	memset(r, 0, sizeof(*r));
	sectx_cur_init(&r->cur, p, len);
}

bool id_wire_map_done(const struct id_map_reader *r)
{
	return r->have_head && r->entries == r->count && sectx_cur_left(&r->cur) == 0;
}

int id_wire_map_next(struct id_map_reader *r, struct id_map_rec *rec)
{
	const uint8_t *start = r->cur.p + r->cur.off, *frame;
	struct sectx_msg msg;
	size_t need = 0;
	uint32_t min, max;
	int ret;

	memset(rec, 0, sizeof(*rec));
	ret = id_wire_frame_need(start, sectx_cur_left(&r->cur), ID_MAP_FRAME_MAX, &need);
	if (ret == 0) {
		ret = sectx_cur_get_bytes(&r->cur, need, &frame);
	}
	if (ret == 0) {
		ret = sectx_msg_parse(frame, need, &msg);
	}
	if (ret != 0) {
		return ret;
	}
	if (msg.hdr.version != ID_WIRE_VERSION || msg.hdr.reqid != 0 ||
	    (msg.hdr.op != ID_OP_MAP_HEAD && msg.hdr.op != ID_OP_MAP_ENTRY)) {
		return SECTX_ERR_BADFRAME;
	}
	rec->op = msg.hdr.op;
	if (rec->op == ID_OP_MAP_HEAD) {
		if (r->have_head) {
			return SECTX_ERR_DUPFIELD;
		}
		ret =
		    get_name(&msg, ID_TAG_RANGE, rec->range, sizeof(rec->range), ID_RANGE_STR_MAX);
		if (ret == 0 && id_range_parse(rec->range, &min, &max) != 0) {
			ret = SECTX_ERR_BADSTR;
		}
		if (ret == 0) {
			ret = sectx_msg_get_u32(&msg, ID_TAG_COUNT, &rec->count);
		}
		if (ret == 0 && (uint64_t)rec->count > (uint64_t)max - min + 1) {
			ret = SECTX_ERR_TOOBIG; /* at most one mapping per id */
		}
		if (ret != 0) {
			return ret;
		}
		r->have_head = true;
		r->count = rec->count;
		return 0;
	}
	if (!r->have_head) {
		return SECTX_ERR_NOFIELD;
	}
	if (r->entries >= r->count) {
		return SECTX_ERR_TOOBIG;
	}
	ret = sectx_msg_get_u32(&msg, ID_TAG_UID, &rec->uid);
	if (ret == 0) {
		ret = get_name(&msg, ID_TAG_PRINCIPAL, rec->principal, sizeof(rec->principal),
			       SECTX_NAME_MAX);
	}
	if (ret == 0) {
		r->entries++;
	}
	return ret;
}
