/*
 * sectxctl/doctor_pam.c - doctor's reading of nsswitch.conf and of the PAM
 * service files (login, sshd, su), following @include, include and
 * substack the way libpam does.  Reads files only; root prefix per
 * doctor.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

#define PAM_LINES_MAX 256 /* rules kept from one service, includes followed */
#define PAM_DEPTH_MAX 8	  /* include nesting */

/* --- nsswitch.conf ------------------------------------------------------- */

/* The position of word in the sources of a database line (1-based), or 0. */
static int source_pos(const char *sources, const char *word)
{
	char copy[1024], *tok, *save = NULL;
	int pos = 0;

	snprintf(copy, sizeof(copy), "%s", sources);
	for (tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (tok[0] == '[') {
			continue; /* an action: [NOTFOUND=return] */
		}
		pos++;
		if (strcmp(tok, word) == 0) {
			return pos;
		}
	}
	return 0;
}

bool doctor_nsswitch(struct doctor *d)
{
	static const char *const dbs[] = {"passwd", "group"};
	char path[PATH_MAX], line[1024], found[2][1024] = {"", ""};
	bool seen[2] = {false, false};
	size_t i, n;
	FILE *f;

	if (doctor_path(d, "/etc/nsswitch.conf", path, sizeof(path)) != 0 ||
	    (f = fopen(path, "re")) == NULL) {
		return doctor_report(d, "nsswitch", DOCTOR_FAIL,
				     "create it with the lines \"passwd: files sectx\" and "
				     "\"group: files sectx\"",
				     "cannot read %s", path);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "#\r\n")] = '\0';
		for (i = 0; i < 2; i++) {
			n = strlen(dbs[i]);
			if (strncmp(line, dbs[i], n) == 0 && line[n] == ':') {
				snprintf(found[i], sizeof(found[i]), "%s", line + n + 1);
				seen[i] = true;
			}
		}
	}
	fclose(f);
	for (i = 0; i < 2; i++) {
		int files = source_pos(found[i], "files"), sectx = source_pos(found[i], "sectx");

		if (!seen[i] || sectx == 0) {
			char fix[128];

			snprintf(fix, sizeof(fix), "list sectx after files: \"%s: files sectx\"",
				 dbs[i]);
			return doctor_report(d, "nsswitch", DOCTOR_FAIL, fix,
					     "%s: the %s line does not list sectx", path, dbs[i]);
		}
		if (files == 0 || files > sectx) {
			return doctor_report(d, "nsswitch", DOCTOR_FAIL,
					     "put files first, so local accounts win: \"files "
					     "sectx\"",
					     "%s: %s lists sectx before files", path, dbs[i]);
		}
	}
	return doctor_report(d, "nsswitch", DOCTOR_OK, NULL,
			     "%s lists sectx after files for passwd and group", path);
}

/* --- PAM service files -------------------------------------------------- */

struct pam_rule {
	char type[16];	   /* auth, account, password, session */
	char control[128]; /* required, [success=1 default=ignore], ... */
	char module[64];   /* basename: pam_sectx.so */
};

struct pam_rules {
	struct pam_rule r[PAM_LINES_MAX];
	size_t n;
};

static void read_service(struct doctor *d, const char *name, struct pam_rules *rules, int depth);

/* Split one rule line; follow includes. */
static void parse_rule(struct doctor *d, char *p, struct pam_rules *rules, int depth)
{
	struct pam_rule rule;
	char *end, *mod;
	size_t len;

	while (isspace((unsigned char)*p)) {
		p++;
	}
	if (*p == '\0') {
		return;
	}
	if (strncmp(p, "@include", 8) == 0 && isspace((unsigned char)p[8])) {
		p += 9;
		while (isspace((unsigned char)*p)) {
			p++;
		}
		p[strcspn(p, " \t")] = '\0';
		read_service(d, p, rules, depth + 1);
		return;
	}
	if (*p == '-') {
		p++;
	}
	len = strcspn(p, " \t");
	snprintf(rule.type, sizeof(rule.type), "%.*s", (int)len, p);
	p += len;
	while (isspace((unsigned char)*p)) {
		p++;
	}
	if (*p == '[') {
		end = strchr(p, ']');
		len = end != NULL ? (size_t)(end - p) + 1 : strlen(p);
	} else {
		len = strcspn(p, " \t");
	}
	snprintf(rule.control, sizeof(rule.control), "%.*s", (int)len, p);
	p += len;
	while (isspace((unsigned char)*p)) {
		p++;
	}
	p[strcspn(p, " \t")] = '\0';
	if (strcmp(rule.control, "include") == 0 || strcmp(rule.control, "substack") == 0) {
		read_service(d, p, rules, depth + 1);
		return;
	}
	mod = strrchr(p, '/');
	snprintf(rule.module, sizeof(rule.module), "%s", mod != NULL ? mod + 1 : p);
	if (rules->n < PAM_LINES_MAX) {
		rules->r[rules->n++] = rule;
	}
}

