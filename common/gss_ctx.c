/*
 * gss_ctx.c - the security-context library: GSS-API (MIT mechglue) as a step
 * function, with the mechanism set, credentials and "mutual" decided here.
 *
 * What it must never do: read or change the process environment (every
 * credential is named in a cred store: "keytab" and "rcache" for acceptors,
 * "ccache" for initiators, "ntlmssp_keyfile" for gss-ntlmssp acceptors), let SPNEGO
 * negotiate a mechanism outside the allowed set (gss_set_neg_mechs on the
 * SPNEGO credential, and a check of the mechanism that completed), report
 * a context as mutual because a mechanism echoed GSS_C_MUTUAL_FLAG (NTLM
 * does), or use a context after a failed step.  Tokens are untrusted: the
 * only thing read from them here is the mechanism OID of an acceptor's first
 * token, with bounds checks, to refuse a mechanism before it runs.
 *
 * gss-ntlmssp takes an acceptor's user file from the cred store key
 * "ntlmssp_keyfile" only when the credential has a server (host-based) name,
 * so an NTLM acceptor always gets one: the principal's SERVICE@HOST, or
 * "host" when no principal is configured (gss-ntlmssp then names itself
 * host/<gethostname()>, and an initiator whose target differs fails: set a
 * principal for services that allow NTLM).  Under SPNEGO one name
 * serves both mechanisms, so with NTLM in the set Kerberos is acquired by
 * that host-based name too and the configured principal is enforced after
 * completion (the acceptor's name must equal it).
 */
#include "gss_ctx.h"
#include "gss_ctx_int.h"

#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <stdio.h>
#include <string.h>

#define STATUS_TEXT_MAX	  1024u /* bytes of one gss_display_status chain */
#define STATUS_MSGS_MAX	  8u	/* messages read from one status chain */
#define GSS_NAME_TEXT_MAX 1024u /* bytes of a displayed name we keep */

/* Mechanism OIDs (DER contents, no tag or length). */
static gss_OID_desc oid_krb5 = {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
static gss_OID_desc oid_krb5_ms = {9, (void *)"\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"};
static gss_OID_desc oid_spnego = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};
static gss_OID_desc oid_ntlm = {10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};

/* gss-ntlmssp's cred-store key for its user file (gssapi_ntlmssp.h, not
 * installed by Debian's package). */
#define NTLMSSP_CS_KEYFILE "ntlmssp_keyfile"

static bool oid_eq(gss_const_OID a, const gss_OID_desc *b)
{
	return a != GSS_C_NO_OID && a->length == b->length &&
	       memcmp(a->elements, b->elements, b->length) == 0;
}

/* SECTX_MECH_* of a mechanism OID, 0 if it is none of ours. */
static unsigned mech_of_oid(gss_const_OID oid)
{
	if (oid_eq(oid, &oid_krb5) || oid_eq(oid, &oid_krb5_ms)) {
		return SECTX_MECH_KRB5;
	}
	if (oid_eq(oid, &oid_spnego)) {
		return SECTX_MECH_SPNEGO;
	}
	if (oid_eq(oid, &oid_ntlm)) {
		return SECTX_MECH_NTLM;
	}
	return 0;
}

gss_OID sectx_gss_oid_of_mech_int(unsigned mech)
{
	switch (mech) {
	case SECTX_MECH_KRB5:
		return &oid_krb5;
	case SECTX_MECH_SPNEGO:
		return &oid_spnego;
	case SECTX_MECH_NTLM:
		return &oid_ntlm;
	default:
		return GSS_C_NO_OID;
	}
}

unsigned sectx_mech_from_name(const char *name)
{
	if (name == NULL) {
		return 0;
	}
	if (strcmp(name, "krb5") == 0) {
		return SECTX_MECH_KRB5;
	}
	if (strcmp(name, "spnego") == 0) {
		return SECTX_MECH_SPNEGO;
	}
	if (strcmp(name, "ntlm") == 0) {
		return SECTX_MECH_NTLM;
	}
	return 0;
}

