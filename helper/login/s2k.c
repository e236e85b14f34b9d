/*
 * login/s2k.c - Kerberos string-to-key for the AES enctypes on OpenSSL's
 * SHA block functions: RFC 3962 (PBKDF2-HMAC-SHA1, then DK(tkey, "kerberos"))
 * and RFC 8009 (PBKDF2-HMAC-SHA256/384 over enctype-name | 0 | salt, then
 * KDF-HMAC-SHA2(tkey, "kerberos")).
 *
 * Who reaches this: libkrb5's password path inside sectxd, through
 * s2k_interpose.c, with a password a user typed and the salt and s2kparams
 * a KDC sent (untrusted: bounded here, anything unusual goes back to
 * libk5crypto).  It must never produce a key libk5crypto would not: a wrong
 * key is a preauth failure the KDC counts against the user's lockout.
 * Its output is a secret: every buffer and hash state it used is scrubbed
 * before it returns, and it logs nothing.
 *
 * Why it is fast: PBKDF2 runs HMAC iter times on a 20..48-byte message.  The
 * HMAC inner and outer states (the key XOR ipad / opad block) are compressed
 * once; each iteration then copies them and runs exactly one compression
 * each over a block padded in place, on OpenSSL's block function (SHA-NI or
 * AVX where the CPU has them).  libk5crypto instead re-keys an HMAC per
 * iteration on its own SHA-1.  The block functions are deprecated API in
 * OpenSSL 3 but still the fastest public entry to that code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "login/s2k_int.h"

#include <errno.h>
#include <stddef.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#define S2K_BLOCK_MAX 128u /* SHA-384's block */
#define S2K_MD_MAX    48u  /* the largest digest (SHA-384's) */

union s2k_ctx {
	SHA_CTX sha1;
	SHA256_CTX sha256;
	SHA512_CTX sha512;
};

