/*
 * sectxctl/doctor_krb5.c - doctor's Kerberos steps: krb5.conf, the KDC and
 * its round trip, the clocks, the keytab and its kvno, a validation
 * exchange, FAST.
 *
 * Needs root: it reads the host keytab (as sectxd does) to get a TGT for the
 * host principal with a real AS exchange, and a service ticket for the host
 * principal with a real TGS exchange.  Nothing is written: the tickets live
 * in a MEMORY ccache destroyed at the end.  Keys never leave libkrb5.
 */
#include <errno.h>
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "doctor.h"

#define SKEW_MAX_S 300 /* libkrb5's default clockskew */

struct dk {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal host;
	krb5_ccache cc; /* MEMORY: the host TGT */
	krb5_creds creds;
	bool have_creds;
	char host_name[SECTX_NAME_MAX + 1];
	char keytab[PATH_MAX];
	char kdc[128]; /* the KDC that answered, from libkrb5's trace */
};

/* libkrb5's trace: remember which KDC answered last. */
static void trace_cb(krb5_context ctx, const krb5_trace_info *info, void *data)
{
	struct dk *k = data;
	const char *p;

	(void)ctx;
	if (info == NULL || info->message == NULL) {
		return;
	}
	p = strstr(info->message, "Received answer");
	if (p != NULL && (p = strstr(p, " from ")) != NULL) {
		/* "dgram 127.0.0.1:88", "stream [::1]:88" */
		snprintf(k->kdc, sizeof(k->kdc), "%.*s", (int)strcspn(p + 6, "\r\n"), p + 6);
	}
}

static void krb5_err(struct dk *k, krb5_error_code code, char *out, size_t outsz)
{
	const char *m = krb5_get_error_message(k->ctx, code);

	snprintf(out, outsz, "%s", m != NULL ? m : "unknown error");
	krb5_free_error_message(k->ctx, m);
}

/* The KDCs krb5.conf names for realm ([realms] REALM = { kdc = ... }). */
static size_t conf_kdcs(const char *path, const char *realm, char *out, size_t outsz)
{
	char line[1024], *p;
	bool in_realms = false, in_realm = false;
	size_t n = 0;
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f == NULL) {
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "#;\r\n")] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++) {
		}
		if (*p == '[') {
			in_realms = strncmp(p, "[realms]", 8) == 0;
			in_realm = false;
		} else if (in_realms && !in_realm && strncmp(p, realm, strlen(realm)) == 0 &&
			   strchr(p, '{') != NULL) {
			in_realm = true;
		} else if (in_realm && *p == '}') {
			in_realm = false;
		} else if (in_realm && strncmp(p, "kdc", 3) == 0 && (p = strchr(p, '=')) != NULL) {
			for (p++; *p == ' ' || *p == '\t'; p++) {
			}
			snprintf(out + strlen(out), outsz - strlen(out), "%s%s", n > 0 ? ", " : "",
				 p);
			n++;
		}
	}
	fclose(f);
	return n;
}

static bool step_krb5_conf(struct doctor *d, char *path, size_t pathsz)
{
	const char *env = getenv("KRB5_CONFIG");
	char kdcs[512];
	struct stat st;

	if (env != NULL && env[0] != '\0') {
		snprintf(path, pathsz, "%.*s", (int)strcspn(env, ":"), env);
	} else if (doctor_path(d, "/etc/krb5.conf", path, pathsz) != 0) {
		return doctor_report(d, "krb5.conf", DOCTOR_FAIL, NULL, "path too long");
	}
	if (stat(path, &st) != 0) {
		return doctor_report(d, "krb5.conf", DOCTOR_FAIL,
				     "install it with [libdefaults] default_realm and the "
				     "realm's kdc in [realms]",
				     "%s: %s", path, strerror(errno));
	}
	if ((st.st_mode & S_IROTH) == 0) {
		doctor_report(d, "krb5.conf", DOCTOR_WARN, "chmod 0644 it",
			      "%s is not readable by users (mode %04o): kinit and klist fail for "
			      "them",
			      path, (unsigned)(st.st_mode & 07777));
	}
	if (conf_kdcs(path, d->realm, kdcs, sizeof(kdcs)) == 0) {
		return doctor_report(d, "krb5.conf", DOCTOR_WARN,
				     "add \"kdc = HOST\" to the realm in [realms], unless DNS SRV "
				     "records name the KDCs",
				     "%s names no KDC for %s", path, d->realm);
	}
	return doctor_report(d, "krb5.conf", DOCTOR_OK, NULL, "%s: %s has kdc %s", path, d->realm,
			     kdcs);
}

/* The host principal: [identity] host_principal, else the keytab's first
 * entry of the realm (as sectxd picks it). */
