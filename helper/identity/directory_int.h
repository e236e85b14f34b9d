/*
 * identity/directory_int.h - the LDAP directory source of the identity
 * subsystem, as service.c sees it (directory.c: the engine on the event
 * loop; directory_conn.c: connecting, StartTLS and binding on a short-lived
 * thread; directory_entry.c: the pure parts, entries to users and groups,
 * filter escaping).
 *
 * Who reaches this: service.c, with names and ids any local user may ask
 * for (validated by the store before a search is made; every value is
 * escaped into the filter).  Must never: block the event loop on a server,
 * bind or search in plaintext while tls_require is on, or put the host's
 * Kerberos credentials anywhere but a MEMORY ccache of its own.
 */
#ifndef SECTX_IDENTITY_DIRECTORY_INT_H
#define SECTX_IDENTITY_DIRECTORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>

#include "config.h"
#include "identity/store.h"

/* Bounds of what one answer may hold. */
#define DIR_VALUE_MAX	  1024u	 /* bytes of one attribute value used */
#define DIR_DN_MAX	  2048u	 /* bytes of a DN used in a filter */
#define DIR_FILTER_MAX	  65536u /* bytes of one filter */
#define DIR_GROUPS_MAX	  4096u	 /* groups of one user kept */
#define DIR_MEMBERS_MAX	  65536u /* members of one group kept */
#define DIR_LEVEL_DNS_MAX 256u	 /* group DNs asked about per nested search */
#define DIR_URI_MAX	  1024u

/* The attribute names and filters of one schema, overrides applied. */
struct dir_schema {
	int schema; /* enum sectx_dir_schema */
	const char *user_class, *group_class;
	const char *user_filter, *group_filter; /* "(objectClass=...)" or the override */
	const char *uid, *uid_number, *gid_number, *gecos, *home, *shell;
	const char *group_name, *member_uid, *member;
};

/* Fill *s for cfg (pointers into cfg or static strings). */
void dir_schema_init(struct dir_schema *s, const struct sectx_config *cfg);

/* One entry as read from the directory: the first value of each attribute
 * (NULL when absent), cut to DIR_VALUE_MAX bytes. */
struct dir_entry {
	const char *dn;
	const char *name;	/* user: uid / sAMAccountName; group: cn */
	const char *uid_number; /* users */
	const char *gid_number;
	const char *gecos, *cn, *home, *shell;
};

/* RFC 4515 escaping of a value for a filter: 0 and out, or -ENAMETOOLONG. */
int dir_filter_escape(char *out, size_t outsz, const char *in);

/* A decimal id of at most 10 digits and at most UINT32_MAX (no sign, no
 * space): 0 and *out, or -EINVAL. */
int dir_parse_id(const char *s, uint32_t *out);

/* The value of the first RDN of dn if its attribute is attr (case
 * insensitive), unescaped: 0 and out, -ENOENT (another attribute, or a
 * multi-valued RDN), -EINVAL (malformed), -ENAMETOOLONG. */
int dir_dn_first_rdn(const char *dn, const char *attr, char *out, size_t outsz);

/* The user an entry stands for.  An entry without a uid number gets the
 * deterministic id of name@realm in [range_min, range_max] when the schema
 * is ad (a user private group as gid when it has no gid number either);
 * -EINVAL otherwise, or for a number that is not an id, or no name.  The
 * strings of *out point into e. */
int dir_entry_to_user(const struct dir_entry *e, int schema, const char *realm, uint32_t range_min,
		      uint32_t range_max, struct id_dir_user *out);
/* The gid of a group entry (mapped as above for ad).  0 or -EINVAL. */
int dir_entry_group_gid(const struct dir_entry *e, int schema, const char *realm,
			uint32_t range_min, uint32_t range_max, uint32_t *gid);

/* --- the engine (directory.c) ----------------------------------------------------------------- */

struct id_dir;

