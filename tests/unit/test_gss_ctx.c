/*
 * test_gss_ctx.c - unit tests of common/gss_ctx.c that need no KDC:
 * mechanism names, argument errors, status text, steps on garbage tokens and
 * the rules around failed or incomplete contexts.  The context loops with a
 * real KDC are in tests/integration/test_contexts.py.  Acceptors use a
 * keytab made here with one random host key (no KDC knows it), and only the
 * built-in Kerberos mechanism: loading a mechanism plugin (SPNEGO asks for
 * them all, gss-ntlmssp) leaks inside libgssapi_krb5 under valgrind.
 * Nothing outside one temp file is touched.
 */
#include "gss_ctx.h"

#include <errno.h>
#include <gssapi/gssapi.h>
#include <krb5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NO_SUCH_KEYTAB "/nonexistent/sectx-test/krb5.keytab"

static void test_mech_names(void **state)
{
	(void)state;
	assert_int_equal(sectx_mech_from_name("krb5"), SECTX_MECH_KRB5);
	assert_int_equal(sectx_mech_from_name("spnego"), SECTX_MECH_SPNEGO);
	assert_int_equal(sectx_mech_from_name("ntlm"), SECTX_MECH_NTLM);
	assert_int_equal(sectx_mech_from_name("KRB5"), 0);
	assert_int_equal(sectx_mech_from_name(""), 0);
	assert_int_equal(sectx_mech_from_name(NULL), 0);
	assert_string_equal(sectx_mech_name(SECTX_MECH_KRB5), "krb5");
	assert_string_equal(sectx_mech_name(SECTX_MECH_SPNEGO), "spnego");
	assert_string_equal(sectx_mech_name(SECTX_MECH_NTLM), "ntlm");
	assert_string_equal(sectx_mech_name(0), "unknown");
	assert_string_equal(sectx_mech_name(SECTX_MECH_KRB5 | SECTX_MECH_NTLM), "unknown");
}

static void test_status_text(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	char *t;

	(void)state;
	t = sectx_gss_status_text(mem_ctx, GSS_S_DEFECTIVE_TOKEN, 0, NULL);
	assert_non_null(t);
	assert_non_null(strstr(t, "Invalid token"));
	t = sectx_gss_status_text(mem_ctx, GSS_S_BAD_SIG, 0, NULL);
	assert_non_null(strstr(t, "Message Integrity Check"));
	/* never empty */
	t = sectx_gss_status_text(mem_ctx, GSS_S_COMPLETE, 0, NULL);
	assert_non_null(t);
	assert_true(strlen(t) > 0);
	talloc_free(mem_ctx);
}

static void test_acceptor_argument_errors(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = (void *)1;
	struct sectx_gss_acceptor_args args = {0};
	char *reason = NULL;

	(void)state;
	assert_int_equal(sectx_gss_acceptor_new_with(mem_ctx, NULL, &ctx, &reason), -EINVAL);
	assert_null(ctx);
	assert_non_null(reason);
	assert_int_equal(sectx_gss_acceptor_new(mem_ctx, "", NULL, SECTX_MECH_KRB5, &ctx, &reason),
			 -EINVAL);
	/* SPNEGO alone negotiates nothing; unknown bits are refused */
	assert_int_equal(
	    sectx_gss_acceptor_new(mem_ctx, NO_SUCH_KEYTAB, NULL, SECTX_MECH_SPNEGO, &ctx, &reason),
	    -EINVAL);
	assert_non_null(strstr(reason, "mechanism"));
	assert_int_equal(sectx_gss_acceptor_new(mem_ctx, NO_SUCH_KEYTAB, NULL, 0, &ctx, &reason),
			 -EINVAL);
	assert_int_equal(sectx_gss_acceptor_new(mem_ctx, NO_SUCH_KEYTAB, NULL,
						SECTX_MECH_KRB5 | 0x100, &ctx, &reason),
			 -EINVAL);
	args.keytab = NO_SUCH_KEYTAB;
	args.allowed = SECTX_MECH_KRB5 | SECTX_MECH_SPNEGO;
	/* a keytab that does not exist: no credentials, with the mechanism's text */
	assert_int_equal(sectx_gss_acceptor_new_with(mem_ctx, &args, &ctx, &reason), -ENOENT);
	assert_null(ctx);
	assert_non_null(strstr(reason, "cannot use the keytab: "));
	talloc_free(mem_ctx);
}

