/*
 * identity/identity_int.h - what only the files of helper/identity/ share:
 * the store's layout and its helpers (index.c, negative.c, static_files.c,
 * mappings.c, store.c), the service's state (service.c, publish.c), the S4U
 * worker's entry points (s4u.c, s4u_worker.c) and the private wire formats
 * (wire.c).  The rest of the helper uses identity.h and store.h only.
 *
 * Private wire formats: every message between sectxd and its own children
 * (the NSS publisher, the S4U spawner and workers) and the body of the id
 * map state file are frames of the common/proto codec with the op and tag
 * values below.  They never leave this host and this build: both ends are
 * compiled from these lines, so a number may change with a version bump.
 * A decoder refuses a frame past its cap, of another version or op, and a
 * required field absent, repeated or past its bound.
 *
 * Who reaches this: nothing outside this folder.  Must never: be included
 * from another folder, or hold anything a peer could reach unchecked.
 */
#ifndef SECTX_IDENTITY_INT_H
#define SECTX_IDENTITY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <time.h>

#include "identity/store.h"
#include "proto.h"

/* ============================================================================================== */
/* The store's layout (store.c and the files of its parts)                                        */
/* ============================================================================================== */

/* --- an open-addressing index of pointers, keyed by a 64-bit hash (index.c) ------------------- */

struct ix_slot {
	uint64_t h;
	void *val; /* NULL: empty */
};

struct id_index {
	struct ix_slot *slots;
	size_t nslots; /* power of two */
	size_t count;
};

typedef bool (*id_ix_eq_fn)(const void *val, const void *key);

/* An empty index of at least 16 slots (room for hint entries), allocated on
 * owner.  0 or -ENOMEM. */
int id_ix_init(TALLOC_CTX *owner, struct id_index *ix, size_t hint);
/* The value with hash h for which eq(value, key) holds, or NULL. */
void *id_ix_get(const struct id_index *ix, uint64_t h, id_ix_eq_fn eq, const void *key);
/* Add val (not NULL) under h, growing the table on owner.  0 or -ENOMEM
 * (the index is then unchanged). */
int id_ix_put(TALLOC_CTX *owner, struct id_index *ix, uint64_t h, void *val);
/* Remove the slot holding val, if any. */
void id_ix_del(struct id_index *ix, uint64_t h, const void *val);

/* --- the store -------------------------------------------------------------------------------- */

/* A negative entry: a principal, a uid or a gid that does not exist. */
struct neg_ent {
	struct neg_ent *prev, *next; /* oldest first */
	uint64_t h;
	int64_t expires;
	uint32_t id;
	char key[]; /* principal (name caches) */
};

struct neg_cache {
	struct id_index ix;
	struct neg_ent *head, *tail;
	bool by_id;
};

struct membership {
	const char *principal;
	uint32_t *gids;
	size_t n;
};

struct id_store {
	/* configuration, copied */
	char *realm;
	bool fqn;
	bool auto_id;
	bool enumerate;
	uint32_t min_id, range_min, range_max;
	char *range;
	char *home_tmpl, *shell_tmpl;
	char *users_file, *groups_file;
	int64_t pos_ttl, neg_ttl; /* seconds */
	size_t neg_max;
	uint64_t seed; /* of the in-memory hashes */

	struct id_user **static_users;
	size_t n_static_users;
	struct id_group **static_groups;
	size_t n_static_groups;
	struct id_user **auto_users; /* every mapping, in the order made */
	size_t n_auto_users;

	struct id_index user_by_principal; /* static and auto (not shadowed) */
	struct id_index user_by_uid;
	struct id_index group_by_name; /* static */
	struct id_index group_by_gid;  /* static */
	struct id_index taken;	       /* static uids and gids: (void *)1 markers */
	struct id_index memberships;   /* principal -> struct membership */
	struct membership **membership_list;
	size_t n_memberships;

