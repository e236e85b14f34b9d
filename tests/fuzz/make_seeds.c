/*
 * make_seeds.c - writes the seed corpora of the fuzz targets (tests/fuzz/
 * corpus_TARGET/seed-*): small valid inputs made by the product's own
 * encoders, each prefixed with the option bytes its harness reads, so that
 * fuzzing starts from what sectxd and its peers really exchange.  Run by
 * `tests/fuzz/run --seeds`; the files are committed.  Regression inputs
 * (crash-* files) in the same directories are never touched.
 *
 * A development tool: it runs as the developer, writes only below the
 * directory it is given and a scratch directory it removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <talloc.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ccache_writer/ccache_writer_int.h"
#include "core/state_file.h"
#include "identity/identity_int.h"
#include "identity/nss_cache_writer.h"
#include "login/login_int.h"
#include "offline/offline_int.h"
#include "proto.h"
#include "sessions/sessions_int.h"

/* --- doubles: the sessions code links the ccache writer's API ----------------------------- */

struct tevent_req *sectx_writer_read_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					  struct sectx_writer *w,
					  const struct sectx_writer_user *who, const char *ccache,
					  bool want_tgt, int64_t deadline_ms)
{
	abort();
}
int sectx_writer_read_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, krb5_context kctx,
			   char **principal, krb5_creds **tgt)
{
	abort();
}
struct tevent_req *sectx_writer_rewrite_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_creds **creds, int64_t deadline_ms)
{
	abort();
}
int sectx_writer_store_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char **ccache_name)
{
	abort();
}
struct tevent_req *sectx_writer_destroy_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_const_principal principal, int64_t deadline_ms)
{
	abort();
}
int sectx_writer_destroy_recv(struct tevent_req *req)
{
	abort();
}

/* --- output --------------------------------------------------------------------------------- */

#define NOW	 1700000000
#define REALM	 "EXAMPLE.COM"
#define HANDLE_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *top;
static TALLOC_CTX *mem;
static uint8_t out[256 * 1024];
static size_t out_len;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "make_seeds: %s:%d: %s\n", __FILE__, __LINE__, #c);        \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static void put(const void *p, size_t n)
{
	CHECK(out_len + n <= sizeof(out));
	if (n > 0) {
		memcpy(out + out_len, p, n);
	}
	out_len += n;
}

static void put_u8(uint8_t v)
{
	put(&v, 1);
}

static void put_be32(uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(b, 4);
}

/* Write what was put as corpus_target/seed-name, and start again. */
static void seed(const char *target, const char *name)
{
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/corpus_%s", top, target);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/corpus_%s/seed-%s", top, target, name);
	fp = fopen(path, "wb");
	CHECK(fp != NULL);
	CHECK(fwrite(out, 1, out_len, fp) == out_len);
	CHECK(fclose(fp) == 0);
	out_len = 0;
}

/* A frame built field by field into out (appended). */
static struct sectx_wbuf fw;
static uint8_t frame[SECTX_FRAME_MAX];

static void frame_start(uint16_t version, uint16_t op, uint32_t reqid)
{
	sectx_frame_begin(&fw, frame, sizeof(frame), version, op, reqid);
}

static void frame_put(void)
{
	size_t len = 0;

	CHECK(sectx_frame_end(&fw, &len) == 0);
	put(frame, len);
}

/* --- the codec ------------------------------------------------------------------------------ */

