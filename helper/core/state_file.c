/*
 * core/state_file.c - framing, checking, atomic saving and moving aside of the
 * helper's state files (format in state_file.h).
 *
 * Must never: follow a symlink, trust a length or a version from the file,
 * replace or delete a file it could not parse (it is renamed aside, for the
 * administrator), write a file with a mode beyond 0600, or abort on any
 * content.  Called only by sectxd on constant names in its own 0700
 * directory; the payload belongs to the caller and is never logged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2 */
#endif

#include "core/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"
#include "proto.h"

static const uint8_t state_magic[8] = {'S', 'E', 'C', 'T', 'X', 'S', 'T', 'F'};

#define CRC_OFFSET	 24u  /* the checksum covers the bytes before it */
#define ASIDE_TRIES	 100u /* NAME.corrupt-TS, then -1 .. -99 */
#define ASIDE_SUFFIX_MAX 40u  /* ".corrupt-YYYYmmddTHHMMSSZ-NN" and slack */

/* CRC-32C (Castagnoli, reflected 0x82F63B78), bitwise: state files are
 * small and written rarely, so a table is not worth its global. */
static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	size_t i;
	int k;

	crc = ~crc;
	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++) {
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
		}
	}
	return ~crc;
}

int sectx_state_dir_open(const char *path)
{
	return sectx_open_dir_verified(path, geteuid(), SECTX_STATE_DIR_MODE, true);
}

int sectx_state_encode(TALLOC_CTX *mem_ctx, uint32_t kind, uint32_t version, const void *payload,
		       size_t len, uint8_t **out, size_t *out_len)
{
	struct sectx_wbuf w, crc_w;
	uint8_t *buf;

	if (version == 0 || len > SECTX_STATE_PAYLOAD_MAX || (payload == NULL && len != 0)) {
		return -EINVAL;
	}
	buf = talloc_array(mem_ctx, uint8_t, SECTX_STATE_HDR_LEN + len);
	if (buf == NULL) {
		return -ENOMEM;
	}
	/* the layout sectx_state_decode reads with the cursor (state_file.h) */
	sectx_wbuf_init(&w, buf, SECTX_STATE_HDR_LEN + len);
	sectx_wbuf_put_raw(&w, state_magic, sizeof(state_magic));
	sectx_wbuf_put_u32(&w, kind);
	sectx_wbuf_put_u32(&w, version);
	sectx_wbuf_put_u64(&w, (uint64_t)len);
	sectx_wbuf_put_u32(&w, 0); /* the CRC, set below */
	sectx_wbuf_put_u32(&w, 0); /* reserved */
	sectx_wbuf_put_raw(&w, payload, len);
	if (w.err != 0 || w.len != SECTX_STATE_HDR_LEN + len) {
		talloc_free(buf);
		return -EINVAL;
	}
	sectx_wbuf_init(&crc_w, buf + CRC_OFFSET, 4);
	sectx_wbuf_put_u32(&crc_w,
			   crc32c(crc32c(0, buf, CRC_OFFSET), buf + SECTX_STATE_HDR_LEN, len));
	*out = buf;
	*out_len = SECTX_STATE_HDR_LEN + len;
	return 0;
}

