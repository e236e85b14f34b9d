/*
 * identity/store.h - sectxd's identity store: which users and groups exist, with
 * which ids, and the NSS cache that publishes them.
 *
 * Sources, in this order (the first that knows a name or id answers):
 *   1. static users and groups the sysadmin writes ([identity] users_file,
 *      groups_file; format below);
 *   2. automatic mapping (auto_id = true): a principal of the realm gets
 *      uid = MIN + (FNV-1a-64(principal) mod (MAX - MIN + 1)) with id_range =
 *      MIN-MAX, where FNV-1a-64 is over the bytes of "name@REALM" (offset
 *      basis 0xcbf29ce484222325, prime 0x100000001b3), and a user private
 *      group with the same id and name.  The same principal gets the same uid
 *      on every host with the same range.  If that uid is already held (by
 *      another mapped principal, or a static uid or gid) the second principal
 *      is refused, logged and listed by `sectxctl id-map`: it is never moved
 *      to another id, which would make hosts disagree.  Mappings are kept in
 *      <state_dir>/idmap; a range differing from the one recorded there is
 *      refused (at start and on reload).  A hash cannot be reversed, so
 *      getpwuid answers only uids of principals this host has mapped.
 *      A principal is a user only if the realm knows it: existence is checked
 *      with S4U2Self using the host key (s4u.c), cached for
 *      positive_ttl, and "no such principal" for negative_ttl in a capped cache.
 *
 * users_file: one user per line, '#' comments and blank lines ignored:
 *      NAME:UID:GID:GECOS:HOME:SHELL
 *   NAME is a principal (alice@REALM, svc/host@REALM) or a short name (alice,
 *   meaning alice@<realm>).  groups_file: NAME:GID:MEMBER,MEMBER,... with
 *   members written the same way.  A line that is malformed, uses id 0 or an
 *   id below min_id, repeats a name or an id, or has a field with ':' or a
 *   control character is refused and reported (log and `sectxctl id-map`);
 *   the other lines are served.
 *
 * Names: a principal of the realm whose name has no '/' also has the short
 * name (alice); both forms resolve, and use_fully_qualified_names decides
 * which one is returned.  Principals with '/' or of another realm have only
 * the qualified name.  Names are validated (printable ASCII letters, digits
 * and . _ - + = $ / @, no ':' ',' or control characters, at most
 * SECTX_NAME_MAX bytes, not all digits) before they reach a file or a log.
 * No source ever serves uid or gid 0 or an id below min_id.
 *
 * Who can reach this: every local user, through nss.sock lookups (names and
 * ids of their choosing); root through cache flush and id-map.  What they can
 * make it do: read the store, trigger existence checks (rate-limited per
 * caller uid and deduplicated), fill the negative cache (capped, oldest
 * evicted).  Must never: serve id 0, let an unvalidated string reach a file
 * or a log, block the event loop on a KDC, or rewrite a published cache file.
 */
#ifndef SECTX_IDENTITY_H
#define SECTX_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>

#include "config.h"
#include "identity/nss_cache_writer.h"
#include "proto.h"
#include "core/state_file.h"

#define ID_MAPFILE "idmap"
/* <state_dir>/idmap is a state file (core/state_file.h) of this kind and
 * version, whose payload is codec frames: a head (the range, the count),
 * then one frame per mapping (identity_int.h; version 1, the text of older
 * builds, is still read).  A file failing the state-file checks or the
 * payload's decoder is moved aside and the map starts empty (the ids are
 * deterministic; collisions are found again). */
#define ID_MAPFILE_KIND	   SECTX_STATE_KIND('I', 'D', 'M', 'P')
#define ID_MAPFILE_VERSION 2u
#define ID_MAPFILE_MAX	   SECTX_STATE_PAYLOAD_MAX
#define ID_STATIC_FILE_MAX (200u * 1024u * 1024u) /* below talloc's 256 MB per chunk */
#define ID_MAX_COLLISIONS  1000u		  /* remembered for id-map; the log has them all */
#define ID_MAX_PROBLEMS	   1000u
#define ID_FIELD_MAX	   1024u /* gecos, home, shell */