static void seeds_proto(void)
{
	frame_start(SECTX_PROTO_VERSION, SECTX_OP_NSS_GETPWNAM | SECTX_OP_REPLY, 7);
	sectx_put_u32(&fw, SECTX_TAG_STATUS, SECTX_OK);
	sectx_put_string(&fw, SECTX_TAG_NAME, "alice");
	sectx_put_u32(&fw, SECTX_TAG_UID, 1000);
	sectx_put_u32(&fw, SECTX_TAG_GID, 1000);
	sectx_put_string(&fw, SECTX_TAG_GECOS, "Alice \xc3\xa9");
	sectx_put_string(&fw, SECTX_TAG_HOME, "/home/alice");
	sectx_put_string(&fw, SECTX_TAG_SHELL, "/bin/bash");
	sectx_put_u32(&fw, SECTX_TAG_TTL, 60);
	frame_put();
	seed("proto", "getpwnam-reply");

	frame_start(SECTX_PROTO_VERSION, SECTX_OP_NSS_GETGRNAM | SECTX_OP_REPLY, 8);
	sectx_put_u32(&fw, SECTX_TAG_STATUS, SECTX_OK);
	sectx_put_string(&fw, SECTX_TAG_NAME, "staff");
	sectx_put_u32(&fw, SECTX_TAG_GID, 5000);
	sectx_put_string(&fw, SECTX_TAG_MEMBER, "alice");
	sectx_put_string(&fw, SECTX_TAG_MEMBER, "bob");
	sectx_put_u64(&fw, SECTX_TAG_UPTIME, 123456789);
	frame_put();
	seed("proto", "getgrnam-reply");

	/* proto_rt: version op reqid cap n, then (kind, tag choice, tag, value) */
	put_be32(0x00010201);
	put_be32(42);
	put_be32(65536);
	put_u8(5);
	put_u8(0), put_u8(0), put_u8(1), put_be32(0);	       /* u32 tag 1 */
	put_u8(3), put_u8(1), put_u8(0x02), put_u8(0x01);      /* string tag 0x0201 */
	put_u8(0), put_u8(5), put("alice", 5);		       /*   len 5 */
	put_u8(2), put_u8(0), put_u8(2), put_u8(0), put_u8(3); /* bytes tag 2, len 3 */
	put("pw!", 3);					       /*   value */
	put_u8(1), put_u8(0), put_u8(3);		       /* u64 tag 3 */
	put_be32(1), put_be32(2);			       /*   value */
	put_u8(3), put_u8(0), put_u8(1), put_u8(0), put_u8(2); /* string tag 1 (again) */
	put("\xc3\xa9", 2);				       /*   "é" */
	put_be32(7), put_be32(0x12345678), put_be32(0);	       /* raw: u32, u64 */
	put_u8(200), put_u8(3), put("abc", 3);		       /* raw: cap, bytes */
	put_be32(9), put_u8(0x02), put_u8(0x01), put_u8(1);    /* reply: status, cap, msg */
	put_u8(0x02), put_u8(0x01), put_be32(42);	       /*   op, reqid */
	put_u8(0), put_u8(4), put("oops", 4);		       /*   message */
	seed("proto_rt", "mixed");
	put_be32(0x00010001);
	put_be32(1);
	put_be32(16);
	put_u8(2);
	put_u8(0), put_u8(0), put_u8(1), put_be32(0);
	put_u8(0), put_u8(0), put_u8(2), put_be32(0);
	seed("proto_rt", "too-small");
}

/* --- state files ---------------------------------------------------------------------------- */

static void seed_state_image(const char *name, const void *payload, size_t len, uint32_t version)
{
	uint8_t *img = NULL;
	size_t img_len = 0;

	CHECK(sectx_state_encode(mem, SECTX_STATE_KIND('F', 'U', 'Z', 'Z'), version, payload, len,
				 &img, &img_len) == 0);
	put(img, img_len);
	seed("state", name);
}

/* --- identity: static files, the id map, the messages, the NSS cache ------------------------ */

static const char users_txt[] = "# static users\n"
				"alice:1000:1000:Alice \xc3\xa9:/home/alice:/bin/bash\n"
				"bob@EXAMPLE.COM:1001:1001::/home/bob:/bin/sh\n"
				"svc/web@EXAMPLE.COM:1002:1002:a service:/srv/web:/sbin/nologin\n"
				"carol@OTHER.REALM:1003:1003:Carol:/home/carol:/bin/zsh\n"
				"  dave:1004:1004:Dave:/home/dave:/bin/bash  \r\n"
				"bad line\n";
static const char groups_txt[] = "staff:5000:alice,bob@EXAMPLE.COM,carol@OTHER.REALM\n"
				 "web:5001:svc/web@EXAMPLE.COM\n"
				 "empty:5002:\n"
				 "wheel:5003:alice,alice\n"
				 "# comment\n";

