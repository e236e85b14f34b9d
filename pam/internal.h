/*
 * pam/internal.h - the internals shared by the files of pam_sectx.so.
 *
 * pam_sectx.so runs inside login services (login, sshd, su, screen lockers)
 * and only relays: every decision about a user is the helper's, reached over
 * pam.sock one connection per call.  The module links libc and libpam only,
 * exports only pam_sm_* (pam_sectx.map, -fvisibility=hidden), keeps no global
 * state (everything lives in the call or in the PAM handle), and never keeps
 * a secret beyond the call that read it: passwords sit in struct
 * pam_sectx_secret buffers and every buffer that held one is scrubbed.  It
 * must never log a password, nor a user name the helper did not recognise.
 */
#ifndef PAM_SECTX_H
#define PAM_SECTX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "proto.h"

/* The entry points are the only symbols with default visibility. */
#define PAM_SECTX_EXPORT __attribute__((visibility("default")))

/* --- names kept in the PAM handle ------------------------------------------ */

/* pam_data: the login handle (64 hex digits + NUL, scrubbed at cleanup). */
#define PAM_SECTX_DATA_HANDLE "sectx_login_handle"
/* pam_data: acct_mgmt found the password of this login expired (chauthtok
 * then sends the handle instead of asking for the old password). */
#define PAM_SECTX_DATA_EXPIRED "sectx_authtok_expired"
/* pam_data: what the helper said in the PRELIM phase of chauthtok. */
#define PAM_SECTX_DATA_PRELIM "sectx_chauthtok_prelim"
/* pam_data: this process closed the login's session (close_session or
 * setcred DELETE answered): the handle is gone from pam_data and a later
 * setcred DELETE has nothing left to delete. */
#define PAM_SECTX_DATA_CLOSED "sectx_session_closed"
/* PAM environment: the handle, for a session opened by another process than
 * the one that authenticated (sshd's keyboard-interactive child). */
#define PAM_SECTX_ENV_HANDLE "SECTX_LOGIN_HANDLE"
#define PAM_SECTX_ENV_CCACHE "KRB5CCNAME"

/* --- limits and defaults ---------------------------------------------------- */

#define PAM_SECTX_TIMEOUT_DEFAULT_MS  10000u /* whole helper call: connect, send, reply */
#define PAM_SECTX_TIMEOUT_MIN_MS      100u
#define PAM_SECTX_TIMEOUT_MAX_MS      120000u
#define PAM_SECTX_MINIMUM_UID_DEFAULT 1u /* root is ignored unless minimum_uid=0 */
#define PAM_SECTX_FAIL_DELAY_USEC     2000000u
#define PAM_SECTX_SOCKET_DIR_MAX      96u	    /* bytes; sun_path is 108 with "/pam.sock" */
#define PAM_SECTX_REQ_MAX	      (24u * 1024u) /* request frame: 4 strings + 2 passwords */
#define PAM_SECTX_LOGNAME_MAX	      (4u * SECTX_NAME_MAX + 4u) /* an escaped user name */

/* --- options (options.c) ---------------------------------------------------- */

struct pam_sectx_opts {
	bool debug;
	bool use_first_pass;
	bool try_first_pass;
	bool forward_pass;
	bool use_authtok;
	bool ignore_unknown_user;
	bool ignore_authinfo_unavail;
	bool retain_after_close;
	bool no_ticket_auth;
	unsigned minimum_uid;
	unsigned timeout_ms;
	const char *socket_dir; /* points into argv, or at sectx_socket_dir() */
};

enum pam_sectx_opt_type {
	PAM_SECTX_OPT_FLAG, /* bool; "name" alone */
	PAM_SECTX_OPT_UINT, /* unsigned; "name=N", decimal, min..max */
	PAM_SECTX_OPT_DIR,  /* const char *; "name=/absolute/path" */
};

/* One row of the option table: the parser, the unit tests and the man page
 * all read it. */
struct pam_sectx_option {
	const char *name;
	enum pam_sectx_opt_type type;
	size_t offset; /* member of struct pam_sectx_opts */
	unsigned min, max;
	const char *doc;
};

extern const struct pam_sectx_option pam_sectx_options[];
extern const size_t pam_sectx_n_options;

/* Fill *o with the defaults, then apply argv[0..argc).  A bad value or an
 * unknown option is logged through pam_syslog(pamh) (pamh may be NULL) and
 * ignored, the member keeping its default.  Returns 0, or -EINVAL when at
 * least one argument was ignored (o is usable either way).  o->socket_dir
 * may point into argv: argv must outlive o. */
int pam_sectx_opts_parse(pam_handle_t *pamh, int argc, const char **argv, struct pam_sectx_opts *o);

/* --- one call of a pam_sm_* function (options.c) ---------------------------- */

