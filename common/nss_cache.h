/*
 * nss_cache.h - the NSS fast path: the read-only cache file sectxd publishes
 * and the libc-only reader that libnss_sectx maps.
 *
 * Who can reach this: the file lives in <socket_dir>/nss-cache/ (root 0755,
 * file root 0644) and is read by every process on the host that resolves a
 * user; only root (sectxd) writes it.  The reader takes it as untrusted all
 * the same: a truncated, corrupted or foreign file must never make a lookup
 * crash, loop, read outside the mapping or answer something the file does not
 * hold.  Every offset is bound-checked against the validated header, every
 * shared field is loaded once (relaxed atomic load) into a local that is
 * checked and then used, probes are capped, and any inconsistency is
 * SECTX_NSS_CACHE_CORRUPT, which the module treats as a miss (ask the helper).
 * What the reader must never do: allocate, make a system call of its own
 * (the caller passes the time), write to the mapping, or trust a length.
 *
 * Layout (host byte order: the file never leaves the host; a foreign byte
 * order fails the magic check).  All offsets are from the start of the file,
 * 8-byte aligned, and every field is naturally aligned.
 *
 *   header   struct sectx_nss_cache_header (SECTX_NSS_CACHE_HEADER_SIZE bytes)
 *   tables   SECTX_NSS_TABLE_COUNT open-addressing hash tables of
 *            struct sectx_nss_cache_slot, each a power of two of slots:
 *              PW_NAME  user name (and alias)       -> USER or NEGATIVE record
 *              PW_UID   uid                          -> USER or NEGATIVE record
 *              GR_NAME  group name (and alias)       -> GROUP or NEGATIVE record
 *              GR_GID   gid                          -> GROUP or NEGATIVE record
 *              INITGR   member name (and alias)      -> MEMBERSHIP record
 *            A slot is { key, off }: off 0 is empty; key is the upper 32 bits
 *            of the name's hash (name tables) or the id itself (id tables).
 *            Linear probing from hash & (nslots - 1); the writer keeps the
 *            load at most 1/2 and every probe sequence shorter than
 *            SECTX_NSS_CACHE_MAX_PROBES, so a longer one means corruption.
 *   records  packed, each 8-byte aligned, starting with struct
 *            sectx_nss_cache_rec: kind, size, expiry (CLOCK_REALTIME seconds).
 *            Strings are stored with their lengths and a terminating NUL.
 *
 * The name hash is sectx_nss_cache_hash(): a 64-bit multiply-xorshift hash
 * keyed by the file's random seed, so a local user who floods the negative
 * cache with chosen names cannot precompute collisions for the next file.
 *
 * Publishing (helper/identity/nss_cache_writer.c, nss_cache_pub.c,
 * publish.c): each generation is laid out in a memfd, copied to the file
 * <socket_dir>/nss-cache/cache (written beside it, fsynced, renamed over the
 * old one, which is then flagged stale), and the memfd is sealed
 * (SECTX_NSS_CACHE_SEALS: it can never shrink, grow or be written again
 * except through the helper's own mapping of its header) and handed
 * read-only to every client that connects to
 * <socket_dir>/nss-cache/cache.sock.  Readers map the memfd, never the file:
 * a file can be truncated under its mappings (every later access past the
 * new end is SIGBUS), a sealed memfd cannot.  The file is what a reader
 * copies (read(), never mapped) when the helper cannot be reached, and what
 * sectxctl, tests and the next helper read.  The stale word is the only field
 * that changes after publication: CURRENT, then REPLACED (a newer generation
 * or a flush: drop it) or RETIRED (its helper stopped: still valid, but look
 * for a successor).  A published file or memfd is never rewritten otherwise.
 */
#ifndef SECTX_NSS_CACHE_H
#define SECTX_NSS_CACHE_H

#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The hit path: grouped by the compiler (.text.hot) so that a lookup right
 * after a system call (glibc stats nsswitch.conf on every call) touches as
 * few code pages as possible. */
