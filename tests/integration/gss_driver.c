/*
 * gss_driver.c - runs both ends of one context with common/gss_ctx.c in one
 * process and prints what each end reports, for test_contexts.py (NTLM
 * needs no KDC, so the mechanism rules are checked here without one).
 *
 *   gss_driver INIT_MECH REQ_FLAGS ACCEPT_MECHS KEYTAB PRINCIPAL NTLM_USER_FILE TARGET
 *
 * INIT_MECH and each of the comma-separated ACCEPT_MECHS are krb5, spnego or
 * ntlm; REQ_FLAGS is a number (GSS_C_*_FLAG).  The initiator uses the
 * mechanisms' own defaults (NTLM_USER_FILE and NTLMUSER of the environment,
 * KRB5CCNAME), as a tool would; the acceptor gets NTLM_USER_FILE through the
 * library's cred store.  Output, one line each: "leg N init|accept STATE
 * BYTES", then "init|accept complete mech=M spnego=0|1 mutual=0|1 flags=HEX
 * peer=NAME", or "init|accept failed REASON"; after completion a wrap/unwrap
 * round trip ("wrap ok" or "wrap failed REASON").  Exit 0 if both ends
 * completed, 1 if one failed, 2 on a usage error.  A test tool only: never
 * installed.
 */
#include "gss_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_LEGS_MAX 10

static unsigned mech_set(const char *list)
{
	char buf[128];
	unsigned set = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok(buf, ", "); tok != NULL; tok = strtok(NULL, ", ")) {
		set |= sectx_mech_from_name(tok);
	}
	return set;
}

static void print_info(const char *side, struct sectx_gss_ctx *ctx)
{
	struct sectx_ctx_info info;

	if (sectx_gss_info(ctx, &info) == 0) {
		printf("%s complete mech=%s spnego=%d mutual=%d flags=%x peer=%s\n", side,
		       sectx_mech_name(info.mech), info.via_spnego ? 1 : 0, info.mutual ? 1 : 0,
		       (unsigned)info.ret_flags, info.peer_name);
	}
}

int main(int argc, char **argv)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_acceptor_args args = {0};
	struct sectx_gss_ctx *ini = NULL, *acc = NULL;
	enum sectx_ctx_state si = SECTX_CTX_CONTINUE, sa = SECTX_CTX_CONTINUE;
	uint8_t *tok = NULL, *out = NULL, *plain = NULL;
	size_t len = 0, outlen = 0, plainlen = 0;
	char *reason = NULL;
	bool conf;
	int ret = 1;

	if (argc != 8 || mem_ctx == NULL) {
		fprintf(stderr,
			"usage: gss_driver INIT_MECH REQ_FLAGS ACCEPT_MECHS KEYTAB PRINCIPAL "
			"NTLM_USER_FILE TARGET\n");
		return 2;
	}
	args.keytab = argv[4];
	args.principal = argv[5];
	args.ntlm_user_file = argv[6];
	args.allowed = mech_set(argv[3]);
	if (sectx_gss_acceptor_new_with(mem_ctx, &args, &acc, &reason) != 0) {
		printf("accept failed %s\n", reason);
		goto done;
	}
	if (sectx_gss_initiator_new(mem_ctx, NULL, argv[7], sectx_mech_from_name(argv[1]),
				    (uint32_t)strtoul(argv[2], NULL, 0), &ini, &reason) != 0) {
		printf("init failed %s\n", reason);
		goto done;
	}
	for (int leg = 0; leg < DRIVER_LEGS_MAX; leg++) {
		si = sectx_gss_step(ini, tok, len, mem_ctx, &out, &outlen, &reason);
		printf("leg %d init %d %zu\n", leg, (int)si, outlen);
		if (si == SECTX_CTX_FAILED) {
			printf("init failed %s\n", reason);
			goto done;
		}
		if (outlen == 0) {
			break;
		}
		sa = sectx_gss_step(acc, out, outlen, mem_ctx, &tok, &len, &reason);
		printf("leg %d accept %d %zu\n", leg, (int)sa, len);
		if (sa == SECTX_CTX_FAILED) {
			printf("accept failed %s\n", reason);
			goto done;
		}
		if (len == 0 && si == SECTX_CTX_COMPLETE) {
			break;
		}
	}
	if (si != SECTX_CTX_COMPLETE || sa != SECTX_CTX_COMPLETE) {
		printf("incomplete\n");
		goto done;
	}
	print_info("init", ini);
	print_info("accept", acc);
	if (sectx_gss_wrap(ini, true, (const uint8_t *)"ping", 4, mem_ctx, &out, &outlen, &conf,
			   &reason) != 0 ||
	    sectx_gss_unwrap(acc, out, outlen, mem_ctx, &plain, &plainlen, &conf, &reason) != 0) {
		printf("wrap failed %s\n", reason);
		goto done;
	}
	printf("wrap %s\n", plainlen == 4 && memcmp(plain, "ping", 4) == 0 ? "ok" : "mismatch");
	ret = 0;
done:
	talloc_free(mem_ctx);
	return ret;
}
