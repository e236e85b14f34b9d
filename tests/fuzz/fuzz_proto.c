/*
 * fuzz_proto.c - libFuzzer harness for the wire codec: every byte sequence a
 * peer can send goes through header decoding, frame parsing and every getter.
 * It must never read out of bounds, never crash, and anything that parses
 * must re-encode field by field to the same bytes.
 */
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SECTX_FRAME_MAX];
	char s[SECTX_STRING_MAX + 1];
	struct sectx_msg msg;
	struct sectx_field f;
	struct sectx_wbuf w;
	struct sectx_hdr h;
	size_t pos = 0, len = 0;
	uint32_t v32;
	uint64_t v64;
	uint16_t tag;

	(void)sectx_hdr_decode(data, size, &h);
	if (sectx_msg_parse(data, size, &msg) != 0) {
		return 0;
	}
	for (tag = 0; tag < 0x20; tag++) {
		(void)sectx_msg_get_u32(&msg, tag, &v32);
		(void)sectx_msg_get_u64(&msg, tag, &v64);
		(void)sectx_msg_get_string(&msg, tag, s, sizeof(s), SECTX_STRING_MAX);
	}
	/* Re-encode every field in order: the result must be the input. */
	sectx_frame_begin(&w, out, sizeof(out), msg.hdr.version, msg.hdr.op, msg.hdr.reqid);
	{
		struct sectx_cur cur;

		sectx_cur_init(&cur, msg.fields, msg.fields_len);
		while (sectx_cur_left(&cur) > 0) {
			const uint8_t *val;
			uint32_t flen;

			if (sectx_cur_get_u16(&cur, &f.tag) != 0 ||
			    sectx_cur_get_u32(&cur, &flen) != 0 ||
			    sectx_cur_get_bytes(&cur, flen, &val) != 0) {
				__builtin_trap(); /* parse accepted what the cursor cannot walk */
			}
			sectx_put_bytes(&w, f.tag, val, flen);
		}
	}
	if (sectx_frame_end(&w, &len) != 0 || len != size || memcmp(out, data, size) != 0) {
		__builtin_trap();
	}
	while (sectx_msg_next(&msg, SECTX_TAG_MESSAGE, &pos, &f) == 0) {
		(void)sectx_field_string(&f, s, sizeof(s), SECTX_STRING_MAX);
	}
	return 0;
}
