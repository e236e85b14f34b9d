/*
 * config.h - sectx.conf: the schema of every key, the parser and its checks.
 *
 * One table (config_schema.c) declares each key once: section, name, type,
 * default, place in struct sectx_config, bounds and a line of documentation.
 * Parsing, defaults, `sectxctl check-config` and the key documentation all
 * come from it; adding a key is one line there plus its member here.
 *
 * The file decides who may do what, so it is trusted only as far as its
 * owner and mode allow: loading refuses one that group or other can write.
 * Nothing here logs, exits or stops at the first problem: every problem goes
 * back to the caller with its file and line, and text from the file is
 * escaped before it appears in a message.  Used by the helper and its tools
 * (talloc); never linked into the PAM or NSS modules.
 */
#ifndef SECTX_CONFIG_H
#define SECTX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <talloc.h>

#ifndef SECTX_DEFAULT_SOCKET_DIR
#define SECTX_DEFAULT_SOCKET_DIR "/run/sectx"
#endif
#ifndef SECTX_DEFAULT_STATE_DIR
#define SECTX_DEFAULT_STATE_DIR "/var/lib/sectx"
#endif

#define SECTX_CONFIG_FILE_MAX	      (1024u * 1024u) /* bytes in a config file */
#define SECTX_CONFIG_LINE_MAX	      4096u	      /* bytes in a line, without its end */
#define SECTX_CONFIG_SERVICE_NAME_MAX 64u	      /* NAME in [service/NAME] */
#define SECTX_CONFIG_MAX_SERVICES     1024u	      /* [service/NAME] sections in a file */
#define SECTX_CONFIG_MAX_ERRORS	      1000u	      /* problems listed before giving up */
#define SECTX_CONFIG_REASON_MAX	      1024u	      /* buffer for sectx_config_value_parse */
/* [offline] kdf_iterations other than 0 (calibrate): fewer would make a hash
 * the helper itself refuses to load (helper/offline/offline.h uses this). */
#define SECTX_CONFIG_KDF_ITER_MIN 1000u

/* [kerberos] fast: armour the AS exchange with a ticket from the host keytab. */
enum sectx_fast_mode { SECTX_FAST_TRY = 0, SECTX_FAST_DEMAND = 1, SECTX_FAST_NEVER = 2 };

struct sectx_config_service {
	const char *name;
	/* security contexts (helper/ops/ctx.c) */
	const char **uid; /* user names or numeric uids that may use it (root always) */
	size_t n_uid;
	const char *principal; /* keytab entry to accept as ("": any) */
	const char **mechs;    /* krb5, spnego, ntlm */
	size_t n_mechs;
	bool allow_delegation;
	const char *ntlm_user_file; /* gss-ntlmssp user file for NTLM acceptors ("": none) */
};