/* One PRF: its block and digest sizes and OpenSSL's functions. */
struct s2k_md {
	size_t block;
	size_t len;   /* digest bytes */
	size_t chain; /* bytes of the chaining value, at the start of the ctx */
	int (*init)(union s2k_ctx *c);
	int (*update)(union s2k_ctx *c, const void *p, size_t n);
	int (*final)(uint8_t *md, union s2k_ctx *c);
	void (*transform)(union s2k_ctx *c, const uint8_t *block);
	void (*state)(const union s2k_ctx *c, uint8_t *md); /* the chaining value, big-endian */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int sha1_init(union s2k_ctx *c)
{
	return SHA1_Init(&c->sha1);
}
static int sha1_update(union s2k_ctx *c, const void *p, size_t n)
{
	return SHA1_Update(&c->sha1, p, n);
}
static int sha1_final(uint8_t *md, union s2k_ctx *c)
{
	return SHA1_Final(md, &c->sha1);
}
static void sha1_transform(union s2k_ctx *c, const uint8_t *b)
{
	SHA1_Transform(&c->sha1, b);
}
static void sha1_state(const union s2k_ctx *c, uint8_t *md)
{
	put_be32(md, c->sha1.h0);
	put_be32(md + 4, c->sha1.h1);
	put_be32(md + 8, c->sha1.h2);
	put_be32(md + 12, c->sha1.h3);
	put_be32(md + 16, c->sha1.h4);
}

static int sha256_init(union s2k_ctx *c)
{
	return SHA256_Init(&c->sha256);
}
static int sha256_update(union s2k_ctx *c, const void *p, size_t n)
{
	return SHA256_Update(&c->sha256, p, n);
}
static int sha256_final(uint8_t *md, union s2k_ctx *c)
{
	return SHA256_Final(md, &c->sha256);
}
static void sha256_transform(union s2k_ctx *c, const uint8_t *b)
{
	SHA256_Transform(&c->sha256, b);
}
static void sha256_state(const union s2k_ctx *c, uint8_t *md)
{
	for (size_t i = 0; i < 8; i++) {
		put_be32(md + 4 * i, c->sha256.h[i]);
	}
}

static int sha384_init(union s2k_ctx *c)
{
	return SHA384_Init(&c->sha512);
}
static int sha384_update(union s2k_ctx *c, const void *p, size_t n)
{
	return SHA384_Update(&c->sha512, p, n);
}
static int sha384_final(uint8_t *md, union s2k_ctx *c)
{
	return SHA384_Final(md, &c->sha512);
}
static void sha384_transform(union s2k_ctx *c, const uint8_t *b)
{
	SHA512_Transform(&c->sha512, b);
}
static void sha384_state(const union s2k_ctx *c, uint8_t *md)
{
	for (size_t i = 0; i < 6; i++) { /* SHA-384: the first six words */
		put_be32(md + 8 * i, (uint32_t)(c->sha512.h[i] >> 32));
		put_be32(md + 8 * i + 4, (uint32_t)c->sha512.h[i]);
	}
}

/* pbkdf2 copies only the chaining value of a keyed state: it must be the
 * start of OpenSSL's contexts (it is, since OpenSSL 0.9). */
_Static_assert(offsetof(SHA_CTX, h0) == 0 && offsetof(SHA_CTX, h4) == 4 * sizeof(SHA_LONG),
	       "SHA_CTX starts with h0..h4");
_Static_assert(offsetof(SHA256_CTX, h) == 0, "SHA256_CTX starts with h");
_Static_assert(offsetof(SHA512_CTX, h) == 0, "SHA512_CTX starts with h");

static const struct s2k_md s2k_mds[] = {
    [SECTX_S2K_SHA1] = {64, 20, 5 * sizeof(SHA_LONG), sha1_init, sha1_update, sha1_final,
			sha1_transform, sha1_state},
    [SECTX_S2K_SHA256] = {64, 32, 8 * sizeof(SHA_LONG), sha256_init, sha256_update, sha256_final,
			  sha256_transform, sha256_state},
    [SECTX_S2K_SHA384] = {128, 48, 8 * sizeof(SHA_LONG64), sha384_init, sha384_update, sha384_final,
			  sha384_transform, sha384_state},
};

/* An HMAC key: the states after the key XOR ipad and opad blocks. */
struct s2k_hmac {
	const struct s2k_md *md;
	union s2k_ctx inner;
	union s2k_ctx outer;
};

static int hmac_key(struct s2k_hmac *h, const struct s2k_md *md, const void *key, size_t len)
{
	uint8_t k[S2K_BLOCK_MAX] = {0}, pad[S2K_BLOCK_MAX];
	union s2k_ctx c;
	int ok = 1;

	h->md = md;
	if (len > md->block) {
		ok = md->init(&c) && md->update(&c, key, len) && md->final(k, &c);
	} else if (len > 0) {
		memcpy(k, key, len);
	}
	for (size_t i = 0; i < md->block; i++) {
		pad[i] = k[i] ^ 0x36;
	}
	ok = ok && md->init(&h->inner) && md->update(&h->inner, pad, md->block);
	for (size_t i = 0; i < md->block; i++) {
		pad[i] = k[i] ^ 0x5c;
	}
	ok = ok && md->init(&h->outer) && md->update(&h->outer, pad, md->block);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(&c, sizeof(c));
	return ok ? 0 : -EIO;
}

/* HMAC(key, msg) of any length, with the keyed states of h. */
static int hmac_msg(const struct s2k_hmac *h, const void *m1, size_t l1, const void *m2, size_t l2,
		    uint8_t *out)
{
	const struct s2k_md *md = h->md;
	uint8_t inner[S2K_MD_MAX];
	union s2k_ctx c = h->inner;
	int ok;

	ok = md->update(&c, m1, l1) && md->update(&c, m2, l2) && md->final(inner, &c);
	c = h->outer;
	ok = ok && md->update(&c, inner, md->len) && md->final(out, &c);
	OPENSSL_cleanse(inner, sizeof(inner));
	OPENSSL_cleanse(&c, sizeof(c));
	return ok ? 0 : -EIO;
}

/* The final block of a hash whose message is one key block and then
 * md->len bytes: the bytes go at block[0..len), then the padding, which
 * never changes, so it is written once. */
static void pad_block(const struct s2k_md *md, uint8_t *block)
{
	uint64_t bits = (uint64_t)(md->block + md->len) * 8;

	memset(block, 0, md->block);
	block[md->len] = 0x80;
	put_be32(block + md->block - 8, (uint32_t)(bits >> 32));
	put_be32(block + md->block - 4, (uint32_t)bits);
}

int sectx_pbkdf2(enum sectx_s2k_hash hash, const void *pw, size_t pw_len, const void *salt,
		 size_t salt_len, uint32_t iter, uint8_t *out, size_t out_len)
{
	uint8_t u[S2K_MD_MAX], t[S2K_MD_MAX], block[S2K_BLOCK_MAX], idx[4];
	struct s2k_hmac h;
	union s2k_ctx c = {0};
	const struct s2k_md *md;
	size_t done = 0, n;
	int ret = -EINVAL;

	if ((unsigned)hash >= sizeof(s2k_mds) / sizeof(s2k_mds[0]) || iter == 0 || out_len == 0 ||
	    out_len > SECTX_S2K_PBKDF2_OUT_MAX || (pw == NULL && pw_len > 0) ||
	    (salt == NULL && salt_len > 0)) {
		return -EINVAL;
	}
	md = &s2k_mds[hash];
	ret = hmac_key(&h, md, pw, pw_len);
	if (ret != 0) {
		goto done;
	}
	pad_block(md, block);
	for (uint32_t i = 1; done < out_len; i++) {
		put_be32(idx, i);
		ret = hmac_msg(&h, salt, salt_len, idx, sizeof(idx), u);
		if (ret != 0) {
			goto done;
		}
		memcpy(t, u, md->len);
		for (uint32_t j = 1; j < iter; j++) {
			/* inner: H(K ^ ipad | u), the key block already compressed */
			memcpy(block, u, md->len);
			memcpy(&c, &h.inner, md->chain); /* the block function reads no more */
			md->transform(&c, block);
			md->state(&c, block);
			/* outer: H(K ^ opad | inner) */
			memcpy(&c, &h.outer, md->chain);
			md->transform(&c, block);
			md->state(&c, u);
			for (size_t k = 0; k < md->len; k++) {
				t[k] ^= u[k];
			}
		}
		n = out_len - done < md->len ? out_len - done : md->len;
		memcpy(out + done, t, n);
		done += n;
	}
	ret = 0;
done:
	OPENSSL_cleanse(u, sizeof(u));
	OPENSSL_cleanse(t, sizeof(t));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&h, sizeof(h));
	OPENSSL_cleanse(&c, sizeof(c));
	return ret;
}