	struct neg_cache neg_names, neg_uids, neg_gids;
	struct neg_cache neg_gnames; /* directory group names */
	bool directory;
	size_t n_dir_users, n_dir_groups;
	/* where the last enumeration step stopped in user_by_uid and
	 * group_by_gid (the index-th served directory entry at slot), valid
	 * while version is unchanged: a whole getpwent walk is linear */
	struct dir_cursor {
		uint64_t version;
		uint32_t index;
		size_t slot;
	} dir_ucur, dir_gcur;
	TALLOC_CTX *dir_retired; /* replaced directory entries, freed at the next change */

	struct id_collision *collisions;
	size_t n_collisions;
	char **problems;
	size_t n_problems;
	uint64_t version;
};

/* --- the store's keys (index.c) --------------------------------------------------------------- */

/* The store's seeded hashes of a string and of an id. */
uint64_t id_str_hash(const struct id_store *st, const char *s);
uint64_t id_hash(const struct id_store *st, uint32_t id);
/* Equality callbacks of the store's indexes: val is the indexed entry, key
 * a principal or name (char *) or an id (uint32_t *). */
bool id_eq_user_principal(const void *val, const void *key);
bool id_eq_user_uid(const void *val, const void *key);
bool id_eq_group_name(const void *val, const void *key);
bool id_eq_group_gid(const void *val, const void *key);
bool id_eq_membership(const void *val, const void *key);
/* Is id held by a static user or group?  Mark it so: 0 or -ENOMEM. */
bool id_is_taken(const struct id_store *st, uint32_t id);
int id_mark_taken(struct id_store *st, uint32_t id);

/* --- the negative caches (negative.c) --------------------------------------------------------- */

/* An empty cache of names (by_id false) or ids.  0 or -ENOMEM. */
int id_neg_init(struct id_store *st, struct neg_cache *nc, bool by_id);
/* The entry for key (name caches) or id (id caches), expired or not, or NULL. */
struct neg_ent *id_neg_find(struct id_store *st, struct neg_cache *nc, const char *key,
			    uint32_t id);
/* Is key (or id) known not to exist at now?  Drops an expired entry. */
bool id_neg_has(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		int64_t now);
/* Forget key (or id). */
void id_neg_del(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id);
/* Remember that key (or id) does not exist until now + neg_ttl; the oldest
 * entry goes when the cache is full.  Out of memory: nothing is remembered. */
void id_neg_add(struct id_store *st, struct neg_cache *nc, const char *key, uint32_t id,
		int64_t now);
/* Forget every entry. */
void id_neg_clear(struct id_store *st, struct neg_cache *nc);

/* --- shared by the store's files (store.c) ---------------------------------------------------- */

