/*
 * fuzz_static_files.c - libFuzzer harness for the identity store's users
 * and groups files (helper/identity/static_files.c, through the store's
 * public entry point id_store_load_static).  The files are root's, but every
 * line becomes index keys, passwd fields and log lines: a line must be
 * served whole or refused with a problem, never crash or half-load.
 *
 * Input: one byte of options (fully qualified names, min_id, which files,
 * whether to publish), then the users file, a NUL, the groups file (a
 * second NUL stays in the groups file: a file with a NUL is refused whole).
 * Both are written to a scratch directory (0600, ours) and loaded.  Then:
 *   - every static user is found by its principal, its display name and its
 *     uid, and every static group by its name and gid, with ids above
 *     min_id and never 0, and fields that id_field_ok accepts;
 *   - every member's groups include the group;
 *   - enumeration ends, visiting each static user once;
 *   - with the publish option, the store is written as an NSS cache file
 *     (as the publisher does) and the libc-only reader finds every user and
 *     group there with the same ids: a line the store serves, NSS serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <talloc.h>

#include "fuzz_util.h"
#include "identity/identity_int.h"
#include "identity/nss_cache_writer.h"
#include "nss_cache.h"

#define REALM "EXAMPLE.COM"
#define NOW   1700000000

static struct sectx_config *cfg;
static int dfd = -1;
static char users_path[512], groups_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_dir_make();

	(void)argc;
	(void)argv;
	if (sectx_config_defaults(NULL, &cfg) != 0) {
		abort();
	}
	snprintf(users_path, sizeof(users_path), "%s/users", dir);
	snprintf(groups_path, sizeof(groups_path), "%s/groups", dir);
	cfg->identity.enumerate = true;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		abort();
	}
	return 0;
}

static int add_gid(void *arg, gid_t gid)
{
	const gid_t *want = arg;

	if (gid == *want) {
		*(gid_t *)arg = 0; /* found */
	}
	return 0;
}

