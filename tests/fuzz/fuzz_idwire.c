/*
 * fuzz_idwire.c - libFuzzer harness for the identity subsystem's private
 * messages (helper/identity/wire.c): the NSS publisher's report, the S4U
 * spawner's request and answer, the S4U worker's check and answer, and the
 * frame length reader they share.  The publisher and the workers are
 * children of sectxd; the workers talk to the KDC, so what comes back from
 * them is read as untrusted.
 *
 * The first byte picks a message and a way:
 *   even  arbitrary bytes through that message's decoder (with the reqid
 *         its header names, or another): never a crash, every output within
 *         its bound; what is accepted encodes again to a frame the decoder
 *         reads the same;
 *   odd   values from the input through that message's encoder: whatever
 *         it writes, its decoder takes back unchanged (the S4U message made
 *         printable as the encoder promises); a reply to another reqid is
 *         refused.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "identity/identity_int.h"

static uint8_t frame[SECTX_FRAME_MAX];

enum msg { M_PUBLISHED, M_CHECK, M_ANSWER, M_SPAWN, M_SPAWNED, M_NEED, M_COUNT };

static void terminated(const char *s, size_t size, size_t max)
{
	const char *nul = memchr(s, '\0', size);

	FUZZ_CHECK(nul != NULL && (size_t)(nul - s) <= max);
}

static void decode_bytes(enum msg m, struct fz *in)
{
	char principal[SECTX_NAME_MAX + 1], msg[ID_S4U_MSG_MAX + 1], msg2[ID_S4U_MSG_MAX + 1];
	uint8_t how = fz_u8(in);
	uint32_t reqid = fz_u32(in), reqid2 = 0, v = 0, v2 = 0;
	size_t max = fz_u32(in), len = 0, need = 0;
	const uint8_t *p = in->p;
	size_t n = in->n;
	struct sectx_hdr h;
	int result = 1, result2 = 1, ret;

	if ((how & 1) && sectx_hdr_decode(p, n, &h) != SECTX_ERR_SHORT) {
		reqid = h.reqid; /* the answer to what the frame says it answers */
	}
	switch (m) {
	case M_PUBLISHED:
		ret = id_wire_published_decode(p, n, reqid, &result);
		if (ret == 0) {
			FUZZ_CHECK(result <= 0 && result >= -(int)ID_ERR_MAX);
			FUZZ_CHECK(id_wire_published_encode(frame, sizeof(frame), reqid, result,
							    &len) == 0);
			FUZZ_CHECK(id_wire_published_decode(frame, len, reqid, &result2) == 0 &&
				   result2 == result);
		}
		break;
	case M_CHECK:
		ret = id_wire_s4u_check_decode(p, n, &reqid, principal, sizeof(principal));
		if (ret == 0) {
			terminated(principal, sizeof(principal), SECTX_NAME_MAX);
			FUZZ_CHECK(principal[0] != '\0');
			FUZZ_CHECK(id_wire_s4u_check_encode(frame, sizeof(frame), reqid, principal,
							    &len) == 0);
			FUZZ_CHECK(
			    id_wire_s4u_check_decode(frame, len, &reqid2, msg, sizeof(msg)) == 0);
			FUZZ_CHECK(reqid2 == reqid && strcmp(msg, principal) == 0);
		}
		break;
	case M_ANSWER:
		ret = id_wire_s4u_answer_decode(p, n, reqid, &v, msg, sizeof(msg));
		if (ret == 0) {
			FUZZ_CHECK(v <= ID_S4U_ERROR);
			terminated(msg, sizeof(msg), ID_S4U_MSG_MAX);
			FUZZ_CHECK(id_wire_s4u_answer_encode(frame, sizeof(frame), reqid, v, msg,
							     &len) == 0);
			FUZZ_CHECK(id_wire_s4u_answer_decode(frame, len, reqid, &v2, msg2,
							     sizeof(msg2)) == 0);
			FUZZ_CHECK(v2 == v && strlen(msg2) == strlen(msg));
		}
		break;
	case M_SPAWN:
		ret = id_wire_spawn_decode(p, n, &reqid);
		if (ret == 0) {
			FUZZ_CHECK(id_wire_spawn_encode(frame, sizeof(frame), reqid, &len) == 0);
			FUZZ_CHECK(id_wire_spawn_decode(frame, len, &reqid2) == 0 &&
				   reqid2 == reqid);
		}
		break;
	case M_SPAWNED:
		ret = id_wire_spawned_decode(p, n, reqid, &v);
		if (ret == 0) {
			FUZZ_CHECK(v <= INT32_MAX);
			FUZZ_CHECK(id_wire_spawned_encode(frame, sizeof(frame), reqid, v, &len) ==
				   0);
			FUZZ_CHECK(id_wire_spawned_decode(frame, len, reqid, &v2) == 0 && v2 == v);
		}
		break;
	default:
		ret = id_wire_frame_need(p, n, max, &need);
		if (ret == 0) {
			FUZZ_CHECK(need >= SECTX_HDR_LEN && need <= max && n >= SECTX_HDR_LEN);
		} else {
			FUZZ_CHECK(ret == SECTX_ERR_SHORT || ret == SECTX_ERR_TOOBIG ||
				   ret == SECTX_ERR_BADFRAME);
		}
		break;
	}
}