static void seeds_static_files(void)
{
	static const uint8_t opts[] = {0x00, 0x01, 0x20, 0x21, 0x02, 0x10};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(opts); i++) {
		put_u8(opts[i]);
		put(users_txt, strlen(users_txt));
		put_u8(0);
		put(groups_txt, strlen(groups_txt));
		snprintf(name, sizeof(name), "files-%02x", opts[i]);
		seed("static_files", name);
	}
	put_u8(0x20);
	put("x:1000:1000:x:/x:/x\n", 20);
	put_u8(0);
	put("g:1000:x\n", 9);
	seed("static_files", "small-published");
}

static void idmap_body(const char *range, const char *const *principals, size_t n, uint8_t **body,
		       size_t *len)
{
	struct id_user *users = talloc_zero_array(mem, struct id_user, n);
	struct id_user **ptrs = talloc_array(mem, struct id_user *, n);
	uint32_t min, max;
	size_t i;

	CHECK(id_range_parse(range, &min, &max) == 0);
	for (i = 0; i < n; i++) {
		users[i].principal = principals[i];
		users[i].uid = id_auto_uid(principals[i], min, max);
		ptrs[i] = &users[i];
	}
	CHECK(id_wire_map_encode(mem, range, ptrs, n, body, len) == 0);
}

static void seeds_idmap(void)
{
	static const char *const principals[] = {"alice@EXAMPLE.COM", "bob@EXAMPLE.COM",
						 "svc/web@EXAMPLE.COM", "carol@OTHER.REALM",
						 "alice@EXAMPLE.COM"};
	static const char *const ranges[] = {"200000-2000200000", "200000-200999"};
	uint8_t *body = NULL;
	size_t len = 0, r;
	char v1[1024];
	int n;

	for (r = 0; r < 2; r++) {
		uint32_t min, max;
		char name[32];

		idmap_body(ranges[r], principals, 5, &body, &len);
		put_u8(r == 0 ? 0x00 : 0x04); /* the reader */
		put(body, len);
		snprintf(name, sizeof(name), "read-%zu", r);
		seed("idmap", name);
		put_u8(r == 0 ? 0x01 : 0x05); /* the loader, version 2 */
		put(body, len);
		snprintf(name, sizeof(name), "load-v2-%zu", r);
		seed("idmap", name);
		if (r == 0) {
			seed_state_image("idmap-body", body, len, 2);
		}
		CHECK(id_range_parse(ranges[r], &min, &max) == 0);
		n = snprintf(v1, sizeof(v1),
			     "# sectx id map\nrange %s\nmap %u alice@EXAMPLE.COM\n"
			     "map %u bob@EXAMPLE.COM\nmap 5 wrong@EXAMPLE.COM\nmap x\n",
			     ranges[r], id_auto_uid("alice@EXAMPLE.COM", min, max),
			     id_auto_uid("bob@EXAMPLE.COM", min, max));
		put_u8(r == 0 ? 0x03 : 0x07); /* the loader, version 1 */
		put(v1, (size_t)n);
		snprintf(name, sizeof(name), "load-v1-%zu", r);
		seed("idmap", name);
	}
	idmap_body(ranges[0], principals, 0, &body, &len);
	put_u8(0x01);
	put(body, len);
	seed("idmap", "load-empty");
}

