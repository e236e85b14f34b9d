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

#define MS   1ull
#define SEC  (1000ull * MS)
#define MIN  (60ull * SEC)
#define HOUR (60ull * MIN)
#define DAY  (24ull * HOUR)

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
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_STRING, .def = def_,             \
		.offset = in_(field_, const char *), .check = check_, .doc = doc_                  \
	}
#define KEY_PATH(sec_, name_, in_, field_, def_, doc_)                                             \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_PATH, .def = def_,               \
		.offset = in_(field_, const char *), .doc = doc_                                   \
	}
#define KEY_BOOL(sec_, name_, in_, field_, def_, doc_)                                             \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_BOOL, .def = def_,               \
		.offset = in_(field_, bool), .doc = doc_                                           \
	}
#define KEY_UINT(sec_, name_, in_, field_, def_, min_, max_, doc_)                                 \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_UINT, .def = def_,               \
		.offset = in_(field_, unsigned), .min = min_, .max = max_, .doc = doc_             \
	}
/* A UINT whose 0 has a meaning of its own (e.g. "calibrate"), min_ > 0 */
#define KEY_UINT_OR_0(sec_, name_, in_, field_, def_, min_, max_, doc_)                            \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_UINT, .def = def_,               \
		.offset = in_(field_, unsigned), .min = min_, .max = max_, .zero_ok = true,        \
		.doc = doc_                                                                        \
	}
#define KEY_DURATION(sec_, name_, in_, field_, def_, min_, max_, doc_)                             \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_DURATION, .def = def_,           \
		.offset = in_(field_, uint64_t), .min = min_, .max = max_, .doc = doc_             \
	}
#define KEY_LOGLEVEL(sec_, name_, in_, field_, def_, doc_)                                         \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_LOGLEVEL, .def = def_,           \
		.offset = in_(field_, int), .doc = doc_                                            \
	}
#define KEY_ENUM(sec_, name_, in_, field_, def_, words_, doc_)                                     \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_ENUM, .def = def_,               \
		.offset = in_(field_, int), .words = words_, .doc = doc_                           \
	}
#define KEY_LIST(sec_, name_, in_, field_, count_, def_, check_, doc_)                             \
	{                                                                                          \
		.section = sec_, .name = name_, .type = SECTX_CFG_LIST, .def = def_,               \
		.offset = in_(field_, const char **), .count_offset = in_(count_, size_t),         \
		.check = check_, .doc = doc_                                                       \
	}

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

static const char *const fast_words[] = {"try", "demand", "never", NULL};

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

/* A PAM service name in [pam] gssapi_services: one file name of /etc/pam.d. */
static const char *check_pam_service(const char *value)
{
	if (check_name(value) != NULL || strchr(value, '/') != NULL) {
		return "is not a PAM service name (1-255 characters, no whitespace, '/', ':' or "
		       "',')";
	}
	return NULL;
}

/* --- [identity] checks ------------------------------------------------------ */

/* users_file, groups_file: empty (none) or an absolute path without . or ..
 * components. */
static const char *check_optional_path(const char *value)
{
	if (value[0] == '\0') {
		return NULL;
	}
	if (value[0] != '/' || strstr(value, "/../") != NULL || strstr(value, "/./") != NULL ||
	    (strlen(value) >= 3 && strcmp(value + strlen(value) - 3, "/..") == 0) ||
	    (strlen(value) >= 2 && strcmp(value + strlen(value) - 2, "/.") == 0)) {
		return "is not an absolute path without . or .. (or empty for none)";
	}
	return NULL;
}

/* id_range: MIN-MAX, 1 <= MIN < MAX <= 2147483647 (ids stay positive as
 * signed 32-bit numbers, which some tools assume), at least 1000 ids. */
