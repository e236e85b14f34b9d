/*
 * gss_msg.c - per-message protection with a complete security context:
 * wrap/unwrap (integrity, and confidentiality when asked) and get/verify
 * MIC (gss_ctx.h).
 *
 * What it must never do: use a context that is not complete or has failed,
 * accept a replayed, old or out-of-sequence token as valid, or leave a
 * plaintext buffer of libgssapi's unscrubbed.  Tokens are untrusted and only
 * the mechanism reads them.
 */
#include "gss_ctx.h"
#include "gss_ctx_int.h"

#include <errno.h>
#include <gssapi/gssapi.h>
#include <string.h>

/* Errors of per-message calls: a routine error, or a replayed or old token
 * (supplementary bits that come with GSS_S_COMPLETE). */
static int msg_status(struct sectx_gss_ctx *ctx, uint32_t maj, uint32_t min, TALLOC_CTX *mem_ctx,
		      char **reason, const char *what)
{
	uint32_t routine = GSS_ROUTINE_ERROR(maj);
	uint32_t supp =
	    maj & (GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN | GSS_S_UNSEQ_TOKEN | GSS_S_GAP_TOKEN);

	if (!GSS_ERROR(maj) && supp == 0) {
		return 0;
	}
	sectx_gss_reason_int(mem_ctx, reason, what, maj, min, sectx_gss_oid_of_mech_int(ctx->mech));
	if (routine == GSS_S_BAD_SIG || routine == GSS_S_DEFECTIVE_TOKEN ||
	    routine == GSS_S_BAD_MIC || (!GSS_ERROR(maj) && supp != 0)) {
		return -EBADMSG;
	}
	return -EIO;
}

static int usable(const struct sectx_gss_ctx *ctx, TALLOC_CTX *mem_ctx, char **reason)
{
	if (ctx == NULL || !ctx->complete || ctx->failed) {
		sectx_gss_set_reason_int(mem_ctx, reason, "the context is not complete");
		return -EAGAIN;
	}
	return 0;
}

static int copy_out(TALLOC_CTX *mem_ctx, gss_buffer_t buf, uint8_t **out, size_t *outlen)
{
	OM_uint32 min;

	/* an empty message still gets a (one zero byte) buffer, never NULL */
	*out = buf->length > 0 ? talloc_memdup(mem_ctx, buf->value, buf->length)
			       : talloc_zero_size(mem_ctx, 1);
	*outlen = buf->length;
	if (buf->length > 0) {
		explicit_bzero(buf->value, buf->length);
	}
	gss_release_buffer(&min, buf);
	return *out == NULL ? -ENOMEM : 0;
}

int sectx_gss_wrap(struct sectx_gss_ctx *ctx, bool conf, const uint8_t *in, size_t inlen,
		   TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen, bool *conf_state,
		   char **reason)
{
	gss_buffer_desc inbuf = {inlen, (void *)in};
	gss_buffer_desc outbuf = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int state = 0;
	int ret;

	*out = NULL;
	*outlen = 0;
	*conf_state = false;
	ret = usable(ctx, mem_ctx, reason);
	if (ret != 0) {
		return ret;
	}
	maj = gss_wrap(&min, ctx->gctx, conf ? 1 : 0, GSS_C_QOP_DEFAULT, &inbuf, &state, &outbuf);
	ret = msg_status(ctx, maj, min, mem_ctx, reason, "wrap failed");
	if (ret != 0) {
		gss_release_buffer(&min, &outbuf);
		return ret;
	}
	*conf_state = state != 0;
	return copy_out(mem_ctx, &outbuf, out, outlen);
}

int sectx_gss_unwrap(struct sectx_gss_ctx *ctx, const uint8_t *in, size_t inlen,
		     TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen, bool *conf_state,
		     char **reason)
{
	gss_buffer_desc inbuf = {inlen, (void *)in};
	gss_buffer_desc outbuf = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int state = 0;
	int ret;

	*out = NULL;
	*outlen = 0;
	*conf_state = false;
	ret = usable(ctx, mem_ctx, reason);
	if (ret != 0) {
		return ret;
	}
	maj = gss_unwrap(&min, ctx->gctx, &inbuf, &outbuf, &state, NULL);
	ret = msg_status(ctx, maj, min, mem_ctx, reason, "unwrap failed");
	if (ret != 0) {
		gss_release_buffer(&min, &outbuf);
		return ret;
	}
	*conf_state = state != 0;
	return copy_out(mem_ctx, &outbuf, out, outlen);
}

int sectx_gss_get_mic(struct sectx_gss_ctx *ctx, const uint8_t *msg, size_t msglen,
		      TALLOC_CTX *mem_ctx, uint8_t **mic, size_t *miclen, char **reason)
{
	gss_buffer_desc inbuf = {msglen, (void *)msg};
	gss_buffer_desc outbuf = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int ret;

	*mic = NULL;
	*miclen = 0;
	ret = usable(ctx, mem_ctx, reason);
	if (ret != 0) {
		return ret;
	}
	maj = gss_get_mic(&min, ctx->gctx, GSS_C_QOP_DEFAULT, &inbuf, &outbuf);
	ret = msg_status(ctx, maj, min, mem_ctx, reason, "get_mic failed");
	if (ret != 0) {
		gss_release_buffer(&min, &outbuf);
		return ret;
	}
	return copy_out(mem_ctx, &outbuf, mic, miclen);
}

int sectx_gss_verify_mic(struct sectx_gss_ctx *ctx, const uint8_t *msg, size_t msglen,
			 const uint8_t *mic, size_t miclen, TALLOC_CTX *mem_ctx, char **reason)
{
	gss_buffer_desc msgbuf = {msglen, (void *)msg};
	gss_buffer_desc micbuf = {miclen, (void *)mic};
	OM_uint32 maj, min;
	int ret;

	ret = usable(ctx, mem_ctx, reason);
	if (ret != 0) {
		return ret;
	}
	maj = gss_verify_mic(&min, ctx->gctx, &msgbuf, &micbuf, NULL);
	return msg_status(ctx, maj, min, mem_ctx, reason, "verify_mic failed");
}