static void seeds_idwire(void)
{
	size_t len = 0;

	/* pick: message << 1 | 0 (decode), then how, reqid, max, the frame */
	put_u8(0 << 1), put_u8(1), put_be32(0), put_be32(64);
	CHECK(id_wire_published_encode(frame, sizeof(frame), 9, -ENOSPC, &len) == 0);
	put(frame, len);
	seed("idwire", "published");
	put_u8(1 << 1), put_u8(1), put_be32(0), put_be32(0);
	CHECK(id_wire_s4u_check_encode(frame, sizeof(frame), 10, "alice@EXAMPLE.COM", &len) == 0);
	put(frame, len);
	seed("idwire", "s4u-check");
	put_u8(2 << 1), put_u8(1), put_be32(0), put_be32(0);
	CHECK(id_wire_s4u_answer_encode(frame, sizeof(frame), 11, ID_S4U_ERROR,
					"KDC has no support for encryption type", &len) == 0);
	put(frame, len);
	seed("idwire", "s4u-answer");
	put_u8(3 << 1), put_u8(1), put_be32(0), put_be32(0);
	CHECK(id_wire_spawn_encode(frame, sizeof(frame), 12, &len) == 0);
	put(frame, len);
	seed("idwire", "spawn");
	put_u8(4 << 1), put_u8(1), put_be32(0), put_be32(0);
	CHECK(id_wire_spawned_encode(frame, sizeof(frame), 13, 4242, &len) == 0);
	put(frame, len);
	seed("idwire", "spawned");
	put_u8(5 << 1), put_u8(0), put_be32(0), put_be32(600);
	CHECK(id_wire_spawned_encode(frame, sizeof(frame), 13, 4242, &len) == 0);
	put(frame, len);
	seed("idwire", "frame-need");
	/* encoders: reqid, value, result, cap, a string */
	put_u8(2 << 1 | 1), put_be32(5), put_be32(1), put_be32(0), put_u8(2), put_u8(0);
	put_u8(0), put_u8(12), put("no such user", 12);
	seed("idwire", "encode-answer");
	put_u8(1 << 1 | 1), put_be32(5), put_be32(0), put_be32(0), put_u8(2), put_u8(0);
	put_u8(0), put_u8(5), put("alice", 5);
	seed("idwire", "encode-check");
}

static void seeds_nss_cache(void)
{
	static const char *const members[] = {"alice", "bob"};
	static const uint32_t gids[] = {5000, 5001};
	struct nss_cache_builder *b = NULL;
	struct nss_cache_user u = {.name = "alice",
				   .alias = "alice@EXAMPLE.COM",
				   .gecos = "Alice",
				   .home = "/home/alice",
				   .shell = "/bin/bash",
				   .principal = "alice@EXAMPLE.COM",
				   .uid = 1000,
				   .gid = 1000,
				   .expires = NOW + 3600,
				   .auto_mapped = true};
	struct nss_cache_user u2 = {.name = "bob",
				    .home = "/home/bob",
				    .shell = "/bin/sh",
				    .uid = 1001,
				    .gid = 1001,
				    .expires = NOW + 3600};
	struct nss_cache_group g = {
	    .name = "staff", .gid = 5000, .members = members, .nmem = 2, .expires = NOW + 3600};
	struct nss_cache_group g2 = {
	    .name = "alice", .alias = "alice@EXAMPLE.COM", .gid = 1000, .expires = NOW + 3600};
	const char *dir = fuzz_dir_make();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint8_t *file;
	size_t size = 0;
	int fd;

	CHECK(dfd >= 0);
	CHECK(nss_cache_builder_new(mem, 0x1234, &b) == 0);
	CHECK(nss_cache_add_user(b, &u) == 0 && nss_cache_add_user(b, &u2) == 0);
	CHECK(nss_cache_add_group(b, &g) == 0 && nss_cache_add_group(b, &g2) == 0);
	CHECK(nss_cache_add_membership(b, "alice", "alice@EXAMPLE.COM", gids, 2, NOW + 3600) == 0);
	CHECK(nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_NAME, "nobody", 0, NOW + 60) == 0);
	CHECK(nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_UID, NULL, 4242, NOW + 60) == 0);
	CHECK(nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_GID, NULL, 4343, NOW + 60) == 0);
	nss_cache_set_complete(b, SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_PW_UID), NOW + 60);
	CHECK(nss_cache_write(b, dfd, "cache", 7, NOW, &size) == 0);
	fd = openat(dfd, "cache", O_RDONLY);
	CHECK(fd >= 0);
	file = talloc_size(mem, size);
	CHECK(read(fd, file, size) == (ssize_t)size);
	close(fd);
	put_u8(0x00 | 3 << 1); /* buffer 1024 */
	put(file, size);
	seed("nss_cache", "cache");
	put_u8(0x01 | 1 << 1); /* patched header, buffer 24 */
	put(file, size);
	seed("nss_cache", "cache-small-buffer");
	put_u8(0x00 | 0 << 1 | 1 << 4); /* at time 0 */
	put(file, size);
	seed("nss_cache", "cache-time-0");
	close(dfd);
}

