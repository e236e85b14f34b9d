/*
 * tests/integration/pam_driver.c - the PAM application of the integration tests: runs one
 * scripted transaction through real libpam (under pam_wrapper) and prints
 * what a login service would see.
 *
 *   pam_driver [options] SERVICE USER STEP...
 *
 * Steps run in order, whatever the previous one returned:
 *   authenticate  acct_mgmt  chauthtok  chauthtok_expired (PAM_CHANGE_EXPIRED_AUTHTOK)
 *   setcred (= establish)  setcred_reinitialize  setcred_refresh  setcred_delete
 *   open_session  close_session  env (print the PAM environment)
 *   fds (print the process's open sockets)  user=NAME (set PAM_USER)
 * Options:
 *   --rhost HOST  --tty TTY  --ruser USER   set those items before the steps
 *   --putenv NAME=VALUE   pam_putenv before the steps (repeatable)
 *   --silent              pass PAM_SILENT to every step
 *   --real-delay          let libpam sleep on failure (default: record the
 *                         delay the modules asked for, without sleeping)
 *   --real-uid UID:GID    (as root) set the real uid and gid to these and keep
 *                         euid 0, as sudo and su run their PAM stack.  Done
 *                         here, after exec: a process exec'd that way would be
 *                         AT_SECURE, and ld.so would drop pam_wrapper.
 * The conversation answers each prompt with the next line of standard input
 * (all of it is read first); with no line left it fails the conversation.
 *
 * Output, one line per event, text as received:
 *   prompt_echo_off TEXT | prompt_echo_on TEXT | info TEXT | error TEXT
 *   fail_delay USEC
 *   step NAME RC PAM_NAME
 *   env NAME=VALUE ... then env_end
 *   fd N socket PEER ... (PEER: the path the socket is connected to, or -)
 *   then fds_end
 * Exit status 0 when every step ran (whatever they returned), 2 on a usage
 * or libpam set-up error.  A test tool, never installed: it must never
 * print the answers it gives (they are passwords), only the prompts.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_ANSWERS 64
#define MAX_PUTENV  16
#define ANSWER_MAX  4096

struct answers {
	char *line[MAX_ANSWERS];
	int n;
	int next;
};

static const char *const code_names[] = {
    [PAM_SUCCESS] = "PAM_SUCCESS",
    [PAM_OPEN_ERR] = "PAM_OPEN_ERR",
    [PAM_SYMBOL_ERR] = "PAM_SYMBOL_ERR",
    [PAM_SERVICE_ERR] = "PAM_SERVICE_ERR",
    [PAM_SYSTEM_ERR] = "PAM_SYSTEM_ERR",
    [PAM_BUF_ERR] = "PAM_BUF_ERR",
    [PAM_PERM_DENIED] = "PAM_PERM_DENIED",
    [PAM_AUTH_ERR] = "PAM_AUTH_ERR",
    [PAM_CRED_INSUFFICIENT] = "PAM_CRED_INSUFFICIENT",
    [PAM_AUTHINFO_UNAVAIL] = "PAM_AUTHINFO_UNAVAIL",
    [PAM_USER_UNKNOWN] = "PAM_USER_UNKNOWN",
    [PAM_MAXTRIES] = "PAM_MAXTRIES",
    [PAM_NEW_AUTHTOK_REQD] = "PAM_NEW_AUTHTOK_REQD",
    [PAM_ACCT_EXPIRED] = "PAM_ACCT_EXPIRED",
    [PAM_SESSION_ERR] = "PAM_SESSION_ERR",
    [PAM_CRED_UNAVAIL] = "PAM_CRED_UNAVAIL",
    [PAM_CRED_EXPIRED] = "PAM_CRED_EXPIRED",
    [PAM_CRED_ERR] = "PAM_CRED_ERR",
    [PAM_NO_MODULE_DATA] = "PAM_NO_MODULE_DATA",
    [PAM_CONV_ERR] = "PAM_CONV_ERR",
    [PAM_AUTHTOK_ERR] = "PAM_AUTHTOK_ERR",
    [PAM_AUTHTOK_RECOVERY_ERR] = "PAM_AUTHTOK_RECOVERY_ERR",
    [PAM_AUTHTOK_LOCK_BUSY] = "PAM_AUTHTOK_LOCK_BUSY",
    [PAM_AUTHTOK_DISABLE_AGING] = "PAM_AUTHTOK_DISABLE_AGING",
    [PAM_TRY_AGAIN] = "PAM_TRY_AGAIN",
    [PAM_IGNORE] = "PAM_IGNORE",
    [PAM_ABORT] = "PAM_ABORT",
    [PAM_AUTHTOK_EXPIRED] = "PAM_AUTHTOK_EXPIRED",
    [PAM_MODULE_UNKNOWN] = "PAM_MODULE_UNKNOWN",
    [PAM_BAD_ITEM] = "PAM_BAD_ITEM",
    [PAM_CONV_AGAIN] = "PAM_CONV_AGAIN",
    [PAM_INCOMPLETE] = "PAM_INCOMPLETE",
};

static const char *code_name(int rc)
{
	if (rc >= 0 && (size_t)rc < sizeof(code_names) / sizeof(code_names[0]) &&
	    code_names[rc] != NULL) {
		return code_names[rc];
	}
	return "PAM_UNKNOWN_CODE";
}

/* Print a line of text from a module, keeping it on one output line. */
static void print_text(const char *kind, const char *text)
{
	const char *p;

	printf("%s ", kind);
	for (p = text != NULL ? text : ""; *p != '\0'; p++) {
		putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
	}
	putchar('\n');
}

