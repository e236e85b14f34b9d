/*
 * sectxctl/auth_test.c - auth-test: run the real PAM stack of a service for
 * a user, as a login program would, and show each PAM call's result with
 * what sectxd logged meanwhile.
 *
 * It runs with the privileges of whoever runs sectxctl: testing another
 * user's login needs root, as for any login program (the stack's modules
 * decide).  Prompts are answered from the terminal (/dev/tty, else
 * stdin), with echo off for PAM_PROMPT_ECHO_OFF; answers are scrubbed once
 * handed to libpam, never printed or logged.  sectxd's log lines come from
 * the root-only LOG_TAIL operation; as another user they are left out.
 */
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "sectxctl.h"

#define ANSWER_MAX	1024
#define LOG_POLL_MS	50   /* between two LOG_TAIL requests */
#define LOG_QUIET_MS	300  /* no new line for this long: the call's lines are all in */
#define LOG_WAIT_MAX_MS 3000 /* at most this long after a call */

struct auth_test {
	struct ctl *ctl;
	FILE *in, *out;
	bool json, log_ok;
	uint64_t seq; /* the newest sectxd log line seen */
	struct out o;
};

/* Show prompt and read one line from t->in into buf, without echo if !echo
 * (turned off before the prompt is shown, so that nothing typed early is
 * echoed).  0 or -1. */
static int read_answer(struct auth_test *t, const char *prompt, char *buf, size_t size, bool echo)
{
	struct termios saved, quiet;
	int fd = fileno(t->in);
	bool restore = false;
	size_t len;
	int ret = 0;

	if (!echo && tcgetattr(fd, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	fprintf(t->out, "%s", prompt);
	fflush(t->out);
	if (fgets(buf, (int)size, t->in) == NULL) {
		ret = -1;
	} else {
		len = strcspn(buf, "\r\n");
		buf[len] = '\0';
	}
	if (restore) {
		(void)tcsetattr(fd, TCSADRAIN, &saved);
		fputc('\n', t->out);
	}
	return ret;
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct auth_test *t = data;
	struct pam_response *r;
	char buf[ANSWER_MAX];
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG) {
		return PAM_CONV_ERR;
	}
	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL) {
		return PAM_BUF_ERR;
	}
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if (read_answer(t, msg[i]->msg, buf, sizeof(buf),
					msg[i]->msg_style == PAM_PROMPT_ECHO_ON) != 0) {
				goto fail;
			}
			r[i].resp = strdup(buf);
			explicit_bzero(buf, sizeof(buf));
			if (r[i].resp == NULL) {
				goto fail;
			}
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			fprintf(t->out, "%s\n", msg[i]->msg);
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	explicit_bzero(buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

static const char *pam_code_name(int code)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
	    {PAM_SUCCESS, "PAM_SUCCESS"},
	    {PAM_AUTH_ERR, "PAM_AUTH_ERR"},
	    {PAM_USER_UNKNOWN, "PAM_USER_UNKNOWN"},
	    {PAM_AUTHINFO_UNAVAIL, "PAM_AUTHINFO_UNAVAIL"},
	    {PAM_CRED_INSUFFICIENT, "PAM_CRED_INSUFFICIENT"},
	    {PAM_MAXTRIES, "PAM_MAXTRIES"},
	    {PAM_NEW_AUTHTOK_REQD, "PAM_NEW_AUTHTOK_REQD"},
	    {PAM_ACCT_EXPIRED, "PAM_ACCT_EXPIRED"},
	    {PAM_PERM_DENIED, "PAM_PERM_DENIED"},
	    {PAM_AUTHTOK_ERR, "PAM_AUTHTOK_ERR"},
	    {PAM_AUTHTOK_RECOVERY_ERR, "PAM_AUTHTOK_RECOVERY_ERR"},
	    {PAM_CRED_ERR, "PAM_CRED_ERR"},
	    {PAM_SESSION_ERR, "PAM_SESSION_ERR"},
	    {PAM_SYSTEM_ERR, "PAM_SYSTEM_ERR"},
	    {PAM_IGNORE, "PAM_IGNORE"},
	    {PAM_CONV_ERR, "PAM_CONV_ERR"},
	    {PAM_ABORT, "PAM_ABORT"},
	    {PAM_SERVICE_ERR, "PAM_SERVICE_ERR"},
	    {PAM_BUF_ERR, "PAM_BUF_ERR"},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].code == code) {
			return names[i].name;
		}
	}
	return "PAM_?";
}

