/*
 * ccache_writer/names.c - cache names: template expansion and validation.
 *
 * Runs in two processes: in the helper (root, on the tevent loop) to refuse
 * a job before it is queued, and in the writer (root, single-threaded) again
 * on every job it receives, because the writer trusts nothing it did not
 * check itself.  Pure string work: no system call, no allocation, no global.
 * Reached by whatever names a cache: a sysadmin's ccache template with the
 * login name of a user in it (%u), or a name a store returned earlier (the
 * sessions state file, a PAM environment).
 *
 * A name that passes is of a type the writer can write with the user's own
 * rights (FILE:/absolute, DIR:, KEYRING:persistent: of that user's uid),
 * never MEMORY/API/KCM, never relative, never another uid's keyring.
 *
 * Never: accept a path with an empty, "." or ".." component, put a user
 * name into a path that is not [a-z_][a-z0-9_.-]* (at most 32 bytes), or
 * accept uid 0.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ccache_writer/ccache_writer_int.h"

/* A login name that may go into a path (%u). */
static bool valid_login(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > WRITER_LOGIN_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
		return false;
	}
	for (i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-')) {
			return false;
		}
	}
	return true;
}

/* An absolute path shorter than PATH_MAX with no empty, "." or ".."
 * component (so no "//" and no trailing '/'). */
static bool valid_abs_path(const char *p)
{
	const char *c, *end;

	if (p[0] != '/' || strlen(p) >= PATH_MAX) {
		return false;
	}
	for (c = p + 1;; c = end + 1) {
		size_t n;

		end = strchr(c, '/');
		n = end != NULL ? (size_t)(end - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
			return false;
		}
		if (end == NULL) {
			return true;
		}
	}
}

/* Expand %U, %u and %% of tmpl into out (outsz bytes).  0 or -EINVAL /
 * -ENAMETOOLONG with *why set. */