/* Publish st as an NSS cache and read every static entry back. */
static void publish_and_read(struct id_store *st, TALLOC_CTX *mem)
{
	struct nss_cache_builder *b = NULL;
	struct sectx_nss_cache_map m;
	static char buf[256 * 1024];
	struct passwd pw;
	struct group gr;
	size_t i, size = 0;
	int ret;

	FUZZ_CHECK(nss_cache_builder_new(mem, 0, &b) == 0);
	ret = id_store_build_cache(st, b, NOW);
	/* every entry the store serves fits the cache */
	FUZZ_CHECK(ret == 0);
	FUZZ_CHECK(nss_cache_write(b, dfd, "cache", 1, NOW, &size) == 0);
	FUZZ_CHECK(nss_cache_map_file(dfd, "cache", &m) == 0);
	for (i = 0; i < st->n_static_users; i++) {
		const struct id_user *u = st->static_users[i];

		FUZZ_CHECK(sectx_nss_cache_getpwnam(&m, u->display, NOW, &pw, buf, sizeof(buf)) ==
			   SECTX_NSS_CACHE_HIT);
		FUZZ_CHECK(pw.pw_uid == u->uid && pw.pw_gid == u->gid);
		FUZZ_CHECK(strcmp(pw.pw_name, u->display) == 0 && strcmp(pw.pw_dir, u->home) == 0);
		FUZZ_CHECK(sectx_nss_cache_getpwuid(&m, u->uid, NOW, &pw, buf, sizeof(buf)) ==
			   SECTX_NSS_CACHE_HIT);
		FUZZ_CHECK(pw.pw_uid == u->uid && strcmp(pw.pw_name, u->display) == 0);
		if (u->alias != NULL) {
			FUZZ_CHECK(sectx_nss_cache_getpwnam(&m, u->alias, NOW, &pw, buf,
							    sizeof(buf)) == SECTX_NSS_CACHE_HIT);
			FUZZ_CHECK(pw.pw_uid == u->uid);
		}
	}
	for (i = 0; i < st->n_static_groups; i++) {
		const struct id_group *g = st->static_groups[i];
		size_t k;

		FUZZ_CHECK(sectx_nss_cache_getgrnam(&m, g->name, NOW, &gr, buf, sizeof(buf)) ==
			   SECTX_NSS_CACHE_HIT);
		FUZZ_CHECK(gr.gr_gid == g->gid);
		for (k = 0; k < g->nmem; k++) {
			FUZZ_CHECK(gr.gr_mem[k] != NULL &&
				   strcmp(gr.gr_mem[k], g->members[k]) == 0);
		}
		FUZZ_CHECK(gr.gr_mem[g->nmem] == NULL);
		FUZZ_CHECK(sectx_nss_cache_getgrgid(&m, g->gid, NOW, &gr, buf, sizeof(buf)) ==
			   SECTX_NSS_CACHE_HIT);
		for (k = 0; k < g->nmem; k++) {
			gid_t want = g->gid;

			FUZZ_CHECK(sectx_nss_cache_initgroups(&m, g->members[k], NOW, add_gid,
							      &want) == SECTX_NSS_CACHE_HIT);
			FUZZ_CHECK(want == 0);
		}
	}
	nss_cache_unmap(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);
	const uint8_t *nul = in.n > 0 ? memchr(in.p, '\0', in.n) : NULL;
	size_t ulen = nul != NULL ? (size_t)(nul - in.p) : in.n;
	size_t glen = nul != NULL ? in.n - ulen - 1 : 0;
	struct id_store *st = NULL;
	struct id_lookup lk;
	char why[512] = "";
	size_t i, k;
	int ret;

	cfg->identity.use_fully_qualified_names = opt & 1;
	cfg->identity.min_id = opt & 2 ? 1000 : 1;
	cfg->identity.id_range = opt & 2 ? "200000-2000200000" : "1-2000200000";
	cfg->identity.users_file = opt & 4 ? "" : users_path;
	cfg->identity.groups_file = opt & 8 ? "" : groups_path;
	FUZZ_CHECK(fuzz_write_file(dfd, "users", in.p, ulen) == 0);
	FUZZ_CHECK(fuzz_write_file(dfd, "groups", nul != NULL ? nul + 1 : in.p, glen) == 0);
	FUZZ_CHECK(id_store_new(mem, cfg, opt & 16 ? "" : REALM, &st) == 0);

	ret = id_store_load_static(st, why, sizeof(why));
	FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	if (ret != 0) {
		/* only a file with a NUL is refused whole here */
		FUZZ_CHECK(ret == -EINVAL && strstr(why, "NUL") != NULL);
		goto done;
	}
	FUZZ_CHECK(st->n_problems <= ID_MAX_PROBLEMS);
	for (i = 0; i < st->n_static_users; i++) {
		const struct id_user *u = st->static_users[i];

		FUZZ_CHECK(u->is_static && u->uid != 0 && u->gid != 0);
		FUZZ_CHECK(u->uid >= st->min_id && u->gid >= st->min_id);
		FUZZ_CHECK(id_field_ok(u->gecos, ID_FIELD_MAX) &&
			   id_field_ok(u->home, ID_FIELD_MAX) &&
			   id_field_ok(u->shell, ID_FIELD_MAX) && u->home[0] == '/');
		FUZZ_CHECK(id_store_user_by_name(st, u->principal, NOW, false, &lk) == ID_FOUND &&
			   lk.user == u);
		FUZZ_CHECK(id_store_user_by_name(st, u->display, NOW, false, &lk) == ID_FOUND &&
			   lk.user == u);
		FUZZ_CHECK(id_store_user_by_uid(st, u->uid, NOW, false, &lk) == ID_FOUND &&
			   lk.user == u);
		FUZZ_CHECK(id_store_user_at(st, (uint32_t)i, NOW) == u);
	}
	FUZZ_CHECK(id_store_user_at(st, (uint32_t)st->n_static_users, NOW) == NULL);
	for (i = 0; i < st->n_static_groups; i++) {
		const struct id_group *g = st->static_groups[i];

		FUZZ_CHECK(g->gid != 0 && g->gid >= st->min_id);
		FUZZ_CHECK(id_store_group_by_name(st, g->name, NOW, false, &lk) == ID_FOUND &&
			   lk.group == g);
		FUZZ_CHECK(id_store_group_by_gid(st, g->gid, NOW, false, &lk) == ID_FOUND &&
			   lk.group == g);
		for (k = 0; k < g->nmem; k++) {
			const uint32_t *gids = NULL;
			size_t n = 0, j;

			FUZZ_CHECK(id_store_groups_of(st, g->members[k], &gids, &n) == ID_FOUND);
			for (j = 0; j < n && gids[j] != g->gid; j++) {
			}
			FUZZ_CHECK(j < n);
		}
	}
	/* and the converse: a membership comes only from a group the store
	 * serves that lists the member (initgroups must not hand out the gid
	 * of a refused line) */
	for (i = 0; i < st->n_memberships; i++) {
		const struct membership *m = st->membership_list[i];
		struct id_name n;
		const char *display, *alias;

		FUZZ_CHECK(id_name_parse(m->principal, st->realm, &n) == 0);
		id_names_of(st, &n, &display, &alias);
		for (k = 0; k < m->n; k++) {
			size_t j;

			FUZZ_CHECK(id_store_group_by_gid(st, m->gids[k], NOW, false, &lk) ==
				   ID_FOUND);
			for (j = 0;
			     j < lk.group->nmem && strcmp(lk.group->members[j], display) != 0;
			     j++) {
			}
			FUZZ_CHECK(j < lk.group->nmem);
		}
	}
	if (opt & 32) {
		publish_and_read(st, mem);
	}
done:
	talloc_free(mem);
	return 0;
}
