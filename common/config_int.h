/*
 * config_int.h - what config.c (the parser and loader) and config_value.c
 * (values and text helpers) share.  Private to the config code in common/.
 */
#ifndef SECTX_CONFIG_INT_H
#define SECTX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHOW_MAX	 128u		      /* bytes of a file value quoted in a message */
#define SHOW_BUF	 (SHOW_MAX * 4u + 4u) /* its escaped form, "..." and NUL */
#define SUGGEST_DISTANCE 2u		      /* edit distance for "did you mean" */
#define SUGGEST_NAME_MAX 64u		      /* longest schema name we compare */

/* s as a quoted, escaped, bounded string for a message (out: SHOW_BUF). */
const char *cfg_show(const char *s, char *out, size_t outsz);
/* s without leading and trailing blanks (in place). */
char *cfg_trim(char *s);
/* Is p[0..len) valid UTF-8? */
bool cfg_utf8_valid(const unsigned char *p, size_t len);
/* Case-insensitive edit distance of a and b, capped past SUGGEST_DISTANCE. */
size_t cfg_distance(const char *a, const char *b);
/* May name follow "service/" in a section header? */
bool cfg_service_name_valid(const char *name);
/* ms as the shortest exact duration ("90s", "5m"), into out. */
const char *cfg_format_duration(uint64_t ms, char *out, size_t outsz);
/* words (NULL-terminated) as "a, b or c", into out. */
void cfg_format_words(const char *const *words, char *out, size_t outsz);

#endif /* SECTX_CONFIG_INT_H */
