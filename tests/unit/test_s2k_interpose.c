/*
 * test_s2k_interpose.c - unit tests of helper/login/s2k_interpose.c: linked as
 * sectxd is (-Wl,--export-dynamic-symbol=krb5_c_string_to_key_with_params),
 * libkrb5's own string-to-key call inside krb5_init_creds_step resolves to
 * sectx's definition, with the salt and s2kparams of the KDC's ETYPE-INFO2;
 * what sectx does not handle goes to libk5crypto's definition (RTLD_NEXT),
 * whose answer (here an error) libkrb5 gets unchanged.
 *
 * No KDC: the test plays one.  libkrb5 builds the AS-REQ, the test answers
 * with a KRB-ERROR PREAUTH_REQUIRED whose METHOD-DATA carries ETYPE-INFO2
 * (encoded with libkrb5's exported encoders), and libkrb5 then derives the
 * password's key for its encrypted timestamp.  The ETYPE-INFO2 entry's
 * layout is libkrb5's internal krb5_etype_info_entry (k5-int.h), declared
 * here; if it ever changed the test would fail, not pass.
 */
#include "login/s2k_int.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* libkrb5's internal ETYPE-INFO2 entry and its exported encoders. */
typedef struct {
	krb5_magic magic;
	krb5_enctype etype;
	unsigned int length;
	krb5_octet *salt;
	krb5_data s2kparams;
} etype_info_entry;
krb5_error_code encode_krb5_etype_info2(etype_info_entry *const *, krb5_data **);
krb5_error_code encode_krb5_padata_sequence(krb5_pa_data *const *, krb5_data **);

#define REALM "S2K.TEST"
#define SALT  "S2K.TESTnot-the-default-salt"

/* The KRB-ERROR a KDC sends when it wants preauth: ETYPE-INFO2 naming etype,
 * SALT and params (NULL: none), and PA-ENC-TIMESTAMP. */
static krb5_data *preauth_required(krb5_context ctx, krb5_principal client, krb5_enctype etype,
				   const uint8_t *params)
{
	etype_info_entry entry = {
	    .etype = etype, .length = sizeof(SALT) - 1, .salt = (krb5_octet *)SALT};
	etype_info_entry *entries[] = {&entry, NULL};
	krb5_pa_data pa_info = {.pa_type = KRB5_PADATA_ETYPE_INFO2};
	krb5_pa_data pa_ts = {.pa_type = KRB5_PADATA_ENC_TIMESTAMP, .length = 0};
	krb5_pa_data *pa[] = {&pa_info, &pa_ts, NULL};
	krb5_data *info = NULL, *edata = NULL, *out;
	krb5_principal tgs = NULL;
	krb5_error err = {0};

	if (params != NULL) {
		entry.s2kparams.length = 4;
		entry.s2kparams.data = (char *)params;
	}
	assert_int_equal(encode_krb5_etype_info2(entries, &info), 0);
	pa_info.length = info->length;
	pa_info.contents = (krb5_octet *)info->data;
	assert_int_equal(encode_krb5_padata_sequence(pa, &edata), 0);
	assert_int_equal(
	    krb5_build_principal(ctx, &tgs, sizeof(REALM) - 1, REALM, "krbtgt", REALM, NULL), 0);
	err.error = KRB5KDC_ERR_PREAUTH_REQUIRED - ERROR_TABLE_BASE_krb5;
	err.stime = (krb5_timestamp)time(NULL);
	err.server = tgs;
	err.client = client;
	err.e_data = *edata;
	out = calloc(1, sizeof(*out));
	assert_non_null(out);
	assert_int_equal(krb5_mk_error(ctx, &err, out), 0);
	krb5_free_principal(ctx, tgs);
	krb5_free_data(ctx, info);
	krb5_free_data(ctx, edata);
	return out;
}

/* One AS exchange up to the second AS-REQ: returns what the second
 * krb5_init_creds_step returned. */
static krb5_error_code exchange(krb5_context ctx, krb5_enctype etype, const uint8_t *params)
{
	krb5_init_creds_context icc = NULL;
	krb5_principal client = NULL;
	krb5_data in = {0}, out = {0}, realm = {0}, *reply;
	unsigned int flags = 0;
	krb5_error_code kerr;

	assert_int_equal(krb5_parse_name(ctx, "alice@" REALM, &client), 0);
	assert_int_equal(krb5_init_creds_init(ctx, client, NULL, NULL, 0, NULL, &icc), 0);
	assert_int_equal(krb5_init_creds_set_password(ctx, icc, "alice's password"), 0);
	assert_int_equal(krb5_init_creds_step(ctx, icc, &in, &out, &realm, &flags), 0);
	assert_true(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE);
	krb5_free_data_contents(ctx, &out);
	krb5_free_data_contents(ctx, &realm);
	reply = preauth_required(ctx, client, etype, params);
	flags = 0;
	kerr = krb5_init_creds_step(ctx, icc, reply, &out, &realm, &flags);
	if (kerr == 0) {
		/* the second AS-REQ, with the encrypted timestamp */
		assert_true(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE);
		assert_true(out.length > 0);
	}
	krb5_free_data_contents(ctx, &out);
	krb5_free_data_contents(ctx, &realm);
	krb5_free_data(ctx, reply);
	krb5_init_creds_free(ctx, icc);
	krb5_free_principal(ctx, client);
	return kerr;
}

