/*
 * ccache_writer/reap.c - wait for a child process until a deadline, then
 * kill it.
 *
 * Runs as root in two processes: in the writer, which waits for a job's
 * child (run_job), and in the helper, which waits for its writers when it
 * stops (the subsystem's stop, never on the loop otherwise: a killed writer
 * is reaped from a timer, client.c).  Reached only by those callers, with
 * pids of their own children.
 *
 * Never: wait past the deadline (the child is SIGKILLed then and reaped at
 * once), or signal a pid that is not the caller's unreaped child.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "ccache_writer/ccache_writer_int.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

bool ccw_reap_by(pid_t pid, int64_t deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid) {
			return true;
		}
		if (r < 0 && errno != EINTR) {
			*status = 0;
			return true; /* not ours any more (cannot happen) */
		}
		if (sectx_now_ms() >= deadline) {
			break;
		}
		sleep_ms(2);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
	}
	return false;
}
