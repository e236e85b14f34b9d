/*
 * handle.c - the login handle: its shape, where the module keeps it between
 * pam_sm_* calls, and when it is removed from the PAM environment.
 *
 * The handle names the user's TGT inside the helper (256 random bits, single
 * use, short-lived, bound to user, service and remote host).  The module
 * keeps it in pam_data (copied with the process across fork, scrubbed at
 * pam_end) and in the PAM environment only so that a session opened by
 * another process than the one that authenticated (sshd's keyboard-
 * interactive child) can find it.  It must leave the environment once the
 * session is open, so it never reaches the user's session, and must never be
 * logged.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pam_sectx_handle_valid(const char *s)
{
	size_t i;

	if (s == NULL) {
		return false;
	}
	for (i = 0; i < SECTX_HANDLE_LEN; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F'))) {
			return false; /* also stops at the NUL of a short string */
		}
	}
	return s[SECTX_HANDLE_LEN] == '\0';
}

static void handle_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	explicit_bzero(data, SECTX_HANDLE_LEN + 1);
	free(data);
}

/* Copy handle into pam_data.  0, -ENOMEM, -EIO. */
static int store_data(pam_handle_t *pamh, const char *handle)
{
	char *copy = malloc(SECTX_HANDLE_LEN + 1);

	if (copy == NULL) {
		return -ENOMEM;
	}
	memcpy(copy, handle, SECTX_HANDLE_LEN + 1);
	if (pam_set_data(pamh, PAM_SECTX_DATA_HANDLE, copy, handle_cleanup) != PAM_SUCCESS) {
		handle_cleanup(pamh, copy, 0);
		return -EIO;
	}
	return 0;
}

int pam_sectx_handle_store(const struct pam_sectx_ctx *c, const char *handle, bool with_env)
{
	char env[sizeof(PAM_SECTX_ENV_HANDLE) + SECTX_HANDLE_LEN + 1];
	int ret;

	if (!pam_sectx_handle_valid(handle)) {
		ret = -EINVAL;
		goto done;
	}
	ret = store_data(c->pamh, handle);
	if (ret != 0) {
		pam_syslog(c->pamh, LOG_ERR, "cannot keep the login handle: %s", strerror(-ret));
		goto done;
	}
	if (with_env) {
		snprintf(env, sizeof(env), "%s=%s", PAM_SECTX_ENV_HANDLE, handle);
		if (pam_putenv(c->pamh, env) != PAM_SUCCESS) {
			pam_syslog(c->pamh, LOG_WARNING,
				   "cannot put the login handle in the PAM environment: a session "
				   "opened by another process will not find it");
		}
	}
	ret = 0;
done:
	explicit_bzero(env, sizeof(env));
	return ret;
}

int pam_sectx_handle_find(const struct pam_sectx_ctx *c, char *out, bool *from_env)
{
	const void *data = NULL;
	const char *env;

	out[0] = '\0';
	*from_env = false;
	if (pam_get_data(c->pamh, PAM_SECTX_DATA_HANDLE, &data) == PAM_SUCCESS && data != NULL &&
	    pam_sectx_handle_valid(data)) {
		memcpy(out, data, SECTX_HANDLE_LEN + 1);
		return 0;
	}
	env = pam_getenv(c->pamh, PAM_SECTX_ENV_HANDLE);
	if (env == NULL) {
		return -ENOENT;
	}
	if (!pam_sectx_handle_valid(env)) {
		pam_syslog(c->pamh, LOG_WARNING, "malformed %s in the PAM environment: ignored",
			   PAM_SECTX_ENV_HANDLE);
		return -ENOENT;
	}
	memcpy(out, env, SECTX_HANDLE_LEN + 1);
	*from_env = true;
	return 0;
}

void pam_sectx_handle_claimed(const struct pam_sectx_ctx *c, const char *handle)
{
	const void *data = NULL;

	if (pam_get_data(c->pamh, PAM_SECTX_DATA_HANDLE, &data) != PAM_SUCCESS || data == NULL ||
	    strcmp(data, handle) != 0) {
		if (store_data(c->pamh, handle) != 0) {
			pam_syslog(c->pamh, LOG_ERR,
				   "cannot keep the login handle for close_session");
		}
	}
	if (pam_getenv(c->pamh, PAM_SECTX_ENV_HANDLE) != NULL) {
		/* "NAME" without '=' deletes the variable. */
		pam_putenv(c->pamh, PAM_SECTX_ENV_HANDLE);
	}
}

void pam_sectx_handle_closed(const struct pam_sectx_ctx *c)
{
	/* replacing the data runs handle_cleanup on the old copy: scrubbed */
	pam_set_data(c->pamh, PAM_SECTX_DATA_HANDLE, NULL, NULL);
	pam_set_data(c->pamh, PAM_SECTX_DATA_CLOSED, (void *)"1", NULL);
}

bool pam_sectx_handle_was_closed(const struct pam_sectx_ctx *c)
{
	const void *data = NULL;

	return pam_get_data(c->pamh, PAM_SECTX_DATA_CLOSED, &data) == PAM_SUCCESS && data != NULL;
}