static krb5_error_code find_host(struct doctor *d, struct dk *k)
{
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	krb5_error_code code;
	char *name = NULL;

	if (d->cfg->identity.host_principal[0] != '\0') {
		return krb5_parse_name(k->ctx, d->cfg->identity.host_principal, &k->host);
	}
	code = krb5_kt_start_seq_get(k->ctx, k->kt, &cur);
	if (code != 0) {
		return code;
	}
	code = KRB5_KT_NOTFOUND;
	while (krb5_kt_next_entry(k->ctx, k->kt, &e, &cur) == 0) {
		if (e.principal->realm.length == strlen(d->realm) &&
		    memcmp(e.principal->realm.data, d->realm, strlen(d->realm)) == 0) {
			code = krb5_copy_principal(k->ctx, e.principal, &k->host);
			krb5_free_keytab_entry_contents(k->ctx, &e);
			break;
		}
		krb5_free_keytab_entry_contents(k->ctx, &e);
	}
	krb5_kt_end_seq_get(k->ctx, k->kt, &cur);
	if (code == 0 && krb5_unparse_name(k->ctx, k->host, &name) == 0) {
		snprintf(k->host_name, sizeof(k->host_name), "%s", name);
		krb5_free_unparsed_name(k->ctx, name);
	}
	return code;
}

/* The newest kvno of the host principal in the keytab (0: none). */
static unsigned keytab_kvno(struct dk *k)
{
	krb5_keytab_entry e;
	unsigned kvno;

	if (krb5_kt_get_entry(k->ctx, k->kt, k->host, 0, 0, &e) != 0) {
		return 0;
	}
	kvno = e.vno;
	krb5_free_keytab_entry_contents(k->ctx, &e);
	return kvno;
}

/* The AS exchange with the host key: the KDC, the clocks, the keytab. */
static bool step_as(struct doctor *d, struct dk *k)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_error_code code;
	char msg[512], fix[PATH_MAX + SECTX_NAME_MAX + 256];
	int64_t t0, ms, skew;

	if (krb5_get_init_creds_opt_alloc(k->ctx, &opt) != 0) {
		return doctor_report(d, "kdc", DOCTOR_FAIL, NULL, "out of memory");
	}
	krb5_get_init_creds_opt_set_tkt_life(opt, 600);
	t0 = sectx_now_ms();
	code = krb5_get_init_creds_keytab(k->ctx, &k->creds, k->host, k->kt, 0, NULL, opt);
	ms = sectx_now_ms() - t0;
	krb5_get_init_creds_opt_free(k->ctx, opt);
	krb5_err(k, code, msg, sizeof(msg));
	if (code == KRB5_KDC_UNREACH || code == KRB5_REALM_CANT_RESOLVE ||
	    code == KRB5_REALM_UNKNOWN) {
		return doctor_report(d, "kdc", DOCTOR_FAIL,
				     "start the KDC, or fix the realm's kdc lines in krb5.conf and "
				     "the firewall (port 88 udp and tcp)",
				     "no KDC of %s answered within %lld ms: %s", d->realm,
				     (long long)ms, msg);
	}
	doctor_report(d, "kdc", DOCTOR_OK, NULL, "%s answered in %lld ms",
		      k->kdc[0] != '\0' ? k->kdc : "a KDC", (long long)ms);
	if (code == KRB5KRB_AP_ERR_SKEW || code == KRB5_KDCREP_SKEW) {
		return doctor_report(d, "clock", DOCTOR_FAIL,
				     "synchronise the clock (chrony, systemd-timesyncd) with the "
				     "KDC's",
				     "the KDC refuses our time: %s", msg);
	}
	snprintf(fix, sizeof(fix),
		 "export the host key again: kadmin -q \"ktadd -k %s %s\" (this changes the "
		 "kvno) or restore the keytab that holds the KDC's current key",
		 k->keytab, k->host_name);
	if (code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN) {
		doctor_report(d, "clock", DOCTOR_SKIP, NULL, "not compared");
		return doctor_report(d, "keytab", DOCTOR_FAIL,
				     "add it: kadmin -q \"addprinc "
				     "-randkey HOST\" and ktadd",
				     "the KDC does not know %s", k->host_name);
	}
	if (code != 0) {
		doctor_report(d, "clock", DOCTOR_SKIP, NULL,
			      "not compared: no AS reply we could read");
		return doctor_report(
		    d, "kvno", DOCTOR_FAIL, fix,
		    "the KDC refuses the keytab's key of %s (kvno %u in the keytab: "
		    "%s): the key was changed at the KDC since the keytab was "
		    "written",
		    k->host_name, keytab_kvno(k), msg);
	}
	k->have_creds = true;
	skew = (int64_t)k->creds.times.authtime - (int64_t)time(NULL);
	if (skew > SKEW_MAX_S || skew < -SKEW_MAX_S) {
		return doctor_report(d, "clock", DOCTOR_FAIL,
				     "synchronise the clock (chrony, systemd-timesyncd) with the "
				     "KDC's",
				     "this host's clock is %lld s %s the KDC's (at most %d s "
				     "allowed)",
				     (long long)(skew < 0 ? -skew : skew),
				     skew < 0 ? "ahead of" : "behind", SKEW_MAX_S);
	}
	return doctor_report(d, "clock", DOCTOR_OK, NULL, "within %lld s of the KDC's",
			     (long long)(skew < 0 ? -skew : skew));
}

