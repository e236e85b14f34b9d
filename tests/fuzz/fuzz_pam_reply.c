/*
 * fuzz_pam_reply.c - libFuzzer harness for the PAM module's handling of the
 * helper's replies (pam/helper_call.c and the groups that act on a reply:
 * auth.c, account.c, password.c, session.c; the reply frame is read by
 * common/client.c).  pam_sectx.so runs inside login services as root; a
 * reply it misreads could crash sshd or, worse, let a login through.
 *
 * One input is one PAM transaction of user alice: pam_start, then
 * authenticate, acct_mgmt, chauthtok (PRELIM and UPDATE), setcred,
 * open_session, setcred again, close_session and setcred DELETE, called
 * directly as libpam would, with options the first bytes pick.  Every
 * connection to the helper is a socketpair (sectx_client_connect is
 * wrapped) whose other end already holds the rest of the input and is shut
 * for writing: the module's real client reads the reply frame from it, and
 * what it did not read is the next call's.  A switch in the first byte
 * makes the harness patch each frame's op and reqid to those of the request
 * it answers (the reqid is the pid, which no saved input can know), so the
 * fuzzer spends its time past the client's checks.
 *
 * Checked: every request the module sends is a frame the codec accepts,
 * for alice; every line shown to the user is a valid string; and the
 * module fails closed: an entry point returns PAM_SUCCESS only if the last
 * reply it read said OK and PAM_RESULT SUCCESS (authenticate: and named
 * the login handle the module then keeps), whatever came before.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "client.h"
#include "internal.h"
#include "proto.h"

#define USER	"alice"
#define SERVICE "sectx-fuzz"

static char confdir[256];

/* --- the helper: replies from the input -------------------------------------------------- */

static struct fz replies;
static bool patch = true;
static int peer = -1;
static bool last_yes;			       /* the last reply read said OK, SUCCESS */
static char last_handle[SECTX_HANDLE_LEN + 1]; /* and named this handle ("" none) */
static uint8_t sendbuf[8192 + SECTX_HDR_LEN];

int __real_sectx_client_connect(const char *dir, const char *name, int64_t deadline,
				struct sectx_conn *c);
int __wrap_sectx_client_connect(const char *dir, const char *name, int64_t deadline,
				struct sectx_conn *c);
int __real_sectx_client_call_fd(struct sectx_conn *c, const void *req, size_t reqlen, int fd,
				void *resp, size_t respcap, struct sectx_msg *msg, uint32_t *status,
				int64_t deadline);
int __wrap_sectx_client_call_fd(struct sectx_conn *c, const void *req, size_t reqlen, int fd,
				void *resp, size_t respcap, struct sectx_msg *msg, uint32_t *status,
				int64_t deadline);
void __real_sectx_client_close(struct sectx_conn *c);
void __wrap_sectx_client_close(struct sectx_conn *c);
void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int __wrap_sectx_client_connect(const char *dir, const char *name, int64_t deadline,
				struct sectx_conn *c)
{
	int sv[2];

	(void)dir;
	(void)deadline;
	FUZZ_CHECK(strcmp(name, SECTX_PAM_SOCKET) == 0);
	c->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		return -errno;
	}
	c->fd = sv[0];
	c->pid = getpid();
	c->euid = geteuid();
	peer = sv[1];
	return 0;
}