static void test_initiator_argument_errors(void **state)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = (void *)1;
	char *reason = NULL;

	(void)state;
	assert_int_equal(sectx_gss_initiator_new(mem_ctx, "MEMORY:sectx-unit", "host@example.org",
						 0, 0, &ctx, &reason),
			 -EINVAL);
	assert_null(ctx);
	assert_non_null(reason);
	assert_int_equal(sectx_gss_initiator_new(mem_ctx, "MEMORY:sectx-unit", "no-at-sign",
						 SECTX_MECH_KRB5, 0, &ctx, &reason),
			 -EINVAL);
	assert_non_null(strstr(reason, "SERVICE@HOST"));
	assert_int_equal(sectx_gss_initiator_new(mem_ctx, "MEMORY:sectx-unit", NULL,
						 SECTX_MECH_KRB5, 0, &ctx, &reason),
			 -EINVAL);
	assert_int_equal(sectx_gss_initiator_new_with(mem_ctx, "MEMORY:sectx-unit",
						      "host@example.org", SECTX_MECH_SPNEGO,
						      SECTX_MECH_SPNEGO, 0, &ctx, &reason),
			 -EINVAL);
	talloc_free(mem_ctx);
}

/* An empty MEMORY ccache has no credentials: the initiator cannot start,
 * whether the target is a host-based name or an exact principal (which
 * passes the argument checks: a '/' names a Kerberos principal). */
static void test_initiator_without_credentials(void **state)
{
	static const char *const targets[] = {"host@example.org", "host/example.org@EXAMPLE.ORG",
					      "host/example.org"};
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = NULL;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *reason = NULL;
	int ret;

	(void)state;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		reason = NULL;
		ret = sectx_gss_initiator_new(mem_ctx, "MEMORY:sectx-unit-empty", targets[i],
					      SECTX_MECH_KRB5, 0, &ctx, &reason);
		if (ret == 0) {
			/* acquisition may be lazy: then the first leg fails */
			assert_int_equal(
			    sectx_gss_step(ctx, NULL, 0, mem_ctx, &out, &outlen, &reason),
			    SECTX_CTX_FAILED);
			assert_null(out);
			assert_int_equal(outlen, 0);
		} else {
			assert_int_equal(ret, -ENOENT);
		}
		assert_non_null(reason);
		assert_true(strlen(reason) > 0);
	}
	talloc_free(mem_ctx);
}

/* A keytab with one random AES key of host/unit.sectx.test@SECTX.TEST. */
static int keytab_setup(void **state)
{
	char *path = strdup("/tmp/sectx-unit-kt-XXXXXX");
	krb5_context kctx = NULL;
	krb5_keytab kt = NULL;
	krb5_keytab_entry entry;
	char name[64];
	int fd;

	memset(&entry, 0, sizeof(entry));
	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path); /* libkrb5 creates it in its own format */
	assert_int_equal(krb5_init_context(&kctx), 0);
	snprintf(name, sizeof(name), "FILE:%s", path);
	assert_int_equal(krb5_kt_resolve(kctx, name, &kt), 0);
	assert_int_equal(krb5_parse_name(kctx, "host/unit.sectx.test@SECTX.TEST", &entry.principal),
			 0);
	entry.vno = 1;
	assert_int_equal(krb5_c_make_random_key(kctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &entry.key),
			 0);
	assert_int_equal(krb5_kt_add_entry(kctx, kt, &entry), 0);
	krb5_free_keytab_entry_contents(kctx, &entry);
	krb5_kt_close(kctx, kt);
	krb5_free_context(kctx);
	*state = path;
	return 0;
}