/* The newest log line's number (no lines): where the next call's start. */
static void log_mark(struct auth_test *t)
{
	struct sectx_wbuf w;

	if (!t->log_ok) {
		return;
	}
	ctl_begin(t->ctl, &w, SECTX_OP_LOG_TAIL);
	if (ctl_finish(t->ctl, &w) != EXIT_OK ||
	    sectx_msg_get_u64(&t->ctl->reply, SECTX_TAG_SEQ, &t->seq) != 0) {
		t->log_ok = false;
		fprintf(stderr, "sectxctl auth-test: sectxd's log not shown: %s\n",
			t->ctl->last_error[0] != '\0' ? t->ctl->last_error : "no answer");
	}
}

/* Print the lines sectxd logged since log_mark. */
static void log_show(struct auth_test *t)
{
	char line[SECTX_STRING_MAX + 1];
	struct sectx_field f;
	struct sectx_wbuf w;
	int quiet_ms = 0, waited_ms = 0;
	bool got;
	size_t pos;

	if (!t->log_ok) {
		return;
	}
	out_arr_begin(&t->o, "sectxd_log");
	/* sectxd may log after it replied: take lines until none has come for
	 * LOG_QUIET_MS (at most LOG_WAIT_MAX_MS) */
	while (waited_ms < LOG_WAIT_MAX_MS) {
		ctl_begin(t->ctl, &w, SECTX_OP_LOG_TAIL);
		sectx_put_u64(&w, SECTX_TAG_SEQ, t->seq);
		if (ctl_finish(t->ctl, &w) != EXIT_OK) {
			break;
		}
		got = false;
		for (pos = 0; sectx_msg_next(&t->ctl->reply, SECTX_TAG_LOG_LINE, &pos, &f) == 0;) {
			if (sectx_field_string(&f, line, sizeof(line), SECTX_STRING_MAX) == 0) {
				out_str(&t->o, NULL, line);
				got = true;
			}
		}
		(void)sectx_msg_get_u64(&t->ctl->reply, SECTX_TAG_SEQ, &t->seq);
		quiet_ms = got ? 0 : quiet_ms + LOG_POLL_MS;
		if (quiet_ms >= LOG_QUIET_MS) {
			break;
		}
		usleep(LOG_POLL_MS * 1000);
		waited_ms += LOG_POLL_MS;
	}
	out_arr_end(&t->o);
}

/* Run one PAM call and report it.  Returns its code. */
static int step(struct auth_test *t, pam_handle_t *pamh, const char *name,
		int (*fn)(pam_handle_t *, int), int flags)
{
	int code;

	log_mark(t);
	code = fn(pamh, flags);
	if (t->json) {
		out_obj_begin(&t->o, NULL);
		out_str(&t->o, "call", name);
		out_str(&t->o, "result", pam_code_name(code));
		out_str(&t->o, "message", pam_strerror(pamh, code));
		log_show(t);
		out_obj_end(&t->o);
	} else {
		printf("%s: %s (%s)\n", name, pam_code_name(code), pam_strerror(pamh, code));
		out_begin(&t->o, stdout, false);
		log_show(t);
	}
	return code;
}

