/*
 * login/s2k_interpose.c - sectxd's own krb5_c_string_to_key_with_params,
 * exported from the executable so that libkrb5's calls resolve to it.
 *
 * THIS CHANGES EVERY CALLER IN THE PROCESS.  sectxd is linked with
 * -Wl,--export-dynamic-symbol=krb5_c_string_to_key_with_params
 * (helper/daemon/local.mk): the dynamic linker finds the executable's
 * definition before libk5crypto's, so the call libkrb5 makes inside
 * krb5_init_creds_step when it needs the password's key (encrypted
 * timestamp, or the reply's key) lands here, with the enctype, the salt and
 * the s2kparams that the KDC sent in ETYPE-INFO2 (inside the FAST armour or
 * not), and so do the expired-password exchange for kadmin/changepw and any
 * other libkrb5 caller in sectxd.  What s2k.c handles (the four AES
 * enctypes, sane parameters) it answers bit-identically and ~10x faster;
 * everything else goes unchanged to libk5crypto's definition, found with
 * dlsym(RTLD_NEXT).  The offline verifier's PBKDF2-HMAC-SHA512
 * (offline/kdf.c, OpenSSL's PKCS5_PBKDF2_HMAC) is not this symbol and keeps
 * its calibrated cost.
 *
 * Why this and not the alternatives (issue 14):
 *  - a MEMORY keytab with krb5_init_creds_set_keytab needs the key before
 *    libkrb5 asks for it, so the salt and iteration count would have to be
 *    known first: a guess (the default salt) sends a wrong key for a renamed
 *    principal or a special salt, which is a preauth failure the KDC counts
 *    toward lockout, and learning them needs an extra exchange (under FAST
 *    the KDC's PREAUTH_REQUIRED is inside the armoured reply).
 *  - a clpreauth module replaces the preauth mechanism (encrypted timestamp,
 *    FAST's encrypted challenge), i.e. reimplements protocol code, and the
 *    reply's key is still derived by libkrb5's gak function, which calls
 *    string-to-key anyway.
 *  Here libkrb5 keeps all the protocol: it picks the enctype, parses
 *  ETYPE-INFO2, retries on KDC_ERR_PREAUTH_FAILED exactly as before; only the
 *  arithmetic changes, and tests/unit/test_s2k.c and tests/fuzz/fuzz_s2k.c
 *  hold it to libk5crypto's output.  tests/unit/test_s2k_interpose.c shows
 *  libkrb5's own call landing here.
 *
 * Who reaches this: libkrb5 inside sectxd, with a password a user typed and
 * KDC-sent salt and parameters.  The key it returns belongs to the caller
 * (libkrb5 frees it with krb5_free_keyblock_contents, which scrubs it); the
 * copy here is scrubbed at once.  Nothing is logged but the enctype.
 */
#define _GNU_SOURCE 1
#include "login/s2k_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef krb5_error_code(KRB5_CALLCONV *s2k_fn)(krb5_context, krb5_enctype, const krb5_data *,
					       const krb5_data *, const krb5_data *,
					       krb5_keyblock *);

static s2k_fn real_s2k;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static atomic_ulong n_fast, n_forwarded;

static void find_real(void)
{
	real_s2k = (s2k_fn)dlsym(RTLD_NEXT, "krb5_c_string_to_key_with_params");
}

/* libk5crypto's contract (krb5.h): the key of string under enctype, salt and
 * params (NULL: the enctype's default), into key (contents malloc'd, the
 * caller frees them with krb5_free_keyblock_contents).  Returns 0, ENOMEM,
 * or whatever libk5crypto returns for what sectx_s2k does not handle.
 * Default visibility: sectxd is built with -fvisibility=hidden, and the
 * export flag only exports what is visible. */
__attribute__((visibility("default"))) krb5_error_code KRB5_CALLCONV
krb5_c_string_to_key_with_params(krb5_context context, krb5_enctype enctype,
				 const krb5_data *string, const krb5_data *salt,
				 const krb5_data *params, krb5_keyblock *key)
{
	uint8_t buf[SECTX_S2K_KEY_MAX];
	size_t len = 0;

	if (key != NULL && sectx_s2k(enctype, string, salt, params, buf, &len) == 0) {
		key->contents = malloc(len);
		if (key->contents == NULL) {
			explicit_bzero(buf, sizeof(buf));
			return ENOMEM;
		}
		memcpy(key->contents, buf, len);
		explicit_bzero(buf, sizeof(buf));
		key->magic = KV5M_KEYBLOCK;
		key->enctype = enctype;
		key->length = (unsigned int)len;
		atomic_fetch_add(&n_fast, 1);
		SECTX_TRACE("string-to-key of enctype %d on sectx's path", (int)enctype);
		return 0;
	}
	pthread_once(&real_once, find_real);
	if (real_s2k == NULL) {
		SECTX_ERROR("libk5crypto's krb5_c_string_to_key_with_params is not found");
		return KRB5_BAD_ENCTYPE;
	}
	atomic_fetch_add(&n_forwarded, 1);
	SECTX_TRACE("string-to-key of enctype %d on libk5crypto's path", (int)enctype);
	return real_s2k(context, enctype, string, salt, params, key);
}

void sectx_s2k_counts(unsigned long *fast, unsigned long *forwarded)
{
	*fast = atomic_load(&n_fast);
	*forwarded = atomic_load(&n_forwarded);
}
