/*
 * config_schema.c - the one table of sectx.conf sections and keys.
 *
 * Each key is declared here exactly once, in one line: section, name, where
 * it lands in struct sectx_config (type-checked at compile time), default,
 * bounds and documentation.  The parser, the defaults, check-config and the
 * documentation read this table and nothing else.  This file holds data and
 * the value checks a row names; it must never parse, allocate or do I/O.
 */
#include "config.h"

#include <string.h>

#define MS 1ull
#define SEC (1000ull * MS)
#define MIN (60ull * SEC)
#define HOUR (60ull * MIN)
#define DAY (24ull * HOUR)

/*
 * Offset of a member, refusing to compile if the member is not of ctype_
 * (comparing distinct pointer types is a diagnostic, an error under
 * -Werror).  CFG_ for struct sectx_config, SVC_ for struct
 * sectx_config_service (keys of section "service").
 */
#define MEMBER_(stype_, field_, ctype_)                                                            \
	(offsetof(stype_, field_) + 0 * sizeof(&((stype_ *)0)->field_ == (ctype_ *)0))
#define CFG_(field_, ctype_) MEMBER_(struct sectx_config, field_, ctype_)
#define SVC_(field_, ctype_) MEMBER_(struct sectx_config_service, field_, ctype_)

/* One row per type: KEY_x(section, name, CFG_ or SVC_, member, default, ..., doc) */
#define KEY_STRING(sec_, name_, in_, field_, def_, check_, doc_)                                   \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_STRING, .def = def_,                   \
	  .offset = in_(field_, const char *), .check = check_, .doc = doc_ }
#define KEY_PATH(sec_, name_, in_, field_, def_, doc_)                                             \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_PATH, .def = def_,                     \
	  .offset = in_(field_, const char *), .doc = doc_ }
#define KEY_BOOL(sec_, name_, in_, field_, def_, doc_)                                             \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_BOOL, .def = def_,                     \
	  .offset = in_(field_, bool), .doc = doc_ }
#define KEY_UINT(sec_, name_, in_, field_, def_, min_, max_, doc_)                                 \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_UINT, .def = def_,                     \
	  .offset = in_(field_, unsigned), .min = min_, .max = max_, .doc = doc_ }
#define KEY_DURATION(sec_, name_, in_, field_, def_, min_, max_, doc_)                             \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_DURATION, .def = def_,                 \
	  .offset = in_(field_, uint64_t), .min = min_, .max = max_, .doc = doc_ }
#define KEY_LOGLEVEL(sec_, name_, in_, field_, def_, doc_)                                         \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_LOGLEVEL, .def = def_,                 \
	  .offset = in_(field_, int), .doc = doc_ }
#define KEY_ENUM(sec_, name_, in_, field_, def_, words_, doc_)                                     \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_ENUM, .def = def_,                     \
	  .offset = in_(field_, int), .words = words_, .doc = doc_ }
#define KEY_LIST(sec_, name_, in_, field_, count_, def_, check_, doc_)                             \
	{ .section = sec_, .name = name_, .type = SECTX_CFG_LIST, .def = def_,                     \
	  .offset = in_(field_, const char **), .count_offset = in_(count_, size_t),             \
	  .check = check_, .doc = doc_ }

/* A Kerberos realm as we accept one in the config: 1-255 printable ASCII
 * characters, none of them whitespace, '/', '@' or ':' (which would make
 * principal names ambiguous).  Empty means krb5.conf's default realm. */
static const char *check_realm(const char *value)
{
	size_t len = strlen(value);
	size_t i;

	if (len == 0) {
		return NULL;
	}
	if (len > 255) {
		return "is not a realm name (at most 255 characters)";
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == ':') {
			return "is not a realm name (printable ASCII without whitespace, '/', '@' "
			       "or ':')";
		}
	}
	return NULL;
}

static const char *const fast_words[] = { "try", "demand", "never", NULL };

/* A credential cache template: a type the helper can write as the user.
 * Session and user keyrings belong to the login process, not the helper. */
static const char *check_ccache(const char *value)
{
	if (strncmp(value, "FILE:/", 6) == 0 || strncmp(value, "DIR:/", 5) == 0) {
		if (strstr(value, "/../") != NULL || strstr(value, "/./") != NULL) {
			return "is not a credential cache name (no . or .. in the path)";
		}
		return NULL;
	}
	if (strcmp(value, "KEYRING:persistent:%U") == 0) {
		return NULL;
	}
	return "is not a credential cache sectxd can write (FILE:/path, DIR:/path or "
	       "KEYRING:persistent:%U)";
}

/* A user or group name in an access list: no whitespace, ':' or ','. */
static const char *check_name(const char *value)
{
	size_t len = strlen(value);
	size_t i;

	if (len == 0 || len > 255) {
		return "is not a user or group name (1-255 characters)";
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c == 0x7f || c == ':' || c == ',') {
			return "is not a user or group name (no whitespace, ':' or ',')";
		}
	}
	return NULL;
}