#define SECTX_HOT __attribute__((hot))

#define SECTX_NSS_CACHE_DIR	    "nss-cache" /* under the socket directory */
#define SECTX_NSS_CACHE_FILE	    "cache"
#define SECTX_NSS_CACHE_SOCKET	    "cache.sock" /* in SECTX_NSS_CACHE_DIR: hands out the memfd */
#define SECTX_NSS_CACHE_MAGIC	    0x434e5853u	 /* "SXNC" read as a little-endian u32 */
#define SECTX_NSS_CACHE_VERSION	    1u
#define SECTX_NSS_CACHE_HEADER_SIZE 128u
#define SECTX_NSS_CACHE_MAX_SIZE    0xfffff000u /* offsets are u32 */
#define SECTX_NSS_CACHE_MAX_PROBES  128u	/* writer guarantees fewer */
#define SECTX_NSS_CACHE_MAX_MEMBERS 65536u	/* members of a group, groups of a user */
#define SECTX_NSS_CACHE_STR_MAX	    4096u	/* bytes of any string in a record */

enum sectx_nss_table {
	SECTX_NSS_TABLE_PW_NAME = 0,
	SECTX_NSS_TABLE_PW_UID = 1,
	SECTX_NSS_TABLE_GR_NAME = 2,
	SECTX_NSS_TABLE_GR_GID = 3,
	SECTX_NSS_TABLE_INITGR = 4,
	SECTX_NSS_TABLE_COUNT = 5,
};

/* The publisher's owner word.  A helper can flag its own memfd when it
 * stops, but a killed one flags nothing, and nobody else can write a sealed
 * memfd.  So the helper also holds, from its event loop thread and for as
 * long as the memfd is current, a process-shared robust mutex that lives in
 * the memfd (in the owner_area the writer leaves after the header), and
 * publishes in owner_off the offset of its lock word once it has checked
 * that the word holds its thread id (the kernel's robust-futex ABI).  When
 * that thread dies, however (kill -9 included), the kernel sets
 * SECTX_NSS_OWNER_DIED in the word; an orderly release clears it.  A
 * reader that finds the word without a live owner reads the cache as
 * RETIRED: still valid, but look for a successor. */
#define SECTX_NSS_CACHE_OWNER_SIZE 64u	       /* bytes of owner_area (a pthread_mutex_t) */
#define SECTX_NSS_OWNER_TID_MASK   0x3fffffffu /* FUTEX_TID_MASK */
#define SECTX_NSS_OWNER_DIED	   0x40000000u /* FUTEX_OWNER_DIED */

/* Values of header.stale. */
#define SECTX_NSS_CACHE_CURRENT	 0u
#define SECTX_NSS_CACHE_REPLACED 1u /* a newer generation or a flush: do not use */
#define SECTX_NSS_CACHE_RETIRED	 2u /* its helper stopped: valid, but look for a successor */

/* The seals a published memfd must carry before a reader maps it: no
 * shrinking (no SIGBUS), no growing, no new writer (F_SEAL_FUTURE_WRITE, or
 * F_SEAL_WRITE) and no change to the seals.  Values of <fcntl.h>
 * (F_SEAL_SEAL 1, F_SEAL_SHRINK 2, F_SEAL_GROW 4, F_SEAL_WRITE 8,
 * F_SEAL_FUTURE_WRITE 16), spelled out so this header needs no _GNU_SOURCE. */
#define SECTX_NSS_CACHE_SEALS	    (0x0001u | 0x0002u | 0x0004u)
#define SECTX_NSS_CACHE_WRITE_SEALS (0x0008u | 0x0010u) /* at least one of */

/* Bits of header.complete: for a table with its bit set, a key that is not
 * in the table does not exist (NOTFOUND without asking the helper) until
 * header.complete_until. */
#define SECTX_NSS_COMPLETE(table_) (1u << (table_))

