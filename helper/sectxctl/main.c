/*
 * sectxctl/main.c - the sectx admin CLI: global options and dispatch to the
 * command tables of the other files.
 *
 * A client like any other: it connects to pam.sock per call and sectxd
 * decides what its uid may do.  It holds no privilege of its own and must
 * not be installed setuid.  auth-test runs the PAM stack of a service in
 * this process, as whoever runs sectxctl (root, to test another user).
 *
 * Exit codes: 0 success; 1 refused, failed, invalid config or a FAIL step;
 * 2 usage; 3 sectxd unreachable or timed out.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "sectxctl.h"

static const struct command *const tables[] = {
    sectxctl_daemon_commands,
    sectxctl_ident_commands,
    sectxctl_auth_commands,
    sectxctl_doctor_commands,
};

static void usage(FILE *out)
{
	const struct command *c;
	size_t t;

	fprintf(out, "usage: sectxctl [--socket-dir DIR] [--timeout MS] [--config FILE] COMMAND "
		     "[ARGS]\ncommands:\n");
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (c = tables[t]; c->name != NULL; c++) {
			fprintf(out, "  %s\n", c->synopsis);
		}
	}
	fprintf(out, "every command takes --help\n"
		     "exit codes: 0 ok, 1 refused or failed, 2 usage, 3 sectxd unreachable\n");
}

static const struct command *find_command(const char *name)
{
	const struct command *c;
	size_t t;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (c = tables[t]; c->name != NULL; c++) {
			if (strcmp(c->name, name) == 0) {
				return c;
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket-dir", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 't'},
	    {"config", required_argument, NULL, 'c'},	  {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0},
	};
	struct ctl *ctl;
	char *end;
	int ret;
	int c;

	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL) {
		return EXIT_FAILED;
	}
	ctl->socket_dir = sectx_socket_dir();
	ctl->config_path = SECTX_DEFAULT_CONFIG;
	ctl->timeout_ms = DEFAULT_TIMEOUT_MS;
	/* "+": options end at the command, whose own arguments follow it */
	while ((c = getopt_long(argc, argv, "+s:t:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->socket_dir = optarg;
			break;
		case 'c':
			ctl->config_path = optarg;
			break;
		case 't':
			errno = 0;
			ctl->timeout_ms = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ctl->timeout_ms <= 0 ||
			    ctl->timeout_ms > 600000) {
				fprintf(stderr, "sectxctl: --timeout takes 1 to 600000 ms\n");
				ret = EXIT_USAGE;
				goto done;
			}
			break;
		case 'h':
			usage(stdout);
			ret = EXIT_OK;
			goto done;
		case 'V':
			printf("sectxctl %s\n", PACKAGE_VERSION);
			ret = EXIT_OK;
			goto done;
		default:
			usage(stderr);
			ret = EXIT_USAGE;
			goto done;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		ret = EXIT_USAGE;
		goto done;
	}
	ctl->cmd = find_command(argv[optind]);
	if (ctl->cmd == NULL) {
		fprintf(stderr, "sectxctl: unknown command: %s\n", argv[optind]);
		usage(stderr);
		ret = EXIT_USAGE;
		goto done;
	}
	ret = ctl->cmd->run(ctl, argc - optind, argv + optind);
done:
	free(ctl);
	return ret;
}