static bool step_keytab_file(struct doctor *d, struct dk *k)
{
	struct stat st;

	if (stat(k->keytab, &st) != 0) {
		return doctor_report(d, "keytab", DOCTOR_FAIL,
				     "export the host key: kadmin -q \"ktadd -k KEYTAB "
				     "host/FQDN\"",
				     "%s: %s", k->keytab, strerror(errno));
	}
	if (st.st_uid != 0 || (st.st_mode & 077) != 0) {
		return doctor_report(d, "keytab", DOCTOR_FAIL, "chown root: and chmod 0600 it",
				     "%s is readable by others than root (owner %u, mode %04o)",
				     k->keytab, (unsigned)st.st_uid,
				     (unsigned)(st.st_mode & 07777));
	}
	return true;
}

/* kvno: a TGS for the host principal, its kvno against the keytab's. */
static bool step_kvno(struct doctor *d, struct dk *k)
{
	krb5_creds in, *out = NULL;
	krb5_keytab_entry e;
	krb5_ticket *tkt = NULL;
	krb5_error_code code;
	char msg[512];
	unsigned kdc_kvno;
	bool go;

	memset(&in, 0, sizeof(in));
	code = krb5_cc_new_unique(k->ctx, "MEMORY", NULL, &k->cc);
	if (code == 0) {
		code = krb5_cc_initialize(k->ctx, k->cc, k->host);
	}
	if (code == 0) {
		code = krb5_cc_store_cred(k->ctx, k->cc, &k->creds);
	}
	in.client = k->host;
	in.server = k->host;
	if (code == 0) {
		code = krb5_get_credentials(k->ctx, 0, k->cc, &in, &out);
	}
	if (code == 0) {
		code = krb5_decode_ticket(&out->ticket, &tkt);
	}
	if (code != 0) {
		krb5_err(k, code, msg, sizeof(msg));
		krb5_free_creds(k->ctx, out);
		return doctor_report(d, "kvno", DOCTOR_FAIL, NULL, "no service ticket for %s: %s",
				     k->host_name, msg);
	}
	kdc_kvno = tkt->enc_part.kvno;
	code = krb5_kt_get_entry(k->ctx, k->kt, k->host, kdc_kvno, tkt->enc_part.enctype, &e);
	if (code != 0) {
		krb5_err(k, code, msg, sizeof(msg));
		go = doctor_report(d, "kvno", DOCTOR_FAIL,
				   "export the host key again (kadmin ktadd) so the keytab holds "
				   "the KDC's kvno",
				   "the KDC's kvno of %s is %u, the keytab has no such key: %s",
				   k->host_name, kdc_kvno, msg);
	} else {
		krb5_free_keytab_entry_contents(k->ctx, &e);
		go = doctor_report(d, "keytab", DOCTOR_OK, NULL, "%s is root's 0600 and holds %s",
				   k->keytab, k->host_name) &&
		     doctor_report(d, "kvno", DOCTOR_OK, NULL, "kvno %u, as at the KDC", kdc_kvno);
	}
	krb5_free_ticket(k->ctx, tkt);
	krb5_free_creds(k->ctx, out);
	return go;
}

static bool step_validation(struct doctor *d, struct dk *k)
{
	krb5_verify_init_creds_opt vopt;
	krb5_error_code code;
	char msg[512];

	krb5_verify_init_creds_opt_init(&vopt);
	krb5_verify_init_creds_opt_set_ap_req_nofail(&vopt, 1);
	code = krb5_verify_init_creds(k->ctx, &k->creds, k->host, k->kt, NULL, &vopt);
	if (code != 0) {
		krb5_err(k, code, msg, sizeof(msg));
		return doctor_report(
		    d, "validation", DOCTOR_FAIL, "export the host key again (kadmin ktadd)",
		    "a ticket for %s does not verify with the keytab: %s", k->host_name, msg);
	}
	return doctor_report(d, "validation", DOCTOR_OK, NULL,
			     "a ticket for %s verifies with the keytab", k->host_name);
}

