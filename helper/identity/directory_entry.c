/*
 * identity/directory_entry.c - the pure parts of the directory source: the
 * attribute names of each schema, filter escaping (RFC 4515), the first RDN
 * of a DN, ids read from entries, and an entry turned into a user (AD
 * entries without POSIX ids get the deterministic mapping of store.h).
 *
 * Who reaches this: directory.c, with values a directory server returned
 * and names a local user asked for.  No I/O, no allocation.  Must never:
 * let a value reach a filter unescaped, or read an id it cannot parse
 * whole as a number.
 */
#include "identity/directory_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *or_default(const char *v, const char *def)
{
	return v != NULL && v[0] != '\0' ? v : def;
}

void dir_schema_init(struct dir_schema *s, const struct sectx_config *cfg)
{
	bool ad = cfg->directory.schema == SECTX_DIR_AD;

	memset(s, 0, sizeof(*s));
	s->schema = cfg->directory.schema;
	s->user_filter = or_default(cfg->directory.user_filter,
				    ad ? "(objectClass=user)" : "(objectClass=posixAccount)");
	s->group_filter = or_default(cfg->directory.group_filter,
				     ad ? "(objectClass=group)" : "(objectClass=posixGroup)");
	s->uid = or_default(cfg->directory.attr_uid, ad ? "sAMAccountName" : "uid");
	s->uid_number = or_default(cfg->directory.attr_uid_number, "uidNumber");
	s->gid_number = or_default(cfg->directory.attr_gid_number, "gidNumber");
	s->gecos = or_default(cfg->directory.attr_gecos, "gecos");
	s->home = or_default(cfg->directory.attr_home, ad ? "unixHomeDirectory" : "homeDirectory");
	s->shell = or_default(cfg->directory.attr_shell, "loginShell");
	s->group_name = or_default(cfg->directory.attr_group_name, "cn");
	s->member_uid = or_default(cfg->directory.attr_member_uid, "memberUid");
	s->member = or_default(cfg->directory.attr_member, "member");
}

int dir_filter_escape(char *out, size_t outsz, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f) {
			if (o + 3 >= outsz) {
				return -ENAMETOOLONG;
			}
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= outsz) {
				return -ENAMETOOLONG;
			}
			out[o++] = (char)c;
		}
	}
	if (o >= outsz) {
		return -ENAMETOOLONG;
	}
	out[o] = '\0';
	return 0;
}

int dir_parse_id(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	int digits = 0;

	if (s == NULL) {
		return -EINVAL;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (++digits > 10) {
			return -EINVAL;
		}
	}
	if (digits == 0 || *s != '\0' || v > UINT32_MAX) {
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int dir_dn_first_rdn(const char *dn, const char *attr, char *out, size_t outsz)
{
	size_t alen = strlen(attr), o = 0;
	const char *p;

	while (*dn == ' ') {
		dn++;
	}
	if (strncasecmp(dn, attr, alen) != 0) {
		return -ENOENT;
	}
	p = dn + alen;
	while (*p == ' ') {
		p++;
	}
	if (*p != '=') {
		return -ENOENT;
	}
	for (p++; *p != '\0' && *p != ','; p++) {
		char c = *p;

		if (c == '+') {
			return -ENOENT; /* multi-valued RDN */
		}
		if (c == '\\') {
			int h1 = hexval(p[1]), h2 = h1 >= 0 ? hexval(p[2]) : -1;

			if (h1 >= 0 && h2 >= 0) {
				c = (char)(h1 * 16 + h2);
				p += 2;
			} else if (p[1] != '\0') {
				c = *++p;
			} else {
				return -EINVAL;
			}
		}
		if (o + 1 >= outsz) {
			return -ENAMETOOLONG;
		}
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == ' ') {
		o--;
	}
	if (o == 0 || memchr(out, '\0', o) != NULL) {
		return -EINVAL;
	}
	out[o] = '\0';
	return 0;
}

/* The deterministic id of name@realm (store.h: auto_id's hash). */
static uint32_t mapped_id(const char *name, const char *realm, uint32_t lo, uint32_t hi)
{
	char principal[SECTX_NAME_MAX + 1];

	snprintf(principal, sizeof(principal), "%s@%s", name, realm);
	return id_auto_uid(principal, lo, hi);
}

int dir_entry_to_user(const struct dir_entry *e, int schema, const char *realm, uint32_t range_min,
		      uint32_t range_max, struct id_dir_user *out)
{
	memset(out, 0, sizeof(*out));
	if (e->name == NULL || e->name[0] == '\0') {
		return -EINVAL;
	}
	out->name = e->name;
	if (e->uid_number != NULL) {
		if (dir_parse_id(e->uid_number, &out->uid) != 0) {
			return -EINVAL;
		}
	} else if (schema == SECTX_DIR_AD) {
		out->uid = mapped_id(e->name, realm, range_min, range_max);
	} else {
		return -EINVAL;
	}
	if (e->gid_number != NULL) {
		if (dir_parse_id(e->gid_number, &out->gid) != 0) {
			return -EINVAL;
		}
	} else if (schema == SECTX_DIR_AD) {
		out->gid = out->uid;
		out->upg = true;
	} else {
		return -EINVAL;
	}
	out->gecos = e->gecos != NULL ? e->gecos : e->cn;
	out->home = e->home;
	out->shell = e->shell;
	return 0;
}

int dir_entry_group_gid(const struct dir_entry *e, int schema, const char *realm,
			uint32_t range_min, uint32_t range_max, uint32_t *gid)
{
	if (e->name == NULL || e->name[0] == '\0') {
		return -EINVAL;
	}
	if (e->gid_number != NULL) {
		return dir_parse_id(e->gid_number, gid);
	}
	if (schema != SECTX_DIR_AD) {
		return -EINVAL;
	}
	*gid = mapped_id(e->name, realm, range_min, range_max);
	return 0;
}