/* --- names (names.c) -------------------------------------------------------------------------- */

/* A validated name: the principal and its parts. */
struct id_name {
	char principal[SECTX_NAME_MAX + 1]; /* name@REALM */
	char name[SECTX_NAME_MAX + 1];	    /* before the '@' */
	char realm[SECTX_NAME_MAX + 1];
	bool has_short;	    /* realm is the default realm and name has no '/' */
	bool was_qualified; /* the input had "@REALM" */
};

/* Parse in (a short name or a principal) against default_realm ("" when
 * there is none: short names are then invalid).  Returns 0, or -EINVAL for
 * a name that is not valid (see the file comment; a short name with '/' is
 * invalid: only the qualified form of such a principal resolves). */
int id_name_parse(const char *in, const char *default_realm, struct id_name *out);

/* FNV-1a-64 of s, and the uid auto_id gives a principal in [min, max]. */
uint64_t id_fnv1a64(const char *s);
uint32_t id_auto_uid(const char *principal, uint32_t min, uint32_t max);

/* Parse "MIN-MAX" (as checked by the config schema).  0 or -EINVAL. */
int id_range_parse(const char *s, uint32_t *min, uint32_t *max);

/* Expand a home/shell template (%u name, %U uid, %p principal, %r realm,
 * %% percent) into out.  0, -ENAMETOOLONG, or -EINVAL (bad escape, or the
 * result has ':' or a control character). */
int id_expand_template(char *out, size_t outsz, const char *tmpl, const char *name, uint32_t uid,
		       const char *principal, const char *realm);

/* True if s can stand in a passwd/group field: at most max bytes, no ':',
 * no control character, valid UTF-8. */
bool id_field_ok(const char *s, size_t max);

/* --- the store (store.c and its parts) -------------------------------------------------------- */

struct id_user {
	const char *principal;
	const char *display; /* pw_name */
	const char *alias;   /* the other name that resolves, or NULL */
	const char *gecos;
	const char *home;
	const char *shell;
	uint32_t uid, gid;
	int64_t verified_until; /* auto, directory: existence known until (CLOCK_REALTIME s) */
	const uint32_t *gids;	/* directory: its groups (in the same chunk) */
	uint32_t ngids;
	bool is_static;
	bool shadowed; /* auto mapping whose id a static entry now holds */
	bool from_dir; /* from the directory (store_directory.c) */
	bool upg;      /* directory: its gid is a user private group of its own */
};

struct id_group {
	const char *name;
	const char *alias;
	uint32_t gid;
	const char **members; /* display names */
	size_t nmem;
	const struct id_user *upg_of; /* user private group of an auto user */
	bool from_dir;
	int64_t verified_until; /* directory groups */
};

struct id_store;

/* Results of store lookups. */
enum id_result {
	ID_FOUND = 0,
	ID_NOTFOUND = 1, /* known not to exist (or never could) */
	ID_CHECK = 2,	 /* ask the realm about lookup->check_principal first */
};

struct id_lookup {
	const struct id_user *user;   /* ID_FOUND for users */
	const struct id_group *group; /* ID_FOUND for groups */
	struct id_group upg;	      /* storage when group is a user private group */
	char check_principal[SECTX_NAME_MAX + 1];
	bool check_dir; /* ID_CHECK: ask the directory (by check_principal, check_name or
			 * check_id) rather than the realm */
	char check_name[SECTX_NAME_MAX + 1]; /* directory group by name */
	uint32_t check_id;		     /* directory uid or gid */
	bool stale;			     /* served past verified_until (realm unreachable) */
};

/* A new store for cfg and the effective realm.  0, -EINVAL (id_range, or
 * a range below min_id), -ENOMEM. */
