/*
 * config_value.c - the values of sectx.conf: turning one untrusted text value
 * into its typed field (sectx_config_value_parse), and the small text helpers
 * the parser in config.c shares (config_int.h).
 *
 * Every value is checked against its key's type and bounds from the schema;
 * a NUL byte, a control character or invalid UTF-8 is an error, and any file
 * text quoted in a message is escaped (cfg_show).  Must never log, exit or
 * keep a pointer into the caller's text.
 */
#include "config.h"
#include "config_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
/* --- small text helpers ----------------------------------------------------- */

/* Escape s for a message: control characters (C0, DEL, C1), backslash as
 * \xHH / \\; at most SHOW_MAX bytes of s, then "...". */
const char *cfg_show(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= SHOW_MAX || o + 8 > outsz) {
			/* do not cut a UTF-8 sequence in half */
			while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80) {
				o--;
			}
			if (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0xc0) {
				o--;
			}
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			/* U+0080..U+009F, C1 controls (a terminal may obey them) */
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[(unsigned char)s[i + 1] >> 4];
			out[o++] = hex[(unsigned char)s[i + 1] & 0xf];
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* True if s holds a C0 control (a tab only if !tab_ok), DEL or C1 control. */
static bool has_control(const char *s, bool tab_ok)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\t' && tab_ok) {
			continue;
		}
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)) {
			return true;
		}
	}
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks (and a stray CR) at both ends of s in place; returns the start. */
char *cfg_trim(char *s)
{
	size_t len;

	while (is_blank(*s) || *s == '\r') {
		s++;
	}
	len = strlen(s);
	while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '\r')) {
		s[--len] = '\0';
	}
	return s;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool cfg_utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0) {
				lo = 0xa0;
			} else if (c == 0xed) {
				hi = 0x9f;
			}
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0) {
				lo = 0x90;
			} else if (c == 0xf4) {
				hi = 0x8f;
			}
		} else {
			return false;
		}
		if (len - i <= n) {
			return false;
		}
		if (p[i + 1] < lo || p[i + 1] > hi) {
			return false;
		}
		for (k = 2; k <= n; k++) {
			if (p[i + k] < 0x80 || p[i + k] > 0xbf) {
				return false;
			}
		}
		i += n + 1;
	}
	return true;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive Levenshtein distance of a and b, or SIZE_MAX if it is
 * certainly above SUGGEST_DISTANCE (lengths too different or too long). */
size_t cfg_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SUGGEST_NAME_MAX + SUGGEST_DISTANCE + 2];
	size_t i, j;

	if (lb > SUGGEST_NAME_MAX || (la > lb ? la - lb : lb - la) > SUGGEST_DISTANCE) {
		return SIZE_MAX;
	}
	for (j = 0; j <= lb; j++) {
		row[j] = j;
	}
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);

			if (up + 1 < best) {
				best = up + 1;
			}
			if (row[j - 1] + 1 < best) {
				best = row[j - 1] + 1;
			}
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* A NAME in [service/NAME]: 1-64 characters of [A-Za-z0-9._-]. */
bool cfg_service_name_valid(const char *name)
{
	size_t len = strlen(name);
	size_t i;

	if (len == 0 || len > SECTX_CONFIG_SERVICE_NAME_MAX) {
		return false;
	}
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			return false;
		}
	}
	return true;
}

/* --- values ----------------------------------------------------------------- */

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
    {"ms", 1},	{"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400ull * 1000},
    {"", 1000},
};

/* Decimal digits only, into *out.  -EINVAL if not a number, -ERANGE on
 * overflow.  *end (if not NULL) gets the first byte after the digits, and then
 * trailing text is allowed. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9') {
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10) {
			/* skip the rest of the number so the caller sees its unit */
			while (*p >= '0' && *p <= '9') {
				p++;
			}
			if (end != NULL) {
				*end = p;
			}
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	if (end == NULL && *p != '\0') {
		return -EINVAL;
	}
	if (end != NULL) {
		*end = p;
	}
	*out = v;
	return 0;
}

/* A duration in the largest unit that states it exactly ("5m", "100ms"). */
const char *cfg_format_duration(uint64_t ms, char *out, size_t outsz)
{
	size_t i;

	for (i = 4; ms != 0 && i > 0; i--) {
		if (ms % duration_units[i].ms == 0) {
			break;
		}
	}
	if (ms == 0) {
		snprintf(out, outsz, "0s");
	} else {
		snprintf(out, outsz, "%" PRIu64 "%s", ms / duration_units[i].ms,
			 duration_units[i].suffix);
	}
	return out;
}

