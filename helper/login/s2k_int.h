/*
 * login/s2k_int.h - sectx's own Kerberos string-to-key (s2k.c) and the
 * interposition that makes libkrb5 use it (s2k_interpose.c).
 *
 * Who reaches this: libkrb5, from inside sectxd (its password path calls
 * krb5_c_string_to_key_with_params with the password and the salt and
 * s2kparams the KDC sent in ETYPE-INFO2), the tests and the benchmark.
 * What it can make happen: a key derived from a password, which is as secret
 * as the password; every intermediate state is scrubbed and nothing here
 * logs a byte of either.  It must stay bit-identical to libk5crypto's
 * string-to-key for everything it accepts (tests/unit/test_s2k.c,
 * tests/fuzz/fuzz_s2k.c): a wrong key would be a preauth failure at the KDC,
 * which lockout policies count.
 */
#ifndef SECTX_LOGIN_S2K_INT_H
#define SECTX_LOGIN_S2K_INT_H

#include <krb5.h>
#include <stddef.h>
#include <stdint.h>

#define SECTX_S2K_KEY_MAX	 32u	    /* the longest key derived here (aes256) */
#define SECTX_S2K_ITER_AES_SHA1	 4096u	    /* RFC 3962's default iteration count */
#define SECTX_S2K_ITER_AES_SHA2	 32768u	    /* RFC 8009's default iteration count */
#define SECTX_S2K_ITER_LIMIT	 0x1000000u /* libk5crypto refuses this many and more */
#define SECTX_S2K_PBKDF2_OUT_MAX 64u	    /* PBKDF2 output bound of sectx_pbkdf2 */
#define SECTX_S2K_PASSWORD_MAX	 4096u	    /* longer passwords take libkrb5's path */
#define SECTX_S2K_SALT_MAX	 4096u	    /* longer salts take libkrb5's path */

/* The PRFs of sectx_pbkdf2. */
enum sectx_s2k_hash {
	SECTX_S2K_SHA1,
	SECTX_S2K_SHA256,
	SECTX_S2K_SHA384,
};

/* PBKDF2 (RFC 8018) with HMAC over hash: out_len (1..SECTX_S2K_PBKDF2_OUT_MAX)
 * bytes from the password (pw_len bytes, any) and salt (salt_len bytes) with
 * iter (>= 1) iterations.  The HMAC inner and outer states are computed once;
 * each iteration then costs two compressions of OpenSSL's block function.
 * Returns 0, or -EINVAL for out-of-range arguments (out untouched).  Scrubs
 * every intermediate state. */
int sectx_pbkdf2(enum sectx_s2k_hash hash, const void *pw, size_t pw_len, const void *salt,
		 size_t salt_len, uint32_t iter, uint8_t *out, size_t out_len);

/* The string-to-key of enctype (aes128/aes256-cts-hmac-sha1-96, RFC 3962;
 * aes128-cts-hmac-sha256-128 and aes256-cts-hmac-sha384-192, RFC 8009) with
 * libk5crypto's semantics: params NULL means the enctype's default iteration
 * count, else exactly 4 big-endian bytes, neither fewer than that default
 * (libk5crypto refuses them as weak) nor SECTX_S2K_ITER_LIMIT or more.  Returns 0 with key
 * (SECTX_S2K_KEY_MAX bytes room) and *key_len (16 or 32); -ENOTSUP for anything it does not handle
 * (another enctype, a NULL salt or password, params libk5crypto would refuse,
 * a password or salt over its maximum), which the caller hands to libkrb5's
 * own string-to-key unchanged. */
int sectx_s2k(krb5_enctype enctype, const krb5_data *password, const krb5_data *salt,
	      const krb5_data *params, uint8_t *key, size_t *key_len);

/* The derivation of sectx_s2k with iter iterations, without the policy on
 * the count (the RFC vectors use 1..1200): pw and salt (salt_len at most
 * SECTX_S2K_SALT_MAX) as bytes.  Returns 0 with key and *key_len, -ENOTSUP
 * for another enctype, -EINVAL, -EIO (OpenSSL failed). */
int sectx_s2k_iter(krb5_enctype enctype, const void *pw, size_t pw_len, const void *salt,
		   size_t salt_len, uint32_t iter, uint8_t *key, size_t *key_len);

/* --- s2k_interpose.c -------------------------------------------------------- */

/* How many string-to-key calls the interposed krb5_c_string_to_key_with_params
 * has answered itself (fast) and handed to libk5crypto (forwarded) since the
 * process started.  For the tests and the trace log. */
void sectx_s2k_counts(unsigned long *fast, unsigned long *forwarded);

#endif /* SECTX_LOGIN_S2K_INT_H */
