/*
 * sectxctl/output.c - the text and JSON forms of sectxctl's output (see
 * output.h).  JSON strings are escaped per RFC 8259 (quote, backslash and
 * control characters); bytes >= 0x80 pass as they are (the protocol only
 * carries valid UTF-8).  Text values have control characters replaced by
 * '?', so that nothing from sectxd can move the cursor of a terminal.
 */
#include "output.h"

#include <inttypes.h>
#include <time.h>

void out_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
	}
	fputc('"', f);
}

static void text_string(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

void out_begin(struct out *o, FILE *f, bool json)
{
	o->f = f;
	o->json = json;
	o->depth = 0;
	o->first[0] = true;
	o->in_array[0] = false;
	if (json) {
		fputc('{', f);
	}
}

void out_end(struct out *o)
{
	if (o->json) {
		fputs("}\n", o->f);
	}
	fflush(o->f);
}

/* Write what precedes a member: separator and key (JSON), indentation and
 * key (text).  Returns false if the member is too deep to be written. */
static bool member(struct out *o, const char *key, bool opens)
{
	if (o->depth > OUT_DEPTH_MAX) {
		return false;
	}
	if (o->json) {
		if (!o->first[o->depth]) {
			fputs(", ", o->f);
		}
		if (key != NULL && !o->in_array[o->depth]) {
			out_json_string(o->f, key);
			fputs(": ", o->f);
		}
	} else {
		fprintf(o->f, "%*s", 2 * o->depth, "");
		if (o->in_array[o->depth]) {
			fputs("- ", o->f);
		}
		if (key != NULL && !o->in_array[o->depth]) {
			fprintf(o->f, "%s:%s", key, opens ? "" : " ");
		}
	}
	o->first[o->depth] = false;
	return true;
}

void out_str(struct out *o, const char *key, const char *value)
{
	if (!member(o, key, false)) {
		return;
	}
	if (o->json) {
		if (value == NULL) {
			fputs("null", o->f);
		} else {
			out_json_string(o->f, value);
		}
	} else {
		text_string(o->f, value != NULL ? value : "(none)");
		fputc('\n', o->f);
	}
}

void out_int(struct out *o, const char *key, int64_t value)
{
	if (member(o, key, false)) {
		fprintf(o->f, o->json ? "%" PRId64 : "%" PRId64 "\n", value);
	}
}

void out_uint(struct out *o, const char *key, uint64_t value)
{
	if (member(o, key, false)) {
		fprintf(o->f, o->json ? "%" PRIu64 : "%" PRIu64 "\n", value);
	}
}

void out_bool(struct out *o, const char *key, bool value)
{
	if (member(o, key, false)) {
		fprintf(o->f, "%s%s", value ? "true" : "false", o->json ? "" : "\n");
	}
}

void out_time(struct out *o, const char *key, int64_t value)
{
	char stamp[64] = "never";
	time_t t = (time_t)value;
	struct tm tm;

	if (o->json) {
		if (value == 0) {
			if (member(o, key, false)) {
				fputs("null", o->f);
			}
		} else {
			out_int(o, key, value);
		}
		return;
	}
	if (value != 0 && gmtime_r(&t, &tm) != NULL) {
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	out_str(o, key, stamp);
}

static void open_nested(struct out *o, const char *key, bool array)
{
	/* opened only if its members can be written: depth stays <= MAX */
	if (o->depth < OUT_DEPTH_MAX && member(o, key, true)) {
		if (o->json) {
			fputc(array ? '[' : '{', o->f);
		} else {
			fputc('\n', o->f);
		}
	}
	o->depth++;
	if (o->depth <= OUT_DEPTH_MAX) {
		o->first[o->depth] = true;
		o->in_array[o->depth] = array;
	}
}

static void close_nested(struct out *o, bool array)
{
	if (o->depth <= OUT_DEPTH_MAX && o->json) {
		fputc(array ? ']' : '}', o->f);
	}
	if (o->depth > 0) {
		o->depth--;
	}
}

void out_obj_begin(struct out *o, const char *key)
{
	open_nested(o, key, false);
}

void out_obj_end(struct out *o)
{
	close_nested(o, false);
}

void out_arr_begin(struct out *o, const char *key)
{
	open_nested(o, key, true);
}

void out_arr_end(struct out *o)
{
	close_nested(o, true);
}