/* Log and remember (bounded) a refused static line or mapping. */
void id_add_problem(struct id_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Log and remember (bounded, once per principal) a refused mapping. */
void id_add_collision(struct id_store *st, uint32_t uid, const char *principal, const char *holder);
/* The names of a principal as this store shows them: *display (pw_name) and
 * *alias (the other name that resolves, or NULL); both point into n. */
void id_names_of(const struct id_store *st, const struct id_name *n, const char **display,
		 const char **alias);
/* A user for n in one talloc chunk on st holding its strings (copied), or
 * NULL when out of memory. */
struct id_user *id_user_new(struct id_store *st, const struct id_name *n, uint32_t uid,
			    uint32_t gid, const char *gecos, const char *home, const char *shell,
			    bool is_static);
/* Append p to the talloc array *arr of *n pointers (grown on owner).  0 or
 * -ENOMEM. */
int id_append_ptr(TALLOC_CTX *owner, void ***arr, size_t *n, void *p);

/* ============================================================================================== */
/* The service (service.c, publish.c)                                                            */
/* ============================================================================================== */

#define RATE_BUCKETS 1024 /* caller uids whose rate of existence checks is remembered */

struct rate_bucket {
	uid_t uid;
	bool used;
	double tokens;
	int64_t last_ms;
};

/* May uid start another existence check at now_ms (monotonic)?  Its own
 * token bucket in table (n entries, keyed by the uid exactly; when full, the
 * least recently used entry is taken over): rate a second, bursts of twice
 * that.  True takes a token.  Defined in rate.c. */
bool id_rate_take(struct rate_bucket *table, size_t n, uid_t uid, double rate, int64_t now_ms);

struct pcheck;
struct flush_waiter;
struct id_cache_pub;
struct sectxd_ctx;
struct id_s4u;
struct id_dir;
struct identity_account_pool;
struct tevent_fd;
struct tevent_timer;

/* Bytes of the publisher's report (see ID_OP_PUBLISHED). */
#define ID_PUB_FRAME_MAX (SECTX_HDR_LEN + SECTX_FIELD_HDR_LEN + 4u)

struct sectxd_identity {
	struct sectxd_ctx *hctx;
	struct id_store *store;
	struct id_store *pending; /* built by check_reload, adopted by reloaded */
	struct id_store *retired; /* the one before: answers already posted may point into it */
	int state_dirfd;
	int cache_dirfd;
	int lock_fd;
	struct id_s4u *s4u; /* auto_id only */
	char *s4u_key;	    /* keytab|realm|host|timeout the worker was started with */

	/* publication */
	uint64_t generation;	    /* last one started */
	uint64_t published_gen;	    /* last one in place */
	uint64_t scheduled_version; /* store version the last publication covers */
	pid_t pub_pid;
	int pub_fd;
	struct tevent_fd *pub_fde;
	uint8_t pub_rbuf[ID_PUB_FRAME_MAX]; /* the child's report as read so far */
	size_t pub_rlen;
	int64_t pub_started_ms;
	uint64_t pub_snapshot;
	int64_t last_pub_end_ms;
	int64_t last_pub_ms; /* duration */
	struct tevent_timer *pub_timer;
	struct tevent_timer *refresh_timer;
	struct flush_waiter *waiters;
	struct id_cache_pub *cache_pub; /* the sealed memfd and cache.sock (publish.c) */

	struct pcheck *checks;
	struct rate_bucket rate[RATE_BUCKETS];

	struct identity_account_pool *accounts; /* account_threads.c: set up on first use */

	struct id_dir *dir;	      /* [directory] uri set (directory.c) */
	char *dir_key;		      /* what dir was made from (id_dir_key) */
	struct id_dir_enum *dir_enum; /* [directory] enumerate (directory_enum.c) */
	struct rate_bucket dir_rate[RATE_BUCKETS];
};

/* CLOCK_REALTIME seconds: the clock of the store's expiry times. */
static inline int64_t id_realtime_now(void)
{
	return (int64_t)time(NULL);
}

/* --- publication (publish.c) ------------------------------------------------------------------ */

/* Build the cache from id->store and write it as generation gen in the
 * cache directory (in this process).  0 with *size (may be NULL) or -errno. */
int id_publish_write(struct sectxd_identity *id, uint64_t gen, size_t *size);
/* Publish soon: urgent right away (or as soon as the publication under way
 * is done), otherwise debounced after the last one. */
void id_publish_schedule(struct sectxd_identity *id, bool urgent);
/* Publish if the store changed since the last publication started. */
void id_publish_changed(struct sectxd_identity *id);

/* Start, keep or stop the directory's enumeration to match cfg and id->dir
 * (directory_enum.c): a new engine enumerates at once, then every
 * enumerate_interval. */
void id_dir_enum_configure(struct sectxd_identity *id, const struct sectx_config *cfg);
/* (Re)arm the timer that republishes before published records expire. */
void id_publish_refresh_arm(struct sectxd_identity *id);
/* Open (creating) <socket_dir>/nss-cache, root 0755, into id->cache_dirfd,
 * take its lock (id->lock_fd) and remove temp files a killed publisher
 * left.  0 or -errno (logged). */
int id_publish_open_dir(struct sectxd_identity *id, const char *socket_dir);

/* ============================================================================================== */
/* The S4U spawner and worker processes (s4u_worker.c)                                            */
/* ============================================================================================== */

/* Become a clean child: die with our parent, default signals, nothing
 * blocked, only fd (as 3) and stderr open, named name. */
void id_s4u_child_setup(int fd, const char *name);
/* The spawner's loop on fd (never returns): for each ID_OP_S4U_SPAWN frame,
 * fork a worker for keytab/realm/host principal (configured, "" for the
 * first of the keytab) and send back its pid and socket. */
void id_s4u_zygote_main(int fd, const char *keytab, const char *realm, const char *configured)
    __attribute__((noreturn));

/* ============================================================================================== */
/* Private wire formats (wire.c)                                                                  */
/* ============================================================================================== */

#define ID_WIRE_VERSION 1u

enum id_wire_op {
	/* publisher child -> sectxd, once before it exits; reqid: the low 32
	 * bits of the generation it wrote.  ERR */
	ID_OP_PUBLISHED = 1,
	/* sectxd -> S4U worker: PRINCIPAL; the reply: ANSWER [MESSAGE] */
	ID_OP_S4U_CHECK = 2,
	/* sectxd -> S4U spawner: no field; the reply: PID, and the worker's
	 * socket with it (SCM_RIGHTS) when PID is not 0 */
	ID_OP_S4U_SPAWN = 3,
	/* The id map state file's body (version 2): one MAP_HEAD frame, then
	 * COUNT MAP_ENTRY frames, one per mapping, back to back; reqid 0. */
	ID_OP_MAP_HEAD = 4,  /* RANGE COUNT */
	ID_OP_MAP_ENTRY = 5, /* UID PRINCIPAL */
};

enum id_wire_tag {
	ID_TAG_ERR = 1,	      /* u32: 0 or a positive errno below 4096 */
	ID_TAG_PRINCIPAL = 2, /* string: not empty, at most SECTX_NAME_MAX bytes */
	ID_TAG_ANSWER = 3,    /* u32 enum id_s4u_answer */
	ID_TAG_MESSAGE = 4,   /* string: printable ASCII, at most ID_S4U_MSG_MAX bytes */
	ID_TAG_PID = 5,	      /* u32: the worker's pid; 0: none could be started */
	ID_TAG_RANGE = 6,     /* string "MIN-MAX" (id_range_parse), at most ID_RANGE_STR_MAX */
	ID_TAG_UID = 7,	      /* u32 */
	ID_TAG_COUNT = 8,     /* u32: mappings that follow, at most the ids of RANGE */
};

/* What a worker found out about a principal. */
enum id_s4u_answer {
	ID_S4U_EXISTS = 0,
	ID_S4U_UNKNOWN = 1,
	ID_S4U_ERROR = 2, /* could not ask; MESSAGE says why */
};

#define ID_S4U_MSG_MAX	 512u /* bytes of a worker's MESSAGE */
#define ID_RANGE_STR_MAX 63u  /* bytes of an id map's RANGE */
#define ID_ERR_MAX	 4095u
/* Caps of whole frames: the largest each format can carry. */
#define ID_S4U_FRAME_MAX (SECTX_HDR_LEN + 2u * SECTX_FIELD_HDR_LEN + 4u + ID_S4U_MSG_MAX)
#define ID_MAP_FRAME_MAX (SECTX_HDR_LEN + 2u * SECTX_FIELD_HDR_LEN + 4u + SECTX_NAME_MAX)

/* The length of the frame whose first len bytes are in buf: 0 and *need
 * once its header is there; SECTX_ERR_SHORT before; SECTX_ERR_TOOBIG if it
 * announces more than max bytes; SECTX_ERR_BADFRAME if less than a header. */
int id_wire_frame_need(const uint8_t *buf, size_t len, size_t max, size_t *need);

/* The publisher's report: result 0 or -errno (anything else is sent as
 * -EIO).  Encoders: 0 and *len, or a SECTX_ERR_* code (buffer too small).
 * The decoder: 0 and *result (0 or -errno), or SECTX_ERR_* for a frame that
 * is not exactly that report for gen. */
int id_wire_published_encode(uint8_t *buf, size_t cap, uint32_t gen, int result, size_t *len);
int id_wire_published_decode(const uint8_t *buf, size_t len, uint32_t gen, int *result);

/* An S4U check: principal (validated by the caller; at most SECTX_NAME_MAX
 * bytes).  The decoder copies it into principal[size] (size > SECTX_NAME_MAX)
 * and returns the request's id in *reqid. */
int id_wire_s4u_check_encode(uint8_t *buf, size_t cap, uint32_t reqid, const char *principal,
			     size_t *len);
int id_wire_s4u_check_decode(const uint8_t *buf, size_t len, uint32_t *reqid, char *principal,
			     size_t size);
/* Its answer.  The encoder cuts msg (NULL: none) to ID_S4U_MSG_MAX bytes and
 * printable ASCII.  The decoder wants the reply to reqid, copies the
 * message ("" if absent) into msg[msgsz] (msgsz > ID_S4U_MSG_MAX). */
int id_wire_s4u_answer_encode(uint8_t *buf, size_t cap, uint32_t reqid, uint32_t answer,
			      const char *msg, size_t *len);
int id_wire_s4u_answer_decode(const uint8_t *buf, size_t len, uint32_t reqid, uint32_t *answer,
			      char *msg, size_t msgsz);
/* Asking the spawner for a worker, and its answer (pid 0: none; at most
 * INT32_MAX). */
int id_wire_spawn_encode(uint8_t *buf, size_t cap, uint32_t reqid, size_t *len);
int id_wire_spawn_decode(const uint8_t *buf, size_t len, uint32_t *reqid);
int id_wire_spawned_encode(uint8_t *buf, size_t cap, uint32_t reqid, uint32_t pid, size_t *len);
int id_wire_spawned_decode(const uint8_t *buf, size_t len, uint32_t reqid, uint32_t *pid);

/* The id map body for range and the n mappings users[i] (uid, principal):
 * on success 0 and *out (talloc on mem_ctx) with *out_len; -ENOMEM, -EFBIG
 * past ID_MAPFILE_MAX, or -EINVAL for a range or principal the format cannot
 * carry (empty, past its bound, or a string the codec refuses). */
int id_wire_map_encode(TALLOC_CTX *mem_ctx, const char *range, struct id_user *const *users,
		       size_t n, uint8_t **out, size_t *out_len);

/* One record of an id map body. */
struct id_map_rec {
	uint16_t op;			    /* ID_OP_MAP_HEAD or ID_OP_MAP_ENTRY */
	char range[ID_RANGE_STR_MAX + 1];   /* head */
	uint32_t count;			    /* head */
	uint32_t uid;			    /* entry */
	char principal[SECTX_NAME_MAX + 1]; /* entry */
};

/* Reads an id map body record by record; points into the caller's bytes. */
struct id_map_reader {
	struct sectx_cur cur;
	bool have_head;
	uint32_t count, entries; /* announced by the head, read so far */
};

void id_wire_map_reader_init(struct id_map_reader *r, const uint8_t *p, size_t len);
/* True when the whole body has been read: its head, as many mappings as
 * the head announced, and not a byte more. */
bool id_wire_map_done(const struct id_map_reader *r);
/* The next record: 0 and *rec.  SECTX_ERR_SHORT past the end or for a cut
 * frame; SECTX_ERR_NOFIELD for a body not starting with its head or a field
 * missing; SECTX_ERR_DUPFIELD for a second head or a repeated field;
 * SECTX_ERR_TOOBIG for a frame past ID_MAP_FRAME_MAX, a string past its
 * bound, a count past the ids of the range or a mapping past the count;
 * SECTX_ERR_BADFRAME for another op or version; SECTX_ERR_BADSTR for an
 * empty or invalid string or range.  After an error the rest of the body
 * cannot be trusted. */
int id_wire_map_next(struct id_map_reader *r, struct id_map_rec *rec);

/* The identity subsystem's status fields (store_query.c): users, groups and
 * negative entries held, the NSS cache's generation and file. */
void identity_status_fields(struct sectxd_ctx *hctx, struct sectx_wbuf *w);

#endif /* SECTX_IDENTITY_INT_H */
