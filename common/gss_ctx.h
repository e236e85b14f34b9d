/*
 * gss_ctx.h - the security-context library: GSS-API as a step function.
 *
 * A context is one authentication between an initiator (client) and an
 * acceptor (server).  Both sides call sectx_gss_step() with the token the
 * peer sent (none for the initiator's first leg) until it returns COMPLETE or
 * FAILED, sending every output token to the peer; nothing limits the number
 * of legs (Kerberos needs 1-2, NTLM 3, SPNEGO may add one).  A complete
 * context has a mechanism, granted flags, peer and local names, a lifetime,
 * and protects messages (wrap/unwrap, get/verify MIC).
 *
 * Mutual authentication is a property of the mechanism: Kerberos proves the
 * acceptor to the initiator (when GSS_C_MUTUAL_FLAG is granted), NTLM never
 * does, even though gss-ntlmssp echoes the requested mutual flag back as
 * granted.  info.mutual is decided here from the negotiated mechanism, never
 * from the returned flags alone; callers must use it, not ret_flags.
 *
 * Credentials are named explicitly (gss_acquire_cred_from: a keytab for an
 * acceptor, a ccache for an initiator); this library never reads or changes
 * the process environment, so one process can hold contexts for several
 * keytab principals and users at once.  Used by sectxd and the sample tools;
 * it links libgssapi_krb5 and talloc and is never linked into the PAM or NSS
 * modules.  Tokens are untrusted bytes handed to the mechanism as they are;
 * every error comes back as text from gss_display_status (major and minor).
 */
#ifndef SECTX_GSS_CTX_H
#define SECTX_GSS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>

#include "proto.h" /* enum sectx_ctx_state */

/* Mechanisms, as bits so that a policy can name a set of them. */
enum sectx_mech {
	SECTX_MECH_KRB5 = 1u << 0,
	SECTX_MECH_SPNEGO = 1u << 1,
	SECTX_MECH_NTLM = 1u << 2,
};

enum sectx_ctx_role { SECTX_ROLE_INITIATOR = 1, SECTX_ROLE_ACCEPTOR = 2 };

struct sectx_gss_ctx; /* opaque; a talloc object whose destructor deletes the
		       * GSS context and releases its credentials */

/* What a complete context is.  Strings belong to the context. */
struct sectx_ctx_info {
	enum sectx_ctx_role role;
	unsigned mech;	    /* the mechanism that authenticated: KRB5 or NTLM */
	bool via_spnego;    /* negotiated inside SPNEGO */
	uint32_t req_flags; /* GSS_C_*_FLAG asked for */
	uint32_t ret_flags; /* as the mechanism reported them */
	bool mutual;	    /* the acceptor was authenticated (mechanism-decided) */
	bool delegated;	    /* acceptor: the initiator delegated a credential */
	const char *local_name;
	const char *peer_name; /* the authenticated principal / NTLM user */
	uint32_t lifetime;     /* seconds left at completion; 0 = indefinite */
};

/* "krb5", "spnego", "ntlm" -> SECTX_MECH_*; 0 for anything else. */
unsigned sectx_mech_from_name(const char *name);
/* SECTX_MECH_* (one bit) -> "krb5", "spnego", "ntlm" or "unknown". */
const char *sectx_mech_name(unsigned mech);

/*
 * An acceptor that accepts as principal (NULL or "": any key of the keytab)
 * from the keytab file at keytab, for the mechanisms in allowed (a set of
 * SECTX_MECH_*; SPNEGO negotiates only among the others in the set).
 * Returns 0 with *out (child of mem_ctx), or an error with *reason (child of
 * mem_ctx) saying why: -ENOENT no such keytab or principal, -EINVAL bad
 * arguments, -EIO a GSS failure.
 */
int sectx_gss_acceptor_new(TALLOC_CTX *mem_ctx, const char *keytab, const char *principal,
			   unsigned allowed, struct sectx_gss_ctx **out, char **reason);

/*
 * The same with every option: args->ntlm_user_file (NULL or "": none) is
 * gss-ntlmssp's user file for an NTLM acceptor (lines DOMAIN:USER:PASSWORD
 * or smbpasswd), passed in the cred store, never through the environment;
 * args->keep_delegated keeps a credential the initiator delegated
 * (info.delegated), otherwise none is ever stored; args->rcache (NULL: the
 * mechanism's default, a file in /var/tmp) names the Kerberos replay cache,
 * e.g. "file2:/var/lib/sectx/contexts.rcache2".  With NTLM in allowed and
 * a principal SVC/HOST@REALM, NTLM (and SPNEGO) acquire by the host-based
 * name SVC@HOST; a Kerberos context must still complete as exactly that
 * principal or the step FAILs.
 */
