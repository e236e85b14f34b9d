/*
 * fuzz_proto_rt.c - libFuzzer harness for the wire codec (common/proto.c),
 * the writer's way: the input is a recipe of fields (kind, tag, value) that
 * is built into a frame with sectx_put_*, into a buffer of a size the input
 * chooses.  Whatever the writer accepts, the reader must accept and give
 * back field by field (the writer never produces what the reader refuses);
 * whatever the writer refuses must be refused for a reason the recipe shows
 * (a string the validator rejects, or a frame that does not fit).  The raw
 * writer (sectx_wbuf_put_*) is held to the cursor the same way, and
 * sectx_reply_status to the parser.  fuzz_proto.c is the reader's way.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "proto.h"

#define MAX_FIELDS 64

enum kind { K_U32, K_U64, K_BYTES, K_STRING, K_KINDS };

struct rec {
	enum kind kind;
	uint16_t tag;
	uint64_t v;
	const uint8_t *p; /* K_BYTES, K_STRING: into the input */
	size_t len;
	char s[SECTX_STRING_MAX + 2]; /* K_STRING as a C string (cut at a NUL) */
	int valid;		      /* K_STRING: sectx_validate_string said 0 */
};

static uint8_t frame[SECTX_FRAME_MAX + 64];
static uint8_t again[SECTX_FRAME_MAX + 64];
static struct rec recs[MAX_FIELDS];

/* The bytes a field of r takes in a frame. */
static size_t rec_size(const struct rec *r)
{
	switch (r->kind) {
	case K_U32:
		return SECTX_FIELD_HDR_LEN + 4;
	case K_U64:
		return SECTX_FIELD_HDR_LEN + 8;
	case K_BYTES:
		return SECTX_FIELD_HDR_LEN + r->len;
	default:
		return SECTX_FIELD_HDR_LEN + strlen(r->s);
	}
}

static void check_field(const struct rec *r, const struct sectx_field *f)
{
	uint32_t v32;
	char s[SECTX_STRING_MAX + 1];

	FUZZ_CHECK(f->tag == r->tag);
	switch (r->kind) {
	case K_U32:
		FUZZ_CHECK(f->len == 4 && sectx_field_u32(f, &v32) == 0 && v32 == (uint32_t)r->v);
		break;
	case K_U64:
		FUZZ_CHECK(f->len == 8);
		FUZZ_CHECK(sectx_field_u32(f, &v32) == SECTX_ERR_BADLEN);
		break;
	case K_BYTES:
		FUZZ_CHECK(f->len == r->len &&
			   (r->len == 0 || memcmp(f->value, r->p, r->len) == 0));
		break;
	default:
		FUZZ_CHECK(f->len == strlen(r->s) && memcmp(f->value, r->s, f->len) == 0);
		/* a string the writer sent, the reader takes */
		FUZZ_CHECK(sectx_field_string(f, s, sizeof(s), SECTX_STRING_MAX) == 0 &&
			   strcmp(s, r->s) == 0);
		/* and one byte too small a buffer is refused, never overrun */
		if (f->len > 0) {
			FUZZ_CHECK(sectx_field_string(f, s, f->len, f->len) == SECTX_ERR_TOOBIG);
			FUZZ_CHECK(s[0] == '\0');
		}
		break;
	}
}

/* The raw writer against the cursor. */
static void raw_round_trip(struct fz *in)
{
	uint8_t buf[256];
	struct sectx_wbuf w;
	struct sectx_cur cur;
	uint32_t a = fz_u32(in), a2 = 0;
	uint64_t b = fz_u64(in), b2 = 0;
	size_t cap = fz_u8(in), n = fz_u8(in) % 64, got;
	const uint8_t *raw = fz_bytes(in, n, &got), *back = NULL;

	sectx_wbuf_init(&w, buf, cap);
	sectx_wbuf_put_u32(&w, a);
	sectx_wbuf_put_u64(&w, b);
	sectx_wbuf_put_raw(&w, raw, got);
	if (cap < 12 + got) {
		FUZZ_CHECK(w.err != 0);
		return;
	}
	FUZZ_CHECK(w.err == 0 && w.len == 12 + got);
	sectx_cur_init(&cur, buf, w.len);
	FUZZ_CHECK(sectx_cur_get_u32(&cur, &a2) == 0 && a2 == a);
	FUZZ_CHECK(sectx_cur_get_u64(&cur, &b2) == 0 && b2 == b);
	FUZZ_CHECK(sectx_cur_get_bytes(&cur, got, &back) == 0 &&
		   (got == 0 || memcmp(back, raw, got) == 0));
	FUZZ_CHECK(sectx_cur_left(&cur) == 0 && sectx_cur_get_u8(&cur, buf) == SECTX_ERR_SHORT);
}