static int expand_template(const char *tmpl, uid_t uid, const char *user, char *out, size_t outsz,
			   const char **why)
{
	size_t o = 0;
	const char *t;

	for (t = tmpl; *t != '\0'; t++) {
		char num[16];
		const char *add = num;
		size_t n;

		if (*t != '%') {
			num[0] = *t;
			num[1] = '\0';
		} else if (t[1] == 'U') {
			snprintf(num, sizeof(num), "%u", (unsigned)uid);
			t++;
		} else if (t[1] == 'u') {
			if (!valid_login(user)) {
				*why = "the user name cannot go into a cache name (%u needs "
				       "[a-z_][a-z0-9_.-]*, at most 32 bytes)";
				return -EINVAL;
			}
			add = user;
			t++;
		} else if (t[1] == '%') {
			num[0] = '%';
			num[1] = '\0';
			t++;
		} else {
			*why = "unknown % sequence in the cache name (only %U, %u and %%)";
			return -EINVAL;
		}
		n = strlen(add);
		if (n >= outsz - o) {
			*why = "the cache name is too long";
			return -ENAMETOOLONG;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* Parse the decimal uid at *p (no sign, no leading zero); advance *p. */
static bool parse_uid(const char **p, uid_t *uid)
{
	const char *s = *p;
	unsigned long long v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 11) {
		v = v * 10 + (unsigned long long)(s[n] - '0');
		n++;
	}
	if (n == 0 || n > 10 || (n > 1 && s[0] == '0') || v >= (uid_t)-1) {
		return false;
	}
	*uid = (uid_t)v;
	*p = s + n;
	return true;
}

/* What kind of cache name is this, for uid?  Everything the writer cannot
 * write as the user is refused here, before anything forks.  destroy: only
 * exact names (no collection, no XXXXXX).  0 or -EINVAL with *why. */
static int classify(const char *name, uid_t uid, bool destroy, enum cc_kind *kind, const char **why)
{
	const char *p;

	if (strncmp(name, "FILE:", 5) == 0) {
		size_t n;

		p = name + 5;
		if (!valid_abs_path(p)) {
			*why =
			    "a FILE cache needs an absolute path without empty, . or .. components";
			return -EINVAL;
		}
		n = strlen(p);
		if (n >= 6 && strcmp(p + n - 6, "XXXXXX") == 0) {
			if (destroy) {
				*why = "a cache to destroy needs its exact name, not a template";
				return -EINVAL;
			}
			*kind = CC_FILE_UNIQUE;
		} else {
			*kind = CC_FILE;
		}
		return 0;
	}
	if (strncmp(name, "DIR::", 5) == 0) {
		const char *base;

		p = name + 5;
		base = strrchr(p, '/');
		if (!valid_abs_path(p) || base == NULL || strncmp(base + 1, "tkt", 3) != 0 ||
		    base == p) {
			*why = "a DIR subsidiary is DIR::/absolute/directory/tktNAME";
			return -EINVAL;
		}
		*kind = CC_DIR_MEMBER;
		return 0;
	}
	if (strncmp(name, "DIR:", 4) == 0) {
		if (destroy) {
			*why = "destroy takes one DIR subsidiary (DIR::/path/tktNAME), never a "
			       "collection";
			return -EINVAL;
		}
		if (!valid_abs_path(name + 4)) {
			*why = "a DIR collection needs an absolute path without empty, . or .. "
			       "components";
			return -EINVAL;
		}
		*kind = CC_DIR_COLLECTION;
		return 0;
	}
	if (strncmp(name, "KEYRING:", 8) == 0) {
		uid_t kuid;
		size_t i, n;

		p = name + 8;
		if (strncmp(p, "persistent:", 11) != 0) {
			*why = "session, user, process and thread keyrings belong to the login "
			       "process, not the helper: only KEYRING:persistent:UID is written";
			return -EINVAL;
		}
		p += 11;
		if (!parse_uid(&p, &kuid) || (*p != '\0' && *p != ':')) {
			*why = "KEYRING:persistent needs the user's numeric uid";
			return -EINVAL;
		}
		if (kuid != uid) {
			*why = "KEYRING:persistent names another user's keyring";
			return -EINVAL;
		}
		if (*p == '\0') {
			if (destroy) {
				*why = "destroy takes one KEYRING subsidiary "
				       "(KEYRING:persistent:UID:NAME), never a collection";
				return -EINVAL;
			}
			*kind = CC_KEYRING_COLLECTION;
			return 0;
		}
		p++;
		n = strlen(p);
		for (i = 0; i < n; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
				break;
			}
		}
		if (n == 0 || n > WRITER_MEMBER_MAX || i != n) {
			*why = "a KEYRING subsidiary name is 1-64 of [A-Za-z0-9_.-]";
			return -EINVAL;
		}
		*kind = CC_KEYRING_MEMBER;
		return 0;
	}
	*why = "not a credential cache the helper can write as the user (FILE:/path, DIR:/path "
	       "or KEYRING:persistent:UID; MEMORY, API, KCM and relative names are refused)";
	return -EINVAL;
}

int ccw_check_job(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, const char *user,
		  const char *ccache, bool destroy, char *out, size_t outsz, enum cc_kind *kind,
		  const char **why)
{
	size_t i;
	int ret;

	if (uid == 0) {
		*why = "never written as root";
		return -EINVAL;
	}
	if (uid == (uid_t)-1 || gid == (gid_t)-1) {
		*why = "invalid uid or gid";
		return -EINVAL;
	}
	if (n_groups > SECTX_WRITER_MAX_GROUPS) {
		*why = "too many supplementary groups";
		return -E2BIG;
	}
	for (i = 0; i < n_groups; i++) {
		if (groups[i] == (gid_t)-1) {
			*why = "invalid supplementary group";
			return -EINVAL;
		}
	}
	if (sectx_validate_string((const uint8_t *)user, strnlen(user, SECTX_NAME_MAX + 1),
				  SECTX_NAME_MAX) != 0) {
		*why = "invalid user name";
		return -EINVAL;
	}
	if (sectx_validate_string((const uint8_t *)ccache, strnlen(ccache, WRITER_CCNAME_MAX + 1),
				  WRITER_CCNAME_MAX) != 0) {
		*why = "invalid or too long cache name";
		return -EINVAL;
	}
	if (destroy) {
		if (strlen(ccache) >= outsz) {
			*why = "the cache name is too long";
			return -ENAMETOOLONG;
		}
		memcpy(out, ccache, strlen(ccache) + 1);
	} else {
		ret = expand_template(ccache, uid, user, out, outsz, why);
		if (ret != 0) {
			return ret;
		}
	}
	return classify(out, uid, destroy, kind, why);
}