/* RFC 3961 DK(tkey, "kerberos") for AES: the 128-fold of "kerberos"
 * encrypted under tkey, and for a 256-bit key that block encrypted again
 * (DR's E(key, constant) with a zero initial state: one block of CBC is ECB). */
static int dk_kerberos_aes(const uint8_t *tkey, size_t len, uint8_t *key)
{
	static const uint8_t nfold_kerberos[16] = {0x6b, 0x65, 0x72, 0x62, 0x65, 0x72, 0x6f, 0x73,
						   0x7b, 0x9b, 0x5b, 0x2b, 0x93, 0x13, 0x2b, 0x93};
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	int outl = 0, ok;

	if (e == NULL) {
		return -ENOMEM;
	}
	ok = EVP_EncryptInit_ex(e, len == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(), NULL, tkey,
				NULL) &&
	     EVP_CIPHER_CTX_set_padding(e, 0) &&
	     EVP_EncryptUpdate(e, key, &outl, nfold_kerberos, 16);
	if (ok && len == 32) {
		ok = EVP_EncryptUpdate(e, key + 16, &outl, key, 16);
	}
	EVP_CIPHER_CTX_free(e); /* clears the key schedule */
	return ok ? 0 : -EIO;
}

/* RFC 8009 KDF-HMAC-SHA2(tkey, "kerberos", len * 8): the first len bytes of
 * HMAC(tkey, 00000001 | "kerberos" | 00 | be32(len * 8)). */
static int kdf_kerberos_sha2(enum sectx_s2k_hash hash, const uint8_t *tkey, size_t len,
			     uint8_t *key)
{
	uint8_t msg[4 + 8 + 1 + 4], md[S2K_MD_MAX];
	struct s2k_hmac h;
	int ret;

	put_be32(msg, 1);
	memcpy(msg + 4, "kerberos", 8);
	msg[12] = 0;
	put_be32(msg + 13, (uint32_t)(len * 8));
	ret = hmac_key(&h, &s2k_mds[hash], tkey, len);
	if (ret == 0) {
		ret = hmac_msg(&h, msg, sizeof(msg), NULL, 0, md);
	}
	if (ret == 0) {
		memcpy(key, md, len);
	}
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(&h, sizeof(h));
	return ret;
}

/* The PRF, key length and default iteration count of enctype, and its name
 * for the RFC 8009 salt (NULL for RFC 3962).  -ENOTSUP for another enctype. */
