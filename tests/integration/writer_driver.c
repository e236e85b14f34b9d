/*
 * writer_driver.c - run ccache writer jobs for the integration tests.
 *
 * Test-only and never installed: tests/integration/test_ccache_writer.py runs
 * it as root.  It starts the writer as sectxd does (sectx_writer_start on a
 * tevent loop), then runs the jobs named on its command line in order, each
 * to completion, and prints one line per job:
 *
 *   store USER SOURCE_CCACHE TEMPLATE   -> "store ok NAME" | "store error ENAME: text"
 *   destroy USER CCACHE PRINCIPAL       -> "destroy ok"    | "destroy error ENAME: text"
 *   read USER CCACHE                    -> "read ok PRINCIPAL tgt" (or no-tgt) | "read error ..."
 *   kill-writer                         -> "kill-writer ok PID" (SIGKILL, waits for the zombie)
 *   stop-writer                         -> "stop-writer ok PID" (SIGSTOP: it stops answering)
 *   pid                                 -> "pid PID" (-1: none running)
 *
 * store copies every credential of SOURCE_CCACHE (read as root); read asks
 * for the cache's principal and TGT (as renewal does).  USER's uid, gid and
 * groups come from getpwnam/getgrouplist.  Options: --timeout-ms N
 * (each job's deadline, default 10000), --log-level L (stderr, default info),
 * --concurrent (send every store and destroy at once, so they queue, then
 * print their results in order; the other jobs are refused).
 * Exit status: 0 if every job succeeded, 1 if one failed, 2 for usage or
 * set-up errors.  It trusts its caller (root) and checks only what would
 * make it crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccache_writer/ccache_writer.h"
#include "clock.h"
#include "log.h"

struct driver {
	struct tevent_context *ev;
	struct sectx_writer *w;
	krb5_context kctx;
	int64_t timeout_ms;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: writer_driver [OPTIONS] JOB...\n"
		     "  store USER SOURCE_CCACHE TEMPLATE\n"
		     "  destroy USER CCACHE PRINCIPAL\n"
		     "  read USER CCACHE\n"
		     "  kill-writer\n"
		     "  stop-writer\n"
		     "  pid\n"
		     "options: --timeout-ms N, --log-level L, --concurrent\n");
}

static const char *err_name(int err)
{
	const char *n = strerrorname_np(err);

	return n != NULL ? n : "EUNKNOWN";
}

/* who for name: uid, gid and all groups, allocated on mem_ctx. */
static int lookup_user(TALLOC_CTX *mem_ctx, const char *name, struct sectx_writer_user *who)
{
	struct passwd *pw = getpwnam(name);
	gid_t *groups;
	int n = 0;

	if (pw == NULL) {
		fprintf(stderr, "writer_driver: no user %s\n", name);
		return -ENOENT;
	}
	(void)getgrouplist(name, pw->pw_gid, NULL, &n); /* -1: sets n */
	groups = talloc_array(mem_ctx, gid_t, n > 0 ? n : 1);
	if (groups == NULL || getgrouplist(name, pw->pw_gid, groups, &n) < 0) {
		return -ENOMEM;
	}
	who->uid = pw->pw_uid;
	who->gid = pw->pw_gid;
	who->groups = groups;
	who->n_groups = (size_t)n;
	who->name = talloc_strdup(mem_ctx, name);
	return who->name != NULL ? 0 : -ENOMEM;
}

static void free_creds(krb5_context kctx, krb5_creds **creds)
{
	size_t i;

	for (i = 0; creds != NULL && creds[i] != NULL; i++) {
		krb5_free_creds(kctx, creds[i]);
	}
	talloc_free(creds);
}