static int conversation(int num_msg, const struct pam_message **msg, struct pam_response **resp,
			void *appdata)
{
	struct answers *ans = appdata;
	struct pam_response *r;
	int i;

	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG) {
		return PAM_CONV_ERR;
	}
	r = calloc((size_t)num_msg, sizeof(*r));
	if (r == NULL) {
		return PAM_BUF_ERR;
	}
	for (i = 0; i < num_msg; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			print_text(msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? "prompt_echo_off"
									    : "prompt_echo_on",
				   msg[i]->msg);
			if (ans->next >= ans->n) {
				printf("conv_exhausted\n");
				goto fail;
			}
			r[i].resp = strdup(ans->line[ans->next++]);
			if (r[i].resp == NULL) {
				goto fail;
			}
			break;
		case PAM_TEXT_INFO:
			print_text("info", msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			print_text("error", msg[i]->msg);
			break;
		default:
			print_text("unknown_style", msg[i]->msg);
			goto fail;
		}
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < num_msg; i++) {
		if (r[i].resp != NULL) {
			memset(r[i].resp, 0, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	fflush(stdout);
	return PAM_CONV_ERR;
}

static void record_delay(int retval, unsigned usec, void *appdata)
{
	(void)retval;
	(void)appdata;
	printf("fail_delay %u\n", usec);
	fflush(stdout);
}

static void read_answers(struct answers *ans)
{
	char buf[ANSWER_MAX];

	while (ans->n < MAX_ANSWERS && fgets(buf, sizeof(buf), stdin) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		ans->line[ans->n] = strdup(buf);
		if (ans->line[ans->n] == NULL) {
			break;
		}
		ans->n++;
	}
	memset(buf, 0, sizeof(buf));
}

static void print_env(pam_handle_t *pamh)
{
	char **env = pam_getenvlist(pamh);
	char **e;

	for (e = env; e != NULL && *e != NULL; e++) {
		print_text("env", *e);
		free(*e);
	}
	free(env);
	printf("env_end\n");
}

/* Every open socket of this process and the path of its peer (what a
 * module left connected, e.g. to the helper), then fds_end. */
static void print_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		struct sockaddr_un sun;
		socklen_t len = sizeof(sun);
		struct stat st;
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) != 0 ||
		    !S_ISSOCK(st.st_mode)) {
			continue;
		}
		memset(&sun, 0, sizeof(sun));
		if (getpeername(fd, (struct sockaddr *)&sun, &len) == 0 &&
		    sun.sun_family == AF_UNIX && len > sizeof(sa_family_t) &&
		    sun.sun_path[0] != '\0') {
			printf("fd %d socket %.*s\n", fd, (int)sizeof(sun.sun_path), sun.sun_path);
		} else {
			printf("fd %d socket -\n", fd);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
	printf("fds_end\n");
}