const char *sectx_mech_name(unsigned mech)
{
	switch (mech) {
	case SECTX_MECH_KRB5:
		return "krb5";
	case SECTX_MECH_SPNEGO:
		return "spnego";
	case SECTX_MECH_NTLM:
		return "ntlm";
	default:
		return "unknown";
	}
}

/* Append the messages of one status chain to *text (talloc string). */
static void append_status(char **text, uint32_t code, int type, gss_OID mech)
{
	OM_uint32 maj, min, msg_ctx = 0;
	unsigned n = 0;

	do {
		gss_buffer_desc buf = GSS_C_EMPTY_BUFFER;

		maj = gss_display_status(&min, code, type, mech, &msg_ctx, &buf);
		if (GSS_ERROR(maj)) {
			break;
		}
		if (*text != NULL && talloc_get_size(*text) + buf.length < STATUS_TEXT_MAX) {
			*text = talloc_asprintf_append(*text, "%s%.*s", n > 0 ? ", " : "",
						       (int)buf.length, (const char *)buf.value);
		}
		gss_release_buffer(&min, &buf);
		n++;
	} while (msg_ctx != 0 && n < STATUS_MSGS_MAX);
}

char *sectx_gss_status_text(TALLOC_CTX *mem_ctx, uint32_t major, uint32_t minor,
			    const void *mech_oid)
{
	char *text = talloc_strdup(mem_ctx, "");

	if (text == NULL) {
		return NULL;
	}
	if (GSS_ROUTINE_ERROR(major) != 0 || GSS_CALLING_ERROR(major) != 0 || minor == 0) {
		append_status(&text, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
	}
	if (minor != 0) {
		if (text != NULL && text[0] != '\0') {
			text = talloc_strdup_append(text, "; ");
		}
		append_status(&text, minor, GSS_C_MECH_CODE, (gss_OID)mech_oid);
	}
	if (text != NULL && text[0] == '\0') {
		text = talloc_asprintf_append(text, "GSS-API status %08x/%08x", major, minor);
	}
	return text;
}

/* Set *reason (child of mem_ctx) to fmt + ": " + the status text. */
void sectx_gss_reason_int(TALLOC_CTX *mem_ctx, char **reason, const char *what, uint32_t maj,
			  uint32_t min, gss_OID mech)
{
	char *st;

	if (reason == NULL) {
		return;
	}
	st = sectx_gss_status_text(mem_ctx, maj, min, mech);
	*reason = talloc_asprintf(mem_ctx, "%s: %s", what, st != NULL ? st : "?");
	talloc_free(st);
}

void sectx_gss_set_reason_int(TALLOC_CTX *mem_ctx, char **reason, const char *text)
{
	if (reason != NULL) {
		*reason = talloc_strdup(mem_ctx, text);
	}
}

static int ctx_destructor(struct sectx_gss_ctx *ctx)
{
	OM_uint32 min;

	if (ctx->gctx != GSS_C_NO_CONTEXT) {
		gss_delete_sec_context(&min, &ctx->gctx, GSS_C_NO_BUFFER);
	}
	if (ctx->delegated != GSS_C_NO_CREDENTIAL) {
		gss_release_cred(&min, &ctx->delegated);
	}
	if (ctx->cred != GSS_C_NO_CREDENTIAL) {
		gss_release_cred(&min, &ctx->cred);
	}
	if (ctx->target != GSS_C_NO_NAME) {
		gss_release_name(&min, &ctx->target);
	}
	return 0;
}

static struct sectx_gss_ctx *ctx_alloc(TALLOC_CTX *mem_ctx, enum sectx_ctx_role role)
{
	struct sectx_gss_ctx *ctx = talloc_zero(mem_ctx, struct sectx_gss_ctx);

	if (ctx == NULL) {
		return NULL;
	}
	ctx->role = role;
	ctx->cred = GSS_C_NO_CREDENTIAL;
	ctx->delegated = GSS_C_NO_CREDENTIAL;
	ctx->target = GSS_C_NO_NAME;
	ctx->gctx = GSS_C_NO_CONTEXT;
	talloc_set_destructor(ctx, ctx_destructor);
	return ctx;
}

static int import_name(const char *text, gss_OID type, gss_name_t *out, TALLOC_CTX *mem_ctx,
		       char **reason)
{
	gss_buffer_desc buf;
	OM_uint32 maj, min;

	buf.value = (void *)text;
	buf.length = strlen(text);
	maj = gss_import_name(&min, &buf, type, out);
	if (GSS_ERROR(maj)) {
		*out = GSS_C_NO_NAME;
		sectx_gss_reason_int(mem_ctx, reason, "cannot import name", maj, min, GSS_C_NO_OID);
		return -EINVAL;
	}
	return 0;
}

/* "svc/host@REALM" -> "svc@host"; "" or anything else -> "host" (any host
 * of the host service, for gss-ntlmssp which needs a server name). */
static char *hostbased_of(TALLOC_CTX *mem_ctx, const char *principal)
{
	const char *slash, *at;

	if (principal != NULL && (slash = strchr(principal, '/')) != NULL && slash > principal) {
		at = strchr(slash + 1, '@');
		if (at == NULL) {
			at = slash + 1 + strlen(slash + 1);
		}
		if (at > slash + 1 && memchr(slash + 1, '/', (size_t)(at - slash - 1)) == NULL) {
			return talloc_asprintf(mem_ctx, "%.*s@%.*s", (int)(slash - principal),
					       principal, (int)(at - slash - 1), slash + 1);
		}
	}
	return talloc_strdup(mem_ctx, "host");
}

/* A set of mechanism OIDs for gss_set_neg_mechs: Kerberos first (preferred),
 * then NTLM, only those in allowed. */
static void neg_set(unsigned allowed, gss_OID_desc *elems, gss_OID_set_desc *set)
{
	set->count = 0;
	set->elements = elems;
	if ((allowed & SECTX_MECH_KRB5) != 0) {
		elems[set->count++] = oid_krb5;
	}
	if ((allowed & SECTX_MECH_NTLM) != 0) {
		elems[set->count++] = oid_ntlm;
	}
}

static int acquire_status_err(uint32_t maj)
{
	uint32_t r = GSS_ROUTINE_ERROR(maj);

	return (r == GSS_S_NO_CRED || r == GSS_S_CRED_UNAVAIL || r == GSS_S_BAD_NAME) ? -ENOENT
										      : -EIO;
}

int sectx_gss_acceptor_new_with(TALLOC_CTX *mem_ctx, const struct sectx_gss_acceptor_args *args,
				struct sectx_gss_ctx **out, char **reason)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = NULL;
	gss_key_value_element_desc elems[3];
	gss_key_value_set_desc store = {0, elems};
	gss_name_t name = GSS_C_NO_NAME;
	gss_OID_desc negs[2];
	gss_OID_set_desc neg;
	gss_OID_desc one;
	gss_OID_set_desc mechs = {1, &one};
	const char *principal;
	unsigned allowed;
	char *hb;
	OM_uint32 maj, min;
	int ret;

	*out = NULL;
	if (reason != NULL) {
		*reason = NULL;
	}
	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	if (args == NULL || args->keytab == NULL || args->keytab[0] == '\0') {
		sectx_gss_set_reason_int(mem_ctx, reason, "no keytab given");
		ret = -EINVAL;
		goto done;
	}
	allowed = args->allowed & (SECTX_MECH_KRB5 | SECTX_MECH_SPNEGO | SECTX_MECH_NTLM);
	if (allowed != args->allowed || (allowed & (SECTX_MECH_KRB5 | SECTX_MECH_NTLM)) == 0) {
		sectx_gss_set_reason_int(
		    mem_ctx, reason,
		    "no usable mechanism allowed (krb5 or ntlm, optionally under spnego)");
		ret = -EINVAL;
		goto done;
	}
	principal = args->principal != NULL ? args->principal : "";

	ctx = ctx_alloc(tmp_ctx, SECTX_ROLE_ACCEPTOR);
	if (ctx == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	ctx->allowed = allowed;
	ctx->keep_delegated = args->keep_delegated;
	ctx->principal = talloc_strdup(ctx, principal);
	hb = hostbased_of(tmp_ctx, principal);
	if (ctx->principal == NULL || hb == NULL) {
		ret = -ENOMEM;
		goto done;
	}

	elems[0].key = "keytab";
	elems[0].value = args->keytab;
	store.count = 1;
	if (args->rcache != NULL && args->rcache[0] != '\0') {
		elems[store.count].key = "rcache";
		elems[store.count].value = args->rcache;
		store.count++;
	}
	if (args->ntlm_user_file != NULL && args->ntlm_user_file[0] != '\0') {
		elems[store.count].key = NTLMSSP_CS_KEYFILE;
		elems[store.count].value = args->ntlm_user_file;
		store.count++;
	}

	/* Kerberos: exactly the principal, unless SPNEGO must share a name
	 * with NTLM (then by host-based name, principal checked at the end). */
	if ((allowed & SECTX_MECH_KRB5) != 0) {
		if (principal[0] != '\0') {
			ret = import_name(principal, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, &name,
					  mem_ctx, reason);
			if (ret != 0) {
				goto done;
			}
		}
		one = oid_krb5;
		maj = gss_acquire_cred_from(&min, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT,
					    &store, &ctx->cred, NULL, NULL);
		if (name != GSS_C_NO_NAME) {
			gss_release_name(&min, &name);
		}
		if (GSS_ERROR(maj)) {
			sectx_gss_reason_int(mem_ctx, reason, "cannot use the keytab", maj, min,
					     &oid_krb5);
			ret = acquire_status_err(maj);
			goto done;
		}
	}

	if ((allowed & SECTX_MECH_NTLM) != 0) {
		ret = import_name(hb, GSS_C_NT_HOSTBASED_SERVICE, &name, mem_ctx, reason);
		if (ret != 0) {
			goto done;
		}
		maj = gss_add_cred_from(&min, ctx->cred, name, &oid_ntlm, GSS_C_ACCEPT,
					GSS_C_INDEFINITE, GSS_C_INDEFINITE, &store,
					ctx->cred == GSS_C_NO_CREDENTIAL ? &ctx->cred : NULL, NULL,
					NULL, NULL);
		gss_release_name(&min, &name);
		if (GSS_ERROR(maj)) {
			sectx_gss_reason_int(mem_ctx, reason,
					     "cannot acquire NTLM acceptor credentials", maj, min,
					     &oid_ntlm);
			ret = acquire_status_err(maj);
			goto done;
		}
	}

	if ((allowed & SECTX_MECH_SPNEGO) != 0) {
		if ((allowed & SECTX_MECH_NTLM) != 0) {
			ret = import_name(hb, GSS_C_NT_HOSTBASED_SERVICE, &name, mem_ctx, reason);
		} else if (principal[0] != '\0') {
			ret = import_name(principal, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, &name,
					  mem_ctx, reason);
		} else {
			ret = 0;
		}
		if (ret != 0) {
			goto done;
		}
		maj = gss_add_cred_from(&min, ctx->cred, name, &oid_spnego, GSS_C_ACCEPT,
					GSS_C_INDEFINITE, GSS_C_INDEFINITE, &store, NULL, NULL,
					NULL, NULL);
		if (name != GSS_C_NO_NAME) {
			gss_release_name(&min, &name);
		}
		if (GSS_ERROR(maj)) {
			sectx_gss_reason_int(mem_ctx, reason,
					     "cannot acquire SPNEGO acceptor credentials", maj, min,
					     &oid_spnego);
			ret = acquire_status_err(maj);
			goto done;
		}
		neg_set(allowed, negs, &neg);
		maj = gss_set_neg_mechs(&min, ctx->cred, &neg);
		if (GSS_ERROR(maj)) {
			sectx_gss_reason_int(mem_ctx, reason, "cannot restrict SPNEGO", maj, min,
					     &oid_spnego);
			ret = -EIO;
			goto done;
		}
	}

	*out = talloc_steal(mem_ctx, ctx);
	ret = 0;
done:
	talloc_free(tmp_ctx);
	return ret;
}

int sectx_gss_acceptor_new(TALLOC_CTX *mem_ctx, const char *keytab, const char *principal,
			   unsigned allowed, struct sectx_gss_ctx **out, char **reason)
{
	struct sectx_gss_acceptor_args args = {
	    .keytab = keytab,
	    .principal = principal,
	    .allowed = allowed,
	};

	return sectx_gss_acceptor_new_with(mem_ctx, &args, out, reason);
}

int sectx_gss_initiator_new(TALLOC_CTX *mem_ctx, const char *ccache, const char *target,
			    unsigned mech, uint32_t req_flags, struct sectx_gss_ctx **out,
			    char **reason)
{
	return sectx_gss_initiator_new_with(
	    mem_ctx, ccache, target, mech,
	    mech == SECTX_MECH_SPNEGO ? SECTX_MECH_KRB5 | SECTX_MECH_NTLM : mech, req_flags, out,
	    reason);
}

int sectx_gss_initiator_new_with(TALLOC_CTX *mem_ctx, const char *ccache, const char *target,
				 unsigned mech, unsigned neg_allowed, uint32_t req_flags,
				 struct sectx_gss_ctx **out, char **reason)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = NULL;
	gss_key_value_element_desc elem;
	gss_key_value_set_desc store = {1, &elem};
	gss_OID_desc one;
	gss_OID_set_desc mechs = {1, &one};
	gss_OID_desc negs[2];
	gss_OID_set_desc neg;
	OM_uint32 maj, min;
	int ret;

	*out = NULL;
	if (reason != NULL) {
		*reason = NULL;
	}
	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	if (mech != SECTX_MECH_KRB5 && mech != SECTX_MECH_SPNEGO && mech != SECTX_MECH_NTLM) {
		sectx_gss_set_reason_int(mem_ctx, reason, "unknown mechanism");
		ret = -EINVAL;
		goto done;
	}
	neg_allowed &= SECTX_MECH_KRB5 | SECTX_MECH_NTLM;
	if (mech == SECTX_MECH_SPNEGO && neg_allowed == 0) {
		sectx_gss_set_reason_int(mem_ctx, reason, "SPNEGO with no mechanism to negotiate");
		ret = -EINVAL;
		goto done;
	}
	if (target == NULL || target[0] == '\0' ||
	    (strchr(target, '@') == NULL && strchr(target, '/') == NULL)) {
		sectx_gss_set_reason_int(mem_ctx, reason,
					 "target must be SERVICE@HOST or SERVICE/HOST@REALM");
		ret = -EINVAL;
		goto done;
	}
	ctx = ctx_alloc(tmp_ctx, SECTX_ROLE_INITIATOR);
	if (ctx == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	ctx->mech = mech;
	ctx->via_spnego = mech == SECTX_MECH_SPNEGO;
	ctx->want_mutual = (req_flags & GSS_C_MUTUAL_FLAG) != 0;
	ctx->req_flags = req_flags;
	if (mech != SECTX_MECH_NTLM) {
		ctx->req_flags |= GSS_C_MUTUAL_FLAG;
	}
	/* A '/' names a Kerberos principal exactly: never canonicalized, so
	 * neither this library nor the mechanism looks the host up in DNS. */
	ret = import_name(target,
			  strchr(target, '/') != NULL ? (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME
						      : GSS_C_NT_HOSTBASED_SERVICE,
			  &ctx->target, mem_ctx, reason);
	if (ret != 0) {
		goto done;
	}

	one = *sectx_gss_oid_of_mech_int(mech);
	if (ccache != NULL) {
		elem.key = "ccache";
		elem.value = ccache;
		maj = gss_acquire_cred_from(&min, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs,
					    GSS_C_INITIATE, &store, &ctx->cred, NULL, NULL);
	} else {
		/* The mechanisms' own defaults (KRB5CCNAME, NTLM_USER_FILE) of the
		 * calling process: for tools, never for the helper. */
		maj = gss_acquire_cred(&min, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs,
				       GSS_C_INITIATE, &ctx->cred, NULL, NULL);
	}
	if (GSS_ERROR(maj)) {
		sectx_gss_reason_int(mem_ctx, reason, "cannot use the credentials", maj, min,
				     sectx_gss_oid_of_mech_int(mech));
		ret = acquire_status_err(maj);
		goto done;
	}
	if (mech == SECTX_MECH_SPNEGO) {
		neg_set(neg_allowed, negs, &neg);
		maj = gss_set_neg_mechs(&min, ctx->cred, &neg);
		if (GSS_ERROR(maj)) {
			sectx_gss_reason_int(mem_ctx, reason, "cannot restrict SPNEGO", maj, min,
					     &oid_spnego);
			ret = -EIO;
			goto done;
		}
	}
	ctx->allowed = mech | neg_allowed;
	*out = talloc_steal(mem_ctx, ctx);
	ret = 0;
done:
	talloc_free(tmp_ctx);
	return ret;
}

/*
 * The mechanism of an acceptor's first token: an RFC 2743 3.1 framed token
 * (0x60, DER length, OID) or a raw NTLMSSP message.  0 if neither (the
 * mechanism glue then decides, and fails with its own reason).
 */
static unsigned first_token_mech(const uint8_t *in, size_t inlen)
{
	size_t off = 1, len = 0, n;
	gss_OID_desc oid;

	if (inlen >= 8 && memcmp(in, "NTLMSSP\0", 8) == 0) {
		return SECTX_MECH_NTLM;
	}
	if (inlen < 2 || in[0] != 0x60) {
		return 0;
	}
	if ((in[off] & 0x80) == 0) {
		off++;
	} else {
		n = in[off] & 0x7f;
		if (n == 0 || n > 4 || inlen < off + 1 + n) {
			return 0;
		}
		off += 1 + n;
	}
	if (inlen < off + 2 || in[off] != 0x06) {
		return 0;
	}
	len = in[off + 1];
	off += 2;
	if (len > 0x7f || inlen < off + len) {
		return 0;
	}
	oid.length = (OM_uint32)len;
	oid.elements = (void *)(in + off);
	return mech_of_oid(&oid);
}

static char *display_name(TALLOC_CTX *mem_ctx, gss_name_t name)
{
	gss_buffer_desc buf = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	char *s;

	if (name == GSS_C_NO_NAME) {
		return talloc_strdup(mem_ctx, "");
	}
	maj = gss_display_name(&min, name, &buf, NULL);
	if (GSS_ERROR(maj)) {
		return talloc_strdup(mem_ctx, "");
	}
	s = talloc_strndup(mem_ctx, buf.value,
			   buf.length < GSS_NAME_TEXT_MAX ? buf.length : GSS_NAME_TEXT_MAX);
	gss_release_buffer(&min, &buf);
	return s;
}

/* Fill ctx->info from a complete context; 0, or FAILED text in *reason. */
static int finish(struct sectx_gss_ctx *ctx, gss_OID actual, uint32_t ret_flags, uint32_t time_rec,
		  TALLOC_CTX *mem_ctx, char **reason)
{
	gss_name_t src = GSS_C_NO_NAME, targ = GSS_C_NO_NAME;
	struct sectx_ctx_info *info = &ctx->info;
	OM_uint32 maj, min;
	unsigned mech = mech_of_oid(actual);
	int ret;

	if (mech == SECTX_MECH_SPNEGO || mech == 0) {
		sectx_gss_set_reason_int(mem_ctx, reason,
					 "the context completed with an unknown mechanism");
		return -EPROTO;
	}
	if ((ctx->allowed & mech) == 0 ||
	    (ctx->via_spnego && (ctx->allowed & SECTX_MECH_SPNEGO) == 0) ||
	    (!ctx->via_spnego && ctx->role == SECTX_ROLE_INITIATOR && mech != ctx->mech)) {
		*reason =
		    talloc_asprintf(mem_ctx, "mechanism %s%s is not allowed", sectx_mech_name(mech),
				    ctx->via_spnego ? " (SPNEGO)" : "");
		return -EPERM;
	}
	maj = gss_inquire_context(&min, ctx->gctx, &src, &targ, NULL, NULL, NULL, NULL, NULL);
	if (GSS_ERROR(maj)) {
		sectx_gss_reason_int(mem_ctx, reason, "cannot inquire the context", maj, min,
				     actual);
		return -EIO;
	}
	memset(info, 0, sizeof(*info));
	info->role = ctx->role;
	info->mech = mech;
	info->via_spnego = ctx->via_spnego;
	info->req_flags = ctx->req_flags;
	info->ret_flags = ret_flags;
	/* The mechanism decides: only Kerberos authenticates the acceptor,
	 * and only when the AP-REP was part of the exchange. */
	info->mutual = mech == SECTX_MECH_KRB5 && (ret_flags & GSS_C_MUTUAL_FLAG) != 0;
	info->delegated = ctx->delegated != GSS_C_NO_CREDENTIAL;
	info->lifetime = time_rec == GSS_C_INDEFINITE ? 0 : time_rec;
	if (ctx->role == SECTX_ROLE_INITIATOR) {
		info->local_name = display_name(ctx, src);
		info->peer_name = display_name(ctx, targ);
	} else {
		info->local_name = display_name(ctx, targ);
		info->peer_name = display_name(ctx, src);
	}
	gss_release_name(&min, &src);
	gss_release_name(&min, &targ);
	if (info->local_name == NULL || info->peer_name == NULL) {
		return -ENOMEM;
	}
	ret = 0;
	if (ctx->role == SECTX_ROLE_ACCEPTOR && mech == SECTX_MECH_KRB5 &&
	    ctx->principal[0] != '\0' && strcmp(info->local_name, ctx->principal) != 0) {
		*reason = talloc_asprintf(mem_ctx, "accepted as %s, not as the configured %s",
					  info->local_name, ctx->principal);
		ret = -EPERM;
	} else if (ctx->role == SECTX_ROLE_INITIATOR && ctx->want_mutual && !info->mutual) {
		*reason = talloc_asprintf(mem_ctx,
					  "mutual authentication was asked for, but %s cannot "
					  "authenticate the acceptor",
					  sectx_mech_name(mech));
		ret = -EPERM;
	}
	return ret;
}

/* Mark ctx failed and drop its GSS state. */
static enum sectx_ctx_state fail(struct sectx_gss_ctx *ctx)
{
	OM_uint32 min;

	ctx->failed = true;
	if (ctx->gctx != GSS_C_NO_CONTEXT) {
		gss_delete_sec_context(&min, &ctx->gctx, GSS_C_NO_BUFFER);
	}
	return SECTX_CTX_FAILED;
}

enum sectx_ctx_state sectx_gss_step(struct sectx_gss_ctx *ctx, const uint8_t *in, size_t inlen,
				    TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen,
				    char **reason)
{
	gss_buffer_desc inbuf = {inlen, (void *)in};
	gss_buffer_desc outbuf = GSS_C_EMPTY_BUFFER;
	gss_OID actual = GSS_C_NO_OID;
	OM_uint32 maj, min, tmin, ret_flags = 0, time_rec = 0;
	gss_cred_id_t *deleg = NULL;
	unsigned first;
	char *why = NULL;

	*out = NULL;
	*outlen = 0;
	if (reason != NULL) {
		*reason = NULL;
	}
	if (ctx == NULL || (in == NULL && inlen != 0)) {
		sectx_gss_set_reason_int(mem_ctx, reason, "invalid arguments");
		return SECTX_CTX_FAILED;
	}
	if (ctx->failed) {
		sectx_gss_set_reason_int(mem_ctx, reason, "the context has failed");
		return SECTX_CTX_FAILED;
	}
	if (ctx->complete) {
		/* A caller's mistake: the context itself stays usable. */
		sectx_gss_set_reason_int(mem_ctx, reason, "the context is already complete");
		return SECTX_CTX_FAILED;
	}

	if (ctx->role == SECTX_ROLE_ACCEPTOR) {
		if (inlen == 0) {
			sectx_gss_set_reason_int(mem_ctx, reason,
						 "an acceptor needs the initiator's token");
			return fail(ctx);
		}
		if (ctx->gctx == GSS_C_NO_CONTEXT) {
			first = first_token_mech(in, inlen);
			if (first != 0 && (ctx->allowed & first) == 0) {
				if (reason != NULL) {
					*reason = talloc_asprintf(mem_ctx,
								  "mechanism %s is not allowed "
								  "for this service",
								  sectx_mech_name(first));
				}
				return fail(ctx);
			}
			ctx->via_spnego = first == SECTX_MECH_SPNEGO;
		}
		if (ctx->keep_delegated) {
			deleg = &ctx->delegated;
		}
		maj = gss_accept_sec_context(&min, &ctx->gctx, ctx->cred, &inbuf,
					     GSS_C_NO_CHANNEL_BINDINGS, NULL, &actual, &outbuf,
					     &ret_flags, &time_rec, deleg);
	} else {
		if (ctx->gctx != GSS_C_NO_CONTEXT && inlen == 0) {
			sectx_gss_set_reason_int(mem_ctx, reason,
						 "the acceptor's token is missing");
			return fail(ctx);
		}
		maj = gss_init_sec_context(&min, ctx->cred, &ctx->gctx, ctx->target,
					   sectx_gss_oid_of_mech_int(ctx->mech), ctx->req_flags,
					   GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS, &inbuf,
					   &actual, &outbuf, &ret_flags, &time_rec);
	}

	if (outbuf.length > 0) {
		*out = talloc_memdup(mem_ctx, outbuf.value, outbuf.length);
		*outlen = outbuf.length;
	}
	gss_release_buffer(&tmin, &outbuf);
	if (GSS_ERROR(maj)) {
		sectx_gss_reason_int(mem_ctx, reason,
				     ctx->role == SECTX_ROLE_ACCEPTOR ? "accept failed"
								      : "init failed",
				     maj, min, actual);
		TALLOC_FREE(*out);
		*outlen = 0;
		return fail(ctx);
	}
	if (outbuf.length > 0 && *out == NULL) {
		sectx_gss_set_reason_int(mem_ctx, reason, "out of memory");
		return fail(ctx);
	}
	if ((maj & GSS_S_CONTINUE_NEEDED) != 0) {
		return SECTX_CTX_CONTINUE;
	}
	if (finish(ctx, actual, ret_flags, time_rec, mem_ctx, &why) != 0) {
		if (reason != NULL) {
			*reason = why;
		} else {
			talloc_free(why);
		}
		TALLOC_FREE(*out);
		*outlen = 0;
		return fail(ctx);
	}
	ctx->mech = ctx->info.mech;
	ctx->complete = true;
	return SECTX_CTX_COMPLETE;
}

int sectx_gss_info(const struct sectx_gss_ctx *ctx, struct sectx_ctx_info *info)
{
	if (ctx == NULL || !ctx->complete || ctx->failed) {
		return -EAGAIN;
	}
	*info = ctx->info;
	return 0;
}