/* --- sessions, offline credentials ---------------------------------------------------------- */

static void seeds_sessions(void)
{
	struct sectxd_renewal *rn = talloc_zero(mem, struct sectxd_renewal);
	uint8_t *body = NULL;
	size_t len = 0, i, k;

	rn->dirfd = -1;
	for (k = 0; k < 3; k++) {
		struct renew_session *s = sectx_renew_session_new(rn);

		CHECK(s != NULL);
		for (i = 0; i < SESSION_ID_LEN; i++) {
			s->id[i] = "0123456789abcdef"[(k * 7 + i) % 16];
		}
		s->user = talloc_asprintf(s, "user%zu", k);
		s->service = talloc_strdup(s, "sshd");
		s->rhost = talloc_strdup(s, k == 1 ? "" : "192.0.2.7");
		s->ccache = talloc_asprintf(s, "FILE:/tmp/krb5cc_%zu_abc", 1000 + k);
		s->principal = talloc_asprintf(s, "user%zu@EXAMPLE.COM", k);
		s->uid = (uid_t)(1000 + k);
		s->gid = (gid_t)(100 + k);
		s->n_groups = k;
		s->groups = k > 0 ? talloc_array(s, gid_t, k) : NULL;
		for (i = 0; i < k; i++) {
			s->groups[i] = (gid_t)(5000 + i);
		}
		s->endtime = NOW + 36000;
		s->renew_till = NOW + 7 * 86400;
		s->done = k == 2;
	}
	CHECK(sectx_sessions_file_encode(mem, rn, &body, &len) == 0);
	put_u8(0x00);
	put(body, len);
	seed("sessions", "decode");
	put_u8(0x01);
	put(body, len);
	seed("sessions", "load");
	seed_state_image("sessions-body", body, len, 1);
}

static void seeds_offline(void)
{
	struct offline_entry *e = sectx_offline_entry_new(mem);
	uint8_t *body = NULL;
	size_t len = 0;

	CHECK(e != NULL);
	e->user = talloc_strdup(e, "alice");
	e->principal = talloc_strdup(e, "alice@EXAMPLE.COM");
	e->iterations = 210000;
	memset(e->salt, 0x5a, sizeof(e->salt));
	memset(e->hash, 0xa5, sizeof(e->hash));
	e->stored = NOW;
	CHECK(sectx_offline_entry_encode(mem, e, &body, &len) == 0);
	put_u8(0x00);
	put(body, len);
	seed("offline", "alice");
	put_u8(0x02);
	put(body, len);
	seed("offline", "alice-file");
	seed_state_image("offline-body", body, len, 2);
}

/* --- the PAM module's replies --------------------------------------------------------------- */

static void reply(uint32_t status, int result, const char *handle, const char *ccache,
		  const char *info, const char *error)
{
	/* op and reqid are the harness's to patch */
	frame_start(SECTX_PROTO_VERSION, 0, 0);
	if (info != NULL) {
		sectx_put_string(&fw, SECTX_TAG_USER_INFO, info);
	}
	sectx_put_u32(&fw, SECTX_TAG_STATUS, status);
	if (result >= 0) {
		sectx_put_u32(&fw, SECTX_TAG_PAM_RESULT, (uint32_t)result);
	}
	if (handle != NULL) {
		sectx_put_string(&fw, SECTX_TAG_HANDLE, handle);
	}
	if (ccache != NULL) {
		sectx_put_string(&fw, SECTX_TAG_CCACHE, ccache);
	}
	if (error != NULL) {
		sectx_put_string(&fw, SECTX_TAG_USER_ERROR, error);
	}
	if (status != SECTX_OK) {
		sectx_put_string(&fw, SECTX_TAG_MESSAGE, "helper says no");
	}
	frame_put();
}

