/*
 * identity/names.c - what a user or group name may be, how it relates to a
 * principal, the auto_id hash, and the home/shell templates (rules in
 * identity.h).
 *
 * Every name that arrives from a local user (any NSS lookup) or a static
 * file passes id_name_parse before it is used as a key, written to a file or
 * logged.  The rules are a whitelist on purpose: what passes can stand in a
 * passwd line, a path component and a log line.  Pure functions: no I/O,
 * no allocation.
 */
#include "identity/store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '$';
}

/* The part before '@': 1+ components separated by '/', none empty, "." or
 * "..", of name characters; does not start with '-' or '+' (nsswitch compat
 * syntax) and is not all digits (it would read as an id). */
static bool name_part_ok(const char *s, size_t len)
{
	size_t i, comp = 0;
	bool all_digits = true;

	if (len == 0 || s[0] == '-' || s[0] == '+') {
		return false;
	}
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (comp == 0 || (comp == 1 && s[i - 1] == '.') ||
			    (comp == 2 && s[i - 1] == '.' && s[i - 2] == '.')) {
				return false;
			}
			comp = 0;
			continue;
		}
		if (!name_char((unsigned char)s[i])) {
			return false;
		}
		if (s[i] < '0' || s[i] > '9') {
			all_digits = false;
		}
		comp++;
	}
	return !all_digits;
}

static bool realm_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0) {
		return false;
	}
	for (i = 0; i < len; i++) {
		if (!name_char((unsigned char)s[i]) || s[i] == '$') {
			return false;
		}
	}
	return true;
}

int id_name_parse(const char *in, const char *default_realm, struct id_name *out)
{
	const char *at;
	size_t len, nlen, rlen;

	memset(out, 0, sizeof(*out));
	if (in == NULL) {
		return -EINVAL;
	}
	len = strnlen(in, SECTX_NAME_MAX + 1);
	if (len == 0 || len > SECTX_NAME_MAX) {
		return -EINVAL;
	}
	at = memchr(in, '@', len);
	if (at != NULL) {
		nlen = (size_t)(at - in);
		rlen = len - nlen - 1;
		if (memchr(at + 1, '@', rlen) != NULL || !name_part_ok(in, nlen) ||
		    !realm_ok(at + 1, rlen)) {
			return -EINVAL;
		}
		memcpy(out->name, in, nlen);
		memcpy(out->realm, at + 1, rlen);
		out->was_qualified = true;
	} else {
		nlen = len;
		/* A short name is a principal of the default realm, and only a
		 * name without '/' has a short form. */
		if (default_realm == NULL || default_realm[0] == '\0' ||
		    memchr(in, '/', len) != NULL || !name_part_ok(in, nlen)) {
			return -EINVAL;
		}
		rlen = strlen(default_realm);
		if (nlen + 1 + rlen > SECTX_NAME_MAX || !realm_ok(default_realm, rlen)) {
			return -EINVAL;
		}
		memcpy(out->name, in, nlen);
		memcpy(out->realm, default_realm, rlen);
	}
	/* name@realm: at most SECTX_NAME_MAX bytes (checked above) */
	memcpy(out->principal, out->name, nlen);
	out->principal[nlen] = '@';
	memcpy(out->principal + nlen + 1, out->realm, rlen);
	out->principal[nlen + 1 + rlen] = '\0';
	out->has_short = default_realm != NULL && strcmp(out->realm, default_realm) == 0 &&
			 strchr(out->name, '/') == NULL;
	return 0;
}

uint64_t id_fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint32_t id_auto_uid(const char *principal, uint32_t min, uint32_t max)
{
	return min + (uint32_t)(id_fnv1a64(principal) % ((uint64_t)max - min + 1));
}

int id_range_parse(const char *s, uint32_t *min, uint32_t *max)
{
	unsigned long long lo, hi;
	char tail;

	if (s == NULL || sscanf(s, "%llu-%llu%c", &lo, &hi, &tail) != 2 || s[0] < '0' ||
	    s[0] > '9' || lo < 1 || hi > 2147483647ull || hi < lo + 999) {
		return -EINVAL;
	}
	*min = (uint32_t)lo;
	*max = (uint32_t)hi;
	return 0;
}

bool id_field_ok(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);

	return len <= max && memchr(s, ':', len) == NULL &&
	       (len == 0 || sectx_validate_string((const uint8_t *)s, len, max) == 0);
}

int id_expand_template(char *out, size_t outsz, const char *tmpl, const char *name, uint32_t uid,
		       const char *principal, const char *realm)
{
	size_t o = 0;
	const char *p;

	for (p = tmpl; *p != '\0'; p++) {
		char num[16];
		const char *add = NULL;
		size_t alen;

		if (*p != '%') {
			if (o + 1 >= outsz) {
				return -ENAMETOOLONG;
			}
			out[o++] = *p;
			continue;
		}
		switch (*++p) {
		case 'u':
			add = name;
			break;
		case 'U':
			snprintf(num, sizeof(num), "%u", uid);
			add = num;
			break;
		case 'p':
			add = principal;
			break;
		case 'r':
			add = realm;
			break;
		case '%':
			add = "%";
			break;
		default:
			return -EINVAL;
		}
		alen = strlen(add);
		if (o + alen >= outsz) {
			return -ENAMETOOLONG;
		}
		memcpy(out + o, add, alen);
		o += alen;
	}
	if (outsz == 0) {
		return -ENAMETOOLONG;
	}
	out[o] = '\0';
	return id_field_ok(out, ID_FIELD_MAX) ? 0 : -EINVAL;
}