static int parse_duration(const char *s, uint64_t *out)
{
	const char *end = NULL;
	uint64_t v = 0;
	size_t i;
	int ret;

	ret = parse_digits(s, &v, &end);
	if (ret == -EINVAL) {
		return -EINVAL;
	}
	for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(end, duration_units[i].suffix) == 0) {
			break;
		}
	}
	if (i == sizeof(duration_units) / sizeof(duration_units[0])) {
		return -EINVAL;
	}
	if (ret == -ERANGE || v > UINT64_MAX / duration_units[i].ms) {
		return -ERANGE;
	}
	*out = v * duration_units[i].ms;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* "a, b or c" from a NULL-terminated word list. */
void cfg_format_words(const char *const *words, char *out, size_t outsz)
{
	size_t n, i, o = 0;

	out[0] = '\0';
	for (n = 0; words[n] != NULL; n++) {
	}
	for (i = 0; i < n && o < outsz; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
		int w = snprintf(out + o, outsz - o, "%s%s", sep, words[i]);

		if (w < 0) {
			break;
		}
		o += (size_t)w;
	}
}

/* Normalise an absolute path into out (same size as path + 1): collapse
 * repeated '/', drop a trailing '/'.  Returns NULL or why it is refused. */
static const char *normalise_path(const char *path, char *out)
{
	const char *p = path;
	size_t o = 0;

	if (path[0] != '/') {
		return "is not an absolute path";
	}
	if (strlen(path) >= PATH_MAX) {
		return "is not a path (longer than PATH_MAX)";
	}
	while (*p != '\0') {
		const char *comp;
		size_t clen;

		while (*p == '/') {
			p++;
		}
		comp = p;
		while (*p != '\0' && *p != '/') {
			p++;
		}
		clen = (size_t)(p - comp);
		if (clen == 0) {
			break;
		}
		if ((clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.')) {
			return "is not a normalised path (has a '.' or '..' component)";
		}
		out[o++] = '/';
		memcpy(out + o, comp, clen);
		o += clen;
	}
	if (o == 0) {
		out[o++] = '/';
	}
	out[o] = '\0';
	return NULL;
}

/* Split a LIST value into a NULL-terminated talloc array on mem_ctx. */
static int parse_list(TALLOC_CTX *mem_ctx, const struct sectx_config_key *key, const char *value,
		      const char ***list_out, size_t *count_out, char *reason, size_t reason_size)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	char sbuf[SHOW_BUF];
	const char **list = NULL;
	size_t n = 0;
	char *copy = NULL;
	char *item = NULL;
	char *next = NULL;
	int ret;

	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	list = talloc_array(tmp_ctx, const char *, 1);
	copy = talloc_strdup(tmp_ctx, value);
	if (list == NULL || copy == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	list[0] = NULL;
	if (copy[0] != '\0') {
		for (item = copy; item != NULL; item = next) {
			const char *why = NULL;
			char *t;

			next = strchr(item, ',');
			if (next != NULL) {
				*next++ = '\0';
			}
			t = cfg_trim(item);
			if (t[0] == '\0') {
				snprintf(
				    reason, reason_size,
				    "'%s' has an empty item (expected words separated by commas)",
				    cfg_show(value, sbuf, sizeof(sbuf)));
				ret = -EINVAL;
				goto done;
			}
			if (strpbrk(t, " \t") != NULL) {
				why = "contains whitespace (expected words separated by commas)";
			} else if (key->check != NULL) {
				why = key->check(t);
			}
			if (why != NULL) {
				snprintf(reason, reason_size, "item '%s' %s",
					 cfg_show(t, sbuf, sizeof(sbuf)), why);
				ret = -EINVAL;
				goto done;
			}
			list = talloc_realloc(tmp_ctx, list, const char *, n + 2);
			if (list == NULL) {
				ret = -ENOMEM;
				goto done;
			}
			list[n] = talloc_strdup(list, t);
			if (list[n] == NULL) {
				ret = -ENOMEM;
				goto done;
			}
			list[++n] = NULL;
		}
	}
	*list_out = talloc_steal(mem_ctx, list);
	*count_out = n;
	ret = 0;
done:
	talloc_free(tmp_ctx);
	return ret;
}

int sectx_config_value_parse(TALLOC_CTX *owner, const struct sectx_config_key *key,
			     const char *value, void *base, char *reason, size_t reason_size)
{
	char *field = (char *)base + key->offset;
	char sbuf[SHOW_BUF];
	char lo[32], hi[32];
	const char *why = NULL;
	const char *shown = cfg_show(value, sbuf, sizeof(sbuf));
	uint64_t v = 0;
	int ret = 0;

	reason[0] = '\0';
	switch (key->type) {
	case SECTX_CFG_STRING:
	case SECTX_CFG_PATH: {
		char *copy = NULL;

		if (has_control(value, false)) {
			snprintf(reason, reason_size, "'%s' contains a control character", shown);
			return -EINVAL;
		}
		copy = talloc_strdup(owner, value);
		if (copy == NULL) {
			return -ENOMEM;
		}
		if (key->type == SECTX_CFG_PATH) {
			why = normalise_path(value, copy);
		}
		if (why == NULL && key->check != NULL) {
			why = key->check(copy);
		}
		if (why != NULL) {
			talloc_free(copy);
			snprintf(reason, reason_size, "'%s' %s", shown, why);
			return -EINVAL;
		}
		memcpy(field, &copy, sizeof(copy));
		return 0;
	}
	case SECTX_CFG_BOOL: {
		bool b = false;

		if (parse_bool(value, &b) != 0) {
			snprintf(reason, reason_size,
				 "'%s' is not a boolean (expected true, false, yes, no, on, off, 1 "
				 "or 0)",
				 shown);
			return -EINVAL;
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	}
	case SECTX_CFG_UINT: {
		unsigned u;

		ret = parse_digits(value, &v, NULL);
		if (ret == -EINVAL) {
			snprintf(reason, reason_size,
				 "'%s' is not a whole number (%s%" PRIu64 "..%" PRIu64 ")", shown,
				 key->zero_ok ? "0 or " : "", key->min, key->max);
			return -EINVAL;
		}
		if (ret == -ERANGE || (v < key->min && !(v == 0 && key->zero_ok)) || v > key->max ||
		    v > UINT_MAX) {
			snprintf(reason, reason_size,
				 "'%s' is out of range (%s%" PRIu64 "..%" PRIu64 ")", shown,
				 key->zero_ok ? "0 or " : "", key->min, key->max);
			return -EINVAL;
		}
		u = (unsigned)v;
		memcpy(field, &u, sizeof(u));
		return 0;
	}
	case SECTX_CFG_DURATION:
		cfg_format_duration(key->min, lo, sizeof(lo));
		cfg_format_duration(key->max, hi, sizeof(hi));
		ret = parse_duration(value, &v);
		if (ret == -EINVAL) {
			snprintf(
			    reason, reason_size,
			    "'%s' is not a duration: a whole number with unit ms, s, m, h or d, "
			    "bare = seconds (%s..%s)",
			    shown, lo, hi);
			return -EINVAL;
		}
		if (ret == -ERANGE || v < key->min || v > key->max) {
			snprintf(reason, reason_size, "'%s' is out of range (%s..%s)", shown, lo,
				 hi);
			return -EINVAL;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	case SECTX_CFG_LOGLEVEL: {
		int level = sectx_log_level_parse(value);

		if (level < 0 || level > SECTX_LOG_LEVEL_MAX) {
			snprintf(reason, reason_size,
				 "'%s' (expected error, warning, info, debug or trace)", shown);
			return -EINVAL;
		}
		memcpy(field, &level, sizeof(level));
		return 0;
	}
	case SECTX_CFG_ENUM: {
		char words[512];
		int i;

		for (i = 0; key->words != NULL && key->words[i] != NULL; i++) {
			if (strcmp(value, key->words[i]) == 0) {
				memcpy(field, &i, sizeof(i));
				return 0;
			}
		}
		cfg_format_words(key->words, words, sizeof(words));
		snprintf(reason, reason_size, "'%s' (expected %s)", shown, words);
		return -EINVAL;
	}
	case SECTX_CFG_LIST: {
		const char **list = NULL;
		size_t count = 0;

		if (has_control(value, true)) { /* a tab may separate items */
			snprintf(reason, reason_size, "'%s' contains a control character", shown);
			return -EINVAL;
		}
		ret = parse_list(owner, key, value, &list, &count, reason, reason_size);
		if (ret != 0) {
			return ret;
		}
		memcpy(field, &list, sizeof(list));
		memcpy((char *)base + key->count_offset, &count, sizeof(count));
		return 0;
	}
	}
	snprintf(reason, reason_size, "key has an unknown type");
	return -EINVAL;
}
