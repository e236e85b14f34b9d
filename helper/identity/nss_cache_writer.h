/*
 * identity/nss_cache_writer.h - build the NSS cache (format in
 * common/nss_cache.h) into a memfd, store it as the cache file, and seal and
 * hand out the memfd (nss_cache_pub.c).
 *
 * Used only inside sectxd (talloc), by the identity subsystem, which runs the
 * publication in a short-lived child so that the event loop never waits on a
 * large write.  Who reaches this: nobody directly; what goes in is the
 * identity store's view, already validated (names, ids).  The builder checks
 * again what the format needs (lengths, counts, duplicate keys) and refuses
 * rather than writes a cache the reader would call corrupt.  Any local
 * process may connect to cache.sock and receive the sealed memfd: it is
 * read-only to them by its mode, its descriptor's access mode and its seals.
 *
 * What it must never do: write into, truncate or rename over a file without
 * first having a complete, fsynced replacement; follow a symlink; leave a
 * temp file behind on failure; map a file someone else could truncate; hand
 * out a memfd before it is sealed.  After a publication the only change made
 * to the replaced file or memfd is its stale word.
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

/* A new memfd for a cache (close-on-exec, sealing allowed, empty).  The
 * descriptor, or -errno. */
int nss_cache_memfd_new(void);

/* Lay the cache out into fd, a new empty memfd (or file) of the caller's:
 * space reserved with posix_fallocate, sized exactly, filled through a
 * shared mapping.  On success 0 and *size_out (may be NULL) the size.
 * Errors: -EEXIST (two entries with one key in a table), -E2BIG, -ENOMEM, or
 * -errno of the failing step. */
int nss_cache_build_fd(struct nss_cache_builder *b, int fd, uint64_t generation, int64_t now,
		       size_t *size_out);

/* Store the size bytes of src (a built cache) as dirfd/name: copied with
 * read/write into dirfd/.NAME.XXXXXX (0644, reserved, fsynced), renamed over
 * name, then the replaced file (if it was a cache file) flagged REPLACED and
 * the directory fsynced.  0, -EINVAL, or -errno of the failing step; the temp
 * file is removed and name untouched on any failure before the rename. */
int nss_cache_store(int src, size_t size, int dirfd, const char *name);

/* Build and store in one go (through a memfd of its own): 0 and *size_out
 * (may be NULL), or the errors of the two above. */
int nss_cache_write(struct nss_cache_builder *b, int dirfd, const char *name, uint64_t generation,
		    int64_t now, size_t *size_out);

/* Set the stale flag of dirfd/name if it is a cache file (readers then drop
 * it and ask the helper).  0, -ENOENT, -EINVAL (not a cache file), -errno. */
int nss_cache_mark_stale(int dirfd, const char *name);

/* Read dirfd/name into a private read-only copy for the helper's own use
 * (e.g. the generation and records of the previous run): never a mapping of
 * the file, which a truncation would turn into SIGBUS.  On success 0 and *m
 * attached; release with nss_cache_unmap.  -ENOENT, -EINVAL (not a valid
 * cache, or shorter than its size), -errno. */
int nss_cache_map_file(int dirfd, const char *name, struct sectx_nss_cache_map *m);
void nss_cache_unmap(struct sectx_nss_cache_map *m);

/* --- the sealed memfd (nss_cache_pub.c) ------------------------------------------------------- */

/* A published generation as sectxd holds it: a read-only descriptor of the
 * sealed memfd (what readers get) and a writable mapping of its header page
 * made before the seals (the one way left to set its stale word). */
struct nss_cache_pub;

/* Seal the cache built in memfd (nss_cache_memfd_new + nss_cache_build_fd,
 * no seal yet) and make it publishable: check that it is a valid cache, map
 * its header page writable, add SECTX_NSS_CACHE_SEALS | F_SEAL_FUTURE_WRITE,
 * make it mode 0444 and open a read-only descriptor of it.  The caller keeps
 * (and closes) memfd.  On success 0 and *out (a child of mem_ctx, whose
 * destructor unmaps and closes); -EINVAL (not a valid cache), -ENOMEM, or
 * -errno (a kernel without F_SEAL_FUTURE_WRITE, no /proc). */
int nss_cache_pub_seal(TALLOC_CTX *mem_ctx, int memfd, struct nss_cache_pub **out);

/* Set the stale word of p to state (SECTX_NSS_CACHE_REPLACED or RETIRED). */
void nss_cache_pub_flag(struct nss_cache_pub *p, uint32_t state);

uint64_t nss_cache_pub_generation(const struct nss_cache_pub *p);
size_t nss_cache_pub_size(const struct nss_cache_pub *p);

/* Answer a cache.sock client on the accepted socket sock: one
 * SECTX_OP_NSS_CACHE_FD frame with status OK, p's generation and p's
 * read-only descriptor (SCM_RIGHTS), or, with p NULL, only status (E_BUSY or
 * E_UNAVAIL).  Never blocks (MSG_DONTWAIT; a new connection's buffer holds
 * the frame).  0 or -errno. */
int nss_cache_pub_send(int sock, const struct nss_cache_pub *p, uint32_t status);

#endif /* SECTX_NSS_CACHE_WRITER_H */