struct pam_sectx_ctx {
	pam_handle_t *pamh;
	int flags; /* the PAM flags of this call */
	struct pam_sectx_opts opts;
	const char *user;			 /* PAM_USER, owned by libpam */
	const char *service;			 /* PAM_SERVICE, owned by libpam */
	char user_log[PAM_SECTX_LOGNAME_MAX];	 /* user, escaped for a log line */
	char service_log[PAM_SECTX_LOGNAME_MAX]; /* service, escaped for a log line */
};

/* Set up c for one call: parse the options, read PAM_USER (prompting for it
 * when prompt is true, as pam_sm_authenticate does) and PAM_SERVICE.
 * Returns PAM_SUCCESS; PAM_USER_UNKNOWN when there is no usable user name
 * (none, empty, or not a string the helper could take: logged as "unknown
 * user" only); PAM_INCOMPLETE when the conversation asked to come back later;
 * PAM_SERVICE_ERR without PAM_SERVICE. */
int pam_sectx_ctx_init(struct pam_sectx_ctx *c, pam_handle_t *pamh, int flags, int argc,
		       const char **argv, bool prompt);

/* True if minimum_uid says this user is not ours (a local account with a
 * uid below it, looked up with getpwnam_r in this process; a user unknown
 * to the local passwd database is never ignored here). */
bool pam_sectx_ignored_uid(const struct pam_sectx_ctx *c);

/* pam_syslog at LOG_DEBUG when the debug option is set. */
#define PAM_SECTX_DEBUG(c, ...)                                                                    \
	do {                                                                                       \
		if ((c)->opts.debug) {                                                             \
			pam_syslog((c)->pamh, LOG_DEBUG, __VA_ARGS__);                             \
		}                                                                                  \
	} while (0)

/* --- secrets (authtok.c) ------------------------------------------------------ */

/* A password held by the module for one call.  Always released with
 * pam_sectx_secret_clear, which scrubs it. */
struct pam_sectx_secret {
	char buf[SECTX_PASSWORD_MAX + 1];
	size_t len;
	bool set;
};

/* Scrub s and mark it unset.  Safe on a cleared secret. */
void pam_sectx_secret_clear(struct pam_sectx_secret *s);

/* Copy the item (PAM_AUTHTOK or PAM_OLDAUTHTOK) into s.  Returns 0; -ENOENT
 * if the item is not set; -E2BIG if longer than SECTX_PASSWORD_MAX (s stays
 * unset); -EINVAL for another item. */
int pam_sectx_secret_from_item(pam_handle_t *pamh, int item, struct pam_sectx_secret *s);

/* Ask the user through the conversation (echo off) with prompt and copy the
 * answer into s; the conversation's own buffer is scrubbed and freed.
 * Returns 0; -ECANCELED if the conversation failed or gave no answer;
 * -EAGAIN if it asked to be called again (PAM_CONV_AGAIN); -E2BIG if the
 * answer is too long. */
int pam_sectx_secret_prompt(pam_handle_t *pamh, const char *prompt, struct pam_sectx_secret *s);

/* Store s as the item (libpam copies it and scrubs its copy at pam_end).
 * Returns 0 or -EIO. */
int pam_sectx_secret_store(pam_handle_t *pamh, int item, const struct pam_sectx_secret *s);

/* --- the login handle (handle.c) ---------------------------------------------- */

/* True if s is a login handle: exactly SECTX_HANDLE_LEN hex digits. */
bool pam_sectx_handle_valid(const char *s);

/* Keep the handle in the PAM handle: pam_data (scrubbed at cleanup) and, if
 * with_env, the PAM environment too.  Returns 0, -EINVAL for a malformed
 * handle, -ENOMEM, or -EIO if libpam refused the data (the environment is
 * best effort: a failure there is logged, not returned). */
int pam_sectx_handle_store(const struct pam_sectx_ctx *c, const char *handle, bool with_env);

/* Find this login's handle: pam_data first, else the PAM environment (a
 * malformed value there is logged and treated as absent).  Copies it into
 * out (SECTX_HANDLE_LEN + 1 bytes).  Returns 0; -ENOENT when sectx did not
 * authenticate this login.  *from_env tells where it came from. */
int pam_sectx_handle_find(const struct pam_sectx_ctx *c, char *out, bool *from_env);

/* The session is open: make sure pam_data holds the handle (close_session
 * needs it) and remove it from the PAM environment so it never reaches the
 * user's session. */
void pam_sectx_handle_claimed(const struct pam_sectx_ctx *c, const char *handle);

/* The session is over (closed, or its credentials deleted): drop the handle
 * from pam_data (scrubbed) and note PAM_SECTX_DATA_CLOSED. */
