/*
 * options.c - the module's options, as one table, and the set-up every
 * pam_sm_* call shares (options, PAM_USER, PAM_SERVICE, minimum_uid).
 *
 * The table is the single description of the options: the parser reads it,
 * the unit tests walk it, documentation comes from its doc strings.  An
 * option that is unknown or has a bad value is logged and ignored, never
 * fatal: a typo in /etc/pam.d must not lock everyone out, and a default is
 * always the safe choice.  This file must never log a user name unescaped.
 */
#include "internal.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

#define OPT_FLAG(name, member, doc)                                                                \
	{                                                                                          \
		name, PAM_SECTX_OPT_FLAG, offsetof(struct pam_sectx_opts, member), 0, 1, doc       \
	}
#define OPT_UINT(name, member, min, max, doc)                                                      \
	{                                                                                          \
		name, PAM_SECTX_OPT_UINT, offsetof(struct pam_sectx_opts, member), min, max, doc   \
	}
#define OPT_DIR(name, member, doc)                                                                 \
	{                                                                                          \
		name, PAM_SECTX_OPT_DIR, offsetof(struct pam_sectx_opts, member), 0, 0, doc        \
	}

const struct pam_sectx_option pam_sectx_options[] = {
    OPT_FLAG("debug", debug, "log each step at LOG_DEBUG"),
    OPT_FLAG("use_first_pass", use_first_pass,
	     "use the password a previous module stored (PAM_AUTHTOK, PAM_OLDAUTHTOK); "
	     "fail if there is none"),
    OPT_FLAG("try_first_pass", try_first_pass,
	     "use the stored password if there is one; prompt if there is none or it fails"),
    OPT_FLAG("forward_pass", forward_pass,
	     "store the password entered (PAM_AUTHTOK) for the next modules, whatever the result"),
    OPT_FLAG("use_authtok", use_authtok,
	     "chauthtok: take the new password from PAM_AUTHTOK (set by a module before) "
	     "instead of prompting"),
    OPT_UINT("minimum_uid", minimum_uid, 0, UINT32_MAX,
	     "ignore local users whose uid is below this (default 1: root is ignored)"),
    OPT_FLAG("ignore_unknown_user", ignore_unknown_user,
	     "return PAM_IGNORE instead of PAM_USER_UNKNOWN"),
    OPT_FLAG("ignore_authinfo_unavail", ignore_authinfo_unavail,
	     "return PAM_IGNORE when the helper or the realm cannot be reached"),
    OPT_FLAG("retain_after_close", retain_after_close,
	     "keep the credential cache when the session closes"),
    OPT_FLAG("no_ticket_auth", no_ticket_auth,
	     "auth: never try the Kerberos tickets the user already holds (by default they are "
	     "tried first for the services sectxd lists in [pam] gssapi_services)"),
    OPT_DIR("socket_dir", socket_dir, "directory of the helper's pam.sock"),
    OPT_UINT("timeout", timeout_ms, PAM_SECTX_TIMEOUT_MIN_MS, PAM_SECTX_TIMEOUT_MAX_MS,
	     "milliseconds a helper call may take in all (default 10000)"),
};
const size_t pam_sectx_n_options = sizeof(pam_sectx_options) / sizeof(pam_sectx_options[0]);

/* Strict decimal: digits only, no sign, no space, no overflow past max. */
static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long v = 0;

	if (*s == '\0') {
		return -EINVAL;
	}
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9') {
			return -EINVAL;
		}
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max) {
			return -ERANGE;
		}
	}
	if (v < min) {
		return -ERANGE;
	}
	*out = (unsigned)v;
	return 0;
}

static const struct pam_sectx_option *find_option(const char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < pam_sectx_n_options; i++) {
		if (strlen(pam_sectx_options[i].name) == namelen &&
		    memcmp(pam_sectx_options[i].name, name, namelen) == 0) {
			return &pam_sectx_options[i];
		}
	}
	return NULL;
}

