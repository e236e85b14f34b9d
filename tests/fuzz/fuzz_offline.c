/*
 * fuzz_offline.c - libFuzzer harness for the offline credential file's
 * body (sectx_offline_entry_decode, helper/offline/cache_file.c): one codec
 * frame per user holding the salted hash offline logins are checked
 * against.  Anyone who got a file into the state directory chooses these
 * bytes, so the decoder must take exactly one well-formed credential of the
 * user the file is named after, or refuse with a reason.
 *
 * The first byte picks:
 *   bit 0   the file name: 0, the name of the user the frame's CT_USER field
 *           names (so that a well-formed credential can be accepted); 1, a
 *           fixed name no user has;
 *   bit 1   also write what was accepted as its state file (through
 *           sectx_offline_entry_write, header, CRC and atomic replace) and
 *           read it back through sectx_state_load and the decoder.
 * A credential accepted is within every bound, and encodes to a body that
 * decodes to the same credential (and the same bytes once more).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <talloc.h>

#include "fuzz_util.h"
#include "core/state_file.h"
#include "offline/offline_int.h"
#include "proto.h"

#define CT_USER	       1 /* the frame's tag of the user name (cache_file.c) */
#define OFFLINE_KIND   SECTX_STATE_KIND('O', 'F', 'F', 'L')
#define OFFLINE_FORMAT 2u

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

static bool name_ok(const char *s)
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

static void check_entry(const struct offline_entry *e, const char *name)
{
	char expect[SECTX_OFFLINE_FILE_NAME_LEN + 1];

	FUZZ_CHECK(e->user != NULL && name_ok(e->user));
	FUZZ_CHECK(e->principal != NULL && name_ok(e->principal));
	FUZZ_CHECK(e->iterations >= SECTX_OFFLINE_ITER_MIN &&
		   e->iterations <= SECTX_OFFLINE_ITER_MAX);
	FUZZ_CHECK(e->stored > 0 && (uint64_t)e->stored <= (1ull << 40));
	FUZZ_CHECK(e->failures == 0 && e->next == NULL);
	sectx_offline_file_name(expect, e->user);
	FUZZ_CHECK(strcmp(expect, name) == 0);
}

static void check_same(const struct offline_entry *a, const struct offline_entry *b)
{
	FUZZ_CHECK(strcmp(a->user, b->user) == 0 && strcmp(a->principal, b->principal) == 0);
	FUZZ_CHECK(a->iterations == b->iterations && a->stored == b->stored);
	FUZZ_CHECK(memcmp(a->salt, b->salt, sizeof(a->salt)) == 0);
	FUZZ_CHECK(memcmp(a->hash, b->hash, sizeof(a->hash)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);
	char name[SECTX_OFFLINE_FILE_NAME_LEN + 1];
	struct offline_entry *e = NULL, *back = NULL, *again = NULL;
	uint8_t *body = NULL, *body2 = NULL, *payload = NULL;
	size_t len = 0, len2 = 0, plen = 0;
	uint32_t version = 0;
	const char *why = NULL;
	struct sectx_msg m;
	int ret;

	/* the file a user of the frame would have, or one nobody has */
	memset(name, '0', SECTX_OFFLINE_FILE_NAME_LEN);
	memcpy(name, SECTX_OFFLINE_FILE_PREFIX, 2);
	name[SECTX_OFFLINE_FILE_NAME_LEN] = '\0';
	if (!(opt & 1) && sectx_msg_parse(in.p, in.n, &m) == 0) {
		char user[SECTX_NAME_MAX + 1];

		if (sectx_msg_get_string(&m, CT_USER, user, sizeof(user), SECTX_NAME_MAX) == 0) {
			sectx_offline_file_name(name, user);
		}
	}

	ret = sectx_offline_entry_decode(mem, in.p, in.n, name, &e, &why);
	if (ret != 0) {
		FUZZ_CHECK(ret == -EINVAL && why != NULL && why[0] != '\0');
		goto done;
	}
	check_entry(e, name);
	FUZZ_CHECK(talloc_parent(e) == mem);

	/* encode, decode: the same credential, and the same bytes again */
	FUZZ_CHECK(sectx_offline_entry_encode(mem, e, &body, &len) == 0);
	FUZZ_CHECK(len <= SECTX_OFFLINE_FILE_MAX);
	FUZZ_CHECK(sectx_offline_entry_decode(mem, body, len, name, &back, &why) == 0);
	check_same(e, back);
	FUZZ_CHECK(sectx_offline_entry_encode(mem, back, &body2, &len2) == 0);
	FUZZ_CHECK(len2 == len && memcmp(body2, body, len) == 0);

	if (opt & 2) {
		struct sectx_offline *oc = talloc_zero(mem, struct sectx_offline);

		FUZZ_CHECK(oc != NULL);
		oc->dirfd = dfd;
		fuzz_dir_clear(dfd);
		FUZZ_CHECK(sectx_offline_entry_write(oc, e) == 0);
		FUZZ_CHECK(sectx_state_load(mem, dfd, name, "cached credential", OFFLINE_KIND,
					    OFFLINE_FORMAT, SECTX_OFFLINE_FILE_MAX, &payload, &plen,
					    &version) == 0);
		FUZZ_CHECK(version == OFFLINE_FORMAT && plen == len &&
			   memcmp(payload, body, len) == 0);
		FUZZ_CHECK(sectx_offline_entry_decode(mem, payload, plen, name, &again, &why) == 0);
		check_same(e, again);
	}
done:
	talloc_free(mem);
	return 0;
}
