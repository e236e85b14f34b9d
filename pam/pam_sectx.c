/*
 * pam_sectx.c - the entry points of pam_sectx.so, and nothing else.
 *
 * These six functions are the module's only exported symbols (see
 * pam_sectx.map); each hands the call to the file of its PAM group.  Nothing
 * here may hold state, parse anything or talk to the helper.
 */
#include "internal.h"

/* Check the user's password with the helper and keep the login handle it
 * issues.  Returns SUCCESS, AUTH_ERR, CRED_INSUFFICIENT, AUTHINFO_UNAVAIL,
 * USER_UNKNOWN, MAXTRIES, or IGNORE (minimum_uid, ignore_* options). */
PAM_SECTX_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return pam_sectx_authenticate(pamh, flags, argc, argv);
}

/* ESTABLISH, REINITIALIZE, REFRESH or DELETE the user's credential cache
 * for the login handle; exports KRB5CCNAME.  IGNORE without a handle. */
PAM_SECTX_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return pam_sectx_setcred(pamh, flags, argc, argv);
}

/* Ask the helper whether the login may proceed (access, expiry); relays its
 * warnings.  IGNORE without a handle. */
PAM_SECTX_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return pam_sectx_acct_mgmt(pamh, flags, argc, argv);
}

/* Change the user's Kerberos password (PRELIM_CHECK, then UPDATE_AUTHTOK). */
PAM_SECTX_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return pam_sectx_chauthtok(pamh, flags, argc, argv);
}

/* Have the helper write the session's credential cache; exports
 * KRB5CCNAME and removes SECTX_LOGIN_HANDLE from the PAM environment.
 * IGNORE without a handle. */
PAM_SECTX_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return pam_sectx_open_session(pamh, flags, argc, argv);
}

/* Have the helper destroy the session's cache (unless retain_after_close).
 * IGNORE without a handle. */
PAM_SECTX_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
					  const char **argv)
{
	return pam_sectx_close_session(pamh, flags, argc, argv);
}
