/*
 * clock.c - monotonic milliseconds and deadlines (clock.h).  libc only; safe
 * in any process, any thread, after fork.
 */
#include "clock.h"

#include <time.h>

int64_t sectx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sectx_deadline_after(int64_t ms)
{
	return sectx_now_ms() + ms;
}