static bool step_fast(struct doctor *d, struct dk *k)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_error_code code;
	krb5_creds creds;
	char msg[512], ccname[256];
	const char *type = krb5_cc_get_type(k->ctx, k->cc), *name = krb5_cc_get_name(k->ctx, k->cc);
	bool demand = d->cfg->kerberos.fast == SECTX_FAST_DEMAND;

	if (d->cfg->kerberos.fast == SECTX_FAST_NEVER) {
		return doctor_report(d, "fast", DOCTOR_OK, NULL, "[kerberos] fast = never");
	}
	snprintf(ccname, sizeof(ccname), "%s:%s", type, name);
	memset(&creds, 0, sizeof(creds));
	code = krb5_get_init_creds_opt_alloc(k->ctx, &opt);
	if (code == 0) {
		code = krb5_get_init_creds_opt_set_fast_ccache_name(k->ctx, opt, ccname);
	}
	if (code == 0) {
		code = krb5_get_init_creds_opt_set_fast_flags(k->ctx, opt, KRB5_FAST_REQUIRED);
	}
	if (code == 0) {
		code = krb5_get_init_creds_keytab(k->ctx, &creds, k->host, k->kt, 0, NULL, opt);
	}
	krb5_get_init_creds_opt_free(k->ctx, opt);
	if (code != 0) {
		krb5_err(k, code, msg, sizeof(msg));
		return doctor_report(
		    d, "fast", demand ? DOCTOR_FAIL : DOCTOR_WARN,
		    "enable FAST at the KDC (MIT: on by default since 1.11) or set "
		    "[kerberos] fast = try",
		    "an armoured AS exchange failed: %s", msg);
	}
	krb5_free_cred_contents(k->ctx, &creds);
	return doctor_report(d, "fast", DOCTOR_OK, NULL,
			     "an AS exchange armoured with the host "
			     "TGT succeeds");
}

bool doctor_krb5(struct doctor *d)
{
	struct dk *k = calloc(1, sizeof(*k));
	char conf[PATH_MAX], msg[512];
	krb5_error_code code;
	char *def = NULL;

	if (k == NULL) {
		return doctor_report(d, "krb5.conf", DOCTOR_FAIL, NULL, "out of memory");
	}
	d->krb5 = k;
	if (getenv("KRB5_CONFIG") == NULL && d->root[0] != '\0' &&
	    doctor_path(d, "/etc/krb5.conf", conf, sizeof(conf)) == 0) {
		setenv("KRB5_CONFIG", conf, 1);
	}
	code = krb5_init_context(&k->ctx);
	if (code != 0) {
		return doctor_report(d, "krb5.conf", DOCTOR_FAIL, "fix its syntax",
				     "libkrb5 cannot start: error %ld", (long)code);
	}
	if (d->realm[0] == '\0' && krb5_get_default_realm(k->ctx, &def) == 0) {
		snprintf(d->realm, sizeof(d->realm), "%s", def);
		krb5_free_default_realm(k->ctx, def);
	}
	if (d->realm[0] == '\0') {
		return doctor_report(d, "krb5.conf", DOCTOR_FAIL,
				     "set [kerberos] realm, or default_realm in krb5.conf",
				     "no realm configured");
	}
	if (!step_krb5_conf(d, conf, sizeof(conf))) {
		return false;
	}
	if (geteuid() != 0) {
		return doctor_report(d, "kdc", DOCTOR_WARN, "run sectxctl doctor as root",
				     "the KDC, clock, keytab, validation and FAST steps read the "
				     "host keytab: skipped");
	}
	snprintf(k->keytab, sizeof(k->keytab), "%s", d->cfg->kerberos.keytab);
	krb5_set_trace_callback(k->ctx, trace_cb, k);
	code = krb5_kt_resolve(k->ctx, k->keytab, &k->kt);
	if (code == 0) {
		code = find_host(d, k);
	}
	if (code != 0) {
		krb5_err(k, code, msg, sizeof(msg));
		if (!step_keytab_file(d, k)) {
			return false;
		}
		return doctor_report(d, "keytab", DOCTOR_FAIL,
				     "export the host key: kadmin -q \"ktadd -k KEYTAB host/FQDN\"",
				     "%s holds no key of %s: %s", k->keytab, d->realm, msg);
	}
	return step_as(d, k) && step_keytab_file(d, k) && step_kvno(d, k) &&
	       step_validation(d, k) && step_fast(d, k);
}

void doctor_krb5_free(struct doctor *d)
{
	struct dk *k = d->krb5;

	if (k == NULL) {
		return;
	}
	if (k->ctx != NULL) {
		if (k->have_creds) {
			krb5_free_cred_contents(k->ctx, &k->creds);
		}
		if (k->cc != NULL) {
			krb5_cc_destroy(k->ctx, k->cc);
		}
		if (k->kt != NULL) {
			krb5_kt_close(k->ctx, k->kt);
		}
		krb5_free_principal(k->ctx, k->host);
		krb5_free_context(k->ctx);
	}
	free(k);
	d->krb5 = NULL;
}
