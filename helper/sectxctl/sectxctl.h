/*
 * sectxctl/sectxctl.h - what sectxctl's files share: the exit codes, the
 * connection to sectxd, the command table and each command group's entry
 * points.
 *
 * sectxctl is a client like any other: it connects to pam.sock per call and
 * sectxd decides by its uid what it may do.  It holds no privilege of its
 * own and must not be installed setuid.
 */
#ifndef SECTXCTL_H
#define SECTXCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"
#include "proto.h"

#ifndef SECTX_DEFAULT_CONFIG
#define SECTX_DEFAULT_CONFIG "/etc/sectx/sectx.conf"
#endif

/* Exit codes (documented in sectxctl(8)). */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define DEFAULT_TIMEOUT_MS 5000

struct command;

struct ctl {
	const struct command *cmd; /* the command running */
	const char *socket_dir;
	const char *config_path; /* --config, for doctor and auth-test */
	int64_t timeout_ms;
	bool quiet_errors; /* doctor: call() prints nothing, the step says why */
	char last_error[512];
	uint8_t req[SECTX_FRAME_MAX];
	uint8_t resp[SECTX_FRAME_MAX];
	struct sectx_msg reply;
};

/* A command: name, one-line synopsis, help text, and its runner, which
 * gets argv from the command name on. */
struct command {
	const char *name;
	const char *synopsis;
	const char *help;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/* --- client.c ----------------------------------------------------------- */

/* Send the frame in ctl->req (reqlen bytes) and wait for its reply.  On
 * failure prints the reason (unless quiet_errors; it is kept in last_error
 * either way) and returns the exit code; on EXIT_OK the reply is in
 * ctl->reply. */
int ctl_call(struct ctl *ctl, size_t reqlen);
/* Start a request frame for op in ctl->req. */
void ctl_begin(struct ctl *ctl, struct sectx_wbuf *w, uint16_t op);
/* End the frame in w and call: the exit code of ctl_call. */
int ctl_finish(struct ctl *ctl, struct sectx_wbuf *w);
/* A request with no fields. */
int ctl_simple(struct ctl *ctl, uint16_t op);
/* Copy a string field of the reply into out ("" if absent). */
void ctl_reply_string(struct ctl *ctl, uint16_t tag, char *out, size_t outsz);

/* Parse the options every command takes: --json and --help (which prints
 * cmd's help and makes the caller return EXIT_OK).  Other arguments are
 * left in argv[1..*argc) in order.  Returns -1 to go on, else the exit code
 * to return. */
int ctl_common_opts(struct ctl *ctl, int *argc, char **argv, bool *json);
/* ctl_common_opts, then check that min to max arguments are left (a usage
 * error saying what otherwise). */
int ctl_opts_args(struct ctl *ctl, int *argc, char **argv, bool *json, int min, int max,
		  const char *what);
/* Print cmd's usage to f. */
void ctl_command_help(FILE *f, const struct command *cmd);
/* Report a usage error for cmd: EXIT_USAGE. */
int ctl_usage_error(struct ctl *ctl, const char *what);

/* --- the commands (each file's table) ----------------------------------- */

extern const struct command sectxctl_daemon_commands[]; /* cmd_daemon.c */
extern const struct command sectxctl_ident_commands[];	/* cmd_ident.c */
extern const struct command sectxctl_auth_commands[];	/* auth_test.c */
extern const struct command sectxctl_doctor_commands[]; /* doctor.c */

#endif /* SECTXCTL_H */