void pam_sectx_handle_closed(const struct pam_sectx_ctx *c);

/* Whether this process closed the login's session (pam_sectx_handle_closed). */
bool pam_sectx_handle_was_closed(const struct pam_sectx_ctx *c);

/* --- talking to the helper (helper_call.c) ------------------------------------ */

/* Returns of pam_sectx_call besides 0. */
#define PAM_SECTX_UNREACHABLE (-EHOSTUNREACH) /* no helper, timeout, broken frame, busy */
#define PAM_SECTX_BADREPLY    (-EBADMSG)      /* a helper answer we must not act on */

/* A request being built: the frame lives in a buffer of its own that is
 * scrubbed and freed with the request (it may hold passwords). */
struct pam_sectx_req {
	struct sectx_wbuf w;
	uint16_t op;
	int fd; /* -1, or a descriptor passed with the request (not owned) */
	uint8_t buf[PAM_SECTX_REQ_MAX];
};

/* What a PAM operation's reply said, its strings validated. */
struct pam_sectx_reply {
	uint32_t result; /* enum sectx_pam_result */
	bool has_handle;
	char handle[SECTX_HANDLE_LEN + 1];
	bool has_ccache;
	char ccache[SECTX_STRING_MAX + 1];
};

/* Start a request for op with USER and SERVICE of c.  On 0, *out is a new
 * request the caller completes with sectx_put_* and releases with
 * pam_sectx_req_free.  -ENOMEM. */
int pam_sectx_req_new(const struct pam_sectx_ctx *c, uint16_t op, struct pam_sectx_req **out);

/* Scrub and free req (NULL is fine). */
void pam_sectx_req_free(struct pam_sectx_req *req);

/* Send req to the helper's pam.sock (socket_dir option) with one deadline of
 * timeout ms for the whole exchange, then read the reply into *rep and relay
 * its USER_INFO (PAM_TEXT_INFO) and USER_ERROR (PAM_ERROR_MSG) lines, in
 * their order, through the conversation unless PAM_SILENT.  Returns 0 with
 * rep->result set; PAM_SECTX_UNREACHABLE when the helper cannot be reached,
 * does not answer in time, answers with a broken frame, or says it is busy,
 * stopping or cut off from its back ends; PAM_SECTX_BADREPLY for a reply
 * that is well-formed but not one we act on (another status, no or an
 * unknown PAM_RESULT, an invalid string or handle); -EINVAL if req could
 * not be built (a field was not a valid string).  Every failure is logged. */
int pam_sectx_call(const struct pam_sectx_ctx *c, struct pam_sectx_req *req,
		   struct pam_sectx_reply *rep);

/* --- authentication by existing tickets (tickets.c) ---------------------------- */

/* Try the tickets the user already holds: open the real uid's FILE ccache as
 * that uid and pass it to the helper (SECTX_OP_PAM_GSS_AUTH), unless the
 * no_ticket_auth option is set.  Returns PAM_SUCCESS with rep->handle set;
 * PAM_IGNORE for everything else (no usable cache, a service the helper does
 * not allow, a refusal, an unreachable helper): the caller then asks for the
 * password as usual.  Never converses with the user by itself. */
int pam_sectx_ticket_auth(const struct pam_sectx_ctx *c, struct pam_sectx_reply *rep);

/* The groups of pam_sm_* functions, each with the PAM codes it may return. */
enum pam_sectx_group {
	PAM_SECTX_GROUP_AUTH,
	PAM_SECTX_GROUP_ACCT,
	PAM_SECTX_GROUP_PASSWORD_PRELIM,
	PAM_SECTX_GROUP_PASSWORD_UPDATE,
	PAM_SECTX_GROUP_SETCRED,
	PAM_SECTX_GROUP_SESSION,
};

/* The PAM code a pam_sm_* function of group returns for a pam_sectx_call
 * that returned call_ret with rep_result: the PAM code of the same name when
 * the group may return it (a few are translated: see the table), the group's
 * "unavailable" code when the helper could not be reached, the group's
 * fail-closed code for anything else.  Then ignore_unknown_user turns
 * USER_UNKNOWN into PAM_IGNORE, and ignore_authinfo_unavail turns an
 * unreachable helper or realm into PAM_IGNORE. */
int pam_sectx_map_result(enum pam_sectx_group group, int call_ret, uint32_t rep_result,
			 const struct pam_sectx_opts *opts);

/* --- the groups (auth.c, account.c, password.c, session.c) ---------------------
 * Each returns the PAM code its pam_sm_* entry point returns. */
int pam_sectx_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv);
int pam_sectx_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv);
int pam_sectx_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv);
int pam_sectx_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv);
int pam_sectx_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv);
int pam_sectx_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv);

#endif /* PAM_SECTX_H */