static const char *check_id_range(const char *value)
{
	unsigned long long lo = 0, hi = 0;
	const char *p = value;
	int part = 0;

	for (; part < 2; part++) {
		unsigned long long v = 0;
		int digits = 0;

		while (*p >= '0' && *p <= '9' && digits < 11) {
			v = v * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (digits == 0 || (part == 0 && *p++ != '-')) {
			return "is not an id range (MIN-MAX, e.g. 200000-2000200000)";
		}
		if (part == 0) {
			lo = v;
		} else {
			hi = v;
		}
	}
	if (*p != '\0') {
		return "is not an id range (MIN-MAX, e.g. 200000-2000200000)";
	}
	if (lo < 1 || hi > 2147483647ull || hi < lo + 999) {
		return "is not a usable id range (1 <= MIN, MIN + 999 <= MAX <= 2147483647)";
	}
	return NULL;
}

/* home and shell templates: absolute, no control characters or ':' (they go
 * into passwd lines), only the % escapes the identity store expands. */
static const char *check_id_template(const char *value)
{
	const char *p;

	if (value[0] != '/') {
		return "is not an absolute path template";
	}
	for (p = value; *p != '\0'; p++) {
		if (*p == ':' || (unsigned char)*p < 0x20 || *p == 0x7f) {
			return "is not a path template (no ':' or control characters)";
		}
		if (*p == '%') {
			p++;
			if (*p != 'u' && *p != 'U' && *p != 'p' && *p != 'r' && *p != '%') {
				return "is not a path template (escapes: %u name, %U uid, %p "
				       "principal, "
				       "%r realm, %% a percent sign)";
			}
		}
	}
	return NULL;
}

/* --- [directory] checks ------------------------------------------------------ */

/* uri: ldap://host[:port] or ldaps://host[:port], no whitespace. */
static const char *check_ldap_uri(const char *value)
{
	const char *p;

	if (strncmp(value, "ldap://", 7) != 0 && strncmp(value, "ldaps://", 8) != 0) {
		return "is not an LDAP URI (ldap://HOST[:PORT] or ldaps://HOST[:PORT])";
	}
	for (p = value; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"') {
			return "is not an LDAP URI (no whitespace or control characters)";
		}
	}
	return NULL;
}

/* An LDAP filter as written in the config: empty, or parenthesised with
 * balanced parentheses. */
static const char *check_ldap_filter(const char *value)
{
	int depth = 0;
	const char *p;

	if (value[0] == '\0') {
		return NULL;
	}
	if (value[0] != '(') {
		return "is not an LDAP filter (it starts with '(')";
	}
	for (p = value; *p != '\0'; p++) {
		if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth < 0) {
			break;
		}
	}
	if (depth != 0) {
		return "is not an LDAP filter (unbalanced parentheses)";
	}
	return NULL;
}

/* An attribute name: letters, digits, '-' and ';' (empty: the schema's). */
static const char *check_ldap_attr(const char *value)
{
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == ';')) {
			return "is not an attribute name (letters, digits, '-')";
		}
	}
	return NULL;
}

static const char *const dir_schema_words[] = {"rfc2307", "rfc2307bis", "ad", NULL};
static const char *const dir_bind_words[] = {"gssapi", "simple", "none", NULL};

/* host_principal: empty or a principal name without whitespace or ':'. */
static const char *check_principal(const char *value)
{
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == ':') {
			return "is not a principal name (no whitespace, control characters or ':')";
		}
	}
	return NULL;
}

/* --- [service/NAME] checks ------------------------------------------------ */

/* mechs: the mechanisms common/gss_ctx.c knows. */
static const char *check_mech(const char *value)
{
	if (strcmp(value, "krb5") == 0 || strcmp(value, "spnego") == 0 ||
	    strcmp(value, "ntlm") == 0) {
		return NULL;
	}
	return "is not a mechanism (krb5, spnego or ntlm)";
}