static void encode_values(enum msg m, struct fz *in)
{
	char s[SECTX_STRING_MAX + 2], out[ID_S4U_MSG_MAX + SECTX_NAME_MAX + 2];
	uint32_t reqid = fz_u32(in), reqid2 = 0, v = fz_u32(in), v2 = 0;
	int result = (int)fz_u32(in), result2 = 0;
	size_t len = 0, cap = fz_u16(in), i, n;
	int ret;

	fz_str(in, s, SECTX_STRING_MAX + 1);
	if (cap > sizeof(frame)) {
		cap = sizeof(frame);
	}
	switch (m) {
	case M_PUBLISHED:
		ret = id_wire_published_encode(frame, cap, reqid, result, &len);
		if (ret != 0) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
			break;
		}
		FUZZ_CHECK(id_wire_published_decode(frame, len, reqid, &result2) == 0);
		FUZZ_CHECK(result2 == (result <= 0 && result >= -(int)ID_ERR_MAX ? result : -EIO));
		FUZZ_CHECK(id_wire_published_decode(frame, len, reqid + 1, &result2) != 0);
		break;
	case M_CHECK:
		ret = id_wire_s4u_check_encode(frame, cap, reqid, s, &len);
		if (ret != 0) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG || ret == SECTX_ERR_BADSTR);
			break;
		}
		FUZZ_CHECK(id_wire_s4u_check_decode(frame, len, &reqid2, out, sizeof(out)) == 0);
		FUZZ_CHECK(reqid2 == reqid && strcmp(out, s) == 0);
		break;
	case M_ANSWER:
		v %= 4;
		ret = id_wire_s4u_answer_encode(frame, cap, reqid, v, s, &len);
		if (ret != 0) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
			break;
		}
		ret = id_wire_s4u_answer_decode(frame, len, reqid, &v2, out, sizeof(out));
		if (v > ID_S4U_ERROR) {
			FUZZ_CHECK(ret == SECTX_ERR_BADLEN);
			break;
		}
		FUZZ_CHECK(ret == 0 && v2 == v);
		n = strlen(s) < ID_S4U_MSG_MAX ? strlen(s) : ID_S4U_MSG_MAX;
		FUZZ_CHECK(strlen(out) == n);
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			FUZZ_CHECK(out[i] == (c >= 0x20 && c < 0x7f ? (char)c : '?'));
		}
		FUZZ_CHECK(id_wire_s4u_answer_decode(frame, len, reqid + 1, &v2, out,
						     sizeof(out)) == SECTX_ERR_BADFRAME);
		break;
	case M_SPAWN:
		ret = id_wire_spawn_encode(frame, cap, reqid, &len);
		if (ret != 0) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
			break;
		}
		FUZZ_CHECK(id_wire_spawn_decode(frame, len, &reqid2) == 0 && reqid2 == reqid);
		break;
	case M_SPAWNED:
		ret = id_wire_spawned_encode(frame, cap, reqid, v, &len);
		if (ret != 0) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
			break;
		}
		ret = id_wire_spawned_decode(frame, len, reqid, &v2);
		FUZZ_CHECK(v > INT32_MAX ? ret == SECTX_ERR_BADLEN : (ret == 0 && v2 == v));
		FUZZ_CHECK(id_wire_spawned_decode(frame, len, reqid + 1, &v2) ==
			   SECTX_ERR_BADFRAME);
		break;
	default: {
		/* a header announcing v bytes: need is v when v is a frame length */
		uint8_t hdr[SECTX_HDR_LEN] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
					      (uint8_t)(v >> 8), (uint8_t)v};
		size_t need = 0, max = reqid;

		ret = id_wire_frame_need(hdr, sizeof(hdr), max, &need);
		if (v > SECTX_FRAME_MAX) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
		} else if (v < SECTX_HDR_LEN) {
			FUZZ_CHECK(ret == SECTX_ERR_BADFRAME);
		} else if (v > max) {
			FUZZ_CHECK(ret == SECTX_ERR_TOOBIG);
		} else {
			FUZZ_CHECK(ret == 0 && need == v);
		}
		FUZZ_CHECK(id_wire_frame_need(hdr, cap % SECTX_HDR_LEN, max, &need) ==
			   SECTX_ERR_SHORT);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	uint8_t pick = fz_u8(&in);
	enum msg m = (enum msg)((pick >> 1) % M_COUNT);

	if (pick & 1) {
		encode_values(m, &in);
	} else {
		decode_bytes(m, &in);
	}
	return 0;
}
