/*
 * sectxctl/client.c - sectxctl's side of the socket: one connection to
 * pam.sock per call, with the deadline of --timeout, and the options every
 * command shares.  The client code (common/client.c) checks that the
 * server's uid is root before anything is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "sectxctl.h"

static void fail(struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctl->last_error, sizeof(ctl->last_error), fmt, ap);
	va_end(ap);
	if (!ctl->quiet_errors) {
		fprintf(stderr, "sectxctl: %s\n", ctl->last_error);
	}
}

int ctl_call(struct ctl *ctl, size_t reqlen)
{
	struct sectx_conn conn = SECTX_CONN_INIT;
	int64_t deadline = sectx_deadline_after(ctl->timeout_ms);
	uint32_t status = SECTX_E_INTERNAL;
	char msg[SECTX_STRING_MAX + 1];
	int ret;

	ctl->last_error[0] = '\0';
	ret = sectx_client_connect(ctl->socket_dir, SECTX_PAM_SOCKET, deadline, &conn);
	if (ret != 0) {
		fail(ctl, "cannot reach sectxd at %s/%s: %s", ctl->socket_dir, SECTX_PAM_SOCKET,
		     ret == -EPERM ? "socket is not owned by root" : sectx_strerror(ret));
		return EXIT_UNREACHABLE;
	}
	ret = sectx_client_call(&conn, ctl->req, reqlen, ctl->resp, sizeof(ctl->resp), &ctl->reply,
				&status, deadline);
	sectx_client_close(&conn);
	if (ret != 0) {
		fail(ctl, "no valid answer from sectxd: %s", sectx_strerror(ret));
		return ret == -ETIMEDOUT || ret == -ECONNRESET ? EXIT_UNREACHABLE : EXIT_FAILED;
	}
	if (status != SECTX_OK) {
		if (sectx_msg_get_string(&ctl->reply, SECTX_TAG_MESSAGE, msg, sizeof(msg),
					 SECTX_STRING_MAX) != 0) {
			snprintf(msg, sizeof(msg), "%s", sectx_status_name(status));
		}
		fail(ctl, "sectxd refused: %s", msg);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

void ctl_begin(struct ctl *ctl, struct sectx_wbuf *w, uint16_t op)
{
	sectx_frame_begin(w, ctl->req, sizeof(ctl->req), SECTX_PROTO_VERSION, op,
			  (uint32_t)getpid());
}

int ctl_finish(struct ctl *ctl, struct sectx_wbuf *w)
{
	size_t len;

	if (sectx_frame_end(w, &len) != 0) {
		fail(ctl, "cannot build the request: %s", sectx_strerror(w->err));
		return EXIT_USAGE;
	}
	return ctl_call(ctl, len);
}

int ctl_simple(struct ctl *ctl, uint16_t op)
{
	struct sectx_wbuf w;

	ctl_begin(ctl, &w, op);
	return ctl_finish(ctl, &w);
}

void ctl_reply_string(struct ctl *ctl, uint16_t tag, char *out, size_t outsz)
{
	size_t max = outsz - 1 < SECTX_STRING_MAX ? outsz - 1 : SECTX_STRING_MAX;

	if (sectx_msg_get_string(&ctl->reply, tag, out, outsz, max) != 0) {
		out[0] = '\0';
	}
}

void ctl_command_help(FILE *f, const struct command *cmd)
{
	fprintf(f, "usage: sectxctl [GLOBAL OPTIONS] %s\n\n%s", cmd->synopsis, cmd->help);
}

int ctl_usage_error(struct ctl *ctl, const char *what)
{
	fprintf(stderr, "sectxctl %s: %s\n", ctl->cmd->name, what);
	fprintf(stderr, "usage: sectxctl %s (see sectxctl %s --help)\n", ctl->cmd->synopsis,
		ctl->cmd->name);
	return EXIT_USAGE;
}

int ctl_common_opts(struct ctl *ctl, int *argc, char **argv, bool *json)
{
	int in, out = 1;

	if (json != NULL) {
		*json = false;
	}
	for (in = 1; in < *argc; in++) {
		if (strcmp(argv[in], "--help") == 0 || strcmp(argv[in], "-h") == 0) {
			ctl_command_help(stdout, ctl->cmd);
			return EXIT_OK;
		}
		if (json != NULL && strcmp(argv[in], "--json") == 0) {
			*json = true;
			continue;
		}
		argv[out++] = argv[in];
	}
	*argc = out;
	return -1;
}

int ctl_opts_args(struct ctl *ctl, int *argc, char **argv, bool *json, int min, int max,
		  const char *what)
{
	int ret = ctl_common_opts(ctl, argc, argv, json);

	if (ret >= 0) {
		return ret;
	}
	if (*argc - 1 < min || *argc - 1 > max) {
		return ctl_usage_error(ctl, what);
	}
	return -1;
}
