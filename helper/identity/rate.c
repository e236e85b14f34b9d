/*
 * identity/rate.c - the rate of existence checks each caller uid may start:
 * a token bucket per uid (checks_per_uid a second, bursts of twice that) in
 * a table of RATE_BUCKETS entries keyed by the uid itself.
 *
 * Who reaches this: service.c, before it starts an existence check for a
 * lookup, with the uid of the connection that asked (any local user).
 *
 * Must never: let two uids share a bucket (so that one resets the other's,
 * as `uid % RATE_BUCKETS` did), grow past the table it is given, or forget
 * a bucket while one that matters less is left: when the table is full the
 * least recently used bucket goes, and a bucket unused for the two seconds a
 * refill takes is full anyway, so forgetting it gives nothing away unless
 * more than RATE_BUCKETS uids asked within those seconds.
 */
#include "identity/identity_int.h"

/* Contract in identity_int.h. */
bool id_rate_take(struct rate_bucket *table, size_t n, uid_t uid, double rate, int64_t now_ms)
{
	struct rate_bucket *b = NULL, *lru = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		struct rate_bucket *e = &table[i];

		if (e->used && e->uid == uid) {
			b = e;
			break;
		}
		if (lru == NULL || (lru->used && (!e->used || e->last_ms < lru->last_ms))) {
			lru = e; /* a free entry first, else the least recently used */
		}
	}
	if (b == NULL) {
		if (lru == NULL) {
			return false; /* no table at all: nothing may start */
		}
		b = lru;
		b->used = true;
		b->uid = uid;
		b->tokens = 2 * rate;
		b->last_ms = now_ms;
	}
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
	}
	if (b->tokens > 2 * rate) {
		b->tokens = 2 * rate;
	}
	b->last_ms = now_ms;
	if (b->tokens < 1.0) {
		return false;
	}
	b->tokens -= 1.0;
	return true;
}