struct sectx_gss_acceptor_args {
	const char *keytab;
	const char *principal;
	const char *ntlm_user_file;
	const char *rcache;
	unsigned allowed;
	bool keep_delegated;
};
int sectx_gss_acceptor_new_with(TALLOC_CTX *mem_ctx, const struct sectx_gss_acceptor_args *args,
				struct sectx_gss_ctx **out, char **reason);

/*
 * An initiator to target with
 * the credentials of ccache (a ccache name such as "MEMORY:x" or "FILE:/p";
 * NULL for the library default), by mechanism mech (one SECTX_MECH_* bit)
 * asking for req_flags (GSS_C_*_FLAG; MUTUAL is always added for Kerberos).
 * target is either "service@host", a host-based service name that the
 * Kerberos mechanism may canonicalize (krb5.conf dns_canonicalize_hostname:
 * a blocking DNS lookup in this process), or, when it contains a '/', the
 * exact Kerberos principal "service/host[@REALM]" (GSS_KRB5_NT_PRINCIPAL_NAME,
 * no DNS; Kerberos and SPNEGO-with-Kerberos only): what a process that must
 * never block, like the helper, uses.  Returns as sectx_gss_acceptor_new.
 */
int sectx_gss_initiator_new(TALLOC_CTX *mem_ctx, const char *ccache, const char *target,
			    unsigned mech, uint32_t req_flags, struct sectx_gss_ctx **out,
			    char **reason);
/* The same, with the mechanisms SPNEGO may negotiate (neg_allowed, a set of
 * SECTX_MECH_KRB5/NTLM, Kerberos preferred); sectx_gss_initiator_new lets
 * SPNEGO use both.  With ccache NULL the mechanisms read their own defaults
 * (KRB5CCNAME, NTLM_USER_FILE) of the calling process: tools only, never the
 * helper.  If req_flags asks for GSS_C_MUTUAL_FLAG, a context that is not
 * mutual (NTLM) FAILs at completion. */
int sectx_gss_initiator_new_with(TALLOC_CTX *mem_ctx, const char *ccache, const char *target,
				 unsigned mech, unsigned neg_allowed, uint32_t req_flags,
				 struct sectx_gss_ctx **out, char **reason);

/*
 * One leg: feed the peer's token (in, inlen; NULL/0 for an initiator's first
 * leg) and get the token to send back in *out, *outlen (child of mem_ctx;
 * NULL/0 when there is nothing to send; send it even on COMPLETE).  Returns
 * SECTX_CTX_CONTINUE, SECTX_CTX_COMPLETE, or SECTX_CTX_FAILED with *reason
 * (child of mem_ctx: the mechanism's major and minor status text).  After
 * FAILED the context is unusable (a step on a COMPLETE context also returns
 * FAILED, leaving the context as it was).  An acceptor refuses a mechanism
 * not in its allowed set (before the mechanism runs when the first token
 * names it, and again at completion); an initiator whose req_flags asked for
 * GSS_C_MUTUAL_FLAG refuses a context that is not mutual.  Replays and other
 * out-of-sequence per-message tokens count as failures (-EBADMSG) below.
 */
enum sectx_ctx_state sectx_gss_step(struct sectx_gss_ctx *ctx, const uint8_t *in, size_t inlen,
				    TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen,
				    char **reason);

/* The description of a COMPLETE context: 0, or -EAGAIN if it is not. */
int sectx_gss_info(const struct sectx_gss_ctx *ctx, struct sectx_ctx_info *info);

/*
 * Message protection on a complete context.  Outputs are children of
 * mem_ctx; on error (-EAGAIN not complete, -EBADMSG the token failed its
 * check, or was replayed, old, out of sequence or after a gap, -EIO other)
 * *reason says why; the context stays usable.  conf asks for
 * confidentiality; *conf_state tells whether it was applied.
 */
int sectx_gss_wrap(struct sectx_gss_ctx *ctx, bool conf, const uint8_t *in, size_t inlen,
		   TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen, bool *conf_state,
		   char **reason);
int sectx_gss_unwrap(struct sectx_gss_ctx *ctx, const uint8_t *in, size_t inlen,
		     TALLOC_CTX *mem_ctx, uint8_t **out, size_t *outlen, bool *conf_state,
		     char **reason);
int sectx_gss_get_mic(struct sectx_gss_ctx *ctx, const uint8_t *msg, size_t msglen,
		      TALLOC_CTX *mem_ctx, uint8_t **mic, size_t *miclen, char **reason);
int sectx_gss_verify_mic(struct sectx_gss_ctx *ctx, const uint8_t *msg, size_t msglen,
			 const uint8_t *mic, size_t miclen, TALLOC_CTX *mem_ctx, char **reason);

/* "major text; minor text" for a GSS status pair (mech may be NULL), as a
 * child of mem_ctx.  Never NULL unless out of memory. */
char *sectx_gss_status_text(TALLOC_CTX *mem_ctx, uint32_t major, uint32_t minor,
			    const void *mech_oid);

#endif /* SECTX_GSS_CTX_H */
