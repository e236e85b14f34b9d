/*
 * test_s2k.c - unit tests of helper/login/s2k.c, sectx's string-to-key:
 * the RFC 3962 Appendix B vectors (aes128/aes256-cts-hmac-sha1-96, iteration
 * counts 1, 2, 1200, 5 and 50, passwords of 64 and 65 bytes, a non-ASCII
 * one), the RFC 8009 Appendix A vectors (aes128-cts-hmac-sha256-128,
 * aes256-cts-hmac-sha384-192, 32768 iterations), PBKDF2 against OpenSSL's
 * PKCS5_PBKDF2_HMAC, and a differential test against libk5crypto's
 * krb5_c_string_to_key_with_params over random passwords, salts, iteration
 * counts and the four enctypes, plus what it must hand back (-ENOTSUP):
 * other enctypes and parameters libk5crypto refuses (among them any count
 * under the enctype's default: libk5crypto refuses the RFC vectors' small
 * counts as weak, so they are checked through sectx_s2k_iter).
 *
 * This program is not linked with s2k_interpose.c: krb5_c_string_to_key_with_params
 * here is libk5crypto's own.
 */
#include "login/s2k_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct vector {
	krb5_enctype enctype;
	unsigned iter;
	const char *password;
	size_t pw_len;
	const char *salt;
	size_t salt_len;
	const char *key_hex;
};

#define ATHENA	     "ATHENA.MIT.EDUraeburn"
#define X64	     "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
#define RFC8009_SALT "\x10\xdf\x9d\xd7\x83\xe5\xbc\x8a\xce\xa1\x73\x0e\x74\x35\x5f\x61" ATHENA

#define V(e, it, pw, salt, hex)                                                                    \
	{                                                                                          \
		e, it, pw, sizeof(pw) - 1, salt, sizeof(salt) - 1, hex                             \
	}
#define A128 ENCTYPE_AES128_CTS_HMAC_SHA1_96
#define A256 ENCTYPE_AES256_CTS_HMAC_SHA1_96

static const struct vector vectors[] = {
    /* RFC 3962 Appendix B */
    V(A128, 1, "password", ATHENA, "42263c6e89f4fc28b8df68ee09799f15"),
    V(A256, 1, "password", ATHENA,
      "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"),
    V(A128, 2, "password", ATHENA, "c651bf29e2300ac27fa469d693bdda13"),
    V(A256, 2, "password", ATHENA,
      "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"),
    V(A128, 1200, "password", ATHENA, "4c01cd46d632d01e6dbe230a01ed642a"),
    V(A256, 1200, "password", ATHENA,
      "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"),
    V(A128, 5, "password", "\x12\x34\x56\x78\x78\x56\x34\x12", "e9b23d52273747dd5c35cb55be619d8e"),
    V(A256, 5, "password", "\x12\x34\x56\x78\x78\x56\x34\x12",
      "97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"),
    V(A128, 1200, X64, "pass phrase equals block size", "59d1bb789a828b1aa54ef9c2883f69ed"),
    V(A256, 1200, X64, "pass phrase equals block size",
      "89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34"),
    V(A128, 1200, X64 "X", "pass phrase exceeds block size", "cb8005dc5f90179a7f02104c0018751d"),
    V(A256, 1200, X64 "X", "pass phrase exceeds block size",
      "d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b"),
    V(A128, 50, "\xf0\x9d\x84\x9e", "EXAMPLE.COMpianist", "f149c1f2e154a73452d43e7fe62a56e5"),
    V(A256, 50, "\xf0\x9d\x84\x9e", "EXAMPLE.COMpianist",
      "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"),
    /* RFC 8009 Appendix A (the salt after enctype-name | 0) */
    V(ENCTYPE_AES128_CTS_HMAC_SHA256_128, 32768, "password", RFC8009_SALT,
      "089bca48b105ea6ea77ca5d2f39dc5e7"),
    V(ENCTYPE_AES256_CTS_HMAC_SHA384_192, 32768, "password", RFC8009_SALT,
      "45bd806dbf6a833a9cffc1c94589a222367a79bc21c413718906e9f578a78467"),
};

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", b[i]);
	}
}

static krb5_data data_of(const void *p, size_t n)
{
	krb5_data d = {.magic = KV5M_DATA, .length = (unsigned)n, .data = (char *)p};
	return d;
}

static void params_of(uint8_t p[4], uint32_t iter)
{
	p[0] = (uint8_t)(iter >> 24);
	p[1] = (uint8_t)(iter >> 16);
	p[2] = (uint8_t)(iter >> 8);
	p[3] = (uint8_t)iter;
}

