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

#include <stddef.h>

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

/* Log at level if it is enabled. */
void sectx_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SECTX_ERROR(...) sectx_log(SECTX_LOG_ERROR, __VA_ARGS__)
#define SECTX_WARN(...) sectx_log(SECTX_LOG_WARNING, __VA_ARGS__)
#define SECTX_INFO(...) sectx_log(SECTX_LOG_INFO, __VA_ARGS__)
#define SECTX_DEBUG(...) sectx_log(SECTX_LOG_DEBUG, __VA_ARGS__)
#define SECTX_TRACE(...) sectx_log(SECTX_LOG_TRACE, __VA_ARGS__)

/* Name of a level ("error" .. "trace"), or "?" */
const char *sectx_log_level_name(int level);
/* Parse "error".."trace" or "0".."4".  Returns the level or -1. */
int sectx_log_level_parse(const char *s);

/* Copy at most len bytes of s into out (outsz bytes, always NUL-terminated),
 * replacing control characters, backslash and non-ASCII bytes with \xHH and
 * truncating with "..." if it does not fit.  Returns out. */
char *sectx_log_escape(const char *s, size_t len, char *out, size_t outsz);

#endif /* SECTX_LOG_H */
