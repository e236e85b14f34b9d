/*
 * identity/static_files.c - the users and groups the sysadmin declares
 * ([identity] users_file and groups_file; format and rules in store.h): the
 * files are read whole, checked (regular, owned by root, writable only by
 * it, bounded), parsed line by line, and every line that breaks a rule is
 * refused, logged and kept as a problem for `sectxctl id-map` while the
 * other lines are served.
 *
 * Who reaches this: sectxd at start and reload, on paths from its own
 * config.  The files are root's, but a line is still checked before any
 * part of it becomes a key, a passwd field or a log line.  Must never: serve
 * id 0 or an id below min_id, follow a file writable by others, or stop at
 * a bad line.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nss_cache.h"

/* --- static files ----------------------------------------------------------------------------- */

/* Read an admin-written file: regular, owned by root (or us), not writable by
 * group or others, at most max bytes.  *data is NUL-terminated. */
static int read_admin_file(TALLOC_CTX *mem_ctx, const char *path, size_t max, char **data,
			   size_t *len, char *why, size_t whylen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022) != 0) {
		ret = -EPERM;
		snprintf(why, whylen,
			 "%s must be a regular file owned by root and writable only by its owner",
			 path);
		goto done;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
		goto done;
	}
	buf = talloc_size(mem_ctx, (size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = -ENOMEM;
		snprintf(why, whylen, "out of memory reading %s", path);
		goto done;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(why, whylen, "cannot read %s", path);
			goto done;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	ret = 0;
done:
	talloc_free(buf);
	close(fd);
	return ret;
}

/* Split line at ':' into exactly n fields (in place).  0 or -1. */
static int split_fields(char *line, char **f, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		f[i] = line;
		line = strchr(line, ':');
		if (line == NULL) {
			return i == n - 1 ? 0 : -1;
		}
		*line++ = '\0';
	}
	return -1; /* more fields than n */
}