static void seeds_pam(void)
{
	const char *cc = "FILE:/tmp/krb5cc_1000_XyZ123";

	/* a whole login: auth, acct, (chauthtok off), setcred, open, refresh,
	 * close, delete */
	put_u8(0x00), put_u8(0x06);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, HANDLE_A, NULL, "Welcome", NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, NULL, NULL, "Your password expires in 3 days");
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, cc, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, cc, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, cc, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, NULL, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, NULL, NULL, NULL);
	seed("pam_reply", "login");

	/* an expired password changed at login */
	put_u8(0x08), put_u8(0x0a);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, HANDLE_A, NULL, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_NEW_AUTHTOK_REQD, NULL, NULL, NULL, "Password expired");
	reply(SECTX_OK, SECTX_PAM_SUCCESS, HANDLE_A, NULL, "Password changed", NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, cc, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, cc, NULL, NULL);
	seed("pam_reply", "expired");

	/* a password change by `passwd` */
	put_u8(0x00), put_u8(0x08);
	reply(SECTX_OK, SECTX_PAM_AUTH_ERR, NULL, NULL, NULL, "Authentication failed");
	reply(SECTX_OK, SECTX_PAM_SUCCESS, NULL, NULL, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_AUTHTOK_ERR, NULL, NULL, NULL, "Password too short");
	seed("pam_reply", "passwd");

	/* refusals and errors */
	put_u8(0x20), put_u8(0x02);
	reply(SECTX_E_BUSY, -1, NULL, NULL, NULL, NULL);
	reply(SECTX_OK, SECTX_PAM_AUTHINFO_UNAVAIL, NULL, NULL, NULL, NULL);
	reply(SECTX_E_PERM, -1, NULL, NULL, NULL, NULL);
	seed("pam_reply", "refusals");
	put_u8(0x01), put_u8(0x02);
	reply(SECTX_OK, SECTX_PAM_AUTH_ERR, NULL, NULL, NULL, "Wrong password");
	reply(SECTX_OK, SECTX_PAM_SUCCESS, HANDLE_A, NULL, "second try", NULL);
	seed("pam_reply", "retry-silent");
}

/* --- private messages of the helper's children ---------------------------------------------- */

static void seeds_ccw(void)
{
	static const gid_t groups[] = {1000, 27, 100};
	static const struct sectx_writer_user who = {
	    .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 3, .name = "alice"};
	krb5_data cred = {.data = (char *)"\x01\x02\x03 a marshalled credential", .length = 28};
	krb5_data *creds[] = {&cred, &cred};
	struct job_msg m = {.op = WOP_STORE,
			    .reqid = 77,
			    .who = &who,
			    .ccache = "FILE:/tmp/krb5cc_%U_XXXXXX",
			    .deadline = 123456,
			    .creds = creds,
			    .n_creds = 2};
	static struct outcome o;
	size_t len = 0;

	put_u8(0);
	CHECK(ccw_job_encode(&m, frame, sizeof(frame), &len) == 0);
	put(frame, len);
	seed("ccw", "job-store");
	m.op = WOP_DESTROY;
	m.ccache = "FILE:/tmp/krb5cc_1000_abc";
	m.principal = "alice@EXAMPLE.COM";
	put_u8(0);
	CHECK(ccw_job_encode(&m, frame, sizeof(frame), &len) == 0);
	put(frame, len);
	seed("ccw", "job-destroy");
	m.op = WOP_READ;
	m.want_tgt = true;
	put_u8(0);
	CHECK(ccw_job_encode(&m, frame, sizeof(frame), &len) == 0);
	put(frame, len);
	seed("ccw", "job-read");

	memset(&o, 0, sizeof(o));
	snprintf(o.ccache, sizeof(o.ccache), "FILE:/tmp/krb5cc_1000_abc");
	snprintf(o.principal, sizeof(o.principal), "alice@EXAMPLE.COM");
	memcpy(o.cred, "a TGT", 5);
	o.cred_len = 5;
	put_u8(1), put_u8(4 | WOP_READ), put_be32(0);
	CHECK(ccw_outcome_encode(frame, sizeof(frame), WOP_READ, 78, &o, &len) == 0);
	put(frame, len);
	seed("ccw", "outcome-read");
	memset(&o, 0, sizeof(o));
	o.err = EACCES;
	snprintf(o.msg, sizeof(o.msg), "cannot create /tmp/x: Permission denied");
	put_u8(1), put_u8(4 | WOP_STORE), put_be32(0);
	CHECK(ccw_outcome_encode(frame, sizeof(frame), WOP_STORE, 79, &o, &len) == 0);
	put(frame, len);
	seed("ccw", "outcome-error");
	/* field recipes: op, reqid, uid, gid, groups, user, ccache, principal... */
	put_u8(2), put_u8(WOP_STORE), put_be32(1), put_be32(1000), put_be32(1000);
	put_u8(0), put_u8(2), put_be32(27), put_be32(100);
	put_u8(0), put_u8(5), put("alice", 5);
	put_u8(0), put_u8(9), put("FILE:/tmp", 9);
	put_u8(0), put_u8(0), put_u8(0);
	put_be32(0), put_be32(99), put_u8(1), put_u8(0), put_u8(1), put_u8(0), put_u8(4);
	put("cred", 4);
	seed("ccw", "fields-store");
	put_u8(3), put_u8(WOP_READ), put_be32(1), put_u8(0), put_u8(0);
	put_u8(0), put_u8(4), put("FILE", 4), put_u8(0), put_u8(3), put("err", 3);
	put_u8(0), put_u8(5), put("a@B.C", 5), put_u8(0), put_u8(3), put("tgt", 3);
	seed("ccw", "fields-outcome");
}

