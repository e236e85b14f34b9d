/*
 * login/keytab.c - the host keys a login validates with: the principals of a
 * realm in the keytab, host/ ones first.
 *
 * Who reaches this: the engine (login.c, for validation and FAST armour) and,
 * through sectx_keytab_first_principal, the ops that accept with the host's
 * own key (authentication by existing tickets).  It reads the keytab root
 * configured and returns principal names only: it must never hand out or log
 * a key.
 */
#include "login/login_int.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* --- the keytab ------------------------------------------------------------ */

/* Principals of realm in the keytab, host/ ones first.  Returns 0 and a
 * talloc array (each entry freed by the caller's krb5 cleanup: see
 * sectx_free_principals) or a krb5 error. */
krb5_error_code sectx_keytab_principals(TALLOC_CTX *mem_ctx, krb5_context ctx, krb5_keytab kt,
					const krb5_data *realm, krb5_principal **out, size_t *n_out)
{
	krb5_kt_cursor cursor;
	krb5_keytab_entry entry;
	krb5_principal *list = NULL;
	size_t n = 0, i;
	krb5_error_code kerr;

	kerr = krb5_kt_start_seq_get(ctx, kt, &cursor);
	if (kerr != 0) {
		return kerr;
	}
	while (krb5_kt_next_entry(ctx, kt, &entry, &cursor) == 0) {
		bool seen = false;

		if (entry.principal->realm.length == realm->length &&
		    memcmp(entry.principal->realm.data, realm->data, realm->length) == 0) {
			for (i = 0; i < n && !seen; i++) {
				seen = krb5_principal_compare(ctx, list[i], entry.principal);
			}
			if (!seen && n < 64) {
				krb5_principal *grown =
				    talloc_realloc(mem_ctx, list, krb5_principal, n + 1);

				if (grown != NULL) {
					list = grown;
					if (krb5_copy_principal(ctx, entry.principal, &list[n]) ==
					    0) {
						n++;
					}
				}
			}
		}
		krb5_free_keytab_entry_contents(ctx, &entry);
	}
	krb5_kt_end_seq_get(ctx, kt, &cursor);
	/* host/ principals first: that is what a login host is */
	for (i = 1; i < n; i++) {
		krb5_principal p = list[i];
		size_t j = i;

		if (p->length < 1 || p->data[0].length != 4 || memcmp(p->data[0].data, "host", 4)) {
			continue;
		}
		while (j > 0 && !(list[j - 1]->length >= 1 && list[j - 1]->data[0].length == 4 &&
				  memcmp(list[j - 1]->data[0].data, "host", 4) == 0)) {
			list[j] = list[j - 1];
			j--;
		}
		list[j] = p;
	}
	*out = list;
	*n_out = n;
	return 0;
}

void sectx_free_principals(krb5_context ctx, krb5_principal *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		krb5_free_principal(ctx, list[i]);
	}
	talloc_free(list);
}

krb5_error_code sectx_keytab_first_principal(krb5_context ctx, const char *keytab,
					     const char *realm, krb5_principal *out)
{
	krb5_data r = {
	    .magic = KV5M_DATA, .length = (unsigned int)strlen(realm), .data = (char *)realm};
	krb5_principal *list = NULL;
	krb5_keytab kt = NULL;
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	size_t n = 0;
	krb5_error_code kerr;

	*out = NULL;
	if (tmp_ctx == NULL) {
		return ENOMEM;
	}
	kerr = krb5_kt_resolve(ctx, keytab, &kt);
	if (kerr == 0) {
		kerr = sectx_keytab_principals(tmp_ctx, ctx, kt, &r, &list, &n);
	}
	if (kerr == 0) {
		kerr = n > 0 ? krb5_copy_principal(ctx, list[0], out) : KRB5_KT_NOTFOUND;
	}
	sectx_free_principals(ctx, list, n);
	if (kt != NULL) {
		krb5_kt_close(ctx, kt);
	}
	talloc_free(tmp_ctx);
	return kerr;
}