int sectx_state_decode(const uint8_t *buf, size_t buflen, uint32_t kind, uint32_t max_version,
		       size_t max_payload, const uint8_t **payload, size_t *len, uint32_t *version,
		       char *why, size_t whylen)
{
	struct sectx_cur cur;
	const uint8_t *magic = NULL, *body = NULL;
	uint32_t fkind = 0, fversion = 0, crc = 0, reserved = 0;
	uint64_t flen = 0;

	if (max_payload > SECTX_STATE_PAYLOAD_MAX) {
		max_payload = SECTX_STATE_PAYLOAD_MAX;
	}
	sectx_cur_init(&cur, buf, buf != NULL ? buflen : 0);
	if (sectx_cur_get_bytes(&cur, sizeof(state_magic), &magic) != 0 ||
	    sectx_cur_get_u32(&cur, &fkind) != 0 || sectx_cur_get_u32(&cur, &fversion) != 0 ||
	    sectx_cur_get_u64(&cur, &flen) != 0 || sectx_cur_get_u32(&cur, &crc) != 0 ||
	    sectx_cur_get_u32(&cur, &reserved) != 0) {
		/* a file cut before its header ends may still show a wrong magic */
		snprintf(why, whylen, "%s",
			 buflen >= sizeof(state_magic) &&
				 memcmp(buf, state_magic, sizeof(state_magic)) != 0
			     ? "bad magic"
			     : "truncated header");
		return -EBADMSG;
	}
	if (memcmp(magic, state_magic, sizeof(state_magic)) != 0) {
		snprintf(why, whylen, "bad magic");
		return -EBADMSG;
	}
	if (fkind != kind) {
		snprintf(why, whylen, "wrong kind 0x%08" PRIx32 " (expected 0x%08" PRIx32 ")",
			 fkind, kind);
		return -EBADMSG;
	}
	if (fversion == 0 || fversion > max_version) {
		snprintf(why, whylen,
			 "unknown format version %" PRIu32 " (this build reads 1..%" PRIu32 ")",
			 fversion, max_version);
		return -EBADMSG;
	}
	if (reserved != 0) {
		snprintf(why, whylen, "reserved header field is not 0");
		return -EBADMSG;
	}
	if (flen > max_payload) {
		snprintf(why, whylen, "payload of %" PRIu64 " bytes exceeds %zu", flen,
			 max_payload);
		return -EBADMSG;
	}
	if (flen > sectx_cur_left(&cur)) {
		snprintf(why, whylen, "truncated: %zu of %" PRIu64 " payload bytes",
			 sectx_cur_left(&cur), flen);
		return -EBADMSG;
	}
	if (flen < sectx_cur_left(&cur)) {
		snprintf(why, whylen, "%zu bytes after the payload",
			 sectx_cur_left(&cur) - (size_t)flen);
		return -EBADMSG;
	}
	if (sectx_cur_get_bytes(&cur, (size_t)flen, &body) != 0) {
		snprintf(why, whylen, "truncated payload"); /* cannot happen after the checks */
		return -EBADMSG;
	}
	if (crc32c(crc32c(0, buf, CRC_OFFSET), body, (size_t)flen) != crc) {
		snprintf(why, whylen, "bad checksum");
		return -EBADMSG;
	}
	*payload = body;
	*len = (size_t)flen;
	*version = fversion;
	return 0;
}

int sectx_state_save(int dirfd, const char *name, uint32_t kind, uint32_t version,
		     const void *payload, size_t len)
{
	uint8_t *img = NULL;
	size_t img_len = 0;
	int ret;

	ret = sectx_state_encode(NULL, kind, version, payload, len, &img, &img_len);
	if (ret != 0) {
		goto done;
	}
	ret = sectx_atomic_write_at(dirfd, name, img, img_len, SECTX_STATE_FILE_MODE, (uid_t)-1,
				    (gid_t)-1);
done:
	talloc_free(img);
	return ret;
}

int sectx_state_move_aside(int dirfd, const char *name, const char *what, const char *why)
{
	char aside[NAME_MAX + 1], ts[32];
	struct tm tm;
	time_t now = time(NULL);
	unsigned i;
	int ret = -EEXIST;

	if (name == NULL || strlen(name) + ASIDE_SUFFIX_MAX > NAME_MAX ||
	    strchr(name, '/') != NULL) {
		return -EINVAL;
	}
	if (gmtime_r(&now, &tm) == NULL || strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm) == 0) {
		snprintf(ts, sizeof(ts), "%lld", (long long)now);
	}
	for (i = 0; i < ASIDE_TRIES; i++) {
		if (i == 0) {
			snprintf(aside, sizeof(aside), "%s.corrupt-%s", name, ts);
		} else {
			snprintf(aside, sizeof(aside), "%s.corrupt-%s-%u", name, ts, i);
		}
		/* NOREPLACE: an earlier corrupt copy is evidence too */
		if (renameat2(dirfd, name, dirfd, aside, RENAME_NOREPLACE) == 0) {
			ret = 0;
			break;
		}
		ret = -errno;
		if (ret != -EEXIST) {
			break;
		}
	}
	if (ret == 0) {
		(void)fsync(dirfd); /* best effort: the rename is what matters */
		SECTX_WARN("state file %s (%s) is corrupt: %s; moved aside to %s, starting empty",
			   name, what, why, aside);
	} else if (ret != -ENOENT) {
		SECTX_ERROR("state file %s (%s) is corrupt: %s; cannot move it aside: %s; starting "
			    "empty, the next save replaces it",
			    name, what, why, strerror(-ret));
	}
	return ret;
}

