/*
 * fuzz_s2k.c - libFuzzer harness for sectx's string-to-key
 * (helper/login/s2k.c), differential: whatever sectx_s2k derives must be
 * bit-identical to libk5crypto's krb5_c_string_to_key_with_params (which
 * sectxd forwards everything else to), and sectx_pbkdf2 must equal OpenSSL's
 * PKCS5_PBKDF2_HMAC for any password, salt and small iteration count.
 *
 * Input: byte 0 picks the mode (bit 0x40: PBKDF2 alone; else bits 0-1 the
 * AES enctype, bit 0x80 explicit s2kparams), bytes 1-4 the params (an
 * iteration count libk5crypto would run, from the default up to
 * SECTX_S2K_ITER_LIMIT, is folded to the default + 0..63 so one input stays
 * fast; counts under the default or at the limit and above stay, both sides
 * must refuse or forward them), byte 5 the password's share of the rest,
 * then password and salt.  The SHA-2 enctypes (32768 iterations) are taken
 * for 1 input in 8 of theirs only, to keep executions per second useful.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "login/s2k_int.h"

static krb5_context ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const krb5_enctype et[] = {
	    ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA1_96,
	    ENCTYPE_AES128_CTS_HMAC_SHA256_128, ENCTYPE_AES256_CTS_HMAC_SHA384_192};
	uint8_t params[4], key[SECTX_S2K_KEY_MAX], out[64], ref[64];
	krb5_data pw, salt, dparams = {.length = 4, .data = (char *)params};
	krb5_keyblock kb = {0};
	krb5_error_code kerr;
	size_t pw_len, key_len = 0;
	uint32_t iter, def;
	krb5_enctype e;
	int ret;

	if (ctx == NULL && krb5_init_context(&ctx) != 0) {
		return 0;
	}
	if (size < 6) {
		return 0;
	}
	pw_len = (size - 6) * data[5] / 255;
	pw.data = (char *)data + 6;
	pw.length = (unsigned)pw_len;
	salt.data = (char *)data + 6 + pw_len;
	salt.length = (unsigned)(size - 6 - pw_len);
	iter = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];

	if (data[0] & 0x40) {
		/* PBKDF2 alone, 1..64 iterations, against OpenSSL */
		static const enum sectx_s2k_hash h[] = {SECTX_S2K_SHA1, SECTX_S2K_SHA256,
							SECTX_S2K_SHA384};
		const EVP_MD *md[] = {EVP_sha1(), EVP_sha256(), EVP_sha384()};
		size_t k = data[0] % 3, n = 1 + data[1] % sizeof(out);

		iter = 1 + data[2] % 64;
		ret = sectx_pbkdf2(h[k], pw.data, pw.length, salt.data, salt.length, iter, out, n);
		FUZZ_CHECK(ret == 0);
		FUZZ_CHECK(PKCS5_PBKDF2_HMAC(pw.data, (int)pw.length, (const uint8_t *)salt.data,
					     (int)salt.length, (int)iter, md[k], (int)n, ref) == 1);
		FUZZ_CHECK(memcmp(out, ref, n) == 0);
		return 0;
	}
	e = et[data[0] & 3];
	def = (data[0] & 3) < 2 ? SECTX_S2K_ITER_AES_SHA1 : SECTX_S2K_ITER_AES_SHA2;
	if ((data[0] & 3) >= 2 && (data[0] & 0x1c) != 0) {
		e = et[data[0] & 1]; /* SHA-2: 1 input in 8 */
		def = SECTX_S2K_ITER_AES_SHA1;
	}
	if (iter >= def && iter < SECTX_S2K_ITER_LIMIT) {
		iter = def + iter % 64;
	}
	params[0] = (uint8_t)(iter >> 24);
	params[1] = (uint8_t)(iter >> 16);
	params[2] = (uint8_t)(iter >> 8);
	params[3] = (uint8_t)iter;

	ret = sectx_s2k(e, &pw, &salt, (data[0] & 0x80) ? &dparams : NULL, key, &key_len);
	FUZZ_CHECK(ret == 0 || ret == -ENOTSUP);
	if (ret != 0 && (pw.length > SECTX_S2K_PASSWORD_MAX || salt.length > SECTX_S2K_SALT_MAX)) {
		return 0; /* forwarded for its size: libk5crypto's business */
	}
	kerr = krb5_c_string_to_key_with_params(ctx, e, &pw, &salt,
						(data[0] & 0x80) ? &dparams : NULL, &kb);
	/* sectx answers exactly what libk5crypto accepts, with its key */
	FUZZ_CHECK((ret == 0) == (kerr == 0));
	if (kerr == 0) {
		FUZZ_CHECK(kb.length == key_len && memcmp(kb.contents, key, key_len) == 0);
		krb5_free_keyblock_contents(ctx, &kb);
	}
	return 0;
}