int __wrap_sectx_client_call_fd(struct sectx_conn *c, const void *req, size_t reqlen, int fd,
				void *resp, size_t respcap, struct sectx_msg *msg, uint32_t *status,
				int64_t deadline)
{
	struct sectx_msg rq;
	struct sectx_hdr h;
	char s[SECTX_NAME_MAX + 1];
	size_t n = replies.n < sizeof(sendbuf) ? replies.n : sizeof(sendbuf), got = 0;
	int unread = 0, ret;
	uint32_t result = 0;

	/* what the module sends is a frame we would accept, for alice */
	FUZZ_CHECK(sectx_msg_parse(req, reqlen, &rq) == 0);
	FUZZ_CHECK(rq.hdr.version == SECTX_PROTO_VERSION);
	FUZZ_CHECK(sectx_msg_get_string(&rq, SECTX_TAG_USER, s, sizeof(s), SECTX_NAME_MAX) == 0 &&
		   strcmp(s, USER) == 0);
	FUZZ_CHECK(sectx_msg_get_string(&rq, SECTX_TAG_SERVICE, s, sizeof(s), SECTX_NAME_MAX) ==
		       0 &&
		   strcmp(s, SERVICE) == 0);

	/* the helper's answer: the rest of the input */
	if (n > 0) {
		memcpy(sendbuf, replies.p, n);
	}
	h = rq.hdr;
	if (patch && n >= SECTX_HDR_LEN) {
		uint16_t op = (uint16_t)(h.op | SECTX_OP_REPLY);

		sendbuf[6] = (uint8_t)(op >> 8);
		sendbuf[7] = (uint8_t)op;
		memcpy(sendbuf + 8, (const uint8_t *)req + 8, 4); /* the reqid, as sent */
	}
	if (n > 0) {
		ssize_t w = send(peer, sendbuf, n, MSG_NOSIGNAL);

		FUZZ_CHECK(w == (ssize_t)n);
	}
	shutdown(peer, SHUT_WR);

	last_yes = false;
	last_handle[0] = '\0';
	ret = __real_sectx_client_call_fd(c, req, reqlen, fd, resp, respcap, msg, status, deadline);
	if (ret == 0 && *status == SECTX_OK &&
	    sectx_msg_get_u32(msg, SECTX_TAG_PAM_RESULT, &result) == 0 &&
	    result == SECTX_PAM_SUCCESS) {
		last_yes = true;
		(void)sectx_msg_get_string(msg, SECTX_TAG_HANDLE, last_handle, sizeof(last_handle),
					   SECTX_HANDLE_LEN);
	}
	/* what the client did not read is the next call's */
	FUZZ_CHECK(ioctl(c->fd, FIONREAD, &unread) == 0 && unread >= 0 && (size_t)unread <= n);
	got = n - (size_t)unread;
	replies.p += got;
	replies.n -= got;
	return ret;
}

void __wrap_sectx_client_close(struct sectx_conn *c)
{
	if (peer >= 0) {
		close(peer);
		peer = -1;
	}
	__real_sectx_client_close(c);
}

void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	(void)pamh;
	(void)priority;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

/* --- the application's side --------------------------------------------------------------- */

struct app {
	bool conv_fails;
	unsigned prompts;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
	struct app *a = appdata;
	struct pam_response *r;
	int i;

	*resp = NULL;
	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL) {
		return PAM_BUF_ERR;
	}
	for (i = 0; i < n; i++) {
		const char *t = msg[i]->msg;

		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
		case PAM_ERROR_MSG:
			/* a line from the helper reaches the user only if it is one */
			FUZZ_CHECK(t != NULL && sectx_validate_string((const uint8_t *)t, strlen(t),
								      SECTX_STRING_MAX) == 0);
			break;
		default:
			if (a->conv_fails || ++a->prompts > 16) {
				free(r);
				return PAM_CONV_ERR;
			}
			r[i].resp = strdup("new-secret");
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[300];
	FILE *fp;

	(void)argc;
	(void)argv;
	snprintf(confdir, sizeof(confdir), "%s", fuzz_dir_make());
	snprintf(path, sizeof(path), "%s/%s", confdir, SERVICE);
	fp = fopen(path, "w");
	if (fp == NULL) {
		abort();
	}
	/* no module: libpam then loads nothing at each pam_start */
	fputs("# the harness calls pam_sectx_* itself\n", fp);
	fclose(fp);
	return 0;
}

/* The module kept the handle the last reply named, and it is one. */
static void check_handle_kept(pam_handle_t *pamh)
{
	const void *data = NULL;

	FUZZ_CHECK(pam_get_data(pamh, PAM_SECTX_DATA_HANDLE, &data) == PAM_SUCCESS && data != NULL);
	FUZZ_CHECK(pam_sectx_handle_valid(data) && strcmp(data, last_handle) == 0);
}

