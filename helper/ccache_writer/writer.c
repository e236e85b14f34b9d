/*
 * ccache_writer/writer.c - the writer process: root, single-threaded, one
 * job at a time.
 *
 * The helper forks a writer (client.c) and the forked process comes here
 * (ccw_writer_exec): it re-executes the program as "sectxd-writer" so that
 * it holds nothing of the helper's memory, makes itself undumpable, dies
 * with the helper, restores default signals and keeps open only its end of
 * the pair (WRITER_FD), stderr and /dev/null.  Then it reads one job at a
 * time (a SOCK_SEQPACKET message), decodes it (wire.c), checks it again
 * (names.c: it trusts nothing it did not check itself), forks a child per
 * job that drops to the user (child.c), waits for the child's outcome on a
 * pipe until the job's deadline and a short per-job bound, kills it past
 * that, and answers the helper with one outcome frame.
 *
 * Who can reach it: only the helper, through an anonymous socketpair; and a
 * job's child, through its pipe, whose answer is untrusted bytes (the child
 * runs as the user, who may signal or stop it).
 *
 * Never: call libkrb5 itself or touch a cache (only a child does, as the
 * user; uid 0 is refused outright), wait for a child past its bound (a user
 * holding their job up keeps this writer for at most that long while the
 * other writers serve the other users), leave a received job or a reply in
 * a buffer it does not scrub, or give a child the helper's channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "ccache_writer/ccache_writer_int.h"

#define WRITER_FD	      3	   /* the writer's end of the pair */
#define WRITER_CHILD_READ_MS  2000 /* a read or destroy job's process lives no longer */
#define WRITER_CHILD_STORE_MS 5000 /* nor a store job's (it also fsyncs) */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Decode and check a job frame into j (zeroed).  0, or -errno with out set. */
static int parse_job(uint8_t *buf, size_t len, struct job *j, struct outcome *out)
{
	const char *why = NULL;
	int ret;

	ret = ccw_job_decode(buf, len, j, out);
	if (ret != 0) {
		return ret;
	}
	ret = ccw_check_job(j->uid, j->gid, j->groups, j->n_groups, j->user, j->tmpl,
			    j->op != WOP_STORE || j->replace, j->ccache, sizeof(j->ccache),
			    &j->kind, &why);
	if (ret != 0) {
		return ccw_fail(out, -ret, "%s", why);
	}
	return 0;
}

/* Run j in a child as the user and wait for its outcome until the job's
 * deadline, and at most WRITER_CHILD_READ_MS / WRITER_CHILD_STORE_MS: this
 * writer serves one job at a time, and a child can be held up by its user
 * (a lock taken on a cache file renamed in after hold_cache_file looked, a
 * SIGSTOP: the child runs as the user), so that bound is the longest one
 * user's job keeps a writer from the next job.  Past it, kill the child. */
static void run_job(struct job *j, struct outcome *out)
{
	int64_t limit = j->op == WOP_STORE ? WRITER_CHILD_STORE_MS : WRITER_CHILD_READ_MS;
	int64_t deadline = min64(j->deadline, sectx_now_ms() + SECTX_WRITER_JOB_MAX_MS);
	uint8_t buf[WRITER_REPLY_MAX];
	size_t got = 0;
	pid_t writer = getpid(), pid;
	int p[2], status = 0;
	bool eof = false, overflow = false, limited = false, late;

	if (sectx_now_ms() >= deadline) {
		ccw_fail(out, ETIMEDOUT, "the deadline passed before the job started");
		return;
	}
	if (sectx_now_ms() + limit < deadline) {
		deadline = sectx_now_ms() + limit;
		limited = true;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		ccw_sys_fail(out, errno, "pipe");
		return;
	}
	pid = fork();
	if (pid < 0) {
		ccw_sys_fail(out, errno, "fork");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		close(WRITER_FD); /* the child never sees the helper's channel */
		ccw_child_main(j, p[1], writer);
	}
	close(p[1]);

	while (!eof && !overflow) {
		struct pollfd pfd = {p[0], POLLIN, 0};
		int64_t left = deadline - sectx_now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			break;
		}
		r = poll(&pfd, 1, (int)min64(left, 60000));
		if (r < 0 && errno != EINTR) {
			break;
		}
		if (r <= 0) {
			continue;
		}
		n = read(p[0], buf + got, sizeof(buf) - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			eof = true;
		} else {
			got += (size_t)n;
			overflow = got == sizeof(buf);
		}
	}
	close(p[0]);
	if (!eof || overflow) {
		kill(pid, SIGKILL);
	}
	late = !ccw_reap_by(pid, deadline, &status) || (!eof && !overflow);
	if (late && limited) {
		ccw_fail(
		    out, ETIMEDOUT,
		    "the job for uid %u did not finish within %d ms (its cache may be locked by "
		    "another process, or its process stopped); killed so that other jobs do not "
		    "wait",
		    (unsigned)j->uid, (int)limit);
	} else if (late) {
		ccw_fail(
		    out, ETIMEDOUT,
		    "the job for uid %u did not finish before its deadline; its process was killed",
		    (unsigned)j->uid);
	} else if (overflow) {
		ccw_fail(out, EIO, "the job's process for uid %u answered too much; killed",
			 (unsigned)j->uid);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ccw_fail(out, EIO, "the job's process for uid %u died (%s %d)", (unsigned)j->uid,
			 WIFSIGNALED(status) ? "signal" : "status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	} else if (ccw_outcome_decode(buf, got, j->op, 0, out) != 0) {
		ccw_fail(out, EIO, "the job's process for uid %u answered garbage",
			 (unsigned)j->uid);
	}
	explicit_bzero(buf, sizeof(buf));
}