const struct sectx_config_section sectx_config_sections[] = {
	{ "sectxd", false, "the helper daemon: sockets, state, logging, connection limits" },
	{ "kerberos", false, "the realm and how logins are checked against it" },
	{ "identity", false, "where users and groups come from" },
	{ "offline", false, "logins while the realm cannot be reached" },
	{ "access", false, "which users and groups may log in" },
	{ "pam", false, "services that may authenticate by tickets the user already holds" },
	{ "service", true, "what one local service (by uid) may do with the host keytab" },
};
const size_t sectx_config_n_sections =
	sizeof(sectx_config_sections) / sizeof(sectx_config_sections[0]);

/* clang-format off */
const struct sectx_config_key sectx_config_keys[] = {
	KEY_PATH("sectxd", "socket_dir", CFG_, sectxd.socket_dir, SECTX_DEFAULT_SOCKET_DIR, "directory of pam.sock and nss.sock (made root-owned, 0755)"),
	KEY_PATH("sectxd", "state_dir", CFG_, sectxd.state_dir, SECTX_DEFAULT_STATE_DIR, "directory of the helper's state files (made root-owned, 0700)"),
	KEY_LOGLEVEL("sectxd", "log_level", CFG_, sectxd.log_level, "info", "least important events logged"),
	KEY_UINT("sectxd", "max_connections", CFG_, sectxd.max_connections, "1024", 16, 65536, "open client connections, all users together"),
	KEY_UINT("sectxd", "max_connections_per_uid", CFG_, sectxd.max_connections_per_uid, "256", 4, 65536, "open client connections of one uid"),
	KEY_DURATION("sectxd", "client_timeout", CFG_, sectxd.client_timeout_ms, "10s", 100 * MS, 5 * MIN, "a client that has begun a frame must finish it, or read its reply, within this"),
	KEY_DURATION("sectxd", "idle_timeout", CFG_, sectxd.idle_timeout_ms, "5m", 1 * SEC, 1 * DAY, "an idle connection is closed after this"),
	KEY_STRING("kerberos", "realm", CFG_, kerberos.realm, "", check_realm, "realm of the users; empty: krb5.conf's default realm"),
	KEY_PATH("kerberos", "keytab", CFG_, kerberos.keytab, "/etc/krb5.keytab", "host keytab: validates every TGT and armours the AS exchange"),
	KEY_BOOL("kerberos", "validate", CFG_, kerberos.validate, "true", "verify each TGT with a host key, so a spoofed KDC cannot log anyone in"),
	KEY_ENUM("kerberos", "fast", CFG_, kerberos.fast, "try", fast_words, "FAST armour from the host keytab: try, demand or never"),
	KEY_DURATION("kerberos", "ticket_lifetime", CFG_, kerberos.ticket_lifetime_ms, "10h", 1 * MIN, 30 * DAY, "lifetime asked for a user's TGT"),
	KEY_DURATION("kerberos", "renew_lifetime", CFG_, kerberos.renew_lifetime_ms, "7d", 0, 365 * DAY, "renewable lifetime asked for (0: not renewable)"),
	KEY_BOOL("kerberos", "forwardable", CFG_, kerberos.forwardable, "true", "ask for forwardable TGTs"),
	KEY_DURATION("kerberos", "kdc_timeout", CFG_, kerberos.kdc_timeout_ms, "5s", 500 * MS, 5 * MIN, "longest a login waits for the realm before AUTHINFO_UNAVAIL"),
	KEY_UINT("kerberos", "pwd_expire_warning", CFG_, kerberos.pwd_expire_warning, "7", 0, 365, "warn at login when the password expires within this many days"),
	KEY_STRING("kerberos", "ccache", CFG_, kerberos.ccache, "FILE:/tmp/krb5cc_%U_XXXXXX", check_ccache, "session credential cache: FILE:, DIR: or KEYRING:persistent:%U (%U uid, %u user, XXXXXX random)"),
	KEY_DURATION("kerberos", "handle_lifetime", CFG_, kerberos.handle_lifetime_ms, "5m", 1 * SEC, 1 * HOUR, "a login's TGT waits this long for its session before it is dropped"),
	KEY_UINT("kerberos", "failure_delay_after", CFG_, kerberos.failure_delay_after, "3", 1, 1000, "failed logins of one user or uid before each further attempt is delayed"),
	KEY_DURATION("kerberos", "failure_delay_max", CFG_, kerberos.failure_delay_max_ms, "30s", 0, 10 * MIN, "longest delay for repeated failures (doubling from 1s)"),
	KEY_LIST("access", "allow_users", CFG_, access.allow_users, access.n_allow_users, "", check_name, "users who may log in (empty: every realm user)"),
	KEY_LIST("access", "allow_groups", CFG_, access.allow_groups, access.n_allow_groups, "", check_name, "members of these groups may log in (empty: no group restriction)"),
};
/* clang-format on */
const size_t sectx_config_n_keys = sizeof(sectx_config_keys) / sizeof(sectx_config_keys[0]);