/* What the module put in the PAM environment is well-formed. */
static void check_env(pam_handle_t *pamh)
{
	const char *h = pam_getenv(pamh, PAM_SECTX_ENV_HANDLE);
	const char *cc = pam_getenv(pamh, PAM_SECTX_ENV_CCACHE);

	FUZZ_CHECK(h == NULL || pam_sectx_handle_valid(h));
	FUZZ_CHECK(cc == NULL ||
		   (cc[0] != '\0' &&
		    sectx_validate_string((const uint8_t *)cc, strlen(cc), SECTX_STRING_MAX) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in), opt2 = fz_u8(&in);
	struct app a = {.conv_fails = (opt2 & 1) != 0};
	struct pam_conv pc = {conv, &a};
	pam_handle_t *pamh = NULL;
	const char *argv[12];
	char sockdir[300];
	int argc = 0, flags = opt & 1 ? PAM_SILENT : 0, ret;

	snprintf(sockdir, sizeof(sockdir), "socket_dir=%s", "/run/sectx-fuzz");
	argv[argc++] = sockdir;
	argv[argc++] = "minimum_uid=0";
	argv[argc++] = "no_ticket_auth";
	argv[argc++] = opt & 4 ? "use_first_pass" : "try_first_pass";
	if (opt & 8) {
		argv[argc++] = "retain_after_close";
	}
	if (opt & 16) {
		argv[argc++] = "ignore_unknown_user";
	}
	if (opt & 32) {
		argv[argc++] = "ignore_authinfo_unavail";
	}
	if (opt & 64) {
		argv[argc++] = "debug";
	}
	if (opt & 128) {
		argv[argc++] = "use_authtok";
	}
	patch = (opt & 2) == 0;
	replies = in;

	FUZZ_CHECK(pam_start_confdir(SERVICE, USER, &pc, confdir, &pamh) == PAM_SUCCESS);
	if (opt2 & 2) {
		pam_set_item(pamh, PAM_AUTHTOK, "secret");
	}
	if (opt2 & 4) {
		pam_set_item(pamh, PAM_RHOST, "192.0.2.7"); /* a literal: libpam
							     * resolves names */
	}

	last_yes = false;
	ret = pam_sectx_authenticate(pamh, flags, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
	if (ret == PAM_SUCCESS) {
		check_handle_kept(pamh);
	}
	check_env(pamh);

	last_yes = false;
	ret = pam_sectx_acct_mgmt(pamh, flags, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);

	if (opt2 & 8) {
		int cflags = flags | (opt2 & 16 ? PAM_CHANGE_EXPIRED_AUTHTOK : 0);

		last_yes = false;
		ret = pam_sectx_chauthtok(pamh, cflags | PAM_PRELIM_CHECK, argc, argv);
		if (ret == PAM_SUCCESS) {
			last_yes = false;
			ret = pam_sectx_chauthtok(pamh, cflags | PAM_UPDATE_AUTHTOK, argc, argv);
			FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
		}
		check_env(pamh);
	}

	last_yes = false;
	ret = pam_sectx_setcred(pamh, flags | PAM_ESTABLISH_CRED, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
	check_env(pamh);
	last_yes = false;
	ret = pam_sectx_open_session(pamh, flags, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
	check_env(pamh);
	last_yes = false;
	ret = pam_sectx_setcred(
	    pamh, flags | (opt2 & 32 ? PAM_REFRESH_CRED : PAM_REINITIALIZE_CRED), argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
	check_env(pamh);
	last_yes = false;
	ret = pam_sectx_close_session(pamh, flags, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);
	check_env(pamh);
	last_yes = false;
	ret = pam_sectx_setcred(pamh, flags | PAM_DELETE_CRED, argc, argv);
	FUZZ_CHECK(ret != PAM_SUCCESS || last_yes);

	pam_end(pamh, PAM_SUCCESS);
	return 0;
}
