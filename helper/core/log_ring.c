/*
 * core/log_ring.c - the last SECTX_LOG_RING_LINES lines sectxd logged.
 *
 * Fed by the logger's tap from any thread (the event loop, the account and
 * KDF threads).  A thread that finds the ring locked drops its line from the
 * ring (it is still in the log): the tap never waits, so a child forked
 * while another thread held the lock cannot deadlock on its first log line.
 * Lines are stored with control and non-ASCII bytes replaced by '?', so that
 * each is a valid protocol string.
 */
#include "core/log_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

struct ring_line {
	uint64_t seq;
	char text[SECTX_LOG_RING_WIDTH];
};

static struct ring_line g_ring[SECTX_LOG_RING_LINES];
static uint64_t g_seq;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void ring_tap(int level, const char *line)
{
	struct ring_line *slot;
	size_t i;

	if (pthread_mutex_trylock(&g_lock) != 0) {
		return;
	}
	g_seq++;
	slot = &g_ring[g_seq % SECTX_LOG_RING_LINES];
	slot->seq = g_seq;
	snprintf(slot->text, sizeof(slot->text), "%s: %s", sectx_log_level_name(level), line);
	for (i = 0; slot->text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)slot->text[i];

		if (c < 0x20 || c >= 0x7f) {
			slot->text[i] = '?';
		}
	}
	pthread_mutex_unlock(&g_lock);
}

void sectx_log_ring_install(void)
{
	sectx_log_set_tap(ring_tap);
}

int sectx_log_ring_next(uint64_t after, char *out, size_t outsz, uint64_t *seq)
{
	uint64_t want;
	int ret = -ENOENT;

	pthread_mutex_lock(&g_lock);
	want = after + 1;
	if (g_seq >= SECTX_LOG_RING_LINES && want <= g_seq - SECTX_LOG_RING_LINES) {
		want = g_seq - SECTX_LOG_RING_LINES + 1; /* older lines are gone */
	}
	if (want <= g_seq) {
		const struct ring_line *slot = &g_ring[want % SECTX_LOG_RING_LINES];

		snprintf(out, outsz, "%s", slot->text);
		*seq = slot->seq;
		ret = 0;
	}
	pthread_mutex_unlock(&g_lock);
	return ret;
}

uint64_t sectx_log_ring_last(void)
{
	uint64_t seq;

	pthread_mutex_lock(&g_lock);
	seq = g_seq;
	pthread_mutex_unlock(&g_lock);
	return seq;
}
