/*
 * authtok.c - getting a password for one call: from a PAM item or from the
 * user through the conversation, into a buffer the module scrubs.
 *
 * Every password the module touches passes through struct pam_sectx_secret
 * and leaves it through pam_sectx_secret_clear.  This file must never log a
 * password, its length or whether two of them matched, and must scrub every
 * buffer it got from the conversation before freeing it.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pam_sectx_secret_clear(struct pam_sectx_secret *s)
{
	explicit_bzero(s->buf, sizeof(s->buf));
	s->len = 0;
	s->set = false;
}

/* Copy a NUL-terminated password into s. */
static int secret_copy(struct pam_sectx_secret *s, const char *p)
{
	size_t len = strnlen(p, SECTX_PASSWORD_MAX + 1);

	pam_sectx_secret_clear(s);
	if (len > SECTX_PASSWORD_MAX) {
		return -E2BIG;
	}
	memcpy(s->buf, p, len);
	s->buf[len] = '\0';
	s->len = len;
	s->set = true;
	return 0;
}

int pam_sectx_secret_from_item(pam_handle_t *pamh, int item, struct pam_sectx_secret *s)
{
	const void *value = NULL;

	pam_sectx_secret_clear(s);
	if (item != PAM_AUTHTOK && item != PAM_OLDAUTHTOK) {
		return -EINVAL;
	}
	if (pam_get_item(pamh, item, &value) != PAM_SUCCESS || value == NULL) {
		return -ENOENT;
	}
	return secret_copy(s, value);
}

int pam_sectx_secret_prompt(pam_handle_t *pamh, const char *prompt, struct pam_sectx_secret *s)
{
	char *answer = NULL;
	int ret;

	pam_sectx_secret_clear(s);
	ret = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", prompt);
	if (ret == PAM_CONV_AGAIN) {
		ret = -EAGAIN;
		goto done;
	}
	if (ret != PAM_SUCCESS || answer == NULL) {
		ret = -ECANCELED;
		goto done;
	}
	ret = secret_copy(s, answer);
done:
	if (answer != NULL) {
		explicit_bzero(answer, strlen(answer));
		free(answer);
	}
	return ret;
}

int pam_sectx_secret_store(pam_handle_t *pamh, int item, const struct pam_sectx_secret *s)
{
	if (!s->set || pam_set_item(pamh, item, s->buf) != PAM_SUCCESS) {
		return -EIO;
	}
	return 0;
}
