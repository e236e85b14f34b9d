/*
 * fuzz_kdc_frame.c - libFuzzer harness for the reader of KDC replies over
 * TCP (helper/login/kdc_frame.c): a four-byte big-endian length, then the
 * body, arriving in pieces of any size, from a KDC or whoever answers on its
 * address.
 *
 * The input is a chunking seed then the byte stream.  The stream is fed to
 * the reader in pieces of sizes the seed picks, each copied into exactly
 * the place sectx_kdc_reader_want gives (so a want past the buffer it
 * allocated is an ASan report).  The reader must never ask for more than
 * it needs, must refuse a zero or oversized length before allocating, and a
 * reply it completes must be exactly the announced bytes of the stream.
 * Then the stream's body is framed with sectx_kdc_frame_encode and read
 * back the same way: it must come out whole and unchanged.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "login/login_int.h"

/* Feed len bytes of s to a new reader in pieces; returns the reader's last
 * answer (0: it wants more) and the bytes it consumed. */
static int feed(TALLOC_CTX *mem, struct sectx_kdc_reader *r, const uint8_t *s, size_t len,
		uint32_t seed, size_t *used)
{
	size_t off = 0;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	while (off < len) {
		uint8_t *dst = NULL;
		size_t want = 0, n;

		sectx_kdc_reader_want(r, &dst, &want);
		FUZZ_CHECK(dst != NULL && want > 0);
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % (seed & 1 ? 7 : 4096);
		n = n < want ? n : want;
		n = n < len - off ? n : len - off;
		memcpy(dst, s + off, n);
		off += n;
		ret = sectx_kdc_reader_got(mem, r, n);
		if (ret != 0) {
			break;
		}
	}
	*used = off;
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	uint32_t seed = fz_u32(&in);
	TALLOC_CTX *mem = talloc_new(NULL);
	struct sectx_kdc_reader r;
	uint8_t *framed = NULL;
	size_t used = 0, framed_len = 0, announced;
	int ret;

	ret = feed(mem, &r, in.p, in.n, seed, &used);
	if (in.n >= SECTX_KDC_PREFIX_LEN) {
		announced =
		    (size_t)in.p[0] << 24 | (size_t)in.p[1] << 16 | (size_t)in.p[2] << 8 | in.p[3];
		if (announced == 0 || announced > SECTX_KDC_REPLY_MAX) {
			/* refused as soon as the length is in, nothing read past it */
			FUZZ_CHECK(ret == -EPROTO && used == SECTX_KDC_PREFIX_LEN);
			FUZZ_CHECK(r.in == NULL && r.in_len == announced);
		} else if (in.n - SECTX_KDC_PREFIX_LEN >= announced) {
			/* complete: exactly the announced body, not a byte more */
			FUZZ_CHECK(ret == 1 && used == SECTX_KDC_PREFIX_LEN + announced);
			FUZZ_CHECK(r.in_len == announced && r.in_got == announced);
			FUZZ_CHECK(memcmp(r.in, in.p + SECTX_KDC_PREFIX_LEN, announced) == 0);
			FUZZ_CHECK(talloc_get_size(r.in) == announced);
		} else {
			FUZZ_CHECK(ret == 0 && used == in.n);
		}
	} else {
		FUZZ_CHECK(ret == 0 && used == in.n && r.in == NULL);
	}

	/* the writer's way: a message framed is read back unchanged */
	if (in.n > 0) {
		ret = sectx_kdc_frame_encode(mem, in.p, in.n, &framed, &framed_len);
		FUZZ_CHECK(ret == 0 && framed_len == SECTX_KDC_PREFIX_LEN + in.n);
		ret = feed(mem, &r, framed, framed_len, ~seed, &used);
		FUZZ_CHECK(ret == 1 && used == framed_len && r.in_len == in.n &&
			   memcmp(r.in, in.p, in.n) == 0);
	}
	talloc_free(mem);
	return 0;
}
