/*
 * core/daemon.c - what the daemon context computes from a configuration.
 *
 * Runs as root in sectxd; reads krb5.conf through libkrb5 and nothing a peer
 * chooses.
 */
#include <krb5.h>

#include "core/daemon.h"

char *sectxd_effective_realm(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg)
{
	krb5_context kctx = NULL;
	char *realm = NULL;
	char *result;

	if (cfg->kerberos.realm != NULL && cfg->kerberos.realm[0] != '\0') {
		return talloc_strdup(mem_ctx, cfg->kerberos.realm);
	}
	if (krb5_init_context(&kctx) == 0) {
		(void)krb5_get_default_realm(kctx, &realm); /* none: status says so */
	}
	result = talloc_strdup(mem_ctx, realm != NULL ? realm : "");
	if (realm != NULL) {
		krb5_free_default_realm(kctx, realm);
	}
	if (kctx != NULL) {
		krb5_free_context(kctx);
	}
	return result;
}