/* Every credential of source, NULL-terminated, on mem_ctx (free_creds). */
static int read_creds(struct driver *d, TALLOC_CTX *mem_ctx, const char *source, krb5_creds ***out)
{
	krb5_ccache cc = NULL;
	krb5_cc_cursor cur;
	krb5_creds c, **creds;
	size_t n = 0;
	int ret = 0;

	creds = talloc_zero_array(mem_ctx, krb5_creds *, SECTX_WRITER_MAX_CREDS + 1);
	if (creds == NULL) {
		return -ENOMEM;
	}
	if (krb5_cc_resolve(d->kctx, source, &cc) != 0 ||
	    krb5_cc_start_seq_get(d->kctx, cc, &cur) != 0) {
		fprintf(stderr, "writer_driver: cannot read %s\n", source);
		ret = -EIO;
		goto done;
	}
	while (n < SECTX_WRITER_MAX_CREDS && krb5_cc_next_cred(d->kctx, cc, &cur, &c) == 0) {
		creds[n] = malloc(sizeof(krb5_creds));
		if (creds[n] == NULL) {
			krb5_free_cred_contents(d->kctx, &c);
			ret = -ENOMEM;
			break;
		}
		*creds[n++] = c;
	}
	krb5_cc_end_seq_get(d->kctx, cc, &cur);
	if (ret == 0 && n == 0) {
		fprintf(stderr, "writer_driver: %s holds no credentials\n", source);
		ret = -ENOENT;
	}
done:
	if (cc != NULL) {
		krb5_cc_close(d->kctx, cc);
	}
	if (ret != 0) {
		free_creds(d->kctx, creds);
		return ret;
	}
	*out = creds;
	return 0;
}

/* One store or destroy job, from its start to its printed result. */
struct job {
	const char *kind; /* "store", "destroy" or "read" */
	TALLOC_CTX *tmp_ctx;
	struct tevent_req *req;
	krb5_creds **creds;
	krb5_principal princ;
	int ret; /* set-up error, or the result */
};

/* Send job kind with its arguments (three, read two); failures are kept in
 * j->ret. */
static void job_start(struct driver *d, const char *kind, char **argv, struct job *j)
{
	struct sectx_writer_user who;
	int64_t deadline = sectx_now_ms() + d->timeout_ms;

	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->tmp_ctx = talloc_new(d);
	j->ret = j->tmp_ctx != NULL ? lookup_user(j->tmp_ctx, argv[0], &who) : -ENOMEM;
	if (j->ret == 0 && strcmp(kind, "store") == 0) {
		j->ret = read_creds(d, j->tmp_ctx, argv[1], &j->creds);
		if (j->ret == 0) {
			j->req = sectx_writer_store_send(j->tmp_ctx, d->ev, d->w, &who, argv[2],
							 d->kctx, j->creds, deadline);
		}
	} else if (j->ret == 0 && strcmp(kind, "read") == 0) {
		j->req =
		    sectx_writer_read_send(j->tmp_ctx, d->ev, d->w, &who, argv[1], true, deadline);
	} else if (j->ret == 0) {
		if (krb5_parse_name(d->kctx, argv[2], &j->princ) != 0) {
			j->ret = -EINVAL;
		} else {
			j->req = sectx_writer_destroy_send(j->tmp_ctx, d->ev, d->w, &who, argv[1],
							   d->kctx, j->princ, deadline);
		}
	}
	if (j->ret == 0 && j->req == NULL) {
		j->ret = -ENOMEM;
	}
}

/* Wait for job j, print its line, free it.  Returns its result. */
static int job_finish(struct driver *d, struct job *j)
{
	krb5_creds *tgt = NULL;
	char *name = NULL;
	int ret = j->ret;

	if (ret != 0) {
		printf("%s error %s: set-up failed\n", j->kind, err_name(-ret));
		goto done;
	}
	if (!tevent_req_poll(j->req, d->ev)) {
		ret = -ENOMEM;
	} else if (strcmp(j->kind, "store") == 0) {
		ret = sectx_writer_store_recv(j->req, j->tmp_ctx, &name);
	} else if (strcmp(j->kind, "read") == 0) {
		ret = sectx_writer_read_recv(j->req, j->tmp_ctx, d->kctx, &name, &tgt);
	} else {
		ret = sectx_writer_destroy_recv(j->req);
	}
	if (ret != 0) {
		printf("%s error %s: %s\n", j->kind, err_name(-ret), strerror(-ret));
	} else if (strcmp(j->kind, "read") == 0) {
		printf("read ok %s %s\n", name, tgt != NULL ? "tgt" : "no-tgt");
	} else if (name != NULL) {
		printf("%s ok %s\n", j->kind, name);
	} else {
		printf("%s ok\n", j->kind);
	}
done:
	krb5_free_creds(d->kctx, tgt);
	free_creds(d->kctx, j->creds);
	krb5_free_principal(d->kctx, j->princ);
	talloc_free(j->tmp_ctx);
	return ret;
}

