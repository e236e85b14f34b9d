/*
 * login/context.c - the Kerberos engine as a sectxd subsystem: one krb5 context
 * for the helper's lifetime, its default realm kept in step with the config,
 * and the realm's state for `sectxctl status`.
 *
 * The context is created with krb5_init_context (not the secure variant) so
 * that KRB5_CONFIG in sectxd's environment is honoured: sectxd is started by
 * root, whose environment is trusted, and the tests depend on it.  Nothing
 * here talks to a KDC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "login/login.h"
#include "log.h"

static void set_realm(struct sectxd_ctx *hctx)
{
	if (hctx->realm != NULL && hctx->realm[0] != '\0') {
		krb5_error_code kerr = krb5_set_default_realm(hctx->krb5->ctx, hctx->realm);

		if (kerr != 0) {
			SECTX_WARN("cannot set the default realm to %s: error %d", hctx->realm,
				   (int)kerr);
		}
	}
}

void sectx_armor_release(struct sectx_armor *a)
{
	if (a == NULL || --a->refs > 0) {
		return;
	}
	krb5_cc_destroy(a->ctx, a->cc);
	free(a);
}

static int krb5_destructor(struct sectxd_krb5 *k)
{
	/* logins hold their own references: they end before the context */
	sectx_armor_release(k->armor);
	k->armor = NULL;
	if (k->ctx != NULL) {
		krb5_free_context(k->ctx);
	}
	return 0;
}

static int krb5_start(struct sectxd_ctx *hctx)
{
	struct sectxd_krb5 *k = talloc_zero(hctx, struct sectxd_krb5);
	krb5_error_code kerr;

	if (k == NULL) {
		return -ENOMEM;
	}
	kerr = krb5_init_context(&k->ctx);
	if (kerr != 0) {
		SECTX_ERROR("cannot initialise Kerberos (krb5.conf): error %d", (int)kerr);
		talloc_free(k);
		return -EINVAL;
	}
	talloc_set_destructor(k, krb5_destructor);
	hctx->krb5 = k;
	set_realm(hctx);
	if (hctx->realm == NULL || hctx->realm[0] == '\0') {
		SECTX_WARN("no realm: set [kerberos] realm or default_realm in krb5.conf");
	}
	return 0;
}

static void krb5_reloaded(struct sectxd_ctx *hctx)
{
	set_realm(hctx);
	/* krb5.conf may list other KDCs now */
	sectx_kdc_cache_flush(hctx->krb5);
	/* a new keytab or FAST mode: the armour ticket is obtained afresh (logins
	 * in flight keep the one they hold) */
	sectx_armor_release(hctx->krb5->armor);
	hctx->krb5->armor = NULL;
}

static void krb5_status(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	struct sectxd_krb5 *k = hctx->krb5;

	sectx_put_string(w, SECTX_TAG_KDC, k->last_kdc != NULL ? k->last_kdc : "");
	sectx_put_string(w, SECTX_TAG_KDC_ERROR, k->last_error != NULL ? k->last_error : "");
}

static void krb5_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->krb5);
}

const struct sectxd_subsystem sectxd_krb5_subsystem = {
    .name = "Kerberos engine",
    .start = krb5_start,
    .reloaded = krb5_reloaded,
    .status = krb5_status,
    .stop = krb5_stop,
};