enum sectx_nss_rec_kind {
	SECTX_NSS_REC_USER = 1,
	SECTX_NSS_REC_GROUP = 2,
	SECTX_NSS_REC_MEMBERSHIP = 3,
	SECTX_NSS_REC_NEGATIVE = 4,
};

struct sectx_nss_cache_table {
	uint32_t off;	 /* first slot; 0 with nslots 0 for an empty table */
	uint32_t nslots; /* 0 or a power of two */
};

struct sectx_nss_cache_header {
	uint32_t magic;
	uint32_t version;
	uint32_t header_size; /* SECTX_NSS_CACHE_HEADER_SIZE */
	uint32_t stale;	      /* SECTX_NSS_CACHE_CURRENT, then REPLACED or RETIRED */
	uint64_t generation;  /* grows with every publication */
	uint64_t file_size;   /* must equal the file's size */
	int64_t created;      /* CLOCK_REALTIME seconds */
	int64_t complete_until;
	uint64_t seed;	   /* key of sectx_nss_cache_hash for this file */
	uint32_t complete; /* SECTX_NSS_COMPLETE() bits */
	uint32_t n_tables; /* SECTX_NSS_TABLE_COUNT */
	struct sectx_nss_cache_table tables[SECTX_NSS_TABLE_COUNT];
	uint32_t data_off; /* records: [data_off, data_off + data_size) */
	uint32_t data_size;
	uint32_t
	    owner_area; /* SECTX_NSS_CACHE_OWNER_SIZE zeroed bytes left for the owner lock, or 0 */
	uint32_t owner_off; /* 0, or the publisher's owner word (see below) */
	uint8_t reserved[SECTX_NSS_CACHE_HEADER_SIZE - 64 - 8 * SECTX_NSS_TABLE_COUNT - 16];
};

struct sectx_nss_cache_slot {
	uint32_t key;
	uint32_t off;
};

/* Common start of every record. */
struct sectx_nss_cache_rec {
	uint16_t kind;	 /* enum sectx_nss_rec_kind */
	uint16_t flags;	 /* SECTX_NSS_REC_F_* */
	uint32_t size;	 /* whole record, a multiple of 8 */
	int64_t expires; /* CLOCK_REALTIME seconds; expired records are misses */
};
#define SECTX_NSS_REC_F_AUTO 0x0001u /* USER: automatic mapping (not a static entry) */

/* USER: then name, alias, gecos, home, shell, principal, each len bytes + NUL. */
struct sectx_nss_cache_user {
	struct sectx_nss_cache_rec rec;
	uint32_t uid;
	uint32_t gid;
	uint16_t name_len, alias_len, gecos_len, home_len, shell_len, principal_len;
	uint32_t pad;
};

/* GROUP: then name, alias (len + NUL each), then members_size bytes holding
 * nmem NUL-terminated names. */
struct sectx_nss_cache_group {
	struct sectx_nss_cache_rec rec;
	uint32_t gid;
	uint32_t nmem;
	uint16_t name_len, alias_len;
	uint32_t members_size;
};

/* MEMBERSHIP: then ngids u32 gids, then name, alias (len + NUL each). */
struct sectx_nss_cache_membership {
	struct sectx_nss_cache_rec rec;
	uint32_t ngids;
	uint16_t name_len, alias_len;
};

/* NEGATIVE: "no such name" or "no such id" (name_len 0); then name + NUL. */
struct sectx_nss_cache_negative {
	struct sectx_nss_cache_rec rec;
	uint32_t id;
	uint16_t name_len;
	uint16_t pad;
};

/* A validated mapping: pointers and a private copy of the header fields the
 * reader uses (checked once, at sectx_nss_cache_attach). */
struct sectx_nss_cache_map {
	const uint8_t *base;
	size_t size;
	uint64_t generation;
	uint64_t seed;
	uint32_t complete;
	int64_t complete_until;
	uint32_t data_off, data_end;
	uint32_t owner_off; /* 0: no owner word */
	struct sectx_nss_cache_table tables[SECTX_NSS_TABLE_COUNT];
};

