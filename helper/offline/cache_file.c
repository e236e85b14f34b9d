/*
 * offline/cache_file.c - the per-user file of a cached credential: its name,
 * the encoding of its body, and reading the directory at start
 * (offline_int.h).
 *
 * Who reaches this: offline_cache.c only, which writes a user's file after a
 * store and reads them all at start; the bytes read are untrusted (anyone
 * who got a file into the directory), so they go through the codec's cursor
 * and nothing else.  It never writes a password: the body holds the hash,
 * its salt and KDF parameters, and the buffers that held them are scrubbed.
 *
 * Files: STATE_DIR/offline/u-<SHA-256 of the user name in hex>, one per
 * user, written and read through core/state_file.h (its header: kind "OFFL",
 * payload version 2, length, CRC-32C; replaced whole through atomic_file:
 * temp, fsync, rename, fsync dir), so a crash leaves the old file or the new
 * one.  A leftover temp file (".u-...") is removed at start; a file that
 * fails the header checks or does not decode is renamed to
 * NAME.corrupt-<time> with a log line and ignored, as is a file of payload
 * version 1 (the text format of earlier builds: its user logs in online once
 * and is cached again).  The payload is one frame of the common/proto codec
 * (header version RECORD_VERSION, op RECORD_OP, reqid 0) with exactly these
 * fields, each once:
 *
 *   CT_USER        string, the user name (printable, no spaces)
 *   CT_PRINCIPAL   string, NAME@REALM
 *   CT_KDF         string, "pbkdf2-hmac-sha512"
 *   CT_ITERATIONS  u32, SECTX_OFFLINE_ITER_MIN..SECTX_OFFLINE_ITER_MAX
 *   CT_SALT        bytes, SECTX_OFFLINE_SALT_LEN
 *   CT_HASH        bytes, SECTX_OFFLINE_HASH_LEN
 *   CT_STORED      u64, when it was stored (seconds since the epoch)
 */
#include "offline/offline_int.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "core/state_file.h"

#define STATE_KIND     SECTX_STATE_KIND('O', 'F', 'F', 'L')
#define FORMAT_VERSION 2u /* of the payload below the state_file header */
#define STATE_WHAT     "cached credential"
#define RECORD_VERSION 1u /* the frame's header version */
#define RECORD_OP      1u /* the frame's "op": a cached credential */
#define KDF_NAME_MAX   64u
#define STORED_MAX     (1ull << 40) /* seconds: far beyond any clock */

_Static_assert(SECTX_OFFLINE_FILE_NAME_LEN == 2 + 2 * SHA256_DIGEST_LENGTH,
	       "a file name is u- and a SHA-256 in hex");

/* Tags of a cached-credential frame.  Part of the file format: never reuse. */
enum cred_tag {
	CT_USER = 1,
	CT_PRINCIPAL = 2,
	CT_KDF = 3,
	CT_ITERATIONS = 4,
	CT_SALT = 5,
	CT_HASH = 6,
	CT_STORED = 7,
};

static void hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void sectx_offline_file_name(char out[SECTX_OFFLINE_FILE_NAME_LEN + 1], const char *user)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)user, strlen(user), digest);
	memcpy(out, SECTX_OFFLINE_FILE_PREFIX, 2);
	hex_encode(out + 2, digest, sizeof(digest));
}

/* A name or principal in a file: printable, no spaces, bounded. */
static bool valid_field(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SECTX_NAME_MAX) {
		return false;
	}
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
			return false;
		}
	}
	return true;
}