/* A decimal id: digits only, 1..4294967294. */
static int parse_id(const char *s, uint32_t *id)
{
	unsigned long long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 10) {
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 4294967294ull) {
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

/* A group name as a static file may give it: the name rules without '/',
 * '@' or a realm. */
static bool group_name_ok(const char *s)
{
	struct id_name n;

	return strchr(s, '@') == NULL && id_name_parse(s, "X", &n) == 0;
}

static const char *id_refusal(const struct id_store *st, uint32_t id)
{
	if (id == 0) {
		return "id 0 is never served";
	}
	if (id < st->min_id) {
		return "id below min_id";
	}
	return NULL;
}

static void load_user_line(struct id_store *st, char *line, unsigned lineno)
{
	const char *file = st->users_file;
	struct id_name n;
	struct id_user *u;
	const char *why;
	uint32_t uid, gid;
	char *f[6];
	int i;

	if (split_fields(line, f, 6) != 0) {
		id_add_problem(st, "%s:%u: not NAME:UID:GID:GECOS:HOME:SHELL; line ignored", file,
			       lineno);
		return;
	}
	if (id_name_parse(f[0], st->realm, &n) != 0) {
		id_add_problem(st, "%s:%u: invalid user name or principal; line ignored", file,
			       lineno);
		return;
	}
	if (parse_id(f[1], &uid) != 0 || parse_id(f[2], &gid) != 0) {
		id_add_problem(st,
			       "%s:%u: %s: uid and gid must be numbers 1-4294967294; line ignored",
			       file, lineno, n.principal);
		return;
	}
	why = id_refusal(st, uid) != NULL ? id_refusal(st, uid) : id_refusal(st, gid);
	if (why != NULL) {
		id_add_problem(
		    st, "%s:%u: %s: uid %" PRIu32 " gid %" PRIu32 " refused (%s); line ignored",
		    file, lineno, n.principal, uid, gid, why);
		return;
	}
	for (i = 3; i < 6; i++) {
		if (!id_field_ok(f[i], ID_FIELD_MAX)) {
			id_add_problem(st,
				       "%s:%u: %s: gecos, home or shell has a control character or "
				       "is too long; line ignored",
				       file, lineno, n.principal);
			return;
		}
	}
	if (f[4][0] != '/') {
		id_add_problem(st, "%s:%u: %s: home must be an absolute path; line ignored", file,
			       lineno, n.principal);
		return;
	}
	if (id_ix_get(&st->user_by_principal, id_str_hash(st, n.principal), id_eq_user_principal,
		      n.principal) != NULL) {
		id_add_problem(st, "%s:%u: %s is declared twice; line ignored", file, lineno,
			       n.principal);
		return;
	}
	if (id_ix_get(&st->user_by_uid, id_hash(st, uid), id_eq_user_uid, &uid) != NULL) {
		id_add_problem(st, "%s:%u: %s: uid %" PRIu32 " is already used; line ignored", file,
			       lineno, n.principal, uid);
		return;
	}
	u = id_user_new(st, &n, uid, gid, f[3], f[4], f[5], true);
	if (u == NULL ||
	    id_append_ptr(st, (void ***)&st->static_users, &st->n_static_users, u) != 0 ||
	    id_ix_put(st, &st->user_by_principal, id_str_hash(st, u->principal), u) != 0 ||
	    id_ix_put(st, &st->user_by_uid, id_hash(st, uid), u) != 0 ||
	    id_mark_taken(st, uid) != 0 || id_mark_taken(st, gid) != 0) {
		id_add_problem(st, "%s:%u: out of memory; line ignored", file, lineno);
	}
}

static int add_membership(struct id_store *st, const char *principal, uint32_t gid)
{
	struct membership *m;
	size_t i;

	m = id_ix_get(&st->memberships, id_str_hash(st, principal), id_eq_membership, principal);
	if (m == NULL) {
		m = talloc_zero(st, struct membership);
		if (m == NULL || (m->principal = talloc_strdup(m, principal)) == NULL ||
		    id_ix_put(st, &st->memberships, id_str_hash(st, principal), m) != 0 ||
		    id_append_ptr(st, (void ***)&st->membership_list, &st->n_memberships, m) != 0) {
			return -ENOMEM;
		}
	}
	for (i = 0; i < m->n; i++) {
		if (m->gids[i] == gid) {
			return 0;
		}
	}
	if (m->n >= SECTX_NSS_CACHE_MAX_MEMBERS) {
		return -E2BIG;
	}
	m->gids = talloc_realloc(m, m->gids, uint32_t, m->n + 1);
	if (m->gids == NULL) {
		return -ENOMEM;
	}
	m->gids[m->n++] = gid;
	return 0;
}

static void load_group_line(struct id_store *st, char *line, unsigned lineno)
{
	const char *file = st->groups_file;
	struct id_group *g;
	const char *why;
	const char **principals = NULL; /* of the members, until all are checked */
	uint32_t gid;
	char *f[3], *mem, *next;
	size_t i;

	if (split_fields(line, f, 3) != 0) {
		id_add_problem(st, "%s:%u: not NAME:GID:MEMBER,MEMBER...; line ignored", file,
			       lineno);
		return;
	}
	if (!group_name_ok(f[0])) {
		id_add_problem(st, "%s:%u: invalid group name; line ignored", file, lineno);
		return;
	}
	if (parse_id(f[1], &gid) != 0) {
		id_add_problem(st,
			       "%s:%u: group %s: gid must be a number 1-4294967294; line ignored",
			       file, lineno, f[0]);
		return;
	}
	why = id_refusal(st, gid);
	if (why != NULL) {
		id_add_problem(st, "%s:%u: group %s: gid %" PRIu32 " refused (%s); line ignored",
			       file, lineno, f[0], gid, why);
		return;
	}
	if (id_ix_get(&st->group_by_name, id_str_hash(st, f[0]), id_eq_group_name, f[0]) != NULL ||
	    id_ix_get(&st->group_by_gid, id_hash(st, gid), id_eq_group_gid, &gid) != NULL) {
		id_add_problem(st,
			       "%s:%u: group %s or gid %" PRIu32 " is declared twice; line ignored",
			       file, lineno, f[0], gid);
		return;
	}
	g = talloc_zero(st, struct id_group);
	if (g == NULL || (g->name = talloc_strdup(g, f[0])) == NULL) {
		goto nomem;
	}
	g->gid = gid;
	/* members: validate all first, so a bad one refuses the whole line */
	for (mem = f[2]; mem != NULL && mem[0] != '\0'; mem = next) {
		struct id_name n;
		const char *display, *alias;

		next = strchr(mem, ',');
		if (next != NULL) {
			*next++ = '\0';
		}
		if (id_name_parse(mem, st->realm, &n) != 0) {
			id_add_problem(st, "%s:%u: group %s: invalid member name; line ignored",
				       file, lineno, g->name);
			talloc_free(g);
			return;
		}
		id_names_of(st, &n, &display, &alias);
		for (i = 0; i < g->nmem; i++) {
			if (strcmp(g->members[i], display) == 0) {
				break;
			}
		}
		if (i < g->nmem) {
			continue; /* listed twice: once is enough */
		}
		if (g->nmem >= SECTX_NSS_CACHE_MAX_MEMBERS) {
			id_add_problem(st, "%s:%u: group %s has too many members; line ignored",
				       file, lineno, g->name);
			talloc_free(g);
			return;
		}
		g->members = talloc_realloc(g, g->members, const char *, g->nmem + 1);
		if (g->members == NULL ||
		    (g->members[g->nmem] = talloc_strdup(g, display)) == NULL) {
			goto nomem;
		}
		g->nmem++;
		principals = talloc_realloc(g, principals, const char *, g->nmem);
		if (principals == NULL ||
		    (principals[g->nmem - 1] = talloc_strdup(principals, n.principal)) == NULL) {
			goto nomem;
		}
	}
	/* every member is valid: only now may they get the group */
	for (i = 0; i < g->nmem; i++) {
		if (add_membership(st, principals[i], gid) != 0) {
			goto nomem;
		}
	}
	TALLOC_FREE(principals);
	if (id_append_ptr(st, (void ***)&st->static_groups, &st->n_static_groups, g) != 0 ||
	    id_ix_put(st, &st->group_by_name, id_str_hash(st, g->name), g) != 0 ||
	    id_ix_put(st, &st->group_by_gid, id_hash(st, gid), g) != 0 ||
	    id_mark_taken(st, gid) != 0) {
		goto nomem;
	}
	return;
nomem:
	id_add_problem(st, "%s:%u: out of memory; line ignored", file, lineno);
}

/* Call fn on each non-comment line of a file's text (modified in place). */
static void each_line(struct id_store *st, char *text,
		      void (*fn)(struct id_store *, char *, unsigned))
{
	unsigned lineno = 0;
	char *line, *next;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *end;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		end = line + strlen(line);
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) {
			*--end = '\0';
		}
		while (*line == ' ' || *line == '\t') {
			line++;
		}
		if (*line == '\0' || *line == '#') {
			continue;
		}
		fn(st, line, lineno);
	}
}

