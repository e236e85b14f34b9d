/*
 * bench/s2k_bench.c - the string-to-key micro-benchmark of issue 14: one
 * aes256-cts-hmac-sha1-96 key (salt REALMalice, 4096 iterations) through
 * sectx's string-to-key (helper/login/s2k.c), libk5crypto's
 * krb5_c_string_to_key, and OpenSSL's PKCS5_PBKDF2_HMAC_SHA1 (the PBKDF2
 * alone, without the DK step), plus the RFC 8009 aes256-cts-hmac-sha384-192
 * key (32768 iterations) through sectx and libk5crypto.  Prints the median
 * and the minimum of N runs of each, in ms, and checks that sectx's keys are
 * libk5crypto's.
 *
 * Usage: bench/s2k_bench [N]   (default 200).  Never run by make check.
 * Runs unprivileged, touches no file; the password is a constant.
 */
#include <krb5.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* helper/login/s2k.c (login/s2k_int.h, which bench/ may not include) */
int sectx_s2k(krb5_enctype enctype, const krb5_data *password, const krb5_data *salt,
	      const krb5_data *params, uint8_t *key, size_t *key_len);

#define PASSWORD "correct horse battery staple"
#define SALT	 "SECTX.TESTalice"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum which { SECTX, K5CRYPTO, OPENSSL };

static int one(krb5_context ctx, enum which w, krb5_enctype e, uint8_t *out, size_t *len)
{
	krb5_data pw = {.length = sizeof(PASSWORD) - 1, .data = PASSWORD};
	krb5_data salt = {.length = sizeof(SALT) - 1, .data = SALT};
	krb5_keyblock kb;

	switch (w) {
	case SECTX:
		return sectx_s2k(e, &pw, &salt, NULL, out, len);
	case K5CRYPTO:
		if (krb5_c_string_to_key(ctx, e, &pw, &salt, &kb) != 0) {
			return -1;
		}
		memcpy(out, kb.contents, kb.length);
		*len = kb.length;
		krb5_free_keyblock_contents(ctx, &kb);
		return 0;
	case OPENSSL:
		*len = 32;
		return PKCS5_PBKDF2_HMAC_SHA1(PASSWORD, sizeof(PASSWORD) - 1,
					      (const unsigned char *)SALT, sizeof(SALT) - 1, 4096,
					      32, out) == 1
			   ? 0
			   : -1;
	}
	return -1;
}

static void run(krb5_context ctx, const char *label, enum which w, krb5_enctype e, int n,
		uint8_t *key, size_t *len)
{
	double *t = calloc((size_t)n, sizeof(*t));

	if (t == NULL) {
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		double t0 = now_ms();

		if (one(ctx, w, e, key, len) != 0) {
			fprintf(stderr, "s2k_bench: %s failed\n", label);
			exit(1);
		}
		t[i] = now_ms() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%-52s median %7.3f ms  min %7.3f ms\n", label, t[n / 2], t[0]);
	free(t);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	uint8_t a[32], b[32], c[32];
	size_t la = 0, lb = 0, lc = 0;
	krb5_context ctx;
	int ret = 0;

	if (n < 1 || krb5_init_context(&ctx) != 0) {
		fprintf(stderr, "usage: s2k_bench [N]\n");
		return 2;
	}
	printf("string-to-key, %d runs each, password of %zu bytes, salt %s\n", n,
	       sizeof(PASSWORD) - 1, SALT);
	run(ctx, "aes256-cts-hmac-sha1-96 (4096): sectx", SECTX, ENCTYPE_AES256_CTS_HMAC_SHA1_96, n,
	    a, &la);
	run(ctx, "aes256-cts-hmac-sha1-96 (4096): krb5_c_string_to_key", K5CRYPTO,
	    ENCTYPE_AES256_CTS_HMAC_SHA1_96, n, b, &lb);
	run(ctx, "PBKDF2-HMAC-SHA1 (4096, 32 B): PKCS5_PBKDF2_HMAC_SHA1", OPENSSL, 0, n, c, &lc);
	if (la != lb || memcmp(a, b, la) != 0) {
		printf("MISMATCH: sectx's aes256-sha1 key differs from libk5crypto's\n");
		ret = 1;
	}
	n = n / 8 > 0 ? n / 8 : 1;
	run(ctx, "aes256-cts-hmac-sha384-192 (32768): sectx", SECTX,
	    ENCTYPE_AES256_CTS_HMAC_SHA384_192, n, a, &la);
	run(ctx, "aes256-cts-hmac-sha384-192 (32768): krb5_c_string_to_key", K5CRYPTO,
	    ENCTYPE_AES256_CTS_HMAC_SHA384_192, n, b, &lb);
	if (la != lb || memcmp(a, b, la) != 0) {
		printf("MISMATCH: sectx's aes256-sha384 key differs from libk5crypto's\n");
		ret = 1;
	}
	krb5_free_context(ctx);
	return ret;
}
