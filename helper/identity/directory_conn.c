/*
 * identity/directory_conn.c - one connection attempt to a directory server,
 * on a short-lived thread of its own so the event loop never waits for it:
 * connect (bounded by the timeout), StartTLS for ldap:// (ldaps:// is TLS
 * from the start), then the bind: SASL/GSSAPI with a TGT got from the host
 * keytab into a MEMORY ccache that only this thread's GSS-API calls use
 * (gss_krb5_ccache_name: never KRB5CCNAME), a simple bind with a password
 * read from a root-only file (scrubbed at once), or none.  The handle is
 * handed back bound, its socket non-blocking, for directory.c's loop.
 *
 * Who reaches this: directory.c, when a lookup needs a server.  The
 * servers are the sysadmin's; what they send back is parsed by libldap.
 * Must never: bind or go on in plaintext when tls_require is on and TLS
 * could not be set up, accept a server certificate that does not verify,
 * let libldap canonicalise the host name (LDAP_OPT_X_SASL_NOCANON), or
 * leave the password in memory.
 */
#include "identity/directory_int.h"

#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <ldap.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/dns_srv.h"
#include "log.h"

#define DIR_CCACHE	 "MEMORY:sectxd_directory"
#define DIR_PASSWORD_MAX 1024u

struct dir_conn {
	struct dir_conn_params p;
	atomic_int refs; /* the thread and the loop */
	int fds[2];	 /* [0] the loop's, [1] the thread's */
	LDAP *ld;
	int err;
	char why[2560];
};

static void conn_unref(struct dir_conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1) {
		return;
	}
	if (c->ld != NULL) {
		ldap_unbind_ext_s(c->ld, NULL, NULL);
	}
	if (c->fds[0] >= 0) {
		close(c->fds[0]);
	}
	if (c->fds[1] >= 0) {
		close(c->fds[1]);
	}
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* A TGT for the host's keytab principal in DIR_CCACHE. */
static int get_tgt(struct dir_conn *c)
{
	krb5_context kc = NULL;
	krb5_keytab kt = NULL;
	krb5_ccache cc = NULL;
	krb5_principal princ = NULL;
	krb5_creds creds;
	krb5_get_init_creds_opt *opt = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry ent;
	krb5_error_code kr;
	bool have_creds = false;
	int ret = -EACCES;

	memset(&creds, 0, sizeof(creds));
	if (krb5_init_context(&kc) != 0) {
		snprintf(c->why, sizeof(c->why), "cannot initialise Kerberos");
		return -ENOMEM;
	}
	kr = krb5_kt_resolve(kc, c->p.keytab, &kt);
	if (kr == 0 && c->p.principal[0] != '\0') {
		kr = krb5_parse_name(kc, c->p.principal, &princ);
	} else if (kr == 0) {
		/* the first entry of the realm */
		kr = krb5_kt_start_seq_get(kc, kt, &cur);
		while (kr == 0 && princ == NULL && krb5_kt_next_entry(kc, kt, &ent, &cur) == 0) {
			if (ent.principal->realm.length == strlen(c->p.realm) &&
			    memcmp(ent.principal->realm.data, c->p.realm,
				   ent.principal->realm.length) == 0) {
				kr = krb5_copy_principal(kc, ent.principal, &princ);
			}
			krb5_free_keytab_entry_contents(kc, &ent);
		}
		if (kr == 0) {
			krb5_kt_end_seq_get(kc, kt, &cur);
			if (princ == NULL) {
				kr = KRB5_KT_NOTFOUND;
			}
		}
	}
	if (kr == 0) {
		kr = krb5_get_init_creds_opt_alloc(kc, &opt);
	}
	if (kr == 0) {
		krb5_get_init_creds_opt_set_forwardable(opt, 0);
		kr = krb5_get_init_creds_keytab(kc, &creds, princ, kt, 0, NULL, opt);
		have_creds = kr == 0;
	}
	if (kr == 0) {
		kr = krb5_cc_resolve(kc, DIR_CCACHE, &cc);
	}
	if (kr == 0) {
		kr = krb5_cc_initialize(kc, cc, princ);
	}
	if (kr == 0) {
		kr = krb5_cc_store_cred(kc, cc, &creds);
	}
	if (kr != 0) {
		const char *m = krb5_get_error_message(kc, kr);

		snprintf(c->why, sizeof(c->why), "no TGT from the keytab %s: %s", c->p.keytab, m);
		krb5_free_error_message(kc, m);
		goto done;
	}
	ret = 0;
done:
	if (have_creds) {
		krb5_free_cred_contents(kc, &creds);
	}
	if (opt != NULL) {
		krb5_get_init_creds_opt_free(kc, opt);
	}
	if (cc != NULL) {
		krb5_cc_close(kc, cc);
	}
	if (princ != NULL) {
		krb5_free_principal(kc, princ);
	}
	if (kt != NULL) {
		krb5_kt_close(kc, kt);
	}
	krb5_free_context(kc);
	return ret;
}