int id_store_new(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg, const char *realm,
		 struct id_store **out);

/* Read users_file and groups_file.  Bad lines are refused, logged and kept
 * as problems; the file as a whole not readable (missing, not a regular
 * file, writable by others, too big) is -errno / -EPERM with *why set. */
int id_store_load_static(struct id_store *st, char *why, size_t whylen);

/* Load <dirfd>/idmap.  A range different from the store's is -ESTALE with
 * *why set; a missing file is fine (0), and so is a corrupt one (moved
 * aside and logged by state_file.c; the store starts without mappings).
 * Mappings that now collide with a static id are kept but shadowed (refused
 * and reported). */
int id_store_load_mappings(struct id_store *st, int dirfd, char *why, size_t whylen);

/* Copy existence knowledge (verified_until) from old for the same
 * principals (after a reload). */
void id_store_adopt(struct id_store *st, const struct id_store *old);

/* Lookups at time now (CLOCK_REALTIME seconds).  allow_stale serves an auto
 * user whose check expired (used when the realm cannot be reached). */
enum id_result id_store_user_by_name(struct id_store *st, const char *name, int64_t now,
				     bool allow_stale, struct id_lookup *lk);
enum id_result id_store_user_by_uid(struct id_store *st, uint32_t uid, int64_t now,
				    bool allow_stale, struct id_lookup *lk);
enum id_result id_store_group_by_name(struct id_store *st, const char *name, int64_t now,
				      bool allow_stale, struct id_lookup *lk);
enum id_result id_store_group_by_gid(struct id_store *st, uint32_t gid, int64_t now,
				     bool allow_stale, struct id_lookup *lk);
/* The groups name is a member of (not its primary group).  *gids points into
 * the store (valid until the next change).  ID_FOUND or ID_NOTFOUND. */
enum id_result id_store_groups_of(struct id_store *st, const char *name, const uint32_t **gids,
				  size_t *n);

/* The realm answered about principal: exists or not.  An existing principal
 * of the realm is mapped (and the map file rewritten through dirfd) unless
 * its uid is taken: then it is refused and the collision recorded.  Returns
 * 0, or -errno if the map file could not be written (the mapping is then not
 * made and the lookup fails). */
int id_store_check_result(struct id_store *st, const char *principal, bool exists, int64_t now,
			  int dirfd);

/* Forget every existence check, negative entry and directory expiry (cache
 * expire): each entry is asked again at its next lookup. */
void id_store_flush(struct id_store *st);

/* Entries for enumeration: the index-th user and group (static first, then
 * auto users verified now), or NULL past the end. */
const struct id_user *id_store_user_at(struct id_store *st, uint32_t index, int64_t now);
const struct id_group *id_store_group_at(struct id_store *st, uint32_t index, int64_t now,
					 struct id_group *upg);

/* Fill a cache builder with everything servable at now. */
int id_store_build_cache(struct id_store *st, struct nss_cache_builder *b, int64_t now);

/* The earliest time a published record expires (to republish before it). */
int64_t id_store_next_expiry(struct id_store *st, int64_t now);

/* A counter that changes whenever something the cache holds changes. */
uint64_t id_store_version(const struct id_store *st);

/* For id-map and status. */
struct id_collision {
	uint32_t uid;
	const char *principal;
	const char *holder;
};
size_t id_store_n_mappings(const struct id_store *st);
const struct id_user *id_store_mapping_at(const struct id_store *st, size_t i);
size_t id_store_n_collisions(const struct id_store *st);
const struct id_collision *id_store_collision_at(const struct id_store *st, size_t i);
size_t id_store_n_problems(const struct id_store *st);
const char *id_store_problem_at(const struct id_store *st, size_t i);
const char *id_store_range(const struct id_store *st); /* "MIN-MAX" */
size_t id_store_n_static_users(const struct id_store *st);