/* The executable's definition is the one the process resolves. */
static void test_symbol_is_ours(void **state)
{
	void *global = dlsym(RTLD_DEFAULT, "krb5_c_string_to_key_with_params");
	void *next = dlsym(RTLD_NEXT, "krb5_c_string_to_key_with_params");
	Dl_info info;

	(void)state;
	assert_ptr_equal(global, (void *)krb5_c_string_to_key_with_params);
	assert_non_null(next);
	assert_ptr_not_equal(next, global);
	assert_int_not_equal(dladdr(next, &info), 0);
	assert_non_null(strstr(info.dli_fname, "libk5crypto"));
}

/* libkrb5's call for the encrypted timestamp lands here, fast path. */
static void test_libkrb5_calls_ours(void **state)
{
	krb5_context ctx = *state;
	static const krb5_enctype e[] = {
	    ENCTYPE_AES256_CTS_HMAC_SHA1_96, ENCTYPE_AES128_CTS_HMAC_SHA1_96,
	    ENCTYPE_AES256_CTS_HMAC_SHA384_192, ENCTYPE_AES128_CTS_HMAC_SHA256_128};
	static const uint8_t iter_more[4] = {0, 0x01, 0, 0x01}; /* 65537 */
	unsigned long fast0, fwd0, fast, fwd;

	for (size_t i = 0; i < 4; i++) {
		sectx_s2k_counts(&fast0, &fwd0);
		assert_int_equal(exchange(ctx, e[i], i % 2 ? iter_more : NULL), 0);
		sectx_s2k_counts(&fast, &fwd);
		assert_int_equal(fast, fast0 + 1);
		assert_int_equal(fwd, fwd0);
	}
}

/* The KDC's s2kparams reach the function: an iteration count of 0, which
 * sectx leaves to libk5crypto, gets libk5crypto's refusal (libkrb5 then
 * ends the exchange with an error). */
static void test_params_forwarded(void **state)
{
	krb5_context ctx = *state;
	static const uint8_t iter_0[4] = {0, 0, 0, 0};
	unsigned long fast0, fwd0, fast, fwd;

	sectx_s2k_counts(&fast0, &fwd0);
	assert_int_not_equal(exchange(ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, iter_0), 0);
	sectx_s2k_counts(&fast, &fwd);
	assert_int_equal(fast, fast0);
	assert_int_equal(fwd, fwd0 + 1);
}

/* An enctype sectx does not handle goes to libk5crypto, whose key is right. */
static void test_other_enctype_forwarded(void **state)
{
	krb5_context ctx = *state;
	krb5_data pw = {.length = 6, .data = "secret"}, salt = {.length = 4, .data = "salt"};
	krb5_keyblock kb = {0};
	unsigned long fast0, fwd0, fast, fwd;

	sectx_s2k_counts(&fast0, &fwd0);
	assert_int_equal(krb5_c_string_to_key_with_params(ctx, ENCTYPE_CAMELLIA256_CTS_CMAC, &pw,
							  &salt, NULL, &kb),
			 0);
	assert_int_equal(kb.length, 32);
	krb5_free_keyblock_contents(ctx, &kb);
	sectx_s2k_counts(&fast, &fwd);
	assert_int_equal(fast, fast0);
	assert_int_equal(fwd, fwd0 + 1);
}

/* The offline verifier's KDF (offline/kdf.c: OpenSSL's PBKDF2-HMAC-SHA512)
 * is not libkrb5's string-to-key: the interposition leaves it alone, and
 * its cost is OpenSSL's (RFC 7914's PBKDF2-HMAC-SHA256 vector stands for
 * "OpenSSL computes it"; SHA-512 runs through the same function). */
static void test_offline_kdf_untouched(void **state)
{
	static const uint8_t want[16] = {0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f,
					 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05};
	unsigned long fast0, fwd0, fast, fwd;
	uint8_t out[64];

	(void)state;
	sectx_s2k_counts(&fast0, &fwd0);
	assert_int_equal(
	    PKCS5_PBKDF2_HMAC("passwd", 6, (const uint8_t *)"salt", 4, 1, EVP_sha256(), 16, out),
	    1);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(
	    PKCS5_PBKDF2_HMAC("passwd", 6, (const uint8_t *)"salt", 4, 1000, EVP_sha512(), 64, out),
	    1);
	sectx_s2k_counts(&fast, &fwd);
	assert_int_equal(fast, fast0);
	assert_int_equal(fwd, fwd0);
}

static int setup(void **state)
{
	krb5_context ctx;

	/* no site krb5.conf: default enctypes, no DNS */
	setenv("KRB5_CONFIG", "/dev/null", 1);
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
	    cmocka_unit_test(test_symbol_is_ours),
	    cmocka_unit_test(test_libkrb5_calls_ours),
	    cmocka_unit_test(test_params_forwarded),
	    cmocka_unit_test(test_other_enctype_forwarded),
	    cmocka_unit_test(test_offline_kdf_untouched),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
