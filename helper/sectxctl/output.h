/*
 * sectxctl/output.h - how sectxctl prints what it found: one writer with two
 * forms, "key: value" lines for people and one JSON object for programs
 * (--json), so that both show the same keys in the same order.
 *
 * Keys are fixed strings of the program; values may come from sectxd or
 * the system and are escaped (JSON) or have control characters replaced
 * (text).  Plain stdio, no allocation.
 */
#ifndef SECTXCTL_OUTPUT_H
#define SECTXCTL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OUT_DEPTH_MAX 8

struct out {
	FILE *f;
	bool json;
	int depth;
	bool first[OUT_DEPTH_MAX + 1]; /* no member written yet at this depth */
	bool in_array[OUT_DEPTH_MAX + 1];
};

/* Start the document (JSON: "{"). */
void out_begin(struct out *o, FILE *f, bool json);
/* End it (JSON: "}\n"). */
void out_end(struct out *o);

/* Members.  key is NULL for an element of an array. */
void out_str(struct out *o, const char *key, const char *value); /* NULL: null */
void out_int(struct out *o, const char *key, int64_t value);
void out_uint(struct out *o, const char *key, uint64_t value);
void out_bool(struct out *o, const char *key, bool value);
/* A time in seconds since the epoch: JSON the number, text ISO 8601 UTC;
 * 0 is null / "never". */
void out_time(struct out *o, const char *key, int64_t value);

/* Nested objects and arrays (at most OUT_DEPTH_MAX deep; deeper members are
 * dropped). */
void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_arr_begin(struct out *o, const char *key);
void out_arr_end(struct out *o);

/* Write s as a JSON string literal (quotes included) to f. */
void out_json_string(FILE *f, const char *s);

#endif /* SECTXCTL_OUTPUT_H */
