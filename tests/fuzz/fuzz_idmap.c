/*
 * fuzz_idmap.c - libFuzzer harness for the id map state file's body: the
 * record reader (id_wire_map_next, helper/identity/wire.c) and the store's
 * loader (id_store_load_mappings, helper/identity/mappings.c) of both
 * payload versions (2: codec frames; 1: the text of older builds).  The
 * file sits in sectxd's own state directory, but whatever a crash, a disk
 * or a restore left there must load as a map, load empty (moved aside) or
 * be refused for its range: never a crash, never a mapping its hash does
 * not give.
 *
 * The first byte picks the way and the store:
 *   bit 0   0: the reader alone over the rest of the input: records come in
 *           order (a head, then at most its count of entries), each within
 *           its bounds; a body read to the end is encoded again with
 *           id_wire_map_encode and reads back as the same records;
 *           1: the rest is the payload of a state file <dir>/idmap, loaded
 *           by a store: every mapping loaded has the uid its principal
 *           hashes to; then a new principal is mapped, which saves the map
 *           (version 2), and a second store loading that file has the same
 *           mappings, shadowed alike;
 *   bit 1   payload version 1 (text) instead of 2;
 *   bit 2   a range of a thousand ids (the least id_range takes: collisions
 *           happen) instead of the default.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <talloc.h>

#include "fuzz_util.h"
#include "identity/identity_int.h"

#define REALM	    "EXAMPLE.COM"
#define NOW	    1700000000
#define SMALL_RANGE "200000-200999"
#define MAX_RECS    4096

static struct sectx_config *cfg;
static int dfd = -1;
static struct id_map_rec recs[MAX_RECS];
static struct id_user users[MAX_RECS];
static struct id_user *user_ptrs[MAX_RECS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sectx_config_defaults(NULL, &cfg) != 0) {
		abort();
	}
	cfg->identity.auto_id = true;
	dfd = open(fuzz_dir_make(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		abort();
	}
	return 0;
}

static void read_body(const uint8_t *p, size_t len, TALLOC_CTX *mem)
{
	struct id_map_reader r;
	struct id_map_rec rec;
	uint8_t *again = NULL;
	size_t n = 0, i, again_len = 0, entries = 0;
	uint32_t count = 0, min, max;
	int ret = 0;

	id_wire_map_reader_init(&r, p, len);
	while (!id_wire_map_done(&r)) {
		size_t before = r.cur.off;

		ret = id_wire_map_next(&r, &rec);
		if (ret != 0) {
			FUZZ_CHECK(ret < 0);
			break;
		}
		FUZZ_CHECK(r.cur.off > before && r.cur.off <= len); /* progress, in bounds */
		FUZZ_CHECK(memchr(rec.range, '\0', sizeof(rec.range)) != NULL);
		FUZZ_CHECK(memchr(rec.principal, '\0', sizeof(rec.principal)) != NULL);
		if (n == 0) {
			FUZZ_CHECK(rec.op == ID_OP_MAP_HEAD);
			FUZZ_CHECK(id_range_parse(rec.range, &min, &max) == 0);
			FUZZ_CHECK((uint64_t)rec.count <= (uint64_t)max - min + 1);
			count = rec.count;
		} else {
			FUZZ_CHECK(rec.op == ID_OP_MAP_ENTRY && rec.principal[0] != '\0');
			FUZZ_CHECK(++entries <= count);
		}
		if (n < MAX_RECS) {
			recs[n] = rec;
		}
		n++;
	}
	if (ret != 0 || n > MAX_RECS) {
		return;
	}
	/* read whole: the same records encoded again read back the same */
	FUZZ_CHECK(r.cur.off == len && n == entries + 1);
	for (i = 1; i < n; i++) {
		memset(&users[i], 0, sizeof(users[i]));
		users[i].principal = recs[i].principal;
		users[i].uid = recs[i].uid;
		user_ptrs[i - 1] = &users[i];
	}
	ret = id_wire_map_encode(mem, recs[0].range, user_ptrs, n - 1, &again, &again_len);
	if (ret != 0) {
		FUZZ_CHECK(ret == -ENOMEM);
		return;
	}
	id_wire_map_reader_init(&r, again, again_len);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(!id_wire_map_done(&r) && id_wire_map_next(&r, &rec) == 0);
		FUZZ_CHECK(rec.op == recs[i].op && rec.count == recs[i].count &&
			   rec.uid == recs[i].uid);
		FUZZ_CHECK(strcmp(rec.range, recs[i].range) == 0 &&
			   strcmp(rec.principal, recs[i].principal) == 0);
	}
	FUZZ_CHECK(id_wire_map_done(&r));
}