/* libk5crypto's answer: 0 and its key, or its error. */
static krb5_error_code theirs(krb5_context ctx, krb5_enctype e, const krb5_data *pw,
			      const krb5_data *salt, const krb5_data *params, uint8_t *key,
			      size_t *len)
{
	krb5_keyblock kb = {0};
	krb5_error_code kerr = krb5_c_string_to_key_with_params(ctx, e, pw, salt, params, &kb);

	if (kerr == 0) {
		assert_true(kb.length <= SECTX_S2K_KEY_MAX);
		memcpy(key, kb.contents, kb.length);
		*len = kb.length;
		krb5_free_keyblock_contents(ctx, &kb);
	}
	return kerr;
}

static void test_rfc_vectors(void **state)
{
	krb5_context ctx = *state;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		krb5_data pw = data_of(v->password, v->pw_len);
		krb5_data salt = data_of(v->salt, v->salt_len);
		uint8_t p[4], key[SECTX_S2K_KEY_MAX], ref[SECTX_S2K_KEY_MAX];
		krb5_data params = data_of(p, 4);
		char got[2 * SECTX_S2K_KEY_MAX + 1];
		size_t len = 0, ref_len = 0;

		params_of(p, v->iter);
		assert_int_equal(sectx_s2k_iter(v->enctype, v->password, v->pw_len, v->salt,
						v->salt_len, v->iter, key, &len),
				 0);
		assert_int_equal(len * 2, strlen(v->key_hex));
		hex(key, len, got);
		assert_string_equal(got, v->key_hex);
		if (v->iter < 4096) {
			/* libk5crypto refuses counts under the default as weak,
			 * and so does sectx_s2k (libk5crypto answers them) */
			assert_int_equal(sectx_s2k(v->enctype, &pw, &salt, &params, key, &len),
					 -ENOTSUP);
			assert_int_equal(
			    theirs(ctx, v->enctype, &pw, &salt, &params, ref, &ref_len),
			    KRB5_ERR_BAD_S2K_PARAMS);
			continue;
		}
		/* and libk5crypto agrees with the RFC */
		assert_int_equal(sectx_s2k(v->enctype, &pw, &salt, &params, key, &len), 0);
		assert_int_equal(theirs(ctx, v->enctype, &pw, &salt, &params, ref, &ref_len), 0);
		assert_int_equal(ref_len, len);
		assert_memory_equal(ref, key, len);
	}
}

/* Default iteration counts (params NULL): 4096 for SHA-1, 32768 for SHA-2. */
static void test_default_params(void **state)
{
	krb5_context ctx = *state;
	static const krb5_enctype e[] = {A128, A256, ENCTYPE_AES128_CTS_HMAC_SHA256_128,
					 ENCTYPE_AES256_CTS_HMAC_SHA384_192};
	krb5_data pw = data_of("correct horse", 13), salt = data_of("ACCEPT.TESTalice", 16);

	for (size_t i = 0; i < 4; i++) {
		uint8_t key[SECTX_S2K_KEY_MAX], ref[SECTX_S2K_KEY_MAX];
		size_t len = 0, ref_len = 0;

		assert_int_equal(sectx_s2k(e[i], &pw, &salt, NULL, key, &len), 0);
		assert_int_equal(theirs(ctx, e[i], &pw, &salt, NULL, ref, &ref_len), 0);
		assert_int_equal(len, ref_len);
		assert_memory_equal(key, ref, len);
	}
}

/* PBKDF2 itself against OpenSSL's, every PRF, output lengths across blocks. */
static void test_pbkdf2_vs_openssl(void **state)
{
	static const enum sectx_s2k_hash h[] = {SECTX_S2K_SHA1, SECTX_S2K_SHA256, SECTX_S2K_SHA384};
	const EVP_MD *md[] = {EVP_sha1(), EVP_sha256(), EVP_sha384()};
	char pw[200];
	uint8_t salt[80], out[64], ref[64];

	(void)state;
	srand(14);
	for (int round = 0; round < 120; round++) {
		size_t pw_len = (size_t)rand() % sizeof(pw),
		       salt_len = (size_t)rand() % sizeof(salt);
		size_t out_len = 1 + (size_t)rand() % sizeof(out);
		uint32_t iter = 1 + (uint32_t)rand() % 40;
		size_t k = (size_t)round % 3;

		for (size_t i = 0; i < pw_len; i++) {
			pw[i] = (char)rand();
		}
		for (size_t i = 0; i < salt_len; i++) {
			salt[i] = (uint8_t)rand();
		}
		assert_int_equal(sectx_pbkdf2(h[k], pw, pw_len, salt, salt_len, iter, out, out_len),
				 0);
		assert_int_equal(PKCS5_PBKDF2_HMAC(pw, (int)pw_len, salt, (int)salt_len, (int)iter,
						   md[k], (int)out_len, ref),
				 1);
		assert_memory_equal(out, ref, out_len);
	}
	assert_int_equal(sectx_pbkdf2(SECTX_S2K_SHA1, "a", 1, "b", 1, 0, out, 16), -EINVAL);
	assert_int_equal(sectx_pbkdf2(SECTX_S2K_SHA1, "a", 1, "b", 1, 1, out, 0), -EINVAL);
	assert_int_equal(sectx_pbkdf2(SECTX_S2K_SHA1, "a", 1, "b", 1, 1, out, 65), -EINVAL);
}

