/*
 * core/log_ring.h - the last lines sectxd logged, kept in memory.
 *
 * Who reaches this: root only, through the LOG_TAIL operation (`sectxctl
 * auth-test` prints what sectxd logged for each PAM call).  The lines are
 * those already written to the log (never a secret: see log.h), so the ring
 * tells root nothing the log does not.
 */
#ifndef SECTX_CORE_LOG_RING_H
#define SECTX_CORE_LOG_RING_H

#include <stddef.h>
#include <stdint.h>

#define SECTX_LOG_RING_LINES 512u  /* lines kept */
#define SECTX_LOG_RING_WIDTH 1024u /* bytes kept of a line (with its NUL) */

/* Install the ring as the logger's tap (log.h).  Idempotent. */
void sectx_log_ring_install(void);

/* Copy the first line kept whose sequence number is above after into out
 * (outsz bytes, NUL-terminated, printable ASCII only, prefixed with its
 * level) and set *seq to its number.  Returns 0, or -ENOENT when no such
 * line is kept. */
int sectx_log_ring_next(uint64_t after, char *out, size_t outsz, uint64_t *seq);

/* The sequence number of the newest line (0: none yet). */
uint64_t sectx_log_ring_last(void);

#endif /* SECTX_CORE_LOG_RING_H */
