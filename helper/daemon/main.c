/*
 * daemon/main.c - the privileged helper: start-up, signals, reload and shutdown.
 *
 * Started by root (systemd, see config/sectxd.service).  Before anything else
 * it marks its environment so the sectx NSS module never recurses into it,
 * makes itself non-dumpable (its memory will hold passwords and keys: no core
 * file, no ptrace by a same-uid process) and sets a umask of 077.  The
 * configuration is read once at start and again on SIGHUP; a new config that
 * does not validate is rejected whole and the running one kept.  SIGTERM stops
 * accepting, lets in-flight requests be answered (bounded by client_timeout)
 * and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <krb5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccache_writer/ccache_writer.h"
#include "clock.h"
#include "log.h"
#include "daemon/daemon_int.h"
#include "core/log_ring.h"
#include "daemon/sd_notify.h"
#include "server/server.h"

#ifndef SECTX_DEFAULT_CONFIG
#define SECTX_DEFAULT_CONFIG "/etc/sectx/sectx.conf"
#endif

struct options {
	const char *config;
	bool foreground;
	int debug_level; /* -1: from the config */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sectxd [--config FILE] [--foreground] [--debug-level LEVEL]\n"
		     "  --config FILE       configuration (default " SECTX_DEFAULT_CONFIG ")\n"
		     "  --foreground        do not fork; log to stderr\n"
		     "  --debug-level LEVEL error, warning, info, debug, trace or 0-4\n"
		     "                      (overrides log_level until the next reload)\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},	   {"foreground", no_argument, NULL, 'f'},
	    {"debug-level", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	   {NULL, 0, NULL, 0},
	};
	int c;

	o->config = SECTX_DEFAULT_CONFIG;
	o->foreground = false;
	o->debug_level = -1;
	while ((c = getopt_long(argc, argv, "c:fd:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'd':
			o->debug_level = sectx_log_level_parse(optarg);
			if (o->debug_level < 0) {
				fprintf(stderr, "sectxd: invalid debug level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("sectxd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Load path; on failure log every problem with its line and return -EINVAL. */
static int load_config(TALLOC_CTX *mem_ctx, const char *path, struct sectx_config **cfg_out)
{
	struct sectx_config_errors *errs = NULL;
	int ret;
	size_t i;

	ret = sectx_config_load_file(mem_ctx, path, cfg_out, &errs);
	if (ret != 0 && errs != NULL) {
		for (i = 0; i < errs->count; i++) {
			if (errs->items[i].line > 0) {
				SECTX_ERROR("%s:%u: %s", errs->items[i].file, errs->items[i].line,
					    errs->items[i].message);
			} else {
				SECTX_ERROR("%s: %s", errs->items[i].file, errs->items[i].message);
			}
		}
	} else if (ret != 0) {
		SECTX_ERROR("cannot load %s: %s", path, strerror(-ret));
	}
	talloc_free(errs);
	return ret;
}

static void notify(const char *state)
{
	int ret = sectx_sd_notify(state);

	if (ret != 0) {
		SECTX_WARN("cannot notify the service manager (%s): %s", state, strerror(-ret));
	}
}

static void reload(struct sectxd_ctx *hctx)
{
	struct sectx_config *cfg = NULL;
	char state[64];
	char why[256] = "";
	size_t i;

	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%lld",
		 (long long)sectx_now_ms() * 1000);
	notify(state);
	SECTX_INFO("reloading configuration from %s", hctx->config_path);
	if (load_config(hctx, hctx->config_path, &cfg) != 0) {
		SECTX_ERROR("reload rejected: %s is invalid; keeping the running configuration",
			    hctx->config_path);
		goto done;
	}
	/* Sockets and state are opened once; changing them needs a restart. */
	if (strcmp(cfg->sectxd.socket_dir, hctx->cfg->sectxd.socket_dir) != 0 ||
	    strcmp(cfg->sectxd.state_dir, hctx->cfg->sectxd.state_dir) != 0) {
		SECTX_ERROR("reload rejected: socket_dir and state_dir cannot change while sectxd "
			    "runs (restart it); keeping the running configuration");
		talloc_free(cfg);
		goto done;
	}
	for (i = 0; i < hctx->n_subsystems; i++) {
		const struct sectxd_subsystem *sub = hctx->subsystems[i];

		if (sub != NULL && sub->check_reload != NULL &&
		    sub->check_reload(hctx, cfg, why, sizeof(why)) != 0) {
			SECTX_ERROR("reload rejected by %s: %s; keeping the running configuration",
				    sub->name, why);
			talloc_free(cfg);
			goto done;
		}
	}
	talloc_free(hctx->realm);
	hctx->realm = sectxd_effective_realm(hctx, cfg);
	talloc_free(hctx->cfg);
	hctx->cfg = cfg;
	sectx_log_set_level(cfg->sectxd.log_level);
	for (i = 0; i < hctx->n_subsystems; i++) {
		if (hctx->subsystems[i] != NULL && hctx->subsystems[i]->reloaded != NULL) {
			hctx->subsystems[i]->reloaded(hctx);
		}
	}
	SECTX_INFO("configuration reloaded from %s (log level %s)", hctx->config_path,
		   sectx_log_level_name(cfg->sectxd.log_level));
done:
	notify("READY=1");
}

static void signal_handler(struct tevent_context *ev, struct tevent_signal *se, int signum,
			   int count, void *siginfo, void *private_data)
{
	struct sectxd_ctx *hctx = private_data;

	if (signum == SIGHUP) {
		if (!hctx->stopping) {
			reload(hctx);
		}
		return;
	}
	if (!hctx->stopping) {
		SECTX_INFO("%s received: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
		notify("STOPPING=1");
		hctx->stopping = true;
		sectx_server_shutdown(hctx->srv);
	}
}

static void grace_expired(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			  void *private_data)
{
	bool *expired = private_data;

	*expired = true;
}

/* Fork into the background; the parent exits once the child reports that it
 * is serving (exit 0) or died trying (exit 1).  Returns the pipe end the child
 * writes its readiness to. */
static int daemonize(void)
{
	int pfd[2];
	pid_t pid;
	char c;
	int fd;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		return -errno;
	}
	if (pid > 0) {
		close(pfd[1]);
		_exit(read(pfd[0], &c, 1) == 1 ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() < 0) {
		return -errno;
	}
	fd = open("/dev/null", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO) {
			close(fd);
		}
	}
	return pfd[1];
}

/* Let as many connections in as the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			SECTX_WARN("cannot raise the descriptor limit: %s", strerror(errno));
		}
	}
}

int main(int argc, char **argv)
{
	TALLOC_CTX *top = NULL;
	struct sectxd_ctx *hctx = NULL;
	size_t started = 0;
	struct options opt;
	int ready_fd = -1;
	bool grace_over = false;
	int ret = 1;

	/* The ccache writer is this program re-executed by the helper: it goes
	 * its own way before anything else runs (ccache_writer.h). */
	(void)sectx_writer_exec_main(argc, argv);

	/* First of all: libkrb5 in this process calls getpwnam(); the sectx NSS
	 * module sees this marker and does not call back into us. */
	if (setenv(SECTXD_NSS_MARKER, "1", 1) != 0) {
		return 1;
	}
	umask(077);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		perror("sectxd: prctl(PR_SET_DUMPABLE)");
		return 1;
	}
	if (parse_options(argc, argv, &opt) != 0) {
		return 2;
	}
	sectx_log_init("sectxd", opt.foreground, SECTX_LOG_INFO);
	sectx_log_ring_install();
	signal(SIGPIPE, SIG_IGN);

	top = talloc_new(NULL);
	hctx = talloc_zero(top, struct sectxd_ctx);
	if (hctx == NULL) {
		goto done;
	}
	hctx->started_ms = sectx_now_ms();
	hctx->subsystems = sectxd_subsystems;
	hctx->n_subsystems = sectxd_n_subsystems;
	/* Absolute, so that a reload after chdir("/") reads the same file. */
	{
		char *abs = realpath(opt.config, NULL);

		hctx->config_path = talloc_strdup(hctx, abs != NULL ? abs : opt.config);
		free(abs);
	}
	if (hctx->config_path == NULL || load_config(hctx, hctx->config_path, &hctx->cfg) != 0) {
		goto done;
	}
	if (chdir("/") != 0) {
		SECTX_ERROR("cannot chdir to /: %s", strerror(errno));
		goto done;
	}
	sectx_log_set_level(opt.debug_level >= 0 ? opt.debug_level : hctx->cfg->sectxd.log_level);
	hctx->realm = sectxd_effective_realm(hctx, hctx->cfg);
	raise_fd_limit();

	if (!opt.foreground) {
		ready_fd = daemonize();
		if (ready_fd < 0) {
			SECTX_ERROR("cannot daemonize: %s", strerror(-ready_fd));
			goto done;
		}
	}

	hctx->ev = tevent_context_init(hctx);
	if (hctx->ev == NULL ||
	    tevent_add_signal(hctx->ev, hctx, SIGTERM, 0, signal_handler, hctx) == NULL ||
	    tevent_add_signal(hctx->ev, hctx, SIGINT, 0, signal_handler, hctx) == NULL ||
	    tevent_add_signal(hctx->ev, hctx, SIGHUP, 0, signal_handler, hctx) == NULL) {
		SECTX_ERROR("cannot set up the event loop");
		goto done;
	}
	for (started = 0; started < hctx->n_subsystems; started++) {
		const struct sectxd_subsystem *sub = hctx->subsystems[started];

		if (sub != NULL && sub->start != NULL && sub->start(hctx) != 0) {
			SECTX_ERROR("cannot start %s; exiting", sub->name);
			goto done;
		}
	}
	if (sectx_server_start(hctx, hctx, sectxd_op_tables, sectxd_n_op_tables, &hctx->srv) != 0) {
		goto done;
	}
	SECTX_INFO("sectxd %s serving %s (realm %s, config %s)", PACKAGE_VERSION,
		   hctx->cfg->sectxd.socket_dir, hctx->realm[0] != '\0' ? hctx->realm : "(none)",
		   hctx->config_path);
	notify("READY=1");
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1);
		close(ready_fd);
		ready_fd = -1;
	}

	while (!hctx->stopping) {
		if (tevent_loop_once(hctx->ev) != 0) {
			SECTX_ERROR("event loop failed: %s", strerror(errno));
			goto done;
		}
	}
	/* Stopping: answer what is in flight, but not for longer than a client
	 * would wait for it anyway. */
	{
		uint64_t ms = hctx->cfg->sectxd.client_timeout_ms;

		if (tevent_add_timer(hctx->ev, hctx,
				     tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
				     grace_expired, &grace_over) == NULL) {
			goto done;
		}
	}
	while (!sectx_server_drained(hctx->srv) && !grace_over) {
		if (tevent_loop_once(hctx->ev) != 0) {
			break;
		}
	}
	if (!sectx_server_drained(hctx->srv)) {
		SECTX_WARN("stopping with requests still in flight after the grace period");
	}
	SECTX_INFO("stopped");
	ret = 0;
done:
	/* Sockets first, so no request reaches a subsystem being stopped. */
	if (hctx != NULL) {
		TALLOC_FREE(hctx->srv);
	}
	while (started > 0) {
		const struct sectxd_subsystem *sub = hctx->subsystems[--started];

		if (sub != NULL && sub->stop != NULL) {
			sub->stop(hctx);
		}
	}
	talloc_free(top);
	return ret;
}