/* Make this freshly forked process the writer: undumpable, dies with the
 * helper, default signals, nothing open but the pair (as WRITER_FD), stderr
 * and /dev/null. */
static int writer_setup(int fd, pid_t helper)
{
	struct sigaction sa;
	sigset_t none;
	int sig, devnull;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != helper ||
	    prctl(PR_SET_NAME, "sectxd-writer", 0, 0, 0) != 0) {
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			(void)sigaction(sig, &sa, NULL); /* EINVAL for glibc's reserved ones */
		}
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		return -1;
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) {
		return -1;
	}
	if (chdir("/") != 0) {
		return -1;
	}
	closelog(); /* its socket is about to go; syslog() reopens one on demand */
	if (fd != WRITER_FD && dup2(fd, WRITER_FD) != WRITER_FD) {
		return -1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0) {
		return -1;
	}
	if (fd == STDERR_FILENO && dup2(devnull, STDERR_FILENO) < 0) {
		return -1;
	}
	if (close_range(WRITER_FD + 1, ~0U, 0) != 0) {
		long max = sysconf(_SC_OPEN_MAX);
		int i;

		for (i = WRITER_FD + 1; i < (max > 0 && max < 65536 ? max : 65536); i++) {
			close(i);
		}
	}
	return 0;
}

/* The writer's life: serve jobs one at a time until the helper closes the
 * pair (or dies: PR_SET_PDEATHSIG). */
static void writer_main(int fd, pid_t helper) __attribute__((noreturn));
static void writer_main(int fd, pid_t helper)
{
	static uint8_t reply[WRITER_REPLY_MAX];
	static struct outcome out;
	struct job *j;
	uint8_t *buf;
	int ret;

	if (writer_setup(fd, helper) != 0) {
		_exit(1);
	}
	j = malloc(sizeof(*j));
	buf = malloc(WRITER_JOB_MAX + 1);
	if (j == NULL || buf == NULL) {
		_exit(1);
	}
	for (;;) {
		struct iovec iov = {buf, WRITER_JOB_MAX + 1};
		struct msghdr mh;
		size_t len;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(WRITER_FD, &mh, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break; /* the helper closed the pair: stop */
		}
		memset(j, 0, sizeof(*j));
		memset(&out, 0, sizeof(out));
		ccw_job_ids(buf, (size_t)n, &j->op, &j->reqid); /* a refusal answers them too */
		if ((mh.msg_flags & MSG_TRUNC) != 0 || (size_t)n > WRITER_JOB_MAX) {
			ccw_fail(&out, EMSGSIZE, "job larger than %u bytes", WRITER_JOB_MAX);
			n = WRITER_JOB_MAX + 1; /* what recvmsg filled, to scrub */
		} else if (parse_job(buf, (size_t)n, j, &out) == 0) {
			run_job(j, &out);
		}
		explicit_bzero(buf, (size_t)n);
		ret = ccw_outcome_encode(reply, sizeof(reply), j->op, j->reqid, &out, &len);
		explicit_bzero(&out, sizeof(out));
		if (ret == 0) {
			ret = send(WRITER_FD, reply, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
			explicit_bzero(reply, len);
		}
		if (ret != 0) {
			break;
		}
	}
	_exit(0);
}

/* In the freshly forked child: become the writer in a new image of this
 * program (/proc/self/exe), so it holds nothing of the helper's memory even
 * when it is restarted long after start-up, with other users' TGTs in the
 * helper.  The pair goes as WRITER_FD; main() of the program hands over to
 * sectx_writer_exec_main().  If the exec fails, the child serves as it is:
 * correct, but without that isolation (logged by the helper at the restart).
 * The image is executed through a descriptor opened on /proc/self/exe, not
 * by that path: the same file, but a program run by an interpreter that
 * loads it itself (valgrind, for the test suite) gets its own image from
 * open() where exec of the path would start the interpreter alone. */
void ccw_writer_exec(int fd, pid_t helper)
{
	char parent[32];
	char *argv[] = {(char *)"sectxd-writer", (char *)SECTX_WRITER_ARG, parent, NULL};

	snprintf(parent, sizeof(parent), "%ld", (long)helper);
	if (dup2(fd, WRITER_FD) == WRITER_FD) { /* dup2 clears FD_CLOEXEC */
		int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

		if (exe >= 0) {
			fexecve(exe, argv, environ);
			close(exe);
		}
	}
	writer_main(fd, helper);
}

int sectx_writer_exec_main(int argc, char **argv)
{
	char *end = NULL;
	long helper;

	if (argc != 3 || strcmp(argv[1], SECTX_WRITER_ARG) != 0) {
		return 0;
	}
	errno = 0;
	helper = strtol(argv[2], &end, 10);
	if (errno != 0 || end == argv[2] || *end != '\0' || helper <= 1 ||
	    getppid() != (pid_t)helper) {
		/* only ever started by ccw_writer_exec: refuse anything else */
		_exit(2);
	}
	writer_main(WRITER_FD, (pid_t)helper);
}
