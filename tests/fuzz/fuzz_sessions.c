/*
 * fuzz_sessions.c - libFuzzer harness for the sessions state file's body
 * (helper/sessions/sessions_file.c): the records of the sessions whose TGT
 * sectxd renews, read back at start.  The file lives in sectxd's own state
 * directory, but its bytes are read as untrusted: a body must load whole or
 * not at all (moved aside), never crash or leave a half-built registry.
 *
 * The first byte picks the way:
 *   bit 0   0: sectx_sessions_file_decode on the rest of the input, into an
 *           empty registry: refused, the registry is empty and the bad
 *           offset inside the body; accepted, every session is within its
 *           bounds, the list is well linked, and encoding it and decoding
 *           that gives the same sessions (and the same bytes again);
 *           1: the rest is the payload of a state file <dir>/sessions read
 *           by sectx_sessions_load, as sectxd does at start: afterwards the
 *           registry holds exactly what the decoder would have given, or
 *           nothing; saving it (sectx_sessions_save) and loading that gives
 *           the same sessions.
 * The ccache writer is never reached from these paths: its entry points
 * are doubles that abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <talloc.h>

#include "fuzz_util.h"
#include "ccache_writer/ccache_writer.h"
#include "core/state_file.h"
#include "sessions/sessions_int.h"

/* --- doubles: the ccache writer is not under test ------------------------------------------ */

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

/* --- the harness ------------------------------------------------------------------------------ */

static int dfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dfd = open(fuzz_dir_make(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		abort();
	}
	return 0;
}

static struct sectxd_renewal *registry(TALLOC_CTX *mem, int dirfd)
{
	struct sectxd_renewal *rn = talloc_zero(mem, struct sectxd_renewal);

	FUZZ_CHECK(rn != NULL);
	rn->dirfd = dirfd;
	return rn;
}

static void check_registry(const struct sectxd_renewal *rn)
{
	const struct renew_session *s, *t;
	size_t n = 0;

	FUZZ_CHECK(rn->n <= SECTX_RENEW_SESSIONS_MAX);
	FUZZ_CHECK(rn->head == NULL || rn->head->prev == NULL);
	for (s = rn->head; s != NULL; s = s->next) {
		FUZZ_CHECK(++n <= rn->n);
		FUZZ_CHECK(s->next == NULL || s->next->prev == s);
		FUZZ_CHECK(s->rn == rn && s->tgt == NULL && s->handle[0] == '\0');
		FUZZ_CHECK(strlen(s->id) == SESSION_ID_LEN);
		FUZZ_CHECK(s->user != NULL && strlen(s->user) <= SECTX_NAME_MAX);
		FUZZ_CHECK(s->service != NULL && strlen(s->service) <= SECTX_NAME_MAX);
		FUZZ_CHECK(s->rhost != NULL && strlen(s->rhost) <= SECTX_NAME_MAX);
		FUZZ_CHECK(s->ccache != NULL && strlen(s->ccache) <= SECTX_STRING_MAX);
		FUZZ_CHECK(s->principal != NULL && strlen(s->principal) <= SECTX_NAME_MAX);
		FUZZ_CHECK(s->uid != 0 && s->uid != (uid_t)-1 && s->gid != (gid_t)-1);
		FUZZ_CHECK(s->endtime >= 0 && s->renew_till >= 0);
		FUZZ_CHECK(s->n_groups <= SECTX_RENEW_GROUPS_MAX);
		FUZZ_CHECK(s->n_groups == 0 || talloc_array_length(s->groups) >= s->n_groups);
		for (t = rn->head; t != s; t = t->next) {
			FUZZ_CHECK(strcmp(t->id, s->id) != 0); /* one session per id */
		}
	}
	FUZZ_CHECK(n == rn->n);
}

static void check_same(const struct sectxd_renewal *a, const struct sectxd_renewal *b)
{
	const struct renew_session *s = a->head, *t = b->head;

	FUZZ_CHECK(a->n == b->n);
	for (; s != NULL && t != NULL; s = s->next, t = t->next) {
		FUZZ_CHECK(strcmp(s->id, t->id) == 0 && strcmp(s->user, t->user) == 0);
		FUZZ_CHECK(strcmp(s->service, t->service) == 0 && strcmp(s->rhost, t->rhost) == 0);
		FUZZ_CHECK(strcmp(s->ccache, t->ccache) == 0);
		FUZZ_CHECK(strcmp(s->principal, t->principal) == 0);
		FUZZ_CHECK(s->uid == t->uid && s->gid == t->gid && s->n_groups == t->n_groups);
		FUZZ_CHECK(s->n_groups == 0 ||
			   memcmp(s->groups, t->groups, s->n_groups * sizeof(gid_t)) == 0);
		FUZZ_CHECK(s->endtime == t->endtime && s->renew_till == t->renew_till);
		FUZZ_CHECK(s->done == t->done);
	}
	FUZZ_CHECK(s == NULL && t == NULL);
}

/* Encode rn, decode that into a new registry: the same sessions, and the
 * same bytes once more. */
static void round_trip(TALLOC_CTX *mem, const struct sectxd_renewal *rn)
{
	struct sectxd_renewal *back = registry(mem, -1);
	uint8_t *body = NULL, *again = NULL;
	size_t len = 0, len2 = 0, bad = 0;

	FUZZ_CHECK(sectx_sessions_file_encode(mem, rn, &body, &len) == 0);
	FUZZ_CHECK(sectx_sessions_file_decode(back, body, len, &bad) == 0);
	check_registry(back);
	check_same(rn, back);
	FUZZ_CHECK(sectx_sessions_file_encode(mem, back, &again, &len2) == 0);
	FUZZ_CHECK(len2 == len && (len == 0 || memcmp(again, body, len) == 0));
}

static void decode(TALLOC_CTX *mem, const uint8_t *p, size_t len)
{
	struct sectxd_renewal *rn = registry(mem, -1);
	size_t bad = (size_t)-1;
	int ret;

	ret = sectx_sessions_file_decode(rn, p, len, &bad);
	if (ret != 0) {
		FUZZ_CHECK(rn->n == 0 && rn->head == NULL && bad <= len);
		return;
	}
	check_registry(rn);
	round_trip(mem, rn);
}

static void load(TALLOC_CTX *mem, const uint8_t *p, size_t len, uint32_t version)
{
	struct sectxd_renewal *rn = registry(mem, dfd), *direct = registry(mem, -1);
	struct sectxd_renewal *again = registry(mem, dfd);
	size_t bad = 0;
	bool decodes = sectx_sessions_file_decode(direct, p, len, &bad) == 0;

	fuzz_dir_clear(dfd);
	FUZZ_CHECK(
	    sectx_state_save(dfd, SECTX_RENEW_FILE, SECTX_RENEW_FILE_KIND, version, p, len) == 0);
	sectx_sessions_load(rn);
	check_registry(rn);
	if (decodes && version >= 1 && version <= SECTX_RENEW_FILE_VERSION) {
		check_same(direct, rn);
	} else {
		FUZZ_CHECK(rn->n == 0);
	}
	sectx_sessions_save(rn);
	sectx_sessions_load(again);
	check_same(rn, again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);

	if (opt & 1) {
		load(mem, in.p, in.n, opt & 2 ? 2 : SECTX_RENEW_FILE_VERSION);
	} else {
		decode(mem, in.p, in.n);
	}
	talloc_free(mem);
	return 0;
}