/* SASL interaction: GSSAPI needs nothing; defaults everywhere. */
static int sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	sasl_interact_t *it;

	for (it = in; it->id != SASL_CB_LIST_END; it++) {
		it->result = it->defresult != NULL ? it->defresult : "";
		it->len = (unsigned)strlen(it->result);
	}
	return LDAP_SUCCESS;
}

/* The password of a simple bind: a regular file owned by root (or our
 * euid), not readable by group or other; its first line. */
static int read_password(struct dir_conn *c, char *pw, size_t pwsz)
{
	struct stat sb;
	ssize_t n;
	int fd, ret = -EACCES;

	fd = open(c->p.password_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		snprintf(c->why, sizeof(c->why), "cannot open bind_password_file %s: %s",
			 c->p.password_file, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (sb.st_uid != 0 && sb.st_uid != geteuid()) || (sb.st_mode & 077) != 0) {
		snprintf(c->why, sizeof(c->why),
			 "bind_password_file %s must be a regular file of root, mode 0600 or "
			 "stricter",
			 c->p.password_file);
		goto done;
	}
	n = read(fd, pw, pwsz - 1);
	if (n < 0) {
		snprintf(c->why, sizeof(c->why), "cannot read bind_password_file %s",
			 c->p.password_file);
		goto done;
	}
	pw[n] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	ret = 0;
done:
	close(fd);
	return ret;
}

static void ldap_why(struct dir_conn *c, const char *what, int rc)
{
	char *diag = NULL;

	if (c->ld != NULL) {
		ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	}
	snprintf(c->why, sizeof(c->why), "%s: %s%s%.200s", what, ldap_err2string(rc),
		 diag != NULL && diag[0] != '\0' ? ": " : "", diag != NULL ? diag : "");
	ldap_memfree(diag);
	/* the server's text goes to the log: printable ASCII only */
	for (char *p = c->why; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			*p = '?';
		}
	}
}