/* A directory engine for cfg (its [directory] section; realm for mapped
 * ids and the GSSAPI bind).  Connects on the first lookup.  0, -EINVAL (a
 * setting it cannot use, *why set), -ENOMEM. */
int id_dir_new(TALLOC_CTX *mem_ctx, struct tevent_context *ev, const struct sectx_config *cfg,
	       const char *realm, struct id_dir **out, char *why, size_t whylen);

/* A key of what the engine depends on: a new config with the same key keeps it. */
char *id_dir_key(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg, const char *realm);

/* What the directory said about one lookup. */
struct id_dir_answer {
	bool found;
	bool is_user;
	struct id_dir_user user;
	uint32_t *gids; /* the user's groups (primary group not included) */
	size_t ngids;
	struct id_dir_group group;
	struct id_dir_group *groups; /* a user's groups, whole (to name them and serve them) */
	size_t ngroups;
	bool access_ok;		   /* access lookups: the entry matched access_filter */
	struct id_dir_user *users; /* an enumeration's users (its groups: groups) */
	size_t nusers;
};

/* Ask the directory for a user (by name or uid) or a group (by name or
 * gid) as identity_kind kind says; a user comes with its groups (nested to
 * nesting_depth).  name: a validated short name. */
struct tevent_req *id_dir_lookup_send(TALLOC_CTX *mem_ctx, struct id_dir *d, int kind,
				      const char *name, uint32_t id);
/* 0 and *out (child of mem_ctx; found false: no such entry), -EHOSTUNREACH
 * (no server answered within the timeouts), -EPROTO (a server refused the
 * search), -ENOMEM. */
int id_dir_lookup_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct id_dir_answer **out);

/* Enumerate every user (users true) or every group of the directory: one
 * search with the simple paged results control (RFC 2696, page_size entries
 * a page), each page bounded by the timeout.  Entries without a usable name
 * or id are left out (logged). */
struct tevent_req *id_dir_enum_send(TALLOC_CTX *mem_ctx, struct id_dir *d, bool users);
/* 0 and *out (users, nusers or groups, ngroups), or as id_dir_lookup_recv. */
int id_dir_enum_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct id_dir_answer **out);

/* Does user name's entry match access_filter?  As id_dir_lookup_recv, with
 * access_ok set. */
struct tevent_req *id_dir_access_send(TALLOC_CTX *mem_ctx, struct id_dir *d, const char *name);
int id_dir_access_recv(struct tevent_req *req, bool *ok);

/* --- connecting (directory_conn.c) ------------------------------------------------------------ */

/* What a connection attempt needs, copied for its thread. */
struct dir_conn_params {
	char uri[DIR_URI_MAX];
	int bind; /* enum sectx_dir_bind */
	char bind_dn[DIR_DN_MAX];
	char password_file[1024];
	char keytab[1024];
	char principal[1024]; /* "": the first keytab entry in realm */
	char realm[256];
	char cacert[1024];
	bool tls_require;
	uint64_t timeout_ms;
	char srv_domain[256]; /* uri "": discover servers by _ldap._tcp.srv_domain */
};

struct dir_conn;

/* Start connecting to p->uri on a thread of its own; done is readable on
 * the loop when it finished.  0 or -errno. */
int dir_conn_start(const struct dir_conn_params *p, struct dir_conn **out, int *done_fd);
/* The result once done_fd is readable: 0 and *ld (an LDAP *, bound, its
 * socket non-blocking) and the URI it connected to in uri[urilen] (the
 * one asked, or the one DNS SRV discovery found), or -errno with why (a
 * line for the log).  Frees c. */
int dir_conn_finish(struct dir_conn *c, void **ld, char *uri, size_t urilen, char *why,
		    size_t whylen);
/* Drop an attempt still running (the thread frees it when done). */
void dir_conn_abandon(struct dir_conn *c);

#endif /* SECTX_IDENTITY_DIRECTORY_INT_H */