/* Every mapping of st has the uid its principal hashes to, and one not
 * shadowed is found by its uid (stale unless the realm just confirmed it). */
static void check_store(struct id_store *st)
{
	struct id_lookup lk;
	size_t i;

	for (i = 0; i < st->n_auto_users; i++) {
		const struct id_user *u = st->auto_users[i];

		FUZZ_CHECK(!u->is_static && u->uid == u->gid);
		FUZZ_CHECK(u->uid == id_auto_uid(u->principal, st->range_min, st->range_max));
		FUZZ_CHECK(u->uid >= st->range_min && u->uid <= st->range_max);
		if (!u->shadowed) {
			FUZZ_CHECK(id_store_user_by_uid(st, u->uid, NOW, true, &lk) == ID_FOUND &&
				   lk.user == u && lk.stale == (u->verified_until <= NOW));
		}
	}
}

static void load_file(const uint8_t *p, size_t len, uint8_t opt, TALLOC_CTX *mem)
{
	struct id_store *st = NULL, *st2 = NULL;
	char why[512] = "", name[32];
	size_t i, before;
	int ret;

	fuzz_dir_clear(dfd);
	FUZZ_CHECK(sectx_state_save(dfd, ID_MAPFILE, ID_MAPFILE_KIND, opt & 2 ? 1 : 2, p, len) ==
		   0);
	FUZZ_CHECK(id_store_new(mem, cfg, REALM, &st) == 0);
	ret = id_store_load_mappings(st, dfd, why, sizeof(why));
	FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	if (ret != 0) {
		FUZZ_CHECK(ret == -ESTALE && strstr(why, "id_range") != NULL);
		return;
	}
	check_store(st);
	/* map a new principal: the whole map is saved, and loads the same */
	before = st->n_auto_users;
	for (i = 0; i < 8 && st->n_auto_users == before; i++) {
		snprintf(name, sizeof(name), "fuzz-new-%zu", i);
		FUZZ_CHECK(id_store_check_result(st, name, true, NOW, dfd) == 0);
	}
	if (st->n_auto_users == before) {
		return; /* every candidate collided: nothing was saved */
	}
	check_store(st);
	FUZZ_CHECK(id_store_new(mem, cfg, REALM, &st2) == 0);
	FUZZ_CHECK(id_store_load_mappings(st2, dfd, why, sizeof(why)) == 0);
	FUZZ_CHECK(st2->n_auto_users == st->n_auto_users);
	for (i = 0; i < st->n_auto_users; i++) {
		FUZZ_CHECK(strcmp(st2->auto_users[i]->principal, st->auto_users[i]->principal) ==
			   0);
		FUZZ_CHECK(st2->auto_users[i]->uid == st->auto_users[i]->uid);
		FUZZ_CHECK(st2->auto_users[i]->shadowed == st->auto_users[i]->shadowed);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);

	cfg->identity.id_range = opt & 4 ? SMALL_RANGE : "200000-2000200000";
	if (opt & 1) {
		load_file(in.p, in.n, opt, mem);
	} else {
		read_body(in.p, in.n, mem);
	}
	talloc_free(mem);
	return 0;
}