int sectx_offline_entry_encode(TALLOC_CTX *mem_ctx, const struct offline_entry *e, uint8_t **out,
			       size_t *out_len)
{
	const size_t cap = SECTX_OFFLINE_FILE_MAX;
	struct sectx_wbuf w;
	uint8_t *buf;
	size_t len = 0;
	int ret;

	if (!valid_field(e->user) || !valid_field(e->principal)) {
		return -EINVAL;
	}
	buf = talloc_size(mem_ctx, cap);
	if (buf == NULL) {
		return -ENOMEM;
	}
	sectx_frame_begin(&w, buf, cap, RECORD_VERSION, RECORD_OP, 0);
	sectx_put_string(&w, CT_USER, e->user);
	sectx_put_string(&w, CT_PRINCIPAL, e->principal);
	sectx_put_string(&w, CT_KDF, SECTX_OFFLINE_KDF_NAME);
	sectx_put_u32(&w, CT_ITERATIONS, e->iterations);
	sectx_put_bytes(&w, CT_SALT, e->salt, sizeof(e->salt));
	sectx_put_bytes(&w, CT_HASH, e->hash, sizeof(e->hash));
	sectx_put_u64(&w, CT_STORED, (uint64_t)e->stored);
	ret = sectx_frame_end(&w, &len);
	if (ret != 0) {
		explicit_bzero(buf, cap);
		talloc_free(buf);
		return ret == SECTX_ERR_TOOBIG ? -EFBIG : -EINVAL;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

/* Is every field of m one of ours?  (Each tag at most once is checked by
 * the getters.)  A field we do not know is refused, not skipped: the
 * payload version says what a file may hold. */
static bool known_fields_only(const struct sectx_msg *m)
{
	struct sectx_cur cur;

	sectx_cur_init(&cur, m->fields, m->fields_len);
	while (sectx_cur_left(&cur) > 0) {
		const uint8_t *value = NULL;
		uint16_t tag = 0;
		uint32_t len = 0;

		if (sectx_cur_get_u16(&cur, &tag) != 0 || sectx_cur_get_u32(&cur, &len) != 0 ||
		    sectx_cur_get_bytes(&cur, len, &value) != 0) {
			return false; /* sectx_msg_parse checked this already */
		}
		if (tag < CT_USER || tag > CT_STORED) {
			return false;
		}
	}
	return true;
}

/* A string field that must be a valid name into a new talloc string. */
static int get_name(TALLOC_CTX *mem_ctx, const struct sectx_msg *m, uint16_t tag, char **out)
{
	char buf[SECTX_NAME_MAX + 1];

	if (sectx_msg_get_string(m, tag, buf, sizeof(buf), SECTX_NAME_MAX) != 0 ||
	    !valid_field(buf)) {
		return -EINVAL;
	}
	*out = talloc_strdup(mem_ctx, buf);
	return *out != NULL ? 0 : -ENOMEM;
}

/* Exactly n bytes of field tag into out. */
static int get_fixed(const struct sectx_msg *m, uint16_t tag, uint8_t *out, size_t n)
{
	const uint8_t *p = NULL;
	size_t len = 0;

	if (sectx_msg_get_bytes(m, tag, &p, &len) != 0 || len != n) {
		return -EINVAL;
	}
	memcpy(out, p, n);
	return 0;
}

int sectx_offline_entry_decode(TALLOC_CTX *mem_ctx, const uint8_t *payload, size_t len,
			       const char *name, struct offline_entry **out, const char **why)
{
	char expect[SECTX_OFFLINE_FILE_NAME_LEN + 1], kdf[KDF_NAME_MAX + 1];
	struct offline_entry *e = NULL;
	struct sectx_msg m;
	uint32_t iterations = 0;
	uint64_t stored = 0;
	int ret = -EINVAL;

	if (len > SECTX_OFFLINE_FILE_MAX) {
		*why = "too big";
		goto done;
	}
	if (sectx_msg_parse(payload, len, &m) != 0) {
		*why = "not one well-formed record";
		goto done;
	}
	if (m.hdr.version != RECORD_VERSION || m.hdr.op != RECORD_OP || m.hdr.reqid != 0) {
		*why = "not a cached-credential record";
		goto done;
	}
	if (!known_fields_only(&m)) {
		*why = "an unknown field";
		goto done;
	}
	e = sectx_offline_entry_new(mem_ctx);
	if (e == NULL) {
		ret = -ENOMEM;
		*why = "out of memory";
		goto done;
	}
	if ((ret = get_name(e, &m, CT_USER, &e->user)) != 0) {
		*why = ret == -ENOMEM ? "out of memory" : "no valid user";
		goto done;
	}
	if ((ret = get_name(e, &m, CT_PRINCIPAL, &e->principal)) != 0) {
		*why = ret == -ENOMEM ? "out of memory" : "no valid principal";
		goto done;
	}
	ret = -EINVAL;
	if (sectx_msg_get_string(&m, CT_KDF, kdf, sizeof(kdf), KDF_NAME_MAX) != 0 ||
	    strcmp(kdf, SECTX_OFFLINE_KDF_NAME) != 0) {
		*why = "no KDF or an unknown one";
		goto done;
	}
	if (sectx_msg_get_u32(&m, CT_ITERATIONS, &iterations) != 0 ||
	    iterations < SECTX_OFFLINE_ITER_MIN || iterations > SECTX_OFFLINE_ITER_MAX) {
		*why = "iterations missing or out of range";
		goto done;
	}
	e->iterations = iterations;
	if (get_fixed(&m, CT_SALT, e->salt, sizeof(e->salt)) != 0) {
		*why = "no salt of the right length";
		goto done;
	}
	if (get_fixed(&m, CT_HASH, e->hash, sizeof(e->hash)) != 0) {
		*why = "no hash of the right length";
		goto done;
	}
	if (sectx_msg_get_u64(&m, CT_STORED, &stored) != 0 || stored == 0 || stored > STORED_MAX) {
		*why = "bad time stored";
		goto done;
	}
	e->stored = (time_t)stored;
	sectx_offline_file_name(expect, e->user);
	if (strcmp(expect, name) != 0) {
		*why = "its user does not match its name";
		goto done;
	}
	*out = e;
	e = NULL;
	ret = 0;
done:
	talloc_free(e);
	return ret;
}

int sectx_offline_entry_write(struct sectx_offline *oc, const struct offline_entry *e)
{
	char name[SECTX_OFFLINE_FILE_NAME_LEN + 1];
	uint8_t *payload = NULL;
	size_t len = 0;
	int ret;

	sectx_offline_file_name(name, e->user);
	ret = sectx_offline_entry_encode(NULL, e, &payload, &len);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_state_save(oc->dirfd, name, STATE_KIND, FORMAT_VERSION, payload, len);
	explicit_bzero(payload, len);
	talloc_free(payload);
	return ret;
}

/* Read one file of the directory into oc's table; a file that is not a
 * credential is moved aside.  -ENOMEM stops the load; anything else is
 * logged here and returns 0. */
static int load_one(struct sectx_offline *oc, const char *name, size_t *loaded)
{
	struct offline_entry *e = NULL;
	const char *why = NULL;
	uint8_t *payload = NULL;
	uint32_t version = 0;
	size_t len = 0;
	int ret;

	/* header, version, CRC: a file failing them is moved aside there */
	ret = sectx_state_load(oc, oc->dirfd, name, STATE_WHAT, STATE_KIND, FORMAT_VERSION,
			       SECTX_OFFLINE_FILE_MAX, &payload, &len, &version);
	if (ret == -EBADMSG) {
		return 0;
	}
	if (ret == 0 && version != FORMAT_VERSION) {
		ret = -EINVAL;
		why = "payload version 1 (text) is no longer read; the next online login caches "
		      "the credential again";
	} else if (ret == 0) {
		ret = sectx_offline_entry_decode(oc, payload, len, name, &e, &why);
	} else {
		why = strerror(-ret);
	}
	if (payload != NULL) {
		explicit_bzero(payload, len);
		talloc_free(payload);
	}
	if (ret == -ENOMEM) {
		return ret;
	}
	if (ret == -EINVAL) {
		(void)sectx_state_move_aside(oc->dirfd, name, STATE_WHAT, why);
		return 0;
	}
	if (ret != 0) {
		SECTX_ERROR("cannot read cached credential %s: %s", name, why);
		return 0;
	}
	if (!sectx_offline_entry_add(oc, e)) {
		talloc_free(e);
		return 0;
	}
	(*loaded)++;
	return 0;
}

/* Read every cached credential of the directory. */
static void cache_load(struct sectx_offline *oc)
{
	struct dirent *de;
	DIR *dir;
	int fd = dup(oc->dirfd);
	size_t loaded = 0;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		SECTX_ERROR("cannot list cached credentials: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.') {
			/* "." and "..", or a temp file of a write a crash interrupted */
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			    unlinkat(oc->dirfd, de->d_name, 0) == 0) {
				SECTX_INFO("removed %s, left by an interrupted write", de->d_name);
			}
			continue;
		}
		if (strlen(de->d_name) != SECTX_OFFLINE_FILE_NAME_LEN ||
		    strncmp(de->d_name, SECTX_OFFLINE_FILE_PREFIX, 2) != 0) {
			continue; /* moved aside earlier, or not ours */
		}
		if (load_one(oc, de->d_name, &loaded) == -ENOMEM) {
			SECTX_ERROR("cannot load cached credentials: out of memory");
			break;
		}
	}
	closedir(dir);
	SECTX_INFO("offline logins: %zu cached credential%s loaded", loaded,
		   loaded == 1 ? "" : "s");
}

