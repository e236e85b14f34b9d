/*
 * log.h - one line per event, to stderr in the foreground, syslog otherwise.
 *
 * libc only (the PAM and NSS modules may link it).  Callers log what
 * happened, to whom and the result; never a password, key or ticket.  A
 * string that came from a peer goes through sectx_log_escape first, so a
 * user name cannot forge a log line.
 */
#ifndef SECTX_LOG_H
#define SECTX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sectx_log_level {
	SECTX_LOG_ERROR = 0,
	SECTX_LOG_WARNING = 1,
	SECTX_LOG_INFO = 2,
	SECTX_LOG_DEBUG = 3,
	SECTX_LOG_TRACE = 4,
};
#define SECTX_LOG_LEVEL_MAX SECTX_LOG_TRACE

/* Set identity, destination and level.  to_stderr != 0 logs to stderr with a
 * timestamp; otherwise openlog(ident, LOG_PID, LOG_AUTHPRIV).  ident must
 * stay valid for the life of the process. */
void sectx_log_init(const char *ident, int to_stderr, int level);
/* Change the level at run time (SIGHUP, sectxctl debug-level). */
void sectx_log_set_level(int level);
int sectx_log_get_level(void);

/* A tap sees every line logged (after the level check), formatted, without
 * the timestamp: sectxd keeps the last lines for `sectxctl auth-test`.  It
 * must not log itself, and may be called from any thread.  NULL removes it. */
typedef void (*sectx_log_tap_fn)(int level, const char *line);
void sectx_log_set_tap(sectx_log_tap_fn tap);

/* Log at level if it is enabled. */
void sectx_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SECTX_ERROR(...) sectx_log(SECTX_LOG_ERROR, __VA_ARGS__)
#define SECTX_WARN(...)	 sectx_log(SECTX_LOG_WARNING, __VA_ARGS__)
#define SECTX_INFO(...)	 sectx_log(SECTX_LOG_INFO, __VA_ARGS__)
#define SECTX_DEBUG(...) sectx_log(SECTX_LOG_DEBUG, __VA_ARGS__)
#define SECTX_TRACE(...) sectx_log(SECTX_LOG_TRACE, __VA_ARGS__)

/* A bound on the lines logged about one kind of event that a peer can cause
 * at will (bad frames, refused connections, timeouts): at most burst lines per
 * window of interval_ms, the window opening with the first line after the
 * last one closed.  Lines beyond the burst are only counted; the count is
 * logged in one line ("N more lines about WHAT suppressed ...") when the
 * window is flushed after its end, by sectx_log_limit_flush or by the next
 * line of the kind.  Plain data owned by the caller (no global state); a
 * caller may change burst and interval_ms between calls. */
struct sectx_log_limit {
	const char *what; /* "bad frame headers": named by the summary line */
	int level;	  /* of the lines and of their summary */
	unsigned burst;
	int64_t interval_ms;
	int64_t window_end_ms; /* 0: no window open */
	unsigned logged;       /* lines logged in the open window */
	uint64_t suppressed;   /* lines counted, not logged, in the open window */
	uint64_t suppressed_total;
};

/* Set up l for lines about what (a static string) at level. */
void sectx_log_limit_init(struct sectx_log_limit *l, const char *what, int level, unsigned burst,
			  int64_t interval_ms);

/* Log a line of l's kind at now_ms (sectx_now_ms's scale) if l's window
 * allows it, else count it.  A line at a level not enabled is neither logged
 * nor counted.  Returns true if it was logged. */
bool sectx_log_limited(struct sectx_log_limit *l, int64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* If l's window has ended by now_ms, close it, logging first how many lines
 * it suppressed if any.  Returns that count (0 if none, or if the window is
 * still open). */
uint64_t sectx_log_limit_flush(struct sectx_log_limit *l, int64_t now_ms);

/* Name of a level ("error" .. "trace"), or "?" */
const char *sectx_log_level_name(int level);
/* Parse "error".."trace" or "0".."4".  Returns the level or -1. */
int sectx_log_level_parse(const char *s);

/* Copy at most len bytes of s into out (outsz bytes, always NUL-terminated),
 * replacing control characters, backslash and non-ASCII bytes with \xHH and
 * truncating with "..." if it does not fit.  Returns out. */
char *sectx_log_escape(const char *s, size_t len, char *out, size_t outsz);

#endif /* SECTX_LOG_H */
