/*
 * identity/nss_cache_writer.h - build and publish the NSS cache file (format in
 * common/nss_cache.h).
 *
 * Used only inside sectxd (talloc), by the identity subsystem, which runs the
 * publication in a short-lived child so that the event loop never waits on a
 * large write.  Who reaches this: nobody directly; what goes in is the
 * identity store's view, already validated (names, ids).  The builder checks
 * again what the format needs (lengths, counts, duplicate keys) and refuses
 * rather than writes a file the reader would call corrupt.
 *
 * What it must never do: write into, truncate or rename over a file without
 * first having a complete, fsynced replacement; follow a symlink; leave a
 * temp file behind on failure.  After a publication the only change made to
 * the replaced file is its stale flag.
 */
#ifndef SECTX_NSS_CACHE_WRITER_H
#define SECTX_NSS_CACHE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>

#include "nss_cache.h"

struct nss_cache_builder;

struct nss_cache_user {
	const char *name;  /* returned as pw_name */
	const char *alias; /* another name that finds it (NULL: none) */
	const char *gecos; /* NULL: "" */
	const char *home;
	const char *shell;
	const char *principal; /* NULL: none */
	uint32_t uid, gid;
	int64_t expires; /* CLOCK_REALTIME seconds */
	bool auto_mapped;
};

struct nss_cache_group {
	const char *name;
	const char *alias; /* NULL: none */
	uint32_t gid;
	const char *const *members; /* nmem names */
	size_t nmem;
	int64_t expires;
};

/* A new, empty builder on mem_ctx with a random hash seed (seed != 0 fixes
 * it, for tests).  0, -ENOMEM, or -errno from getrandom. */
int nss_cache_builder_new(TALLOC_CTX *mem_ctx, uint64_t seed, struct nss_cache_builder **out);

/* Add entries.  Strings are copied.  Each returns 0, -EINVAL (empty name, a
 * string longer than SECTX_NSS_CACHE_STR_MAX, too many members or gids), -E2BIG
 * (the file would pass SECTX_NSS_CACHE_MAX_SIZE) or -ENOMEM.  Duplicate keys
 * are found at write time (-EEXIST). */
int nss_cache_add_user(struct nss_cache_builder *b, const struct nss_cache_user *u);
int nss_cache_add_group(struct nss_cache_builder *b, const struct nss_cache_group *g);
int nss_cache_add_membership(struct nss_cache_builder *b, const char *name, const char *alias,
			     const uint32_t *gids, size_t ngids, int64_t expires);
/* A negative entry in table t: name for the name tables (PW_NAME, GR_NAME),
 * id for the id tables (PW_UID, GR_GID).  -EINVAL for INITGR. */
int nss_cache_add_negative(struct nss_cache_builder *b, enum sectx_nss_table t, const char *name,
			   uint32_t id, int64_t expires);
/* Declare tables complete (SECTX_NSS_COMPLETE bits) until a time. */
void nss_cache_set_complete(struct nss_cache_builder *b, uint32_t bits, int64_t until);

/* Number of entries added so far per table (for logs and tests). */
size_t nss_cache_builder_count(const struct nss_cache_builder *b, enum sectx_nss_table t);

/* Lay the file out, write it as dirfd/.NAME.XXXXXX (0644, space reserved
 * with posix_fallocate, filled through a shared mapping, fsynced), set the
 * stale flag of the file at dirfd/name (if that is a cache file), rename the
 * new one over it and fsync the directory.  On success 0 and *size_out (may be
 * NULL) the file size.  Errors: -EEXIST (two entries with one key in a
 * table), -E2BIG, -ENOMEM, or -errno of the failing step; the temp file is
 * removed and name untouched on any failure before the rename. */
int nss_cache_write(struct nss_cache_builder *b, int dirfd, const char *name, uint64_t generation,
		    int64_t now, size_t *size_out);

/* Set the stale flag of dirfd/name if it is a cache file (readers then drop
 * it and ask the helper).  0, -ENOENT, -EINVAL (not a cache file), -errno. */
int nss_cache_mark_stale(int dirfd, const char *name);

/* Map dirfd/name read-only for the helper's own use (e.g. the generation and
 * records of the previous run).  On success 0, *m attached and *len the
 * mapping's length; release with nss_cache_unmap.  -ENOENT, -EINVAL (not a
 * valid cache), -errno. */
int nss_cache_map_file(int dirfd, const char *name, struct sectx_nss_cache_map *m);
void nss_cache_unmap(struct sectx_nss_cache_map *m);

#endif /* SECTX_NSS_CACHE_WRITER_H */