/* A status reply against the parser. */
static void reply_round_trip(struct fz *in)
{
	struct sectx_hdr req = {.length = SECTX_HDR_LEN, .version = SECTX_PROTO_VERSION};
	char msg[SECTX_STRING_MAX + 1], back[SECTX_STRING_MAX + 1];
	struct sectx_msg m;
	uint32_t status = fz_u32(in), st2 = 0;
	size_t len = 0, cap = fz_u16(in) % (sizeof(frame) + 1);
	int with_msg = fz_u8(in) & 1, ret;

	req.op = fz_u16(in);
	req.reqid = fz_u32(in);
	fz_str(in, msg, SECTX_STRING_MAX);
	ret = sectx_reply_status(frame, cap, &req, status, with_msg ? msg : NULL, &len);
	if (ret != 0) {
		FUZZ_CHECK(ret == SECTX_ERR_TOOBIG || ret == SECTX_ERR_BADSTR);
		return;
	}
	FUZZ_CHECK(len <= cap && sectx_msg_parse(frame, len, &m) == 0);
	FUZZ_CHECK(m.hdr.op == (req.op | SECTX_OP_REPLY) && m.hdr.reqid == req.reqid);
	FUZZ_CHECK(sectx_msg_get_u32(&m, SECTX_TAG_STATUS, &st2) == 0 && st2 == status);
	if (with_msg) {
		FUZZ_CHECK(sectx_msg_get_string(&m, SECTX_TAG_MESSAGE, back, sizeof(back),
						SECTX_STRING_MAX) == 0 &&
			   strcmp(back, msg) == 0);
	} else {
		FUZZ_CHECK(sectx_msg_get_string(&m, SECTX_TAG_MESSAGE, back, sizeof(back),
						SECTX_STRING_MAX) == SECTX_ERR_NOFIELD);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	struct sectx_wbuf w;
	struct sectx_msg msg;
	struct sectx_field f;
	struct sectx_hdr h;
	uint16_t version = fz_u16(&in), op = fz_u16(&in);
	uint32_t reqid = fz_u32(&in);
	size_t cap = fz_u32(&in) % (sizeof(frame) + 1);
	size_t n = fz_u8(&in) % (MAX_FIELDS + 1), i, j, need = SECTX_HDR_LEN, len = 0, len2 = 0;
	int bad_string = 0, ret;

	for (i = 0; i < n; i++) {
		struct rec *r = &recs[i];
		size_t got;

		memset(r, 0, offsetof(struct rec, s));
		r->kind = (enum kind)(fz_u8(&in) % K_KINDS);
		/* a few tags, so that repeats happen */
		r->tag = fz_u8(&in) & 1 ? fz_u16(&in) : (uint16_t)(fz_u8(&in) % 8);
		switch (r->kind) {
		case K_U32:
			r->v = fz_u32(&in);
			break;
		case K_U64:
			r->v = fz_u64(&in);
			break;
		case K_BYTES:
			r->p = fz_bytes(&in, fz_u16(&in), &got);
			r->len = got;
			break;
		default:
			fz_str(&in, r->s, SECTX_STRING_MAX + 1);
			r->valid = sectx_validate_string((const uint8_t *)r->s, strlen(r->s),
							 SECTX_STRING_MAX) == 0;
			bad_string |= !r->valid;
			break;
		}
		need += rec_size(r);
	}

	sectx_frame_begin(&w, frame, cap, version, op, reqid);
	for (i = 0; i < n; i++) {
		const struct rec *r = &recs[i];

		switch (r->kind) {
		case K_U32:
			sectx_put_u32(&w, r->tag, (uint32_t)r->v);
			break;
		case K_U64:
			sectx_put_u64(&w, r->tag, r->v);
			break;
		case K_BYTES:
			sectx_put_bytes(&w, r->tag, r->p, r->len);
			break;
		default:
			sectx_put_string(&w, r->tag, r->s);
			break;
		}
	}
	ret = sectx_frame_end(&w, &len);
	if (ret != 0) {
		/* refused: for a reason the recipe shows */
		FUZZ_CHECK((ret == SECTX_ERR_BADSTR && bad_string) ||
			   (ret == SECTX_ERR_TOOBIG && (need > cap || need > SECTX_FRAME_MAX)));
		goto rest;
	}
	FUZZ_CHECK(!bad_string && len == need && len <= cap && len <= SECTX_FRAME_MAX);

	/* the writer never produces what the reader refuses */
	FUZZ_CHECK(sectx_hdr_decode(frame, len, &h) == 0);
	FUZZ_CHECK(h.length == len && h.version == version && h.op == op && h.reqid == reqid);
	FUZZ_CHECK(sectx_msg_parse(frame, len, &msg) == 0);
	/* every prefix is refused (a frame is read whole or not at all) */
	FUZZ_CHECK(sectx_msg_parse(frame, len - 1, &msg) != 0);
	FUZZ_CHECK(sectx_msg_parse(frame, len, &msg) == 0);

	/* the fields come back in order, each as it was put */
	{
		struct sectx_cur cur;

		sectx_cur_init(&cur, msg.fields, msg.fields_len);
		for (i = 0; i < n; i++) {
			FUZZ_CHECK(sectx_cur_get_u16(&cur, &f.tag) == 0 &&
				   sectx_cur_get_u32(&cur, &f.len) == 0 &&
				   sectx_cur_get_bytes(&cur, f.len, &f.value) == 0);
			check_field(&recs[i], &f);
		}
		FUZZ_CHECK(sectx_cur_left(&cur) == 0);
	}
	/* lookups by tag: a singular tag is found, a repeated one refused,
	 * and iteration visits the fields of a tag in order */
	for (i = 0; i < n; i++) {
		size_t count = 0, first = n, pos = 0, k = 0;
		uint32_t v32;
		uint64_t v64;

		for (j = 0; j < i && recs[j].tag != recs[i].tag; j++) {
		}
		if (j < i) {
			continue; /* this tag was looked up already */
		}
		for (j = 0; j < n; j++) {
			if (recs[j].tag == recs[i].tag) {
				first = count++ == 0 ? j : first;
			}
		}
		ret = sectx_msg_find(&msg, recs[i].tag, &f);
		if (count > 1) {
			FUZZ_CHECK(ret == SECTX_ERR_DUPFIELD);
		} else {
			FUZZ_CHECK(ret == 0);
			check_field(&recs[i], &f);
			if (recs[i].kind == K_U32) {
				FUZZ_CHECK(sectx_msg_get_u32(&msg, recs[i].tag, &v32) == 0 &&
					   v32 == (uint32_t)recs[i].v);
			}
			if (recs[i].kind == K_U64) {
				FUZZ_CHECK(sectx_msg_get_u64(&msg, recs[i].tag, &v64) == 0 &&
					   v64 == recs[i].v);
			}
		}
		for (j = first; sectx_msg_next(&msg, recs[i].tag, &pos, &f) == 0; j++) {
			while (j < n && recs[j].tag != recs[i].tag) {
				j++;
			}
			FUZZ_CHECK(j < n);
			check_field(&recs[j], &f);
			k++;
		}
		FUZZ_CHECK(k == count);
	}
	/* what the reader accepts re-encodes to the same bytes */
	sectx_frame_begin(&w, again, sizeof(again), h.version, h.op, h.reqid);
	{
		struct sectx_cur cur;

		sectx_cur_init(&cur, msg.fields, msg.fields_len);
		while (sectx_cur_left(&cur) > 0) {
			FUZZ_CHECK(sectx_cur_get_u16(&cur, &f.tag) == 0 &&
				   sectx_cur_get_u32(&cur, &f.len) == 0 &&
				   sectx_cur_get_bytes(&cur, f.len, &f.value) == 0);
			sectx_put_bytes(&w, f.tag, f.value, f.len);
		}
	}
	FUZZ_CHECK(sectx_frame_end(&w, &len2) == 0 && len2 == len &&
		   memcmp(again, frame, len) == 0);
rest:
	raw_round_trip(&in);
	reply_round_trip(&in);
	return 0;
}
