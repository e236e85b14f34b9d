/*
 * log.c - the sectx logger: stderr in the foreground, syslog(LOG_AUTHPRIV)
 * otherwise.
 *
 * libc only.  The level and destination are process-wide and written only by
 * sectx_log_init / sectx_log_set_level (the helper's single event-loop thread,
 * or a CLI); readers use relaxed atomics so a module thread never sees a torn
 * value.  It formats into a fixed stack buffer: logging never allocates and
 * never fails the caller.  It never logs secrets: that is the callers' duty,
 * and peer strings must pass through sectx_log_escape.  Lines a peer can
 * cause at will go through a struct sectx_log_limit the caller owns, so a
 * flood of them costs a few lines and a count, never megabytes of log.
 */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static int g_level = SECTX_LOG_WARNING;
static int g_to_stderr;
static const char *g_ident = "sectx";
static sectx_log_tap_fn g_tap;

static const char *const level_names[] = {"error", "warning", "info", "debug", "trace"};
static const int level_syslog[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG};

void sectx_log_init(const char *ident, int to_stderr, int level)
{
	g_ident = ident != NULL ? ident : "sectx";
	__atomic_store_n(&g_to_stderr, to_stderr != 0, __ATOMIC_RELAXED);
	sectx_log_set_level(level);
	if (!to_stderr) {
		openlog(g_ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	}
}

void sectx_log_set_level(int level)
{
	if (level < SECTX_LOG_ERROR) {
		level = SECTX_LOG_ERROR;
	}
	if (level > SECTX_LOG_LEVEL_MAX) {
		level = SECTX_LOG_LEVEL_MAX;
	}
	__atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
}

void sectx_log_set_tap(sectx_log_tap_fn tap)
{
	__atomic_store_n(&g_tap, tap, __ATOMIC_RELEASE);
}

int sectx_log_get_level(void)
{
	return __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

const char *sectx_log_level_name(int level)
{
	if (level < 0 || level > SECTX_LOG_LEVEL_MAX) {
		return "?";
	}
	return level_names[level];
}

int sectx_log_level_parse(const char *s)
{
	int i;

	if (s == NULL) {
		return -1;
	}
	for (i = 0; i <= SECTX_LOG_LEVEL_MAX; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			return i;
		}
	}
	if (s[0] >= '0' && s[0] <= '0' + SECTX_LOG_LEVEL_MAX && s[1] == '\0') {
		return s[0] - '0';
	}
	return -1;
}

static void log_v(int level, const char *fmt, va_list ap)
{
	sectx_log_tap_fn tap = __atomic_load_n(&g_tap, __ATOMIC_ACQUIRE);
	char line[LOG_LINE_MAX];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (tap != NULL) {
		tap(level, line);
	}
	if (__atomic_load_n(&g_to_stderr, __ATOMIC_RELAXED)) {
		struct timespec ts;
		struct tm tm;
		char stamp[32] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		if (gmtime_r(&ts.tv_sec, &tm) != NULL) {
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		}
		/* One write(2) per line so concurrent writers do not interleave. */
		dprintf(STDERR_FILENO, "%s.%03ldZ %s[%ld] %s: %s\n", stamp, ts.tv_nsec / 1000000L,
			g_ident, (long)getpid(), level_names[level], line);
	} else {
		syslog(level_syslog[level], "%s: %s", level_names[level], line);
	}
	explicit_bzero(line, sizeof(line));
}

void sectx_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > sectx_log_get_level() || level < 0) {
		return;
	}
	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}

/* --- rate-limited lines ----------------------------------------------------- */

void sectx_log_limit_init(struct sectx_log_limit *l, const char *what, int level, unsigned burst,
			  int64_t interval_ms)
{
	memset(l, 0, sizeof(*l));
	l->what = what;
	l->level = level < 0 ? 0 : level > SECTX_LOG_LEVEL_MAX ? SECTX_LOG_LEVEL_MAX : level;
	l->burst = burst;
	l->interval_ms = interval_ms;
}

uint64_t sectx_log_limit_flush(struct sectx_log_limit *l, int64_t now_ms)
{
	uint64_t n = l->suppressed;

	if (l->window_end_ms == 0 || now_ms < l->window_end_ms) {
		return 0;
	}
	if (n > 0) {
		sectx_log(l->level,
			  "%" PRIu64 " more lines about %s suppressed in the last %" PRId64
			  " s (at most %u per %" PRId64 " s are logged)",
			  n, l->what, (now_ms - (l->window_end_ms - l->interval_ms) + 500) / 1000,
			  l->burst, (l->interval_ms + 999) / 1000);
	}
	l->window_end_ms = 0;
	l->logged = 0;
	l->suppressed = 0;
	return n;
}

bool sectx_log_limited(struct sectx_log_limit *l, int64_t now_ms, const char *fmt, ...)
{
	va_list ap;

	if (l->level > sectx_log_get_level()) {
		return false;
	}
	sectx_log_limit_flush(l, now_ms);
	if (l->window_end_ms == 0) {
		l->window_end_ms = now_ms + (l->interval_ms > 0 ? l->interval_ms : 1);
	}
	if (l->logged >= l->burst) {
		l->suppressed++;
		l->suppressed_total++;
		return false;
	}
	l->logged++;
	va_start(ap, fmt);
	log_v(l->level, fmt, ap);
	va_end(ap);
	return true;
}

char *sectx_log_escape(const char *s, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz == 0) {
		return out;
	}
	if (s == NULL) {
		s = "(null)";
		len = 6;
	}
	for (i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '\\') ? 4 : 1;

		/* keep room for "..." and the NUL */
		if (o + need + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o < outsz ? o : outsz - 1] = '\0';
	return out;
}
