/*
 * core/state_file.h - the helper's durable state files under state_dir.
 *
 * Every piece of state sectxd keeps across restarts (id mappings, sessions
 * to renew, cached offline credentials) is one file in state_dir (a
 * directory owned by sectxd's euid, mode 0700), mode 0600, replaced whole
 * through common/atomic_file (temp, fsync, rename, fsync dir), and framed
 * by a header this module writes and checks:
 *
 *   off  size  field, integers big-endian
 *     0     8  magic "SECTXSTF"
 *     8     4  kind: four ASCII letters naming the file's owner ("IDMP",
 *              "SESS", ...), so one kind of file is never read as another
 *    12     4  format version of the payload, >= 1, chosen by the owner
 *    16     8  payload length
 *    24     4  CRC-32C of bytes 0..23 followed by the payload
 *    28     4  reserved, 0
 *    32        payload (opaque here; its owner encodes and parses it)
 *
 * A file that cannot be trusted (bad magic, other kind, unknown version,
 * truncated or with trailing bytes, bad checksum, too big, not a regular
 * file, not owned by us or with mode bits beyond 0600) is renamed to
 * NAME.corrupt-<UTC timestamp> with one log line, and the caller starts
 * empty: a corrupt file never crashes the helper and is never lost.  The
 * payload is not secret-scrubbed: a state file must never hold a ticket,
 * key or password (offline hashes are hashes).
 *
 * Who reaches this: only sectxd itself, as root, on names it chooses
 * (constants, never a peer's string).
 */
#ifndef SECTX_STATE_FILE_H
#define SECTX_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <talloc.h>

#define SECTX_STATE_HDR_LEN   32u
#define SECTX_STATE_DIR_MODE  0700
#define SECTX_STATE_FILE_MODE 0600
/* Bound on any payload, whatever the caller asks (talloc's chunk limit is
 * 256 MiB; the largest state file is the id map). */
#define SECTX_STATE_PAYLOAD_MAX (200u * 1024u * 1024u)

/* A kind from four ASCII letters: SECTX_STATE_KIND('S','E','S','S'). */
#define SECTX_STATE_KIND(a, b, c, d)                                                               \
	(((uint32_t)(uint8_t)(a) << 24) | ((uint32_t)(uint8_t)(b) << 16) |                         \
	 ((uint32_t)(uint8_t)(c) << 8) | (uint32_t)(uint8_t)(d))

/* Open (creating if missing) the state directory at path: it must be owned
 * by our euid with no permission bits beyond 0700 (sectx_open_dir_verified).
 * Returns the directory descriptor (the caller closes it) or -errno; logs
 * nothing (the caller names its subsystem in its own line). */
int sectx_state_dir_open(const char *path);

/* Encode a state file image: the header for kind/version followed by len
 * bytes of payload.  On success 0 and *out (talloc on mem_ctx, header +
 * payload) with *out_len.  -EINVAL for version 0, len beyond
 * SECTX_STATE_PAYLOAD_MAX or payload NULL with len != 0; -ENOMEM.
 * (sectx_state_save is this plus the atomic write; exposed for tests.) */
int sectx_state_encode(TALLOC_CTX *mem_ctx, uint32_t kind, uint32_t version, const void *payload,
		       size_t len, uint8_t **out, size_t *out_len);

/* Check an image against kind, versions 1..max_version and payloads up to
 * max_payload bytes (capped at SECTX_STATE_PAYLOAD_MAX).  On success 0,
 * *payload pointing into buf (no copy), *len and *version.  Otherwise
 * -EBADMSG with a human reason in why ("bad magic", "wrong kind", "unknown
 * version 7", "truncated", "bad checksum", ...; always NUL-terminated).
 * (sectx_state_load is a read plus this; exposed for tests.) */
int sectx_state_decode(const uint8_t *buf, size_t buflen, uint32_t kind, uint32_t max_version,
		       size_t max_payload, const uint8_t **payload, size_t *len, uint32_t *version,
		       char *why, size_t whylen);

/* Replace dirfd/name with kind/version and the payload: encode, then
 * sectx_atomic_write_at(..., SECTX_STATE_FILE_MODE, owner unchanged).  name is
 * a single path component.  Returns 0 or -errno (-EINVAL as for encode or a
 * bad name); logs nothing: the caller logs what could not be saved. */
int sectx_state_save(int dirfd, const char *name, uint32_t kind, uint32_t version,
		     const void *payload, size_t len);

/* Load dirfd/name written by sectx_state_save with this kind, accepting
 * versions 1..max_version and payloads up to max_payload bytes.
 *   0         *payload (talloc on mem_ctx, NUL-terminated for convenience;
 *             may contain NULs), *len and *version are set;
 *   -ENOENT   no such file: start empty;
 *   -EBADMSG  the file could not be trusted: it was moved aside (see
 *             sectx_state_move_aside; logged) and the caller starts empty;
 *   -ENOMEM, or another -errno the file could not be read for (EACCES, EIO):
 *             it is left in place and nothing is logged.
 * Never crashes on any content.  what names the file in the log line
 * ("sessions", "id map"). */
int sectx_state_load(TALLOC_CTX *mem_ctx, int dirfd, const char *name, const char *what,
		     uint32_t kind, uint32_t max_version, size_t max_payload, uint8_t **payload,
		     size_t *len, uint32_t *version);

/* Remove the temp files (".NAME.XXXXXX", regular files only) that saves of
 * dirfd/name interrupted by a crash left behind, logging each.  Call it once
 * at start, before the first save.  Returns how many were removed, or
 * -errno if the directory cannot be read. */
int sectx_state_remove_temps(int dirfd, const char *name);

/* Rename dirfd/name to NAME.corrupt-YYYYmmddTHHMMSSZ (a "-N" suffix is added
 * if that exists; never replaces a file) and log one warning line naming
 * what, the new name and why.  For callers whose own payload parse fails,
 * after a successful sectx_state_load.  Returns 0, -ENOENT if name is gone,
 * or -errno (logged too: the caller still starts empty and the next save
 * replaces the file). */
int sectx_state_move_aside(int dirfd, const char *name, const char *what, const char *why);

#endif /* SECTX_STATE_FILE_H */