void sectx_offline_cache_open(struct sectx_offline *oc)
{
	const struct sectx_config *cfg = oc->hctx->cfg;
	char *path = talloc_asprintf(oc, "%s/%s", cfg->sectxd.state_dir, SECTX_OFFLINE_DIR);
	int fd;

	if (path == NULL) {
		return;
	}
	fd = sectx_state_dir_open(cfg->sectxd.state_dir);
	if (fd >= 0) {
		close(fd);
		fd = sectx_state_dir_open(path);
	}
	if (fd < 0) {
		SECTX_ERROR("offline logins disabled: cannot use %s (must be owned by uid %u, mode "
			    "0700): %s",
			    path, (unsigned)geteuid(), strerror(-fd));
		talloc_free(path);
		return;
	}
	talloc_free(path);
	oc->dirfd = fd;
	oc->iterations = sectx_kdf_calibrate();
	SECTX_INFO("offline logins: PBKDF2-HMAC-SHA512 with %u iterations for new cached "
		   "credentials (%s)",
		   cfg->offline.kdf_iterations != 0 ? cfg->offline.kdf_iterations : oc->iterations,
		   cfg->offline.kdf_iterations != 0 ? "[offline] kdf_iterations"
						    : "calibrated to about 20 ms");
	cache_load(oc);
}