static int cmd_auth_test(struct ctl *ctl, int argc, char **argv)
{
	struct auth_test t = {.ctl = ctl, .log_ok = true};
	const char *service = "login", *action = NULL, *user = NULL;
	struct pam_conv pc = {conv, &t};
	pam_handle_t *pamh = NULL;
	char *tty;
	int code = PAM_SUCCESS, ret, i;
	bool json;

	ret = ctl_common_opts(ctl, &argc, argv, &json);
	if (ret >= 0) {
		return ret;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else if (strcmp(argv[i], "--action") == 0 && i + 1 < argc) {
			action = argv[++i];
		} else if (argv[i][0] != '-' && user == NULL) {
			user = argv[i];
		} else {
			return ctl_usage_error(ctl, "unexpected argument");
		}
	}
	if (user == NULL) {
		return ctl_usage_error(ctl, "USER is required");
	}
	if (action != NULL && strcmp(action, "auth") != 0 && strcmp(action, "acct") != 0 &&
	    strcmp(action, "chauthtok") != 0 && strcmp(action, "session") != 0) {
		return ctl_usage_error(ctl, "--action is auth, acct, chauthtok or session");
	}
	t.json = json;
	/* prompts on the terminal; without one, stdin and stderr */
	t.in = fopen("/dev/tty", "re");
	t.out = t.in != NULL ? fopen("/dev/tty", "we") : NULL;
	if (t.in == NULL || t.out == NULL) {
		if (t.in != NULL) {
			fclose(t.in);
		}
		t.in = stdin;
		t.out = stderr;
	}
	ctl->quiet_errors = true;
	code = pam_start(service, user, &pc, &pamh);
	if (code != PAM_SUCCESS) {
		fprintf(stderr, "sectxctl auth-test: pam_start(%s): %s\n", service,
			pam_strerror(pamh, code));
		ret = EXIT_FAILED;
		goto done;
	}
	tty = ttyname(fileno(t.in));
	if (tty != NULL) {
		(void)pam_set_item(pamh, PAM_TTY, tty);
	}
	if (json) {
		out_begin(&t.o, stdout, true);
		out_str(&t.o, "user", user);
		out_str(&t.o, "service", service);
		out_arr_begin(&t.o, "calls");
	} else {
		printf("testing service %s for user %s\n", service, user);
	}
	if (action == NULL || strcmp(action, "auth") == 0) {
		code = step(&t, pamh, "pam_authenticate", pam_authenticate, 0);
		if (code == PAM_SUCCESS && action == NULL) {
			code = step(&t, pamh, "pam_acct_mgmt", pam_acct_mgmt, 0);
		}
	} else if (strcmp(action, "acct") == 0) {
		code = step(&t, pamh, "pam_acct_mgmt", pam_acct_mgmt, 0);
	} else if (strcmp(action, "chauthtok") == 0) {
		code = step(&t, pamh, "pam_chauthtok", pam_chauthtok, 0);
	} else {
		code = step(&t, pamh, "pam_authenticate", pam_authenticate, 0);
		if (code == PAM_SUCCESS) {
			code = step(&t, pamh, "pam_acct_mgmt", pam_acct_mgmt, 0);
		}
		if (code == PAM_SUCCESS) {
			code = step(&t, pamh, "pam_open_session", pam_open_session, 0);
		}
		if (code == PAM_SUCCESS) {
			code = step(&t, pamh, "pam_close_session", pam_close_session, 0);
		}
	}
	if (json) {
		out_arr_end(&t.o);
		out_str(&t.o, "result", pam_code_name(code));
		out_end(&t.o);
	}
	ret = code == PAM_SUCCESS ? EXIT_OK : EXIT_FAILED;
done:
	if (pamh != NULL) {
		pam_end(pamh, code);
	}
	if (t.in != stdin) {
		fclose(t.in);
		fclose(t.out);
	}
	return ret;
}

const struct command sectxctl_auth_commands[] = {
    {"auth-test", "auth-test [--json] USER [--service SVC] [--action auth|acct|chauthtok|session]",
     "Run the real PAM stack of SVC (default login) for USER, prompting on the terminal\n"
     "without echo, and print each PAM call's result and the lines sectxd logged for it\n"
     "(root only: as another user the log lines are left out).  Without --action:\n"
     "pam_authenticate then pam_acct_mgmt; session: authenticate, account, open and\n"
     "close a session.  Exit 0 if every call succeeded, 1 otherwise.\n",
     cmd_auth_test},
    {NULL, NULL, NULL, NULL},
};