int id_store_load_static(struct id_store *st, char *why, size_t whylen)
{
	TALLOC_CTX *tmp = talloc_new(st);
	char *text = NULL;
	size_t len = 0;
	int ret = 0;

	if (tmp == NULL) {
		return -ENOMEM;
	}
	if (st->users_file[0] != '\0') {
		ret = read_admin_file(tmp, st->users_file, ID_STATIC_FILE_MAX, &text, &len, why,
				      whylen);
		if (ret != 0) {
			goto done;
		}
		if (memchr(text, '\0', len) != NULL) {
			snprintf(why, whylen, "%s contains a NUL byte", st->users_file);
			ret = -EINVAL;
			goto done;
		}
		each_line(st, text, load_user_line);
	}
	if (st->groups_file[0] != '\0') {
		ret = read_admin_file(tmp, st->groups_file, ID_STATIC_FILE_MAX, &text, &len, why,
				      whylen);
		if (ret != 0) {
			goto done;
		}
		if (memchr(text, '\0', len) != NULL) {
			snprintf(why, whylen, "%s contains a NUL byte", st->groups_file);
			ret = -EINVAL;
			goto done;
		}
		each_line(st, text, load_group_line);
	}
	st->version++;
done:
	talloc_free(tmp);
	return ret;
}