/* Outcome of a lookup.  HIT: the entry was copied out.  NEGATIVE: the file
 * says the entry does not exist (NOTFOUND).  MISS: the file does not know
 * (ask the helper).  ERANGE: the entry exists but the buffer is too small.
 * CORRUPT: inconsistent data (ask the helper; the caller may drop the map). */
enum sectx_nss_cache_result {
	SECTX_NSS_CACHE_HIT = 0,
	SECTX_NSS_CACHE_NEGATIVE = 1,
	SECTX_NSS_CACHE_MISS = 2,
	SECTX_NSS_CACHE_ERANGE = 3,
	SECTX_NSS_CACHE_CORRUPT = 4,
};

/* The keyed 64-bit hash of len bytes at s (see the file comment). */
uint64_t sectx_nss_cache_hash(uint64_t seed, const void *s, size_t len);
/* Where an id starts probing: a mix of seed and id (the id is the slot key). */
uint64_t sectx_nss_cache_id_hash(uint64_t seed, uint32_t id);

/* Validate the header of the size bytes mapped at base (the whole file) and
 * fill *m.  Checks magic, version, header size, file_size == size, table and
 * data bounds, alignment and power-of-two slot counts.  Does not look at the
 * stale flag.  Returns 0 or -EINVAL (not a valid cache of this version);
 * never reads outside [base, base + size). */
int sectx_nss_cache_attach(const void *base, size_t size, struct sectx_nss_cache_map *m);

/* True if the writer has flagged the cache behind m in any way (one
 * acquire load of the stale word). */
int sectx_nss_cache_is_stale(const struct sectx_nss_cache_map *m);
/* The state of the cache behind m: its stale word (one acquire load),
 * SECTX_NSS_CACHE_CURRENT, REPLACED or RETIRED, any other value read as
 * REPLACED; and CURRENT with an owner word whose owner is gone (one more
 * load) read as RETIRED. */
uint32_t sectx_nss_cache_state(const struct sectx_nss_cache_map *m);

/* Look up a user by name or uid at time now (CLOCK_REALTIME seconds) and on a
 * HIT fill *pw with pointers into buf (buflen bytes): pw_name, pw_passwd "*",
 * pw_gecos, pw_dir, pw_shell.  Nothing else is written on any other result. */
enum sectx_nss_cache_result sectx_nss_cache_getpwnam(const struct sectx_nss_cache_map *m,
						     const char *name, int64_t now,
						     struct passwd *pw, char *buf, size_t buflen);
enum sectx_nss_cache_result sectx_nss_cache_getpwuid(const struct sectx_nss_cache_map *m, uid_t uid,
						     int64_t now, struct passwd *pw, char *buf,
						     size_t buflen);
/* The same for groups: gr_name, gr_passwd "*", gr_gid and a NULL-terminated
 * gr_mem array, all inside buf. */
enum sectx_nss_cache_result sectx_nss_cache_getgrnam(const struct sectx_nss_cache_map *m,
						     const char *name, int64_t now,
						     struct group *gr, char *buf, size_t buflen);
enum sectx_nss_cache_result sectx_nss_cache_getgrgid(const struct sectx_nss_cache_map *m, gid_t gid,
						     int64_t now, struct group *gr, char *buf,
						     size_t buflen);

/* The groups of user name (by membership): calls add(arg, gid) once per gid
 * on a HIT, stopping early if add returns non-zero.  NEGATIVE when the table
 * is complete and holds no entry for name. */
enum sectx_nss_cache_result sectx_nss_cache_initgroups(const struct sectx_nss_cache_map *m,
						       const char *name, int64_t now,
						       int (*add)(void *arg, gid_t gid), void *arg);

/* For the helper reading its previous file: 0 and *expires if name has an
 * unexpired USER record of an automatic mapping with this uid, else -1. */
int sectx_nss_cache_user_expiry(const struct sectx_nss_cache_map *m, const char *name, int64_t now,
				uint32_t uid, int64_t *expires);

#endif /* SECTX_NSS_CACHE_H */