/* Apply one argument.  0, or -EINVAL with why set. */
static int apply_option(const char *arg, struct pam_sectx_opts *o, const char **why)
{
	const char *eq = strchr(arg, '=');
	size_t namelen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	const struct pam_sectx_option *opt = find_option(arg, namelen);
	const char *value = eq != NULL ? eq + 1 : NULL;
	char *member;
	unsigned v;

	if (opt == NULL) {
		*why = "unknown option";
		return -EINVAL;
	}
	member = (char *)o + opt->offset;
	switch (opt->type) {
	case PAM_SECTX_OPT_FLAG:
		if (value != NULL) {
			*why = "takes no value";
			return -EINVAL;
		}
		*(bool *)(void *)member = true;
		return 0;
	case PAM_SECTX_OPT_UINT:
		if (value == NULL) {
			*why = "needs a value (name=N)";
			return -EINVAL;
		}
		if (parse_uint(value, opt->min, opt->max, &v) != 0) {
			*why = "is not a number in range";
			return -EINVAL;
		}
		*(unsigned *)(void *)member = v;
		return 0;
	case PAM_SECTX_OPT_DIR:
		if (value == NULL || value[0] != '/' || strlen(value) > PAM_SECTX_SOCKET_DIR_MAX) {
			*why = "needs an absolute directory (name=/path)";
			return -EINVAL;
		}
		*(const char **)(void *)member = value;
		return 0;
	}
	*why = "has an unknown type";
	return -EINVAL;
}

int pam_sectx_opts_parse(pam_handle_t *pamh, int argc, const char **argv, struct pam_sectx_opts *o)
{
	int ret = 0;
	int i;

	memset(o, 0, sizeof(*o));
	o->minimum_uid = PAM_SECTX_MINIMUM_UID_DEFAULT;
	o->timeout_ms = PAM_SECTX_TIMEOUT_DEFAULT_MS;
	o->socket_dir = sectx_socket_dir();

	for (i = 0; i < argc; i++) {
		const char *why = NULL;
		char shown[256];

		if (argv == NULL || argv[i] == NULL) {
			continue;
		}
		if (apply_option(argv[i], o, &why) == 0) {
			continue;
		}
		sectx_log_escape(argv[i], strlen(argv[i]), shown, sizeof(shown));
		pam_syslog(pamh, LOG_ERR, "option \"%s\" %s: ignored", shown, why);
		ret = -EINVAL;
	}
	return ret;
}

int pam_sectx_ctx_init(struct pam_sectx_ctx *c, pam_handle_t *pamh, int flags, int argc,
		       const char **argv, bool prompt)
{
	const void *item = NULL;
	const char *user = NULL;
	int ret;

	memset(c, 0, sizeof(*c));
	c->pamh = pamh;
	c->flags = flags;
	pam_sectx_opts_parse(pamh, argc, argv, &c->opts);
	strcpy(c->user_log, "?");
	strcpy(c->service_log, "?");

	if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL) {
		pam_syslog(pamh, LOG_ERR, "no PAM_SERVICE");
		ret = PAM_SERVICE_ERR;
		goto done;
	}
	c->service = item;
	sectx_log_escape(c->service, strlen(c->service), c->service_log, sizeof(c->service_log));

	if (prompt) {
		ret = pam_get_user(pamh, &user, NULL);
		if (ret == PAM_CONV_AGAIN) {
			ret = PAM_INCOMPLETE;
			goto done;
		}
	} else {
		ret = pam_get_item(pamh, PAM_USER, &item);
		user = item;
	}
	if (ret != PAM_SUCCESS || user == NULL || user[0] == '\0' ||
	    sectx_validate_string((const uint8_t *)user, strlen(user), SECTX_NAME_MAX) != 0) {
		/* Often a password typed at the login prompt: never logged. */
		pam_syslog(pamh, LOG_NOTICE, "unknown user (no usable PAM_USER)");
		ret = PAM_USER_UNKNOWN;
		goto done;
	}
	c->user = user;
	sectx_log_escape(user, strlen(user), c->user_log, sizeof(c->user_log));
	ret = PAM_SUCCESS;
done:
	return ret;
}

bool pam_sectx_ignored_uid(const struct pam_sectx_ctx *c)
{
	struct passwd pw;
	struct passwd *found = NULL;
	char *buf = NULL;
	size_t size = 16384;
	bool ignored = false;
	int err;

	if (c->opts.minimum_uid == 0) {
		goto done;
	}
	for (;;) {
		buf = malloc(size);
		if (buf == NULL) {
			goto done;
		}
		err = getpwnam_r(c->user, &pw, buf, size, &found);
		if (err != ERANGE || size >= 1024 * 1024) {
			break;
		}
		free(buf);
		buf = NULL;
		size *= 4;
	}
	if (found != NULL && (unsigned long)pw.pw_uid < c->opts.minimum_uid) {
		PAM_SECTX_DEBUG(c, "ignoring user %s: uid %lu below minimum_uid %u", c->user_log,
				(unsigned long)pw.pw_uid, c->opts.minimum_uid);
		ignored = true;
	}
done:
	free(buf);
	return ignored;
}
