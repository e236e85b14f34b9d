/*
 * clock.h - the one clock of sectx: monotonic milliseconds and deadlines.
 *
 * Every timeout in sectx (client calls, KDC exchanges, PAM and NSS requests)
 * is an absolute deadline on this clock, so a wall-clock step never shortens
 * or stretches one.  libc only: the PAM and NSS modules link it.
 */
#ifndef SECTX_CLOCK_H
#define SECTX_CLOCK_H

#include <stdint.h>

/* Monotonic clock (CLOCK_MONOTONIC) in milliseconds. */
int64_t sectx_now_ms(void);

/* The absolute deadline ms milliseconds from now, on sectx_now_ms's scale. */
int64_t sectx_deadline_after(int64_t ms);

#endif /* SECTX_CLOCK_H */