int sectx_state_remove_temps(int dirfd, const char *name)
{
	size_t nlen = strlen(name);
	struct dirent *de;
	DIR *dir;
	int fd, removed = 0;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	dir = fdopendir(fd);
	if (dir == NULL) {
		int err = errno;

		close(fd);
		return -err;
	}
	while ((de = readdir(dir)) != NULL) {
		const char *d = de->d_name;
		struct stat st;

		/* exactly "." NAME "." and six characters: atomic_file's temp name */
		if (d[0] != '.' || strncmp(d + 1, name, nlen) != 0 || d[1 + nlen] != '.' ||
		    strlen(d + 2 + nlen) != 6) {
			continue;
		}
		if (fstatat(dirfd, d, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		if (unlinkat(dirfd, d, 0) == 0) {
			SECTX_INFO("removed %s, left by an interrupted save of %s", d, name);
			removed++;
		}
	}
	closedir(dir);
	return removed;
}

int sectx_state_load(TALLOC_CTX *mem_ctx, int dirfd, const char *name, const char *what,
		     uint32_t kind, uint32_t max_version, size_t max_payload, uint8_t **payload,
		     size_t *len, uint32_t *version)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	char why[160] = "";
	const uint8_t *body = NULL;
	char *data = NULL;
	size_t data_len = 0, body_len = 0;
	uint32_t ver = 0;
	struct stat st;
	uint8_t *copy;
	int ret;

	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	if (max_payload > SECTX_STATE_PAYLOAD_MAX) {
		max_payload = SECTX_STATE_PAYLOAD_MAX;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		ret = -errno;
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
		ret = -EBADMSG;
		goto done;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 07777 & ~(mode_t)SECTX_STATE_FILE_MODE) != 0) {
		snprintf(why, sizeof(why), "owner uid %u mode %04o (expected uid %u, at most %04o)",
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid(),
			 (unsigned)SECTX_STATE_FILE_MODE);
		ret = -EBADMSG;
		goto done;
	}
	ret = sectx_read_file_at(tmp_ctx, dirfd, name, SECTX_STATE_HDR_LEN + max_payload, &data,
				 &data_len);
	if (ret == -EFBIG) {
		snprintf(why, sizeof(why), "larger than %zu bytes",
			 SECTX_STATE_HDR_LEN + max_payload);
		ret = -EBADMSG;
		goto done;
	}
	if (ret == -ELOOP || ret == -EINVAL) {
		snprintf(why, sizeof(why), "not a regular file");
		ret = -EBADMSG;
		goto done;
	}
	if (ret != 0) {
		goto done;
	}
	ret = sectx_state_decode((const uint8_t *)data, data_len, kind, max_version, max_payload,
				 &body, &body_len, &ver, why, sizeof(why));
	if (ret != 0) {
		goto done;
	}
	copy = talloc_array(tmp_ctx, uint8_t, body_len + 1);
	if (copy == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	if (body_len > 0) {
		memcpy(copy, body, body_len);
	}
	copy[body_len] = '\0';
	*payload = talloc_steal(mem_ctx, copy);
	*len = body_len;
	*version = ver;
	ret = 0;
done:
	if (ret == -EBADMSG) {
		(void)sectx_state_move_aside(dirfd, name, what, why); /* logs either way */
	}
	talloc_free(tmp_ctx);
	return ret;
}