/* --- directory entries (store_directory.c) ---------------------------------------------------- */

/* A user or group as the directory returned it (strings owned by the caller). */
struct id_dir_user {
	const char *name; /* short name (the directory's uid / sAMAccountName) */
	uint32_t uid, gid;
	const char *gecos, *home, *shell;
	bool upg; /* gid is a user private group (ids mapped, AD) */
};
struct id_dir_group {
	const char *name;
	uint32_t gid;
	const char **members; /* short names */
	size_t nmem;
};

/* Is a directory configured (lookups of unknown names and ids ask it)? */
void id_store_set_directory(struct id_store *st, bool on);
/* Store a directory user in the groups gids[n] (copied; at most
 * SECTX_NSS_CACHE_MAX_MEMBERS kept) valid until until, replacing what the
 * store had for the same name (in one allocation: a cached user costs its
 * strings, its gids and two index slots).  0; -EPERM for an entry refused (id 0, below min_id,
 * held by a static entry or another user, a name that is not valid or is a
 * static user's): logged and listed as a problem; -ENOMEM. */
int id_store_dir_user(struct id_store *st, const struct id_dir_user *du, const uint32_t *gids,
		      size_t n, int64_t until);
/* The same for a group. */
int id_store_dir_group(struct id_store *st, const struct id_dir_group *dg, int64_t until);
/* The directory answered "no such entry" for what lk asked (an ID_CHECK
 * with check_dir) at now: cached negatively, and a stored entry dropped. */
void id_store_dir_absent(struct id_store *st, int kind, const struct id_lookup *lk, int64_t now);
/* Copy the directory users and groups of old (after a reload), as they
 * were, expiry included: a reload while no server answers keeps them. */
void id_store_dir_adopt(struct id_store *st, const struct id_store *old);
/* Directory users and groups held (status, tests). */
size_t id_store_n_dir_users(const struct id_store *st);
/* Enumeration of the directory entries served at now: the index-th user
 * (group), or NULL past the end.  A walk by rising index is linear in all. */
const struct id_user *id_store_dir_user_at(struct id_store *st, uint32_t index, int64_t now);
const struct id_group *id_store_dir_group_at(struct id_store *st, uint32_t index, int64_t now);
/* The groups the store holds for the directory user name (a lookup found
 * them, nested ones included): true with *gids, *n; false when it holds
 * no such directory user. */
bool id_store_dir_user_gids(struct id_store *st, const char *name, const uint32_t **gids,
			    size_t *n);

/* What the store holds (store_query.c), for status. */
struct id_store_counts {
	size_t users;	 /* static users and auto mappings served */
	size_t groups;	 /* static groups and user private groups */
	size_t negative; /* negative cache entries, expired or not */
};
void id_store_counts(const struct id_store *st, struct id_store_counts *c);

/* Until when (CLOCK_REALTIME s) a name (by_id false) or a uid/gid (by_id,
 * group telling which) is cached as not existing at now; 0 if it is not. */
int64_t id_store_negative_until(struct id_store *st, bool by_id, const char *name, uint32_t id,
				bool group, int64_t now);

/* Call fn for each auto user (time: its existence check's end) and each
 * negative entry (time: its expiry; uids and gids named "uid:N", "gid:N"). */
typedef void (*id_store_walk_fn)(void *arg, const char *kind, const char *name, int64_t time);
void id_store_walk(const struct id_store *st, id_store_walk_fn fn, void *arg);

/* Forget what the store cached about name: its negative entry, and the
 * existence check of an auto user (asked again at the next lookup).
 * Returns true if there was anything. */
bool id_store_forget(struct id_store *st, const char *name);

/* Seed verified_until of auto users from a previous cache file (a restart
 * keeps valid existence checks). */
void id_store_seed_from_cache(struct id_store *st, const struct sectx_nss_cache_map *m,
			      int64_t now);

#endif /* SECTX_IDENTITY_H */