const struct sectx_config_section sectx_config_sections[] = {
    {"sectxd", false, "the helper daemon: sockets, state, logging, connection limits"},
    {"kerberos", false, "the realm and how logins are checked against it"},
    {"identity", false, "where users and groups come from"},
    {"offline", false, "logins while the realm cannot be reached"},
    {"directory", false, "users and groups from an LDAP directory (OpenLDAP, Active Directory)"},
    {"access", false, "which users and groups may log in"},
    {"pam", false, "services that may authenticate by tickets the user already holds"},
    {"service", true, "what one local service (by uid) may do with the host keytab"},
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
	KEY_UINT("sectxd", "root_reserved_connections", CFG_, sectxd.root_reserved_connections, "128", 1, 65536, "connections only uid 0 may use: non-root uids together never hold more than max_connections minus this (at most half of max_connections is reserved)"),
	KEY_UINT("sectxd", "max_partial_frames_kib", CFG_, sectxd.max_partial_frames_kib, "16384", 128, 4194304, "memory for requests still arriving, all connections together, in KiB; beyond it the connection whose request began first is closed"),
	KEY_UINT("sectxd", "peer_log_lines", CFG_, sectxd.peer_log_lines, "20", 1, 100000, "lines logged per peer_log_interval about each kind of client misbehaviour (bad frames, refused connections, timeouts); the rest are counted in one line"),
	KEY_DURATION("sectxd", "peer_log_interval", CFG_, sectxd.peer_log_interval_ms, "10s", 1 * SEC, 1 * HOUR, "the window of peer_log_lines"),
	KEY_DURATION("sectxd", "client_timeout", CFG_, sectxd.client_timeout_ms, "10s", 100 * MS, 5 * MIN, "a client that has begun a frame must finish it, or read its reply, within this"),
	KEY_DURATION("sectxd", "idle_timeout", CFG_, sectxd.idle_timeout_ms, "5m", 1 * SEC, 1 * DAY, "an idle connection is closed after this"),
	KEY_UINT("sectxd", "max_contexts_per_connection", CFG_, sectxd.max_contexts_per_connection, "16", 1, 1024, "security contexts one client connection may hold at once"),
	KEY_UINT("sectxd", "max_contexts_per_uid", CFG_, sectxd.max_contexts_per_uid, "64", 1, 65536, "security contexts one uid may hold at once over all its connections"),
	KEY_STRING("kerberos", "realm", CFG_, kerberos.realm, "", check_realm, "realm of the users; empty: krb5.conf's default realm"),
	KEY_PATH("kerberos", "keytab", CFG_, kerberos.keytab, "/etc/krb5.keytab", "host keytab: validates every TGT and armours the AS exchange"),
	KEY_BOOL("kerberos", "validate", CFG_, kerberos.validate, "true", "verify each TGT with a host key, so a spoofed KDC cannot log anyone in"),
	KEY_ENUM("kerberos", "fast", CFG_, kerberos.fast, "try", fast_words, "FAST armour from the host keytab: try, demand or never"),
	KEY_DURATION("kerberos", "ticket_lifetime", CFG_, kerberos.ticket_lifetime_ms, "10h", 1 * MIN, 30 * DAY, "lifetime asked for a user's TGT"),
	KEY_DURATION("kerberos", "renew_lifetime", CFG_, kerberos.renew_lifetime_ms, "7d", 0, 365 * DAY, "renewable lifetime asked for (0: not renewable)"),
	KEY_DURATION("kerberos", "renew_interval", CFG_, kerberos.renew_interval_ms, "0", 0, 30 * DAY, "renew an open session's TGT this often (0: at half the lifetime left)"),
	KEY_BOOL("kerberos", "forwardable", CFG_, kerberos.forwardable, "true", "ask for forwardable TGTs"),
	KEY_DURATION("kerberos", "kdc_timeout", CFG_, kerberos.kdc_timeout_ms, "5s", 500 * MS, 5 * MIN, "longest a login waits for the realm before AUTHINFO_UNAVAIL"),
	KEY_UINT("kerberos", "pwd_expire_warning", CFG_, kerberos.pwd_expire_warning, "7", 0, 365, "warn at login when the password expires within this many days"),
	KEY_STRING("kerberos", "ccache", CFG_, kerberos.ccache, "FILE:/tmp/krb5cc_%U_XXXXXX", check_ccache, "session credential cache: FILE:, DIR: or KEYRING:persistent:%U (%U uid, %u user, XXXXXX random)"),
	KEY_DURATION("kerberos", "handle_lifetime", CFG_, kerberos.handle_lifetime_ms, "5m", 1 * SEC, 1 * HOUR, "a login's TGT waits this long for its session before it is dropped"),
	KEY_UINT("kerberos", "failure_delay_after", CFG_, kerberos.failure_delay_after, "3", 1, 1000, "failed logins of one user or uid before each further attempt is delayed"),
	KEY_DURATION("kerberos", "failure_delay_max", CFG_, kerberos.failure_delay_max_ms, "30s", 0, 10 * MIN, "longest delay for repeated failures (doubling from 1s)"),
	KEY_STRING("identity", "users_file", CFG_, identity.users_file, "", check_optional_path, "static users, one per line NAME:UID:GID:GECOS:HOME:SHELL (NAME a principal or a short name; empty: none)"),
	KEY_STRING("identity", "groups_file", CFG_, identity.groups_file, "", check_optional_path, "static groups, one per line NAME:GID:MEMBER,MEMBER,... (empty: none)"),
	KEY_BOOL("identity", "auto_id", CFG_, identity.auto_id, "false", "map principals of the realm to ids automatically: uid = MIN + FNV-1a-64(principal) mod (MAX - MIN + 1), a user private group with the same id"),
	KEY_STRING("identity", "id_range", CFG_, identity.id_range, "200000-2000200000", check_id_range, "ids auto_id hashes into, MIN-MAX (cannot change while mappings exist)"),
	KEY_UINT("identity", "min_id", CFG_, identity.min_id, "1000", 1, 2147483647, "no uid or gid below this is ever served (and never 0)"),
	KEY_STRING("identity", "home", CFG_, identity.home, "/home/%u", check_id_template, "home of auto users: %u name, %U uid, %p principal, %r realm"),
	KEY_STRING("identity", "shell", CFG_, identity.shell, "/bin/bash", check_id_template, "login shell of auto users"),
	KEY_BOOL("identity", "use_fully_qualified_names", CFG_, identity.use_fully_qualified_names, "false", "return alice@REALM instead of alice (both always resolve)"),
	KEY_BOOL("identity", "enumerate", CFG_, identity.enumerate, "false", "let getpwent/getgrent list sectx users and groups"),
	KEY_DURATION("identity", "positive_ttl", CFG_, identity.positive_ttl_ms, "1h", 10 * SEC, 7 * DAY, "how long an existence check and a cached entry stay valid"),
	KEY_DURATION("identity", "negative_ttl", CFG_, identity.negative_ttl_ms, "1m", 1 * SEC, 1 * DAY, "how long \"no such user, group or id\" is cached"),
	KEY_UINT("identity", "negative_cache_size", CFG_, identity.negative_cache_size, "10000", 16, 10000000, "negative entries kept per kind (names, uids, gids); the oldest go first"),
	KEY_UINT("identity", "checks_per_uid", CFG_, identity.checks_per_uid, "10", 1, 100000, "KDC existence checks one caller uid may cause per second (bursts of twice that)"),
	KEY_STRING("identity", "host_principal", CFG_, identity.host_principal, "", check_principal, "keytab principal that makes the S4U2Self existence checks (empty: the first keytab entry in the realm)"),
	KEY_BOOL("offline", "cache_credentials", CFG_, offline.cache_credentials, "false", "after each online password login keep a salted PBKDF2 hash of the password, to log in while the realm cannot be reached"),
	KEY_DURATION("offline", "max_age", CFG_, offline.max_age_ms, "7d", 1 * SEC, 365 * DAY, "a cached credential not refreshed by an online login for this long is refused"),
	KEY_UINT("offline", "failed_attempts", CFG_, offline.failed_attempts, "5", 1, 1000, "failed offline logins of one user before failed_delay applies"),
	KEY_DURATION("offline", "failed_delay", CFG_, offline.failed_delay_ms, "5s", 0, 1 * HOUR, "after failed_attempts failures, offline logins of that user are refused for this long after each failure"),
	KEY_UINT_OR_0("offline", "kdf_iterations", CFG_, offline.kdf_iterations, "0", SECTX_CONFIG_KDF_ITER_MIN, 100000000, "PBKDF2-HMAC-SHA512 iterations for new cached credentials (0: calibrated at start to about 20 ms)"),
	KEY_DURATION("offline", "offline_probe", CFG_, offline.probe_ms, "30s", 100 * MS, 1 * HOUR, "an unreachable realm is probed after this, the interval doubling each time"),
	KEY_DURATION("offline", "offline_probe_max", CFG_, offline.probe_max_ms, "5m", 100 * MS, 1 * DAY, "longest interval between probes of an unreachable realm"),
	KEY_LIST("directory", "uri", CFG_, directory.uri, directory.n_uri, "", check_ldap_uri, "directory servers, tried in order with failover: ldap:// (StartTLS) or ldaps:// (empty: found by DNS SRV _ldap._tcp records)"),
	KEY_STRING("directory", "base", CFG_, directory.base, "", NULL, "search base of users and groups, e.g. dc=example,dc=org (empty: no directory)"),
	KEY_STRING("directory", "srv_domain", CFG_, directory.srv_domain, "", check_principal, "with no uri: the DNS domain of the _ldap._tcp SRV records (empty: the realm, in lower case)"),
	KEY_STRING("directory", "user_base", CFG_, directory.user_base, "", NULL, "search base of users (empty: base)"),
	KEY_STRING("directory", "group_base", CFG_, directory.group_base, "", NULL, "search base of groups (empty: base)"),
	KEY_ENUM("directory", "schema", CFG_, directory.schema, "rfc2307bis", dir_schema_words, "rfc2307 (memberUid), rfc2307bis (member DNs, nested groups) or ad (sAMAccountName; ids mapped when uidNumber is absent)"),
	KEY_ENUM("directory", "bind", CFG_, directory.bind, "gssapi", dir_bind_words, "gssapi: SASL/GSSAPI with the host keytab (a MEMORY ccache); simple: bind_dn and bind_password_file; none: anonymous"),
	KEY_STRING("directory", "bind_dn", CFG_, directory.bind_dn, "", NULL, "DN of a simple bind"),
	KEY_STRING("directory", "bind_password_file", CFG_, directory.bind_password_file, "", check_optional_path, "file holding the simple bind's password (root-owned, not readable by others)"),
	KEY_STRING("directory", "sasl_principal", CFG_, directory.sasl_principal, "", check_principal, "keytab principal of the GSSAPI bind (empty: the first keytab entry in the realm)"),
	KEY_BOOL("directory", "tls_require", CFG_, directory.tls_require, "true", "no bind or search without TLS (ldaps:// or StartTLS)"),
	KEY_STRING("directory", "tls_cacert", CFG_, directory.tls_cacert, "", check_optional_path, "CA certificates the servers' certificates are checked against (empty: the system's)"),
	KEY_DURATION("directory", "timeout", CFG_, directory.timeout_ms, "5s", 100 * MS, 5 * MIN, "a server that does not connect or answer within this is skipped for the next"),
	KEY_DURATION("directory", "backoff", CFG_, directory.backoff_ms, "30s", 100 * MS, 1 * HOUR, "a server that failed is not tried again for this long (unless no other is left)"),
	KEY_UINT("directory", "nesting_depth", CFG_, directory.nesting_depth, "4", 0, 32, "levels of nested groups followed by initgroups (rfc2307bis, ad)"),
	KEY_UINT("directory", "lookups_per_uid", CFG_, directory.lookups_per_uid, "1000", 1, 1000000, "directory searches one caller uid may cause per second (bursts of twice that)"),
	KEY_STRING("directory", "user_filter", CFG_, directory.user_filter, "", check_ldap_filter, "filter every user entry matches (empty: the schema's objectClass)"),
	KEY_STRING("directory", "group_filter", CFG_, directory.group_filter, "", check_ldap_filter, "filter every group entry matches (empty: the schema's objectClass)"),
	KEY_STRING("directory", "attr_uid", CFG_, directory.attr_uid, "", check_ldap_attr, "attribute of the user name (empty: uid, or sAMAccountName for ad)"),
	KEY_STRING("directory", "attr_uid_number", CFG_, directory.attr_uid_number, "", check_ldap_attr, "attribute of the uid (empty: uidNumber)"),
	KEY_STRING("directory", "attr_gid_number", CFG_, directory.attr_gid_number, "", check_ldap_attr, "attribute of the primary gid and of a group's gid (empty: gidNumber)"),
	KEY_STRING("directory", "attr_gecos", CFG_, directory.attr_gecos, "", check_ldap_attr, "attribute of the GECOS field (empty: gecos, else cn)"),
	KEY_STRING("directory", "attr_home", CFG_, directory.attr_home, "", check_ldap_attr, "attribute of the home directory (empty: homeDirectory; none: [identity] home)"),
	KEY_STRING("directory", "attr_shell", CFG_, directory.attr_shell, "", check_ldap_attr, "attribute of the login shell (empty: loginShell; none: [identity] shell)"),
	KEY_STRING("directory", "attr_group_name", CFG_, directory.attr_group_name, "", check_ldap_attr, "attribute of a group's name (empty: cn)"),
	KEY_STRING("directory", "attr_member_uid", CFG_, directory.attr_member_uid, "", check_ldap_attr, "attribute of members by name (empty: memberUid)"),
	KEY_STRING("directory", "attr_member", CFG_, directory.attr_member, "", check_ldap_attr, "attribute of members by DN (empty: member)"),
	KEY_STRING("directory", "access_filter", CFG_, directory.access_filter, "", check_ldap_filter, "an LDAP filter a directory user's entry must match to log in (empty: none)"),
	KEY_BOOL("directory", "enumerate", CFG_, directory.enumerate, "false", "fetch every directory user and group (paged searches, at start and every enumerate_interval) so getpwent/getgrent list them"),
	KEY_UINT("directory", "page_size", CFG_, directory.page_size, "500", 1, 100000, "entries a page of the enumeration's searches (LDAP simple paged results)"),
	KEY_DURATION("directory", "enumerate_interval", CFG_, directory.enumerate_interval_ms, "5m", 10 * SEC, 1 * DAY, "how often the enumeration runs again"),
	KEY_LIST("access", "allow_users", CFG_, access.allow_users, access.n_allow_users, "", check_name, "users who may log in (empty: every realm user)"),
	KEY_LIST("access", "allow_groups", CFG_, access.allow_groups, access.n_allow_groups, "", check_name, "members of these groups may log in (empty: no group restriction)"),
	KEY_LIST("service", "uid", SVC_, uid, n_uid, "", check_name, "users (names or numeric uids) that may use this service's contexts; root always may"),
	KEY_STRING("service", "principal", SVC_, principal, "", check_principal, "keytab entry contexts are accepted as, e.g. HTTP/host.example.org@REALM (empty: any key of the keytab, for root callers only)"),
	KEY_LIST("service", "mechs", SVC_, mechs, n_mechs, "krb5, spnego", check_mech, "mechanisms allowed: krb5, spnego, ntlm (SPNEGO negotiates only among the others listed)"),
	KEY_BOOL("service", "allow_delegation", SVC_, allow_delegation, "false", "acceptors keep credentials the initiator delegated (the helper never delegates when it initiates)"),
	KEY_STRING("service", "ntlm_user_file", SVC_, ntlm_user_file, "", check_optional_path, "gss-ntlmssp user file (DOMAIN:USER:PASSWORD or smbpasswd lines) NTLM acceptors check passwords against"),
	KEY_LIST("pam", "gssapi_services", CFG_, pam.gssapi_services, pam.n_gssapi_services, "", check_pam_service, "PAM services that authenticate a user by the Kerberos tickets it already holds, before asking for a password (empty: none)"),
};
/* clang-format on */
const size_t sectx_config_n_keys = sizeof(sectx_config_keys) / sizeof(sectx_config_keys[0]);