static int keytab_teardown(void **state)
{
	unlink(*state);
	free(*state);
	return 0;
}

static struct sectx_gss_ctx *krb5_acceptor(TALLOC_CTX *mem_ctx, const char *keytab)
{
	struct sectx_gss_ctx *ctx = NULL;
	char *reason = NULL;

	assert_int_equal(
	    sectx_gss_acceptor_new(mem_ctx, keytab, NULL, SECTX_MECH_KRB5, &ctx, &reason), 0);
	assert_non_null(ctx);
	return ctx;
}

static void test_step_on_garbage_fails_with_text(void **state)
{
	static const uint8_t ntlm[] = "NTLMSSP\0\x01\0\0\0 negotiate";
	static const uint8_t junk[] = {0x01, 0x02, 0x03, 0x04, 0x05};
	static const uint8_t krb5_framed[] = {0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					      0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00};
	const char *keytab = *state;
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx;
	struct sectx_ctx_info info;
	uint8_t *out = (void *)1;
	size_t outlen = 1;
	bool conf;
	char *reason = NULL;

	/* an acceptor needs a token */
	ctx = krb5_acceptor(mem_ctx, keytab);
	assert_int_equal(sectx_gss_step(ctx, NULL, 0, mem_ctx, &out, &outlen, &reason),
			 SECTX_CTX_FAILED);
	assert_null(out);
	assert_int_equal(outlen, 0);
	assert_non_null(strstr(reason, "token"));
	/* and a failed context stays failed */
	assert_int_equal(sectx_gss_step(ctx, junk, sizeof(junk), mem_ctx, &out, &outlen, &reason),
			 SECTX_CTX_FAILED);
	assert_non_null(strstr(reason, "has failed"));
	assert_int_equal(sectx_gss_info(ctx, &info), -EAGAIN);

	/* a framed Kerberos token with a garbage body: the mechanism's reason */
	ctx = krb5_acceptor(mem_ctx, keytab);
	assert_int_equal(
	    sectx_gss_step(ctx, krb5_framed, sizeof(krb5_framed), mem_ctx, &out, &outlen, &reason),
	    SECTX_CTX_FAILED);
	assert_non_null(strstr(reason, "accept failed: "));

	/* bytes of no mechanism: the mechanism glue's reason */
	ctx = krb5_acceptor(mem_ctx, keytab);
	assert_int_equal(sectx_gss_step(ctx, junk, sizeof(junk), mem_ctx, &out, &outlen, &reason),
			 SECTX_CTX_FAILED);
	assert_non_null(strstr(reason, "accept failed: "));

	/* NTLM to a Kerberos-only acceptor: refused before any mechanism runs */
	ctx = krb5_acceptor(mem_ctx, keytab);
	assert_int_equal(
	    sectx_gss_step(ctx, ntlm, sizeof(ntlm) - 1, mem_ctx, &out, &outlen, &reason),
	    SECTX_CTX_FAILED);
	assert_non_null(strstr(reason, "mechanism ntlm is not allowed"));

	/* message protection on a context that is not complete */
	ctx = krb5_acceptor(mem_ctx, keytab);
	assert_int_equal(
	    sectx_gss_wrap(ctx, true, junk, sizeof(junk), mem_ctx, &out, &outlen, &conf, &reason),
	    -EAGAIN);
	assert_int_equal(
	    sectx_gss_verify_mic(ctx, junk, sizeof(junk), junk, sizeof(junk), mem_ctx, &reason),
	    -EAGAIN);
	talloc_free(mem_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mech_names),
	    cmocka_unit_test(test_status_text),
	    cmocka_unit_test(test_acceptor_argument_errors),
	    cmocka_unit_test(test_initiator_argument_errors),
	    cmocka_unit_test(test_initiator_without_credentials),
	    cmocka_unit_test_setup_teardown(test_step_on_garbage_fails_with_text, keytab_setup,
					    keytab_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