/* True once pid is a zombie or gone. */
static int is_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL) {
		return 1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

/* Send sig to the writer; for SIGKILL wait until it is a zombie. */
static int job_signal_writer(struct driver *d, const char *kind, int sig)
{
	struct timespec ts = {0, 10 * 1000000L};
	pid_t pid = sectx_writer_pid(d->w);
	int i;

	if (pid <= 0 || kill(pid, sig) != 0) {
		printf("%s error ESRCH: no writer running\n", kind);
		return -ESRCH;
	}
	for (i = 0; sig == SIGKILL && i < 500 && !is_dead(pid); i++) {
		nanosleep(&ts, NULL);
	}
	printf("%s ok %d\n", kind, (int)pid);
	return 0;
}

/* Print the writer's command line ("cmdline a b c"): it shows whether the
 * writer runs in a fresh image of the program (ccache_writer.h). */
static void print_writer_cmdline(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0) {
		close(fd);
	}
	if (n <= 0) {
		printf("cmdline -\n");
		return;
	}
	for (ssize_t k = 0; k < n; k++) {
		if (buf[k] == '\0') {
			buf[k] = ' ';
		}
	}
	buf[n] = '\0';
	printf("cmdline %s\n", buf);
}

int main(int argc, char **argv)
{
	(void)sectx_writer_exec_main(argc, argv); /* the writer re-executes us */

	struct job *jobs;
	struct driver *d;
	int level = SECTX_LOG_INFO;
	int i = 1, n = 0, k, failed = 0;
	bool concurrent = false;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	d = talloc_zero(NULL, struct driver);
	jobs = talloc_zero_array(d, struct job, argc);
	if (d == NULL || jobs == NULL) {
		return 2;
	}
	d->timeout_ms = 10000;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--concurrent") == 0) {
			concurrent = true;
		} else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
			d->timeout_ms = strtoll(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
			level = sectx_log_level_parse(argv[++i]);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc || d->timeout_ms <= 0 || level < 0) {
		usage(stderr);
		return 2;
	}
	sectx_log_init("writer_driver", 1, level);
	d->ev = tevent_context_init(d);
	if (d->ev == NULL || krb5_init_context(&d->kctx) != 0) {
		fprintf(stderr, "writer_driver: cannot set up tevent or krb5\n");
		return 2;
	}
	/* As sectxd does: before any credential is read. */
	k = sectx_writer_start(d, d->ev, &d->w);
	if (k != 0) {
		fprintf(stderr, "writer_driver: cannot start the writer: %s\n", strerror(-k));
		return 2;
	}
	while (i < argc) {
		if ((strcmp(argv[i], "store") == 0 || strcmp(argv[i], "destroy") == 0) &&
		    i + 3 < argc) {
			job_start(d, argv[i], argv + i + 1, &jobs[n]);
			if (!concurrent) {
				failed |= job_finish(d, &jobs[n]) != 0;
			} else {
				n++;
			}
			i += 4;
		} else if (strcmp(argv[i], "read") == 0 && i + 2 < argc) {
			job_start(d, argv[i], argv + i + 1, &jobs[n]);
			if (!concurrent) {
				failed |= job_finish(d, &jobs[n]) != 0;
			} else {
				n++;
			}
			i += 3;
		} else if (strcmp(argv[i], "kill-writer") == 0 && !concurrent) {
			failed |= job_signal_writer(d, argv[i], SIGKILL) != 0;
			i += 1;
		} else if (strcmp(argv[i], "stop-writer") == 0 && !concurrent) {
			failed |= job_signal_writer(d, argv[i], SIGSTOP) != 0;
			i += 1;
		} else if (strcmp(argv[i], "pid") == 0 && !concurrent) {
			printf("pid %d\n", (int)sectx_writer_pid(d->w));
			i += 1;
		} else if (strcmp(argv[i], "writer-cmdline") == 0 && !concurrent) {
			print_writer_cmdline(sectx_writer_pid(d->w));
			i += 1;
		} else {
			usage(stderr);
			failed = 2;
			break;
		}
	}
	for (k = 0; k < n; k++) {
		failed |= job_finish(d, &jobs[k]) != 0;
	}
	TALLOC_FREE(d->w); /* stops and reaps the writer */
	krb5_free_context(d->kctx);
	talloc_free(d);
	return failed;
}