struct sectx_config {
	const char *path; /* file it came from ("<buffer name>" for buffers) */
	struct {
		const char *socket_dir;
		const char *state_dir;
		int log_level;
		unsigned max_connections;
		unsigned max_connections_per_uid;
		unsigned root_reserved_connections; /* kept for uid 0 (at most half of the max) */
		unsigned max_partial_frames_kib;    /* frames still arriving, all connections */
		unsigned peer_log_lines;	    /* per peer_log_interval and kind of event */
		uint64_t peer_log_interval_ms;
		uint64_t client_timeout_ms;
		uint64_t idle_timeout_ms;
		unsigned max_contexts_per_connection;
		unsigned max_contexts_per_uid;
	} sectxd;
	struct {
		const char *realm;
		const char *keytab;
		bool validate;
		int fast; /* enum sectx_fast_mode */
		uint64_t ticket_lifetime_ms;
		uint64_t renew_lifetime_ms;
		uint64_t
		    renew_interval_ms; /* session TGT renewal period; 0: half the lifetime left */
		bool forwardable;
		uint64_t kdc_timeout_ms;
		unsigned pwd_expire_warning;  /* days */
		const char *ccache;	      /* template: %U uid, %u user, XXXXXX random */
		uint64_t handle_lifetime_ms;  /* unclaimed login handles expire after this */
		unsigned failure_delay_after; /* failed logins before the helper delays more */
		uint64_t failure_delay_max_ms;
	} kerberos;
	struct {
		const char *users_file;	 /* "": none; lines NAME:UID:GID:GECOS:HOME:SHELL */
		const char *groups_file; /* "": none; lines NAME:GID:MEMBER,MEMBER... */
		bool auto_id;		 /* map realm principals to hashed ids */
		const char *id_range;	 /* "MIN-MAX" for auto_id */
		unsigned min_id;	 /* no uid or gid below this is ever served */
		const char *home;	 /* template for auto users: %u %U %p %r %% */
		const char *shell;
		bool use_fully_qualified_names;
		bool enumerate;
		uint64_t positive_ttl_ms; /* existence checks, cached records */
		uint64_t negative_ttl_ms; /* "no such user/group/id" */
		unsigned negative_cache_size;
		unsigned checks_per_uid;    /* KDC existence checks per second per caller uid */
		const char *host_principal; /* "": first keytab entry in the realm */
	} identity;
	struct {
		bool cache_credentials;	  /* keep a slow hash of each online login's password */
		uint64_t max_age_ms;	  /* a cached credential older than this is refused */
		unsigned failed_attempts; /* offline failures before failed_delay applies */
		uint64_t failed_delay_ms; /* wait after failed_attempts offline failures */
		unsigned kdf_iterations;  /* PBKDF2 iterations, 0 or at least
					   * SECTX_CONFIG_KDF_ITER_MIN; 0: calibrated
					   * to ~20 ms at start */
		uint64_t probe_ms;	  /* first probe of an offline realm after this */
		uint64_t probe_max_ms;	  /* probe interval doubles up to this */
	} offline;
	struct {
		const char **uri; /* ldap:// (StartTLS) or ldaps://, tried in order */
		size_t n_uri;
		const char *base;	/* "": no directory */
		const char *srv_domain; /* no uri: _ldap._tcp.<this> ("": the realm) */
		const char *user_base;	/* "": base */
		const char *group_base; /* "": base */
		int schema;		/* enum sectx_dir_schema */
		int bind;		/* enum sectx_dir_bind */
		const char *bind_dn;	/* simple */
		const char *bind_password_file;
		const char *sasl_principal; /* gssapi: "" = the first keytab entry in the realm */
		bool tls_require;
		const char *tls_cacert;
		uint64_t timeout_ms;
		uint64_t backoff_ms;
		unsigned nesting_depth;
		unsigned lookups_per_uid;
		const char *user_filter; /* "" = the schema's */
		const char *group_filter;
		const char *attr_uid; /* user name; "" = the schema's */
		const char *attr_uid_number;
		const char *attr_gid_number;
		const char *attr_gecos;
		const char *attr_home;
		const char *attr_shell;
		const char *attr_group_name;
		const char *attr_member_uid;
		const char *attr_member;
		const char *access_filter; /* "" = none */
		bool enumerate;		   /* list every user and group (paged searches) */
		unsigned page_size;	   /* entries a page of those searches */
		uint64_t enumerate_interval_ms;
	} directory;
	struct {
		const char **allow_users; /* empty: every realm user */
		size_t n_allow_users;
		const char **allow_groups;
		size_t n_allow_groups;
	} access;
	struct {
		const char **gssapi_services; /* may authenticate by tickets (ops/pam_tickets.c) */
		size_t n_gssapi_services;
	} pam;
	struct sectx_config_service *services; /* talloc array */
	size_t n_services;
};

/* [directory] schema and bind. */
enum sectx_dir_schema { SECTX_DIR_RFC2307 = 0, SECTX_DIR_RFC2307BIS = 1, SECTX_DIR_AD = 2 };
enum sectx_dir_bind {
	SECTX_DIR_BIND_GSSAPI = 0,
	SECTX_DIR_BIND_SIMPLE = 1,
	SECTX_DIR_BIND_NONE = 2
};

struct sectx_config_error {
	const char *file;
	unsigned line; /* 0: about the file as a whole */
	const char *message;
};

struct sectx_config_errors {
	struct sectx_config_error *items;
	size_t count;
};

/* --- the schema (rows in config_schema.c) --------------------------------- */

/* Value types and the C type of the member each one fills. */
enum sectx_config_type {
	SECTX_CFG_STRING,   /* const char *; no control characters */
	SECTX_CFG_PATH,	    /* const char *; absolute, normalised, no . or .. */
	SECTX_CFG_BOOL,	    /* bool; true/false/yes/no/on/off/1/0 */
	SECTX_CFG_UINT,	    /* unsigned; decimal, min..max */
	SECTX_CFG_DURATION, /* uint64_t milliseconds; 500ms 30s 5m 2h 7d, bare = s */
	SECTX_CFG_LOGLEVEL, /* int; error|warning|info|debug|trace or 0-4 */
	SECTX_CFG_ENUM,	    /* int; index into words */
	SECTX_CFG_LIST,	    /* const char ** (NULL-terminated talloc array) + size_t count */
};