static int conn_open(struct dir_conn *c)
{
	struct timeval tv = {.tv_sec = (time_t)(c->p.timeout_ms / 1000),
			     .tv_usec = (suseconds_t)((c->p.timeout_ms % 1000) * 1000)};
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc, fd = -1;
	bool ldaps = strncmp(c->p.uri, "ldaps://", 8) == 0;

	rc = ldap_initialize(&c->ld, c->p.uri);
	if (rc != LDAP_SUCCESS) {
		ldap_why(c, "bad URI", rc);
		return -EINVAL;
	}
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
	    (c->p.cacert[0] != '\0' &&
	     ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, c->p.cacert) != LDAP_OPT_SUCCESS) ||
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
		snprintf(c->why, sizeof(c->why), "cannot set the LDAP options");
		return -EINVAL;
	}
	rc = ldap_connect(c->ld);
	if (rc != LDAP_SUCCESS) {
		ldap_why(c, "cannot connect", rc);
		return -EHOSTUNREACH;
	}
	if (!ldaps) {
		rc = ldap_start_tls_s(c->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS && c->p.tls_require) {
			ldap_why(c, "StartTLS failed and tls_require is on", rc);
			return -EPROTO;
		}
		if (rc != LDAP_SUCCESS) {
			/* a failed StartTLS leaves the connection unusable: plaintext
			 * from a new one, as the sysadmin allowed */
			ldap_unbind_ext_s(c->ld, NULL, NULL);
			c->ld = NULL;
			if (ldap_initialize(&c->ld, c->p.uri) != LDAP_SUCCESS ||
			    ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) !=
				LDAP_OPT_SUCCESS ||
			    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) !=
				LDAP_OPT_SUCCESS ||
			    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) !=
				LDAP_OPT_SUCCESS ||
			    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
			    ldap_set_option(c->ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON) !=
				LDAP_OPT_SUCCESS ||
			    ldap_connect(c->ld) != LDAP_SUCCESS) {
				snprintf(c->why, sizeof(c->why), "cannot reconnect in plaintext");
				return -EHOSTUNREACH;
			}
		}
	}
	if (c->p.bind == SECTX_DIR_BIND_SIMPLE) {
		char pw[DIR_PASSWORD_MAX];
		struct berval cred;
		int ret = read_password(c, pw, sizeof(pw));

		if (ret != 0) {
			explicit_bzero(pw, sizeof(pw));
			return ret;
		}
		cred.bv_val = pw;
		cred.bv_len = strlen(pw);
		rc = ldap_sasl_bind_s(c->ld, c->p.bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
				      NULL);
		explicit_bzero(pw, sizeof(pw));
		if (rc != LDAP_SUCCESS) {
			ldap_why(c, "simple bind refused", rc);
			return -EACCES;
		}
	} else if (c->p.bind == SECTX_DIR_BIND_GSSAPI) {
		OM_uint32 minor;
		int ret = get_tgt(c);

		if (ret != 0) {
			return ret;
		}
		if (gss_krb5_ccache_name(&minor, DIR_CCACHE, NULL) != GSS_S_COMPLETE) {
			snprintf(c->why, sizeof(c->why), "cannot select the directory ccache");
			return -EACCES;
		}
		rc = ldap_sasl_interactive_bind_s(c->ld, NULL, "GSSAPI", NULL, NULL,
						  LDAP_SASL_QUIET, sasl_interact, NULL);
		if (rc != LDAP_SUCCESS) {
			ldap_why(c, "SASL/GSSAPI bind refused", rc);
			return -EACCES;
		}
	}
	if (ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) {
		snprintf(c->why, sizeof(c->why), "no socket after the bind");
		return -EIO;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* The servers _ldap._tcp.<srv_domain> names, in the order to try them. */
static int srv_lookup(struct dir_conn *c, struct sectx_srv *out, size_t *n)
{
	char qname[300];
	int ret;

	snprintf(qname, sizeof(qname), "_ldap._tcp.%s", c->p.srv_domain);
	ret = sectx_srv_query(qname, out, SECTX_SRV_MAX, n);
	if (ret == -EIO) {
		snprintf(c->why, sizeof(c->why), "cannot initialise the resolver");
	} else if (ret != 0) {
		snprintf(c->why, sizeof(c->why), "no usable DNS SRV records for %s", qname);
	}
	return ret;
}

/* Discovery: each server SRV names, in order, until one binds. */
static int conn_discover(struct dir_conn *c)
{
	struct sectx_srv srv[SECTX_SRV_MAX];
	size_t n = 0, i;
	int ret = srv_lookup(c, srv, &n);

	for (i = 0; ret == 0 && i < n; i++) {
		snprintf(c->p.uri, sizeof(c->p.uri), "ldap://%.255s:%u", srv[i].target,
			 (unsigned)srv[i].port);
		ret = conn_open(c);
		if (ret == 0) {
			return 0;
		}
		SECTX_DEBUG("directory: %s (from DNS SRV) failed: %s", c->p.uri, c->why);
		if (c->ld != NULL) {
			ldap_unbind_ext_s(c->ld, NULL, NULL);
			c->ld = NULL;
		}
		if (i + 1 < n) {
			ret = 0; /* the next one */
		}
	}
	return ret;
}

static void *conn_thread(void *arg)
{
	struct dir_conn *c = arg;
	char b = 1;

	c->err = c->p.uri[0] == '\0' ? conn_discover(c) : conn_open(c);
	if (c->err != 0 && c->ld != NULL) {
		ldap_unbind_ext_s(c->ld, NULL, NULL);
		c->ld = NULL;
	}
	(void)send(c->fds[1], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_unref(c);
	return NULL;
}

int dir_conn_start(const struct dir_conn_params *p, struct dir_conn **out, int *done_fd)
{
	struct dir_conn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (c == NULL) {
		return -ENOMEM;
	}
	c->p = *p;
	c->fds[0] = c->fds[1] = -1;
	atomic_init(&c->refs, 2);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->fds) != 0) {
		ret = -errno;
		free(c);
		return ret;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&t, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (ret != 0) {
		atomic_store(&c->refs, 1);
		conn_unref(c);
		return -ret;
	}
	*out = c;
	*done_fd = c->fds[0];
	return 0;
}

int dir_conn_finish(struct dir_conn *c, void **ld, char *uri, size_t urilen, char *why,
		    size_t whylen)
{
	int ret = c->err;

	*ld = NULL;
	snprintf(uri, urilen, "%s", c->p.uri);
	snprintf(why, whylen, "%s", c->why);
	if (ret == 0) {
		*ld = c->ld;
		c->ld = NULL;
	}
	conn_unref(c);
	return ret;
}

void dir_conn_abandon(struct dir_conn *c)
{
	conn_unref(c);
}