static void read_service(struct doctor *d, const char *name, struct pam_rules *rules, int depth)
{
	char path[PATH_MAX], rel[PATH_MAX], line[1024];
	FILE *f;

	if (depth > PAM_DEPTH_MAX || strchr(name, '/') != NULL) {
		return;
	}
	snprintf(rel, sizeof(rel), "/etc/pam.d/%s", name);
	if (doctor_path(d, rel, path, sizeof(path)) != 0 || (f = fopen(path, "re")) == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "#\r\n")] = '\0';
		parse_rule(d, line, rules, depth);
	}
	fclose(f);
}

/* Where in rules pam_sectx.so is for type (index), or -1. */
static int find_module(const struct pam_rules *rules, const char *type, const char *module,
		       const char *control_has)
{
	size_t i;

	for (i = 0; i < rules->n; i++) {
		if (strcmp(rules->r[i].type, type) == 0 &&
		    strcmp(rules->r[i].module, module) == 0 &&
		    (control_has == NULL || strstr(rules->r[i].control, control_has) != NULL)) {
			return (int)i;
		}
	}
	return -1;
}

static const char PAM_FIX[] =
    "pam-auth-update --enable sectx (Debian), or add pam_sectx.so to the service's auth "
    "(before pam_unix: \"auth [success=end default=ignore] pam_sectx.so\"), account and "
    "session stacks";

bool doctor_pam_services(struct doctor *d)
{
	static const char *const services[] = {"login", "sshd", "su"};
	static const char *const types[] = {"auth", "account", "session"};
	static struct pam_rules rules;
	char path[PATH_MAX], rel[PATH_MAX], seen[128] = "";
	size_t s, t;
	int sectx, unix_jump;

	for (s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		snprintf(rel, sizeof(rel), "/etc/pam.d/%s", services[s]);
		if (doctor_path(d, rel, path, sizeof(path)) != 0 || access(path, R_OK) != 0) {
			doctor_report(d, "pam", DOCTOR_WARN, NULL,
				      "%s: no such service file (not installed?)", path);
			continue;
		}
		rules.n = 0;
		read_service(d, services[s], &rules, 0);
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			sectx = find_module(&rules, types[t], "pam_sectx.so", NULL);
			if (sectx < 0) {
				return doctor_report(d, "pam", DOCTOR_FAIL, PAM_FIX,
						     "%s: pam_sectx.so is not in the %s stack",
						     path, types[t]);
			}
		}
		sectx = find_module(&rules, "auth", "pam_sectx.so", NULL);
		unix_jump = find_module(&rules, "auth", "pam_unix.so", "success=");
		if (unix_jump >= 0 && unix_jump < sectx) {
			return doctor_report(d, "pam", DOCTOR_FAIL, PAM_FIX,
					     "%s: pam_sectx.so comes after pam_unix's %s jump in "
					     "auth: a realm user never reaches it",
					     path, rules.r[unix_jump].control);
		}
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s",
			 seen[0] != '\0' ? ", " : "", services[s]);
	}
	if (seen[0] == '\0') {
		return doctor_report(d, "pam", DOCTOR_WARN, NULL,
				     "none of login, sshd, su has a service file");
	}
	return doctor_report(d, "pam", DOCTOR_OK, NULL,
			     "%s: pam_sectx.so in auth (before pam_unix), account and session",
			     seen);
}