static int s2k_params_of(krb5_enctype enctype, enum sectx_s2k_hash *hash, size_t *len,
			 uint32_t *def_iter, const char **name)
{
	*name = NULL;
	switch (enctype) {
	case ENCTYPE_AES128_CTS_HMAC_SHA1_96:
		*hash = SECTX_S2K_SHA1, *len = 16, *def_iter = SECTX_S2K_ITER_AES_SHA1;
		return 0;
	case ENCTYPE_AES256_CTS_HMAC_SHA1_96:
		*hash = SECTX_S2K_SHA1, *len = 32, *def_iter = SECTX_S2K_ITER_AES_SHA1;
		return 0;
	case ENCTYPE_AES128_CTS_HMAC_SHA256_128:
		*hash = SECTX_S2K_SHA256, *len = 16, *def_iter = SECTX_S2K_ITER_AES_SHA2;
		*name = "aes128-cts-hmac-sha256-128";
		return 0;
	case ENCTYPE_AES256_CTS_HMAC_SHA384_192:
		*hash = SECTX_S2K_SHA384, *len = 32, *def_iter = SECTX_S2K_ITER_AES_SHA2;
		*name = "aes256-cts-hmac-sha384-192";
		return 0;
	default:
		return -ENOTSUP;
	}
}

int sectx_s2k_iter(krb5_enctype enctype, const void *pw, size_t pw_len, const void *salt,
		   size_t salt_len, uint32_t iter, uint8_t *key, size_t *key_len)
{
	uint8_t tkey[SECTX_S2K_KEY_MAX], saltp[64 + SECTX_S2K_SALT_MAX];
	enum sectx_s2k_hash hash;
	const char *name;
	size_t len, name_len;
	uint32_t def_iter;
	int ret;

	if (s2k_params_of(enctype, &hash, &len, &def_iter, &name) != 0) {
		return -ENOTSUP;
	}
	if (salt_len > SECTX_S2K_SALT_MAX || iter == 0 || (salt == NULL && salt_len > 0)) {
		return -EINVAL;
	}
	if (name == NULL) {
		ret = sectx_pbkdf2(hash, pw, pw_len, salt, salt_len, iter, tkey, len);
		if (ret == 0) {
			ret = dk_kerberos_aes(tkey, len, key);
		}
	} else {
		name_len = strlen(name) + 1; /* with its NUL: the RFC 8009 separator */
		memcpy(saltp, name, name_len);
		if (salt_len > 0) {
			memcpy(saltp + name_len, salt, salt_len);
		}
		ret = sectx_pbkdf2(hash, pw, pw_len, saltp, name_len + salt_len, iter, tkey, len);
		if (ret == 0) {
			ret = kdf_kerberos_sha2(hash, tkey, len, key);
		}
		OPENSSL_cleanse(saltp, name_len + salt_len);
	}
	OPENSSL_cleanse(tkey, sizeof(tkey));
	if (ret != 0) {
		OPENSSL_cleanse(key, len);
		return ret;
	}
	*key_len = len;
	return 0;
}

int sectx_s2k(krb5_enctype enctype, const krb5_data *password, const krb5_data *salt,
	      const krb5_data *params, uint8_t *key, size_t *key_len)
{
	enum sectx_s2k_hash hash;
	const char *name;
	size_t len;
	uint32_t iter;

	if (s2k_params_of(enctype, &hash, &len, &iter, &name) != 0) {
		return -ENOTSUP;
	}
	/* libk5crypto's own checks decide the odd cases: it answers them */
	if (password == NULL || salt == NULL || (password->data == NULL && password->length > 0) ||
	    (salt->data == NULL && salt->length > 0) || password->length > SECTX_S2K_PASSWORD_MAX ||
	    salt->length > SECTX_S2K_SALT_MAX) {
		return -ENOTSUP;
	}
	if (params != NULL) {
		const uint8_t *p = (const uint8_t *)params->data;
		uint32_t n;

		if (params->length != 4 || p == NULL) {
			return -ENOTSUP;
		}
		n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		/* libk5crypto refuses fewer iterations than the default, and
		 * SECTX_S2K_ITER_LIMIT or more */
		if (n < iter || n >= SECTX_S2K_ITER_LIMIT) {
			return -ENOTSUP;
		}
		iter = n;
	}
	return sectx_s2k_iter(enctype, password->data, password->length, salt->data, salt->length,
			      iter, key, key_len) == 0
		   ? 0
		   : -ENOTSUP;
}