struct sectx_config_key {
	const char *section; /* "sectxd", ... or "service" for every [service/NAME] */
	const char *name;    /* lowercase, case-sensitive */
	enum sectx_config_type type;
	const char *def;	  /* default, written as in the file ("" = empty) */
	size_t offset;		  /* member in struct sectx_config, or in struct
				   * sectx_config_service for section "service" */
	size_t count_offset;	  /* LIST: its size_t count, same struct */
	uint64_t min, max;	  /* UINT; DURATION in milliseconds */
	const char *const *words; /* ENUM: allowed words, NULL-terminated */
	/* STRING, PATH, each LIST item: NULL if value is fine, else a reason
	 * that follows the quoted value ("is not a realm name (...)"). */
	const char *(*check)(const char *value);
	const char *doc; /* one line */
	bool zero_ok;	 /* UINT: 0 is allowed too, below min (its own meaning) */
};

struct sectx_config_section {
	const char *name; /* "service" stands for [service/NAME] */
	bool named;	  /* true for service: [service/NAME], each NAME once */
	const char *doc;
};

extern const struct sectx_config_key sectx_config_keys[];
extern const size_t sectx_config_n_keys;
extern const struct sectx_config_section sectx_config_sections[];
extern const size_t sectx_config_n_sections;

/* --- parsing -------------------------------------------------------------- */

/* Parse text (len bytes, need not be NUL-terminated; NULL only if len is 0)
 * read from a file called name (used in messages and cfg->path).
 * On success 0, *cfg_out a new config (child of mem_ctx, every key not in
 * the text at its default) and *errs_out NULL.  On any problem -EINVAL,
 * *cfg_out NULL and *errs_out (child of mem_ctx) lists every problem found,
 * in line order, each with file and line (up to SECTX_CONFIG_MAX_ERRORS, then
 * one saying it stopped).  errs_out may be NULL if the caller does not want
 * the list.  -ENOMEM on allocation failure (both outputs NULL). */
int sectx_config_parse_buffer(TALLOC_CTX *mem_ctx, const char *name, const char *text, size_t len,
			      struct sectx_config **cfg_out, struct sectx_config_errors **errs_out);

/* Read and parse the file at path; results and return values as for
 * sectx_config_parse_buffer.  The opened file (fstat on the descriptor, opened
 * O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK so a FIFO cannot hang us) must be a
 * regular file of at most SECTX_CONFIG_FILE_MAX bytes, owned by root or by
 * the caller's euid and not writable by group or other; each violation is an
 * error at line 0, as is "cannot open: <strerror>" and a read failure. */
int sectx_config_load_file(TALLOC_CTX *mem_ctx, const char *path, struct sectx_config **cfg_out,
			   struct sectx_config_errors **errs_out);

/* A config with every key at its default, as parsing an empty file gives.
 * For tests; the daemon always reads a file.  0, or -ENOMEM. */
int sectx_config_defaults(TALLOC_CTX *mem_ctx, struct sectx_config **cfg_out);

/* Parse value (NUL-terminated, already trimmed) as key says and store it in
 * the struct at base (at base + key->offset; a LIST also sets its count).
 * Strings and lists are allocated on owner.  Returns 0; -EINVAL with the
 * struct untouched and reason (reason_size bytes, SECTX_CONFIG_REASON_MAX is
 * enough) saying why, starting with the escaped value in quotes and showing
 * the expected form and range; -ENOMEM.  The parser's own step, exported so
 * every type can be tested without a key of that type. */
int sectx_config_value_parse(TALLOC_CTX *owner, const struct sectx_config_key *key,
			     const char *value, void *base, char *reason, size_t reason_size);

/* --- reporting ------------------------------------------------------------ */

/* Print each error as "file:line: message\n" ("file: message\n" for line 0).
 * errs may be NULL (prints nothing). */
void sectx_config_print_errors(FILE *out, const struct sectx_config_errors *errs);

/* The next key of section ("service" for [service/NAME]) in schema order,
 * from *pos on (start at 0; advanced past it), or NULL after the last. */
const struct sectx_config_key *sectx_config_section_key(const char *section, size_t *pos);

/* The type of key k as a phrase for documentation ("duration 1s..1h (units
 * ...)", "one of try, demand or never"), into out (640 bytes hold any).
 * Returns out. */
const char *sectx_config_type_text(const struct sectx_config_key *k, char *out, size_t outsz);

/* Print the schema as documentation: each section, and in it each key with
 * type, default, range or allowed words, and its doc line.  The source of the
 * man page and of `sectxctl config-keys`. */
void sectx_config_print_schema(FILE *out);

#endif /* SECTX_CONFIG_H */