static void seeds_chpw(void)
{
	size_t len = 0;

	put_u8(0);
	CHECK(sectx_chpw_answer_encode(frame, sizeof(frame), 0, "Password changed", 16, &len) == 0);
	put(frame, len);
	seed("chpw", "changed");
	put_u8(0);
	CHECK(sectx_chpw_answer_encode(frame, sizeof(frame), 4, "Password too short\n", 19, &len) ==
	      0);
	put(frame, len);
	seed("chpw", "soft-error");
	put_u8(0);
	CHECK(sectx_chpw_answer_encode(frame, sizeof(frame), -1, "Cannot contact any KDC", 22,
				       &len) == 0);
	put(frame, len);
	seed("chpw", "no-answer");
	put_u8(1), put_be32(4), put_u8(0), put_u8(12), put("caf\xc3\xa9\x01 \xff text", 12);
	seed("chpw", "fields");
}

static void seeds_renew(void)
{
	static const uint8_t tgt[] = "\x00\x01 a marshalled TGT";
	size_t len = 0;

	put_u8(0);
	CHECK(sectx_renew_answer_encode(frame, sizeof(frame), 0, "", tgt, sizeof(tgt), &len) == 0);
	put(frame, len);
	seed("renew", "renewed");
	put_u8(0);
	CHECK(sectx_renew_answer_encode(frame, sizeof(frame), KRB5KDC_ERR_TGT_REVOKED,
					"TGT has been revoked", NULL, 0, &len) == 0);
	put(frame, len);
	seed("renew", "refused");
	put_u8(1), put_u8(1), put_u8(0), put_u8(6), put("fine\xc3\xa9", 6), put_be32(4);
	put("cred", 4);
	seed("renew", "fields");
}

static void seeds_kdc_frame(void)
{
	static const char asrep[] = "\x6b\x81\x20 an AS-REP, more or less";

	put_be32(0x12345);
	put_be32(sizeof(asrep));
	put(asrep, sizeof(asrep));
	seed("kdc_frame", "reply");
	put_be32(7);
	put_be32(0);
	seed("kdc_frame", "zero");
	put_be32(3);
	put_be32(0x80000010u);
	put("rest", 4);
	seed("kdc_frame", "top-bit");
	put_be32(1);
	put_be32(SECTX_KDC_REPLY_MAX);
	put("short", 5);
	seed("kdc_frame", "largest-cut");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds TESTS_FUZZ_DIR\n");
		return 2;
	}
	top = argv[1];
	mem = talloc_new(NULL);
	seeds_proto();
	seeds_static_files();
	seeds_idmap();
	seeds_idwire();
	seeds_nss_cache();
	seeds_sessions();
	seeds_offline();
	seeds_pam();
	seeds_ccw();
	seeds_chpw();
	seeds_renew();
	seeds_kdc_frame();
	talloc_free(mem);
	return 0;
}