/* Run one step; returns its PAM code, or -1 for an unknown step. */
static int run_step(pam_handle_t *pamh, const char *step, int silent)
{
	if (strcmp(step, "authenticate") == 0) {
		return pam_authenticate(pamh, silent);
	}
	if (strcmp(step, "acct_mgmt") == 0) {
		return pam_acct_mgmt(pamh, silent);
	}
	if (strcmp(step, "chauthtok") == 0) {
		return pam_chauthtok(pamh, silent);
	}
	if (strcmp(step, "chauthtok_expired") == 0) {
		return pam_chauthtok(pamh, silent | PAM_CHANGE_EXPIRED_AUTHTOK);
	}
	if (strcmp(step, "setcred") == 0) {
		return pam_setcred(pamh, silent | PAM_ESTABLISH_CRED);
	}
	if (strcmp(step, "setcred_reinitialize") == 0) {
		return pam_setcred(pamh, silent | PAM_REINITIALIZE_CRED);
	}
	if (strcmp(step, "setcred_refresh") == 0) {
		return pam_setcred(pamh, silent | PAM_REFRESH_CRED);
	}
	if (strcmp(step, "setcred_delete") == 0) {
		return pam_setcred(pamh, silent | PAM_DELETE_CRED);
	}
	if (strcmp(step, "open_session") == 0) {
		return pam_open_session(pamh, silent);
	}
	if (strcmp(step, "close_session") == 0) {
		return pam_close_session(pamh, silent);
	}
	if (strcmp(step, "env") == 0) {
		print_env(pamh);
		return PAM_SUCCESS;
	}
	if (strcmp(step, "fds") == 0) {
		print_fds();
		return PAM_SUCCESS;
	}
	if (strncmp(step, "user=", 5) == 0) {
		return pam_set_item(pamh, PAM_USER, step + 5);
	}
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: pam_driver [--rhost H] [--tty T] [--ruser U] "
			"[--putenv N=V]... [--silent] [--real-delay] [--real-uid U:G] "
			"SERVICE USER STEP...\n");
	return 2;
}

/* --real-uid UID:GID: real ids of the user, effective and saved ids 0.
 * 0, or -1 with a message. */
static int set_real_ids(const char *spec)
{
	char *end = NULL;
	unsigned long uid, gid;

	uid = strtoul(spec, &end, 10);
	if (end == spec || *end != ':') {
		fprintf(stderr, "pam_driver: --real-uid takes UID:GID\n");
		return -1;
	}
	spec = end + 1;
	gid = strtoul(spec, &end, 10);
	if (end == spec || *end != '\0') {
		fprintf(stderr, "pam_driver: --real-uid takes UID:GID\n");
		return -1;
	}
	if (setresgid((gid_t)gid, 0, 0) != 0 || setresuid((uid_t)uid, 0, 0) != 0) {
		perror("pam_driver: --real-uid");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct answers ans = {.n = 0, .next = 0};
	struct pam_conv conv = {conversation, &ans};
	const char *rhost = NULL, *tty = NULL, *ruser = NULL, *real_ids = NULL;
	const char *putenvs[MAX_PUTENV];
	pam_handle_t *pamh = NULL;
	int n_putenv = 0;
	int silent = 0;
	int real_delay = 0;
	int last = PAM_SUCCESS;
	int status = 2;
	int rc;
	int i;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--silent") == 0) {
			silent = PAM_SILENT;
		} else if (strcmp(argv[i], "--real-delay") == 0) {
			real_delay = 1;
		} else if (i + 1 < argc && strcmp(argv[i], "--rhost") == 0) {
			rhost = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--tty") == 0) {
			tty = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--ruser") == 0) {
			ruser = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--real-uid") == 0) {
			real_ids = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--putenv") == 0 &&
			   n_putenv < MAX_PUTENV) {
			putenvs[n_putenv++] = argv[++i];
		} else {
			return usage();
		}
	}
	if (argc - i < 3) {
		return usage();
	}
	read_answers(&ans);
	if (real_ids != NULL && set_real_ids(real_ids) != 0) {
		return 2;
	}

	rc = pam_start(argv[i], argv[i + 1], &conv, &pamh);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_driver: pam_start: %s\n", code_name(rc));
		goto done;
	}
	if ((rhost != NULL && pam_set_item(pamh, PAM_RHOST, rhost) != PAM_SUCCESS) ||
	    (tty != NULL && pam_set_item(pamh, PAM_TTY, tty) != PAM_SUCCESS) ||
	    (ruser != NULL && pam_set_item(pamh, PAM_RUSER, ruser) != PAM_SUCCESS) ||
	    (!real_delay &&
	     pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)record_delay) != PAM_SUCCESS)) {
		fprintf(stderr, "pam_driver: pam_set_item failed\n");
		goto done;
	}
	for (rc = 0; rc < n_putenv; rc++) {
		if (pam_putenv(pamh, putenvs[rc]) != PAM_SUCCESS) {
			fprintf(stderr, "pam_driver: pam_putenv failed\n");
			goto done;
		}
	}
	for (i += 2; i < argc; i++) {
		rc = run_step(pamh, argv[i], silent);
		if (rc < 0) {
			fprintf(stderr, "pam_driver: unknown step %s\n", argv[i]);
			goto done;
		}
		printf("step %s %d %s\n", argv[i], rc, code_name(rc));
		fflush(stdout);
		last = rc;
	}
	status = 0;
done:
	if (pamh != NULL) {
		pam_end(pamh, last);
	}
	for (i = 0; i < ans.n; i++) {
		memset(ans.line[i], 0, strlen(ans.line[i]));
		free(ans.line[i]);
	}
	return status;
}