/* Random passwords, salts and iteration counts: ours == libk5crypto's. */
static void test_differential(void **state)
{
	krb5_context ctx = *state;
	static const krb5_enctype e[] = {A128, A256, ENCTYPE_AES128_CTS_HMAC_SHA256_128,
					 ENCTYPE_AES256_CTS_HMAC_SHA384_192};
	char pw[300], salt[300];

	srand(3962);
	for (int round = 0; round < 200; round++) {
		size_t pw_len = (size_t)rand() % sizeof(pw),
		       salt_len = (size_t)rand() % sizeof(salt);
		/* libk5crypto accepts no fewer than the default: 4096 for SHA-1,
		 * 32768 for SHA-2 (the rounds of et 2 and 3) */
		uint32_t iter =
		    round % 4 < 2 ? 4096 + (uint32_t)rand() % 200 : 32768 + (uint32_t)rand() % 50;
		uint8_t p[4], key[SECTX_S2K_KEY_MAX], ref[SECTX_S2K_KEY_MAX];
		krb5_data dp, ds, dparams = data_of(p, 4);
		size_t len = 0, ref_len = 0;
		krb5_enctype et = e[round % 4];

		if (round % 4 >= 2 && round % 16 >= 4) {
			continue; /* SHA-2's 32768 iterations: 1 round in 4 */
		}
		if (round % 5 == 0) {
			pw_len %= 24; /* typical passwords, and empty ones */
		}
		for (size_t i = 0; i < pw_len; i++) {
			pw[i] = (char)(round % 3 == 0 ? 0x20 + rand() % 95 : rand());
		}
		for (size_t i = 0; i < salt_len; i++) {
			salt[i] = (char)rand();
		}
		dp = data_of(pw, pw_len);
		ds = data_of(salt, salt_len);
		params_of(p, iter);
		assert_int_equal(sectx_s2k(et, &dp, &ds, &dparams, key, &len), 0);
		assert_int_equal(theirs(ctx, et, &dp, &ds, &dparams, ref, &ref_len), 0);
		assert_int_equal(len, ref_len);
		assert_memory_equal(key, ref, len);
	}
}

/* What sectx_s2k leaves to libk5crypto, which then decides. */
static void test_not_handled(void **state)
{
	krb5_data pw = data_of("password", 8), salt = data_of("REALMalice", 10);
	uint8_t p[4] = {0}, key[SECTX_S2K_KEY_MAX];
	krb5_data params = data_of(p, 4), short_params = data_of(p, 3);
	static char big[SECTX_S2K_PASSWORD_MAX + 1];
	krb5_data bigpw = data_of(big, sizeof(big));
	size_t len = 0;

	(void)state;
	assert_int_equal(sectx_s2k(ENCTYPE_DES3_CBC_SHA1, &pw, &salt, NULL, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(ENCTYPE_ARCFOUR_HMAC, &pw, &salt, NULL, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(ENCTYPE_CAMELLIA256_CTS_CMAC, &pw, &salt, NULL, key, &len),
			 -ENOTSUP);
	assert_int_equal(sectx_s2k(A256, &pw, &salt, &params, key, &len), -ENOTSUP); /* iter 0 */
	params_of(p, 4095);
	assert_int_equal(sectx_s2k(A256, &pw, &salt, &params, key, &len), -ENOTSUP);
	params_of(p, 32767);
	assert_int_equal(
	    sectx_s2k(ENCTYPE_AES256_CTS_HMAC_SHA384_192, &pw, &salt, &params, key, &len),
	    -ENOTSUP);
	params_of(p, SECTX_S2K_ITER_LIMIT);
	assert_int_equal(sectx_s2k(A256, &pw, &salt, &params, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(A256, &pw, &salt, &short_params, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(A256, &pw, NULL, NULL, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(A256, NULL, &salt, NULL, key, &len), -ENOTSUP);
	assert_int_equal(sectx_s2k(A256, &bigpw, &salt, NULL, key, &len), -ENOTSUP);
	assert_int_equal(len, 0);
}

static int setup(void **state)
{
	krb5_context ctx;

	if (krb5_init_context(&ctx) != 0) {
		return -1;
	}
	*state = ctx;
	return 0;
}

static int teardown(void **state)
{
	krb5_free_context(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_vectors),	      cmocka_unit_test(test_default_params),
	    cmocka_unit_test(test_pbkdf2_vs_openssl), cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_not_handled),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
