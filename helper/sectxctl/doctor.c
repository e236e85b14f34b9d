/*
 * sectxctl/doctor.c - doctor [USER]: walk the path of a login and stop at
 * the first failing step with the reason and the fix.
 *
 * Steps, in order: the configuration is valid; sectxd answers and its socket
 * directory is root's; nsswitch.conf lists sectx after files; NSS resolves
 * the user (and through which module); the PAM services include pam_sectx;
 * krb5.conf is readable and names a KDC; the KDC answers, the clocks agree;
 * the keytab is root's, holds the host principal at the KDC's kvno; a
 * validation exchange succeeds; FAST is available; [access] admits the
 * user; the user has a usable home and shell.  Kerberos steps need root
 * (the keytab is root's): as another user they are warned about and skipped.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <talloc.h>
#include <unistd.h>

#include "doctor.h"

static const char *const result_names[] = {"ok", "warn", "FAIL", "skip"};

bool doctor_report(struct doctor *d, const char *step, enum doctor_result r, const char *fix,
		   const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (d->json) {
		out_obj_begin(&d->o, NULL);
		out_str(&d->o, "step", step);
		out_str(&d->o, "result", result_names[r]);
		out_str(&d->o, "detail", what);
		if (fix != NULL && (r == DOCTOR_FAIL || r == DOCTOR_WARN)) {
			out_str(&d->o, "fix", fix);
		}
		out_obj_end(&d->o);
	} else {
		printf("%-4s  %-10s %s\n", result_names[r], step, what);
		if (fix != NULL && (r == DOCTOR_FAIL || r == DOCTOR_WARN)) {
			printf("      %-10s fix: %s\n", "", fix);
		}
	}
	if (r == DOCTOR_FAIL) {
		snprintf(d->failed_step, sizeof(d->failed_step), "%s", step);
		return false;
	}
	return true;
}

int doctor_path(const struct doctor *d, const char *path, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s%s", d->root, path);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static bool step_config(struct doctor *d, TALLOC_CTX *mem)
{
	struct sectx_config_errors *errs = NULL;
	const char *path = d->ctl->config_path;
	char fix[PATH_MAX + 64];
	int ret;

	ret = sectx_config_load_file(mem, path, &d->cfg, &errs);
	snprintf(fix, sizeof(fix), "sectxctl check-config %s names each problem", path);
	if (ret != 0) {
		if (errs != NULL && errs->count > 0) {
			return doctor_report(d, "config", DOCTOR_FAIL, fix, "%s:%u: %s", path,
					     errs->items[0].line, errs->items[0].message);
		}
		return doctor_report(d, "config", DOCTOR_FAIL,
				     "create it from the commented example (sectx.conf(5))",
				     "%s: %s", path, strerror(-ret));
	}
	return doctor_report(d, "config", DOCTOR_OK, NULL, "%s is valid", path);
}

static bool step_sectxd(struct doctor *d)
{
	const char *dir = d->ctl->socket_dir;
	char realm[SECTX_NAME_MAX + 1];
	struct stat st;
	int ret;

	ret = ctl_simple(d->ctl, SECTX_OP_STATUS);
	if (ret != EXIT_OK) {
		return doctor_report(d, "sectxd", DOCTOR_FAIL,
				     "start it: systemctl start sectxd (its log: journalctl -u "
				     "sectxd)",
				     "%s", d->ctl->last_error);
	}
	ctl_reply_string(d->ctl, SECTX_TAG_REALM, realm, sizeof(realm));
	if (d->realm[0] == '\0') {
		snprintf(d->realm, sizeof(d->realm), "%s", realm);
	}
	if (stat(dir, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		return doctor_report(d, "sectxd", DOCTOR_FAIL, "chown root: and chmod 0755 it",
				     "socket directory %s is not root's 0755", dir);
	}
	return doctor_report(d, "sectxd", DOCTOR_OK, NULL,
			     "answers on %s/pam.sock (directory root-owned), realm %s", dir,
			     realm[0] != '\0' ? realm : "(none)");
}

static bool step_nss_user(struct doctor *d)
{
	struct sectx_wbuf w;
	char source[64] = "";
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(d->user);
	if (pw == NULL) {
		return doctor_report(d, "nss-user", DOCTOR_FAIL,
				     "check that the realm knows the principal (kadmin getprinc) "
				     "and see sectxctl user NAME",
				     "getpwnam(%s) finds no user%s%s", d->user,
				     errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	}
	ctl_begin(d->ctl, &w, SECTX_OP_ID_INFO);
	sectx_put_u32(&w, SECTX_TAG_ID_KIND, SECTX_ID_INFO_USER);
	sectx_put_string(&w, SECTX_TAG_NAME, d->user);
	if (ctl_finish(d->ctl, &w) == EXIT_OK) {
		ctl_reply_string(d->ctl, SECTX_TAG_SOURCE, source, sizeof(source));
	}
	if (strcmp(source, "static") == 0 || strcmp(source, "auto") == 0) {
		return doctor_report(
		    d, "nss-user", DOCTOR_OK, NULL, "%s is uid %u through sectx (%s)", d->user,
		    (unsigned)pw->pw_uid,
		    strcmp(source, "static") == 0 ? "static file" : "auto mapping");
	}
	return doctor_report(d, "nss-user", DOCTOR_OK, NULL,
			     "%s is uid %u through another module (files?): a local account",
			     d->user, (unsigned)pw->pw_uid);
}

static bool in_list(const char **list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static bool step_access(struct doctor *d)
{
	const struct sectx_config *cfg = d->cfg;
	gid_t groups[256];
	int n = 256, i;
	struct passwd *pw;
	struct group *gr;

	if (cfg->access.n_allow_users == 0 && cfg->access.n_allow_groups == 0) {
		return doctor_report(d, "access", DOCTOR_OK, NULL,
				     "[access] is empty: every realm user is admitted");
	}
	if (in_list(cfg->access.allow_users, cfg->access.n_allow_users, d->user)) {
		return doctor_report(d, "access", DOCTOR_OK, NULL, "%s is in allow_users", d->user);
	}
	pw = getpwnam(d->user);
	if (pw != NULL && getgrouplist(d->user, pw->pw_gid, groups, &n) >= 0) {
		for (i = 0; i < n; i++) {
			gr = getgrgid(groups[i]);
			if (gr != NULL && in_list(cfg->access.allow_groups,
						  cfg->access.n_allow_groups, gr->gr_name)) {
				return doctor_report(d, "access", DOCTOR_OK, NULL,
						     "%s is in group %s of allow_groups", d->user,
						     gr->gr_name);
			}
		}
	}
	return doctor_report(d, "access", DOCTOR_FAIL,
			     "add the user to [access] allow_users, or to a group of "
			     "allow_groups, in the config",
			     "[access] does not admit %s (neither allow_users nor its groups)",
			     d->user);
}

static bool step_home_shell(struct doctor *d)
{
	char shells[PATH_MAX], line[PATH_MAX];
	struct passwd *pw = getpwnam(d->user);
	bool listed = false;
	struct stat st;
	FILE *f;

	if (pw == NULL) {
		return doctor_report(d, "home", DOCTOR_FAIL, NULL, "%s vanished", d->user);
	}
	if (stat(pw->pw_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		doctor_report(d, "home", DOCTOR_WARN,
			      "create it, or add pam_mkhomedir.so to the session stack",
			      "home %s does not exist", pw->pw_dir);
	} else if (st.st_uid != pw->pw_uid) {
		doctor_report(d, "home", DOCTOR_WARN, "chown it to the user",
			      "home %s belongs to uid %u, not %u", pw->pw_dir, (unsigned)st.st_uid,
			      (unsigned)pw->pw_uid);
	} else {
		doctor_report(d, "home", DOCTOR_OK, NULL, "home %s is the user's", pw->pw_dir);
	}
	if (access(pw->pw_shell, X_OK) != 0) {
		return doctor_report(d, "shell", DOCTOR_FAIL,
				     "set [identity] shell (or the static entry) to an installed "
				     "shell",
				     "shell %s is not executable: %s", pw->pw_shell,
				     strerror(errno));
	}
	if (doctor_path(d, "/etc/shells", shells, sizeof(shells)) == 0 &&
	    (f = fopen(shells, "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			listed = listed || strcmp(line, pw->pw_shell) == 0;
		}
		fclose(f);
		if (!listed) {
			return doctor_report(d, "shell", DOCTOR_WARN,
					     "add it to /etc/shells (sshd and su refuse others)",
					     "shell %s is not in %s", pw->pw_shell, shells);
		}
	}
	return doctor_report(d, "shell", DOCTOR_OK, NULL, "shell %s", pw->pw_shell);
}

static int cmd_doctor(struct ctl *ctl, int argc, char **argv)
{
	struct doctor d = {.ctl = ctl};
	TALLOC_CTX *mem;
	bool go;
	int ret, i;

	ret = ctl_common_opts(ctl, &argc, argv, &d.json);
	if (ret >= 0) {
		return ret;
	}
	d.root = secure_getenv("SECTX_DOCTOR_ROOT");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
			d.root = argv[++i];
		} else if (argv[i][0] != '-' && d.user == NULL) {
			d.user = argv[i];
		} else {
			return ctl_usage_error(ctl, "unexpected argument");
		}
	}
	if (d.root == NULL || strcmp(d.root, "/") == 0) {
		d.root = "";
	}
	mem = talloc_new(NULL);
	if (mem == NULL) {
		return EXIT_FAILED;
	}
	ctl->quiet_errors = true;
	out_begin(&d.o, stdout, d.json);
	if (d.json) {
		out_str(&d.o, "user", d.user);
		out_arr_begin(&d.o, "steps");
	}
	go = step_config(&d, mem);
	if (go && d.cfg->kerberos.realm[0] != '\0') {
		snprintf(d.realm, sizeof(d.realm), "%s", d.cfg->kerberos.realm);
	}
	go = go && step_sectxd(&d);
	go = go && doctor_nsswitch(&d);
	go = go && (d.user == NULL || step_nss_user(&d));
	go = go && doctor_pam_services(&d);
	go = go && doctor_krb5(&d);
	go = go && (d.user == NULL || step_access(&d));
	go = go && (d.user == NULL || step_home_shell(&d));
	if (d.json) {
		out_arr_end(&d.o);
		out_str(&d.o, "failed_step", d.failed_step[0] != '\0' ? d.failed_step : NULL);
		out_end(&d.o);
	} else if (go) {
		printf("no problem found%s\n",
		       d.user == NULL ? " (give a USER to check a login)" : "");
	}
	doctor_krb5_free(&d);
	talloc_free(mem);
	return go ? EXIT_OK : EXIT_FAILED;
}

const struct command sectxctl_doctor_commands[] = {
    {"doctor", "doctor [--json] [--root DIR] [USER]",
     "Walk the path of a login and stop at the first failing step with the reason and\n"
     "the fix; each step prints ok, FAIL or warn.  Steps: config, sectxd, nsswitch,\n"
     "nss-user, pam, krb5.conf, kdc, clock, keytab, kvno, validation, fast, access,\n"
     "home, shell (the user steps need USER; the Kerberos steps need root).  --root DIR\n"
     "(or SECTX_DOCTOR_ROOT) prefixes the /etc paths read.  Exit 0 if nothing failed, 1\n"
     "at a FAIL.\n",
     cmd_doctor},
    {NULL, NULL, NULL, NULL},
};
