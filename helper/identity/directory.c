/*
 * identity/directory.c - the directory engine on the helper's event loop:
 * one connection at a time to the first server of [directory] uri that
 * answers (a server that failed is skipped for backoff), searches sent
 * with libldap's asynchronous API (ldap_search_ext) and read back with
 * ldap_result and a zero timeout when a duplicate of the connection's
 * socket is readable, each bounded by the timeout: a server that does not
 * answer in time is dropped and every search waiting on it is sent again
 * to the next server.  Connecting and binding (which libldap only does
 * blocking) run on a short-lived thread (directory_conn.c).
 *
 * A user lookup is a search for the user, then one for its groups (by
 * memberUid, or by member DN for rfc2307bis and ad), then one per level of
 * nesting (groups whose member is a group already found) up to
 * nesting_depth.  A group lookup is one search.  An enumeration ([directory]
 * enumerate) is one search of every user or every group, read page by page
 * (RFC 2696 simple paged results, page_size entries each); a server that
 * fails meanwhile makes it start again on the next (cookies are per server).
 *
 * Who reaches this: service.c, for lookups any local user may cause (rate-
 * limited there per uid).  Names reach filters escaped only.  Must never:
 * block the loop, keep more than DIR_GROUPS_MAX groups or DIR_MEMBERS_MAX
 * members of one answer, or answer "no such entry" when no server answered
 * (that is -EHOSTUNREACH: the store then serves what it had).
 */
#include "identity/directory_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ldap.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core/daemon.h"
#include "identity/identity.h"
#include "identity/identity_int.h"
#include "log.h"

struct dir_server {
	char *uri;
	int64_t retry_after_ms; /* monotonic; 0: usable */
};

enum dir_state { DIR_DOWN, DIR_CONNECTING, DIR_UP };

struct dir_op;

struct id_dir {
	struct tevent_context *ev;
	struct dir_conn_params params; /* uri filled per attempt */
	struct dir_schema sch;
	char *base, *user_base, *group_base;
	char *access_filter;
	char *realm;
	uint32_t range_min, range_max;
	unsigned nesting_depth;
	uint64_t timeout_ms, backoff_ms;
	unsigned page_size;
	struct dir_server *servers;
	size_t nservers;

	enum dir_state state;
	size_t cur;   /* the server connected to, or being tried */
	size_t tried; /* servers tried since the last success */
	LDAP *ld;
	int fd; /* a duplicate of the connection's socket */
	struct tevent_fd *fde;
	struct dir_conn *conn; /* the attempt running */
	struct tevent_fd *conn_fde;
	struct dir_op *ops; /* every op not finished */
};

enum dir_stage { ST_ENTRY, ST_GROUPS, ST_NESTED };

struct dir_op {
	struct dir_op *prev, *next;
	struct id_dir *d;
	struct tevent_req *req;
	int kind; /* enum identity_kind, or -1 for an access check */
	char name[SECTX_NAME_MAX + 1];
	uint32_t id;
	enum dir_stage stage;
	int msgid; /* -1: not sent */
	unsigned attempts;
	unsigned waits; /* timeouts spent waiting for a connection */
	unsigned level;
	struct tevent_timer *timer;
	struct id_dir_answer *ans;
	char *user_dn;
	unsigned entries; /* of the current search */
	/* groups found so far (DNs for nesting, gids for the answer) */
	char **seen_dns;
	size_t nseen;
	size_t exp_start, exp_end; /* the DNs the nested search being made expands */
	struct berval *cookie;	   /* enumerations: the next page's, or NULL */
	size_t cap;		   /* enumerations: room in ans->users or ans->groups */
};

#define ACCESS_KIND	 (-1)
#define ENUM_USERS_KIND	 (-2)
#define ENUM_GROUPS_KIND (-3)
#define IS_ENUM(op)	 ((op)->kind == ENUM_USERS_KIND || (op)->kind == ENUM_GROUPS_KIND)
/* Timeouts an op waits for a connection attempt before it gives up (the
 * attempt's connect, StartTLS and bind are each bounded by the timeout). */
#define DIR_CONNECT_WAITS 4u

static void op_send(struct dir_op *op);
static void dir_connect_next(struct id_dir *d);

/* --- finishing ops ---------------------------------------------------------------------------- */

static void op_unlink(struct dir_op *op)
{
	struct id_dir *d = op->d;

	if (op->prev != NULL) {
		op->prev->next = op->next;
	} else if (d != NULL && d->ops == op) {
		d->ops = op->next;
	}
	if (op->next != NULL) {
		op->next->prev = op->prev;
	}
	op->prev = op->next = NULL;
}

static int op_destructor(struct dir_op *op)
{
	if (op->cookie != NULL) {
		ber_bvfree(op->cookie);
		op->cookie = NULL;
	}
	if (op->d != NULL && op->d->ld != NULL && op->msgid >= 0) {
		ldap_abandon_ext(op->d->ld, op->msgid, NULL, NULL);
	}
	op_unlink(op);
	return 0;
}

static void op_fail(struct dir_op *op, int err)
{
	TALLOC_FREE(op->timer);
	op->msgid = -1;
	op_unlink(op);
	op->d = NULL;
	tevent_req_error(op->req, err);
}

static void op_done(struct dir_op *op)
{
	TALLOC_FREE(op->timer);
	op->msgid = -1;
	op_unlink(op);
	op->d = NULL;
	tevent_req_done(op->req);
}

/* --- the connection --------------------------------------------------------------------------- */

static void dir_drop_connection(struct id_dir *d)
{
	TALLOC_FREE(d->fde);
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->ld != NULL) {
		ldap_unbind_ext(d->ld, NULL, NULL);
		d->ld = NULL;
	}
	d->state = DIR_DOWN;
}

/* The server at cur failed: back off from it, and send every op again to
 * the next one. */
static void dir_server_failed(struct id_dir *d, const char *why)
{
	struct dir_op *op, *next;

	SECTX_WARN("directory server %s failed: %s; trying the next",
		   d->servers[d->cur].uri[0] != '\0' ? d->servers[d->cur].uri : "(DNS SRV)", why);
	d->servers[d->cur].retry_after_ms = sectx_now_ms() + (int64_t)d->backoff_ms;
	dir_drop_connection(d);
	for (op = d->ops; op != NULL; op = next) {
		next = op->next;
		if (op->msgid >= 0 && ++op->attempts >= d->nservers + 1) {
			op_fail(op, EHOSTUNREACH);
			continue;
		}
		op->msgid = -1;
		if (op->cookie != NULL) {
			ber_bvfree(op->cookie); /* the failed server's: start again */
			op->cookie = NULL;
		}
	}
	d->cur = (d->cur + 1) % d->nservers;
	dir_connect_next(d);
}

static void dir_read(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags, void *pvt);

static void conn_done(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags, void *pvt)
{
	struct id_dir *d = pvt;
	struct dir_op *op, *next;
	char why[2560] = "", uri[DIR_URI_MAX];
	void *ld = NULL;
	int ret, fd = -1;

	TALLOC_FREE(d->conn_fde);
	ret = dir_conn_finish(d->conn, &ld, uri, sizeof(uri), why, sizeof(why));
	d->conn = NULL;
	if (ret != 0) {
		d->state = DIR_DOWN;
		dir_server_failed(d, why);
		return;
	}
	d->ld = ld;
	if (ldap_get_option(d->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0 ||
	    (d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		dir_server_failed(d, "no socket");
		return;
	}
	d->fde = tevent_add_fd(d->ev, d, d->fd, TEVENT_FD_READ, dir_read, d);
	if (d->fde == NULL) {
		dir_server_failed(d, "out of memory");
		return;
	}
	d->state = DIR_UP;
	d->tried = 0;
	d->servers[d->cur].retry_after_ms = 0;
	if (d->servers[d->cur].uri[0] == '\0') {
		SECTX_INFO("directory: connected to %s (DNS SRV _ldap._tcp.%s)", uri,
			   d->params.srv_domain);
	} else {
		SECTX_INFO("directory: connected to %s", uri);
	}
	for (op = d->ops; op != NULL; op = next) {
		next = op->next;
		if (op->msgid < 0) {
			op_send(op);
		}
		if (d->state != DIR_UP) {
			break; /* the server failed again: the ops wait for the next */
		}
	}
}

/* Connect to the first usable server from cur on; none left: every op
 * fails with -EHOSTUNREACH. */
static void dir_connect_next(struct id_dir *d)
{
	int64_t now = sectx_now_ms();
	size_t i, pick = d->nservers;
	int ret, done_fd;

	if (d->state != DIR_DOWN || d->ops == NULL) {
		return;
	}
	for (i = 0; i < d->nservers && d->tried < d->nservers; i++) {
		size_t k = (d->cur + i) % d->nservers;

		if (d->servers[k].retry_after_ms <= now) {
			pick = k;
			break;
		}
	}
	if (pick == d->nservers && d->tried == 0) {
		/* every server is backing off: try the one that failed first */
		pick = 0;
		for (i = 1; i < d->nservers; i++) {
			if (d->servers[i].retry_after_ms < d->servers[pick].retry_after_ms) {
				pick = i;
			}
		}
	}
	if (pick == d->nservers) {
		struct dir_op *op;

		SECTX_WARN("directory: no server answered (%zu tried)", d->tried);
		d->tried = 0;
		while ((op = d->ops) != NULL) {
			op_fail(op, EHOSTUNREACH);
		}
		return;
	}
	d->cur = pick;
	d->tried++;
	snprintf(d->params.uri, sizeof(d->params.uri), "%s", d->servers[pick].uri);
	ret = dir_conn_start(&d->params, &d->conn, &done_fd);
	if (ret == 0) {
		d->conn_fde = tevent_add_fd(d->ev, d, done_fd, TEVENT_FD_READ, conn_done, d);
		if (d->conn_fde == NULL) {
			dir_conn_abandon(d->conn);
			d->conn = NULL;
			ret = -ENOMEM;
		}
	}
	if (ret != 0) {
		struct dir_op *op;

		SECTX_ERROR("directory: cannot start connecting: %s", strerror(-ret));
		while ((op = d->ops) != NULL) {
			op_fail(op, -ret == ENOMEM ? ENOMEM : EHOSTUNREACH);
		}
		return;
	}
	d->state = DIR_CONNECTING;
}

/* --- searches --------------------------------------------------------------------------------- */

static bool op_arm_timer(struct dir_op *op);

static void op_timeout(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		       void *pvt)
{
	struct dir_op *op = pvt;
	struct id_dir *d = op->d;

	op->timer = NULL;
	if (d->state == DIR_UP && op->msgid >= 0) {
		dir_server_failed(d, "no answer within the timeout");
		return;
	}
	if (d->state == DIR_CONNECTING && ++op->waits > DIR_CONNECT_WAITS) {
		/* an attempt that outlasts its bounds (a KDC that does not answer
		 * the TGT request, say): this op stops waiting for it */
		op_fail(op, EHOSTUNREACH);
		return;
	}
	if (d->state == DIR_CONNECTING) {
		/* the connection attempt itself is bounded by the timeout; give
		 * this op one more period */
		if (!op_arm_timer(op)) {
			op_fail(op, ENOMEM);
		}
	}
}

/* (Re)arm op's timeout, d->timeout_ms from now.  false when out of memory. */
static bool op_arm_timer(struct dir_op *op)
{
	struct id_dir *d = op->d;

	op->timer =
	    tevent_add_timer(d->ev, op,
			     tevent_timeval_current_ofs((uint32_t)(d->timeout_ms / 1000),
							(uint32_t)(d->timeout_ms % 1000) * 1000),
			     op_timeout, op);
	return op->timer != NULL;
}

static const char *op_base(const struct dir_op *op, bool users)
{
	const struct id_dir *d = op->d;
	const char *b = users ? d->user_base : d->group_base;

	return b[0] != '\0' ? b : d->base;
}

/* The filter of op's current stage on tmp; NULL when out of memory or a
 * value too long. */
static char *op_filter(TALLOC_CTX *tmp, struct dir_op *op, bool *users, const char ***attrs)
{
	static const char *user_attrs[10];
	static const char *group_attrs[5];
	const struct dir_schema *s = &op->d->sch;
	char esc[DIR_DN_MAX * 3 + 1];
	char *f = NULL;
	size_t i;

	user_attrs[0] = s->uid;
	user_attrs[1] = s->uid_number;
	user_attrs[2] = s->gid_number;
	user_attrs[3] = s->gecos;
	user_attrs[4] = "cn";
	user_attrs[5] = s->home;
	user_attrs[6] = s->shell;
	user_attrs[7] = NULL;
	group_attrs[0] = s->group_name;
	group_attrs[1] = s->gid_number;
	group_attrs[2] = s->member_uid;
	group_attrs[3] = s->member;
	group_attrs[4] = NULL;

	switch (op->stage) {
	case ST_ENTRY:
		if (IS_ENUM(op)) {
			*users = op->kind == ENUM_USERS_KIND;
			*attrs = *users ? user_attrs : group_attrs;
			return talloc_strdup(tmp, *users ? s->user_filter : s->group_filter);
		}
		*users = op->kind == IDENTITY_USER_BY_NAME || op->kind == IDENTITY_USER_BY_UID ||
			 op->kind == ACCESS_KIND;
		*attrs = *users ? user_attrs : group_attrs;
		if (op->kind == IDENTITY_USER_BY_UID || op->kind == IDENTITY_GROUP_BY_GID) {
			return talloc_asprintf(tmp, "(&%s(%s=%" PRIu32 "))",
					       *users ? s->user_filter : s->group_filter,
					       *users ? s->uid_number : s->gid_number, op->id);
		}
		if (dir_filter_escape(esc, sizeof(esc), op->name) != 0) {
			return NULL;
		}
		if (op->kind == ACCESS_KIND) {
			return talloc_asprintf(tmp, "(&%s(%s=%s)%s)", s->user_filter, s->uid, esc,
					       op->d->access_filter);
		}
		return talloc_asprintf(tmp, "(&%s(%s=%s))",
				       *users ? s->user_filter : s->group_filter,
				       *users ? s->uid : s->group_name, esc);
	case ST_GROUPS:
		*users = false;
		*attrs = group_attrs;
		if (dir_filter_escape(esc, sizeof(esc), op->name) != 0) {
			return NULL;
		}
		if (s->schema == SECTX_DIR_RFC2307) {
			return talloc_asprintf(tmp, "(&%s(%s=%s))", s->group_filter, s->member_uid,
					       esc);
		}
		f = talloc_asprintf(tmp, "(&%s(|(%s=%s)", s->group_filter, s->member_uid, esc);
		if (f != NULL && dir_filter_escape(esc, sizeof(esc), op->user_dn) == 0) {
			f = talloc_asprintf_append(f, "(%s=%s)))", s->member, esc);
		} else {
			f = NULL;
		}
		return f;
	case ST_NESTED:
		*users = false;
		*attrs = group_attrs;
		f = talloc_asprintf(tmp, "(&%s(|", s->group_filter);
		for (i = op->exp_start; f != NULL && i < op->exp_end; i++) {
			if (dir_filter_escape(esc, sizeof(esc), op->seen_dns[i]) != 0) {
				continue;
			}
			f = talloc_asprintf_append(f, "(%s=%s)", s->member, esc);
		}
		return f != NULL ? talloc_asprintf_append(f, "))") : NULL;
	}
	return NULL;
}

static void op_send(struct dir_op *op)
{
	struct id_dir *d = op->d;
	TALLOC_CTX *tmp = talloc_new(op);
	const char **attrs = NULL;
	bool users = false;
	char *filter;
	int rc, msgid = -1;

	if (tmp == NULL) {
		op_fail(op, ENOMEM);
		return;
	}
	filter = op_filter(tmp, op, &users, &attrs);
	if (filter == NULL) {
		talloc_free(tmp);
		op_fail(op, ENOMEM);
		return;
	}
	op->entries = 0;
	if (IS_ENUM(op)) {
		LDAPControl *ctrl = NULL, *ctrls[2] = {NULL, NULL};

		rc = ldap_create_page_control(d->ld, (ber_int_t)d->page_size, op->cookie, 0, &ctrl);
		if (rc == LDAP_SUCCESS) {
			ctrls[0] = ctrl;
			rc = ldap_search_ext(d->ld, op_base(op, users), LDAP_SCOPE_SUBTREE, filter,
					     (char **)attrs, 0, ctrls, NULL, NULL, 0, &msgid);
			ldap_control_free(ctrl);
		}
	} else {
		rc = ldap_search_ext(d->ld, op_base(op, users), LDAP_SCOPE_SUBTREE, filter,
				     (char **)attrs, 0, NULL, NULL, NULL,
				     op->stage == ST_ENTRY ? 2 : (int)DIR_GROUPS_MAX, &msgid);
	}
	SECTX_DEBUG("directory: search %s in %s: %s", filter, op_base(op, users),
		    ldap_err2string(rc));
	talloc_free(tmp);
	if (rc != LDAP_SUCCESS) {
		dir_server_failed(d, ldap_err2string(rc));
		return;
	}
	op->msgid = msgid;
	TALLOC_FREE(op->timer);
	if (!op_arm_timer(op)) {
		op_fail(op, ENOMEM);
	}
}

/* The first value of attr in e, copied onto mem_ctx (cut to DIR_VALUE_MAX
 * bytes; NULL when absent or with a NUL). */
static char *first_value(TALLOC_CTX *mem_ctx, LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char *out = NULL;

	if (v != NULL && v[0] != NULL && v[0]->bv_len > 0 && v[0]->bv_len <= DIR_VALUE_MAX &&
	    memchr(v[0]->bv_val, '\0', v[0]->bv_len) == NULL) {
		out = talloc_strndup(mem_ctx, v[0]->bv_val, v[0]->bv_len);
	}
	ldap_value_free_len(v);
	return out;
}

static int read_entry(TALLOC_CTX *mem_ctx, struct dir_op *op, LDAPMessage *e, bool user,
		      struct dir_entry *out)
{
	const struct dir_schema *s = &op->d->sch;
	LDAP *ld = op->d->ld;
	char *dn = ldap_get_dn(ld, e);

	memset(out, 0, sizeof(*out));
	if (dn == NULL) {
		return -EINVAL;
	}
	out->dn = talloc_strdup(mem_ctx, dn);
	ldap_memfree(dn);
	out->name = first_value(mem_ctx, ld, e, user ? s->uid : s->group_name);
	out->gid_number = first_value(mem_ctx, ld, e, s->gid_number);
	if (user) {
		out->uid_number = first_value(mem_ctx, ld, e, s->uid_number);
		out->gecos = first_value(mem_ctx, ld, e, s->gecos);
		out->cn = first_value(mem_ctx, ld, e, "cn");
		out->home = first_value(mem_ctx, ld, e, s->home);
		out->shell = first_value(mem_ctx, ld, e, s->shell);
	}
	return out->dn != NULL ? 0 : -ENOMEM;
}

/* The members of group entry e: memberUid values, and member DNs whose
 * first RDN is the user name attribute. */
static int read_members(struct dir_op *op, LDAPMessage *e, struct id_dir_group *g)
{
	const struct dir_schema *s = &op->d->sch;
	struct berval **v;
	const char **m;
	size_t n = 0, cap = 16, i;
	int pass;

	m = talloc_array(op->ans, const char *, cap);
	if (m == NULL) {
		return -ENOMEM;
	}
	for (pass = 0; pass < 2; pass++) {
		v = ldap_get_values_len(op->d->ld, e, pass == 0 ? s->member_uid : s->member);
		for (i = 0; v != NULL && v[i] != NULL && n < DIR_MEMBERS_MAX; i++) {
			char val[DIR_VALUE_MAX + 1], name[SECTX_NAME_MAX + 1];
			const char *pick = NULL;

			if (v[i]->bv_len == 0 || v[i]->bv_len > DIR_VALUE_MAX ||
			    memchr(v[i]->bv_val, '\0', v[i]->bv_len) != NULL) {
				continue;
			}
			memcpy(val, v[i]->bv_val, v[i]->bv_len);
			val[v[i]->bv_len] = '\0';
			if (pass == 0) {
				pick = val;
			} else if (dir_dn_first_rdn(val, s->uid, name, sizeof(name)) == 0) {
				pick = name;
			}
			if (pick == NULL) {
				continue;
			}
			if (n == cap) {
				cap *= 2;
				m = talloc_realloc(op->ans, m, const char *, cap);
				if (m == NULL) {
					ldap_value_free_len(v);
					return -ENOMEM;
				}
			}
			m[n] = talloc_strdup(m, pick);
			if (m[n] == NULL) {
				ldap_value_free_len(v);
				return -ENOMEM;
			}
			n++;
		}
		ldap_value_free_len(v);
	}
	g->members = m;
	g->nmem = n;
	return 0;
}

/* s as a log field: at most 255 bytes of printable ASCII ('?' for the rest). */
static const char *log_field(char *buf, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size && i < 255; i++) {
		buf[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x7e ? s[i] : '?';
	}
	buf[i] = '\0';
	return buf;
}

/* One entry of an enumeration: appended to ans->users or ans->groups. */
static int enum_entry(struct dir_op *op, LDAPMessage *e)
{
	const struct id_dir *d = op->d;
	bool user = op->kind == ENUM_USERS_KIND;
	size_t *n = user ? &op->ans->nusers : &op->ans->ngroups;
	char dnbuf[256];
	struct dir_entry ent;
	int ret;

	if (*n == op->cap) {
		size_t cap = op->cap == 0 ? 64 : op->cap * 2;

		if (user) {
			op->ans->users =
			    talloc_realloc(op->ans, op->ans->users, struct id_dir_user, cap);
		} else {
			op->ans->groups =
			    talloc_realloc(op->ans, op->ans->groups, struct id_dir_group, cap);
		}
		if ((user ? (void *)op->ans->users : (void *)op->ans->groups) == NULL) {
			return -ENOMEM;
		}
		op->cap = cap;
	}
	ret = read_entry(op->ans, op, e, user, &ent);
	if (ret != 0) {
		return ret;
	}
	if (user) {
		ret = dir_entry_to_user(&ent, d->sch.schema, d->realm, d->range_min, d->range_max,
					&op->ans->users[*n]);
	} else {
		struct id_dir_group *g = &op->ans->groups[*n];

		memset(g, 0, sizeof(*g));
		g->name = ent.name;
		ret = dir_entry_group_gid(&ent, d->sch.schema, d->realm, d->range_min, d->range_max,
					  &g->gid);
		if (ret == 0) {
			ret = read_members(op, e, g);
			if (ret != 0) {
				return ret;
			}
		}
	}
	if (ret != 0) {
		SECTX_WARN("directory: %s entry %s has no usable name or ids; ignored",
			   user ? "user" : "group", log_field(dnbuf, sizeof(dnbuf), ent.dn));
		return 0;
	}
	(*n)++;
	return 0;
}

/* One entry of op's current search. */
static int op_entry(struct dir_op *op, LDAPMessage *e)
{
	char dnbuf[256];
	struct id_dir *d = op->d;
	struct dir_entry ent;
	uint32_t gid;
	int ret;

	op->entries++;
	if (IS_ENUM(op)) {
		return enum_entry(op, e);
	}
	if (op->stage == ST_ENTRY) {
		bool user = op->kind != IDENTITY_GROUP_BY_NAME && op->kind != IDENTITY_GROUP_BY_GID;

		if (op->entries > 1) {
			return 0; /* ambiguous: judged at the end */
		}
		ret = read_entry(op->ans, op, e, user, &ent);
		if (ret != 0) {
			return ret;
		}
		if (op->kind == ACCESS_KIND) {
			op->ans->access_ok = true;
			return 0;
		}
		if (user) {
			ret = dir_entry_to_user(&ent, d->sch.schema, d->realm, d->range_min,
						d->range_max, &op->ans->user);
			if (ret != 0) {
				SECTX_WARN("directory: user entry %s has no usable name or ids; "
					   "ignored",
					   log_field(dnbuf, sizeof(dnbuf), ent.dn));
				return 0;
			}
			op->ans->found = true;
			op->ans->is_user = true;
			op->user_dn = talloc_strdup(op, ent.dn);
			return op->user_dn != NULL ? 0 : -ENOMEM;
		}
		ret = dir_entry_group_gid(&ent, d->sch.schema, d->realm, d->range_min, d->range_max,
					  &op->ans->group.gid);
		if (ret != 0) {
			SECTX_WARN("directory: group entry %s has no usable name or gid; ignored",
				   log_field(dnbuf, sizeof(dnbuf), ent.dn));
			return 0;
		}
		op->ans->group.name = ent.name;
		op->ans->found = true;
		return read_members(op, e, &op->ans->group);
	}
	/* a group of the user, directly or nested */
	ret = read_entry(op, op, e, false, &ent);
	if (ret != 0) {
		return ret;
	}
	for (size_t i = 0; i < op->nseen; i++) {
		if (strcasecmp(op->seen_dns[i], ent.dn) == 0) {
			return 0;
		}
	}
	if (op->nseen >= DIR_GROUPS_MAX ||
	    dir_entry_group_gid(&ent, d->sch.schema, d->realm, d->range_min, d->range_max, &gid) !=
		0) {
		return 0;
	}
	if (id_append_ptr(op, (void ***)&op->seen_dns, &op->nseen, (void *)ent.dn) != 0) {
		return -ENOMEM;
	}
	op->ans->gids = talloc_realloc(op->ans, op->ans->gids, uint32_t, op->ans->ngids + 1);
	if (op->ans->gids == NULL) {
		return -ENOMEM;
	}
	op->ans->gids[op->ans->ngids++] = gid;
	op->ans->groups =
	    talloc_realloc(op->ans, op->ans->groups, struct id_dir_group, op->ans->ngroups + 1);
	if (op->ans->groups == NULL) {
		return -ENOMEM;
	}
	{
		struct id_dir_group *g = &op->ans->groups[op->ans->ngroups];

		memset(g, 0, sizeof(*g));
		g->name = talloc_strdup(op->ans, ent.name);
		g->gid = gid;
		ret = g->name != NULL ? read_members(op, e, g) : -ENOMEM;
		if (ret == 0) {
			op->ans->ngroups++;
		}
	}
	return ret;
}

/* op's current search finished with rc. */
static void op_result(struct dir_op *op, int rc)
{
	op->msgid = -1;
	TALLOC_FREE(op->timer);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT) {
		SECTX_WARN("directory: search refused by %s: %s", op->d->servers[op->d->cur].uri,
			   ldap_err2string(rc));
		op_fail(op, EPROTO);
		return;
	}
	if (IS_ENUM(op)) {
		if (op->cookie != NULL && op->cookie->bv_len > 0) {
			op_send(op); /* the next page */
			return;
		}
		op_done(op);
		return;
	}
	if (op->stage == ST_ENTRY) {
		if (op->entries > 1) {
			SECTX_WARN("directory: %s %s%s matches %u entries; refused as ambiguous",
				   op->kind == IDENTITY_GROUP_BY_NAME ||
					   op->kind == IDENTITY_GROUP_BY_GID
				       ? "group"
				       : "user",
				   op->name, op->name[0] == '\0' ? "(by id)" : "", op->entries);
			op->ans->found = false;
			op->ans->access_ok = false;
		}
		if (!op->ans->found || !op->ans->is_user) {
			op_done(op);
			return;
		}
		snprintf(op->name, sizeof(op->name), "%s", op->ans->user.name);
		op->stage = ST_GROUPS;
		op_send(op);
		return;
	}
	if (op->d->sch.schema != SECTX_DIR_RFC2307 && op->level < op->d->nesting_depth) {
		/* the next batch of groups whose own groups are not known yet */
		op->exp_start = op->stage == ST_GROUPS ? 0 : op->exp_end;
		op->exp_end = op->nseen;
		if (op->exp_end - op->exp_start > DIR_LEVEL_DNS_MAX) {
			op->exp_end = op->exp_start + DIR_LEVEL_DNS_MAX;
		}
		if (op->exp_end > op->exp_start) {
			op->stage = ST_NESTED;
			op->level++;
			op_send(op);
			return;
		}
	}
	op_done(op);
}

/* The cookie of an enumeration's next page from a page's result controls
 * (none, or an empty one: that was the last page). */
static void enum_cookie(struct dir_op *op, LDAPControl **ctrls)
{
	LDAPControl *c = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
	struct berval cookie = {0, NULL};
	ber_int_t count = 0;

	if (op->cookie != NULL) {
		ber_bvfree(op->cookie);
		op->cookie = NULL;
	}
	if (c == NULL ||
	    ldap_parse_pageresponse_control(op->d->ld, c, &count, &cookie) != LDAP_SUCCESS) {
		return;
	}
	if (cookie.bv_len > 0) {
		op->cookie = ber_bvdup(&cookie);
	}
	ber_memfree(cookie.bv_val);
}

static void dir_read(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags, void *pvt)
{
	struct id_dir *d = pvt;
	struct timeval zero = {0, 0};

	while (d->state == DIR_UP) {
		LDAPMessage *msg = NULL;
		struct dir_op *op;
		int rc, msgid, type;

		rc = ldap_result(d->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (rc == 0) {
			return;
		}
		if (rc < 0) {
			int err = 0;

			ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &err);
			dir_server_failed(d, ldap_err2string(err));
			return;
		}
		msgid = ldap_msgid(msg);
		type = ldap_msgtype(msg);
		for (op = d->ops; op != NULL && op->msgid != msgid; op = op->next) {
		}
		if (op == NULL) {
			ldap_msgfree(msg);
			continue; /* an abandoned search */
		}
		if (type == LDAP_RES_SEARCH_ENTRY) {
			if (op_entry(op, msg) != 0) {
				op_fail(op, ENOMEM);
			}
		} else if (type == LDAP_RES_SEARCH_RESULT) {
			LDAPControl **ctrls = NULL;
			int code = LDAP_OTHER;

			if (ldap_parse_result(d->ld, msg, &code, NULL, NULL, NULL,
					      IS_ENUM(op) ? &ctrls : NULL, 0) != LDAP_SUCCESS) {
				code = LDAP_OTHER;
			}
			if (IS_ENUM(op)) {
				enum_cookie(op, ctrls);
				ldap_controls_free(ctrls);
			}
			op_result(op, code);
		}
		ldap_msgfree(msg);
	}
}

/* --- the requests ----------------------------------------------------------------------------- */

static struct tevent_req *op_start(TALLOC_CTX *mem_ctx, struct id_dir *d, int kind,
				   const char *name, uint32_t id)
{
	struct tevent_req *req;
	struct dir_op *op;

	req = tevent_req_create(mem_ctx, &op, struct dir_op);
	if (req == NULL) {
		return NULL;
	}
	op->d = d;
	op->req = req;
	op->kind = kind;
	op->id = id;
	op->msgid = -1;
	snprintf(op->name, sizeof(op->name), "%s", name != NULL ? name : "");
	op->ans = talloc_zero(op, struct id_dir_answer);
	if (op->ans == NULL) {
		tevent_req_error(req, ENOMEM);
		return tevent_req_post(req, d->ev);
	}
	op->next = d->ops;
	if (d->ops != NULL) {
		d->ops->prev = op;
	}
	d->ops = op;
	talloc_set_destructor(op, op_destructor);
	if (!op_arm_timer(op)) {
		op_fail(op, ENOMEM);
		return tevent_req_post(req, d->ev);
	}
	if (d->state == DIR_UP) {
		op_send(op);
	} else {
		dir_connect_next(d);
	}
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, d->ev);
	}
	return req;
}

struct tevent_req *id_dir_lookup_send(TALLOC_CTX *mem_ctx, struct id_dir *d, int kind,
				      const char *name, uint32_t id)
{
	return op_start(mem_ctx, d, kind, name, id);
}

int id_dir_lookup_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct id_dir_answer **out)
{
	struct dir_op *op = tevent_req_data(req, struct dir_op);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*out = talloc_steal(mem_ctx, op->ans);
	return 0;
}

struct tevent_req *id_dir_enum_send(TALLOC_CTX *mem_ctx, struct id_dir *d, bool users)
{
	return op_start(mem_ctx, d, users ? ENUM_USERS_KIND : ENUM_GROUPS_KIND, NULL, 0);
}

int id_dir_enum_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct id_dir_answer **out)
{
	return id_dir_lookup_recv(req, mem_ctx, out);
}

struct tevent_req *id_dir_access_send(TALLOC_CTX *mem_ctx, struct id_dir *d, const char *name)
{
	return op_start(mem_ctx, d, ACCESS_KIND, name, 0);
}

int id_dir_access_recv(struct tevent_req *req, bool *ok)
{
	struct dir_op *op = tevent_req_data(req, struct dir_op);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*ok = op->ans->access_ok;
	return 0;
}

/* --- the engine ------------------------------------------------------------------------------- */

static int dir_destructor(struct id_dir *d)
{
	struct dir_op *op;

	TALLOC_FREE(d->conn_fde);
	if (d->conn != NULL) {
		dir_conn_abandon(d->conn);
		d->conn = NULL;
	}
	dir_drop_connection(d);
	while ((op = d->ops) != NULL) {
		op_fail(op, ECANCELED);
	}
	return 0;
}

char *id_dir_key(TALLOC_CTX *mem_ctx, const struct sectx_config *cfg, const char *realm)
{
	char *k = talloc_asprintf(
	    mem_ctx, "%s|%s|%s|%s|%d|%d|%s|%s|%s|%d|%s|%llu|%llu|%u|%s|%s|%s", realm,
	    cfg->kerberos.keytab, cfg->identity.id_range, cfg->directory.base,
	    cfg->directory.schema, cfg->directory.bind, cfg->directory.bind_dn,
	    cfg->directory.bind_password_file, cfg->directory.sasl_principal,
	    cfg->directory.tls_require, cfg->directory.tls_cacert,
	    (unsigned long long)cfg->directory.timeout_ms,
	    (unsigned long long)cfg->directory.backoff_ms, cfg->directory.nesting_depth,
	    cfg->directory.user_base, cfg->directory.group_base, cfg->directory.access_filter);
	if (k != NULL) {
		k = talloc_asprintf_append(k, "|%s|%u", cfg->directory.srv_domain,
					   cfg->directory.page_size);
	}
	size_t i;

	for (i = 0; k != NULL && i < cfg->directory.n_uri; i++) {
		k = talloc_asprintf_append(k, "|%s", cfg->directory.uri[i]);
	}
	return k;
}

int id_dir_new(TALLOC_CTX *mem_ctx, struct tevent_context *ev, const struct sectx_config *cfg,
	       const char *realm, struct id_dir **out, char *why, size_t whylen)
{
	const struct sectx_config *c = cfg;
	struct id_dir *d;
	size_t i;

	if (c->directory.base[0] == '\0') {
		snprintf(why, whylen, "[directory] needs a base");
		return -EINVAL;
	}
	if (c->directory.bind == SECTX_DIR_BIND_SIMPLE &&
	    (c->directory.bind_dn[0] == '\0' || c->directory.bind_password_file[0] == '\0')) {
		snprintf(why, whylen,
			 "[directory] bind = simple needs bind_dn and bind_password_file");
		return -EINVAL;
	}
	d = talloc_zero(mem_ctx, struct id_dir);
	if (d == NULL) {
		return -ENOMEM;
	}
	d->ev = ev;
	d->fd = -1;
	dir_schema_init(&d->sch, c);
	d->base = talloc_strdup(d, c->directory.base);
	d->user_base = talloc_strdup(d, c->directory.user_base);
	d->group_base = talloc_strdup(d, c->directory.group_base);
	d->access_filter = talloc_strdup(d, c->directory.access_filter);
	d->realm = talloc_strdup(d, realm != NULL ? realm : "");
	/* the schema strings may point into cfg, which a reload frees */
	d->sch.user_filter = talloc_strdup(d, d->sch.user_filter);
	d->sch.group_filter = talloc_strdup(d, d->sch.group_filter);
	d->sch.uid = talloc_strdup(d, d->sch.uid);
	d->sch.uid_number = talloc_strdup(d, d->sch.uid_number);
	d->sch.gid_number = talloc_strdup(d, d->sch.gid_number);
	d->sch.gecos = talloc_strdup(d, d->sch.gecos);
	d->sch.home = talloc_strdup(d, d->sch.home);
	d->sch.shell = talloc_strdup(d, d->sch.shell);
	d->sch.group_name = talloc_strdup(d, d->sch.group_name);
	d->sch.member_uid = talloc_strdup(d, d->sch.member_uid);
	d->sch.member = talloc_strdup(d, d->sch.member);
	if (id_range_parse(c->identity.id_range, &d->range_min, &d->range_max) != 0) {
		d->range_min = 200000;
		d->range_max = 2000200000;
	}
	d->nesting_depth = c->directory.nesting_depth;
	d->timeout_ms = c->directory.timeout_ms;
	d->backoff_ms = c->directory.backoff_ms;
	d->page_size = c->directory.page_size > 0 ? c->directory.page_size : 500;
	d->params.bind = c->directory.bind;
	d->params.tls_require = c->directory.tls_require;
	d->params.timeout_ms = c->directory.timeout_ms;
	snprintf(d->params.bind_dn, sizeof(d->params.bind_dn), "%s", c->directory.bind_dn);
	snprintf(d->params.password_file, sizeof(d->params.password_file), "%s",
		 c->directory.bind_password_file);
	snprintf(d->params.keytab, sizeof(d->params.keytab), "%s", c->kerberos.keytab);
	snprintf(d->params.principal, sizeof(d->params.principal), "%s",
		 c->directory.sasl_principal);
	snprintf(d->params.realm, sizeof(d->params.realm), "%s", d->realm);
	snprintf(d->params.cacert, sizeof(d->params.cacert), "%s", c->directory.tls_cacert);
	d->servers = talloc_zero_array(d, struct dir_server, c->directory.n_uri);
	if (d->servers == NULL && c->directory.n_uri > 0) {
		talloc_free(d);
		return -ENOMEM;
	}
	for (i = 0; i < c->directory.n_uri; i++) {
		d->servers[i].uri = talloc_strdup(d->servers, c->directory.uri[i]);
	}
	d->nservers = c->directory.n_uri;
	if (d->nservers == 0) {
		/* no uri: one pseudo server, found by DNS SRV at each connection */
		const char *dom =
		    c->directory.srv_domain[0] != '\0' ? c->directory.srv_domain : d->realm;

		for (i = 0; dom[i] != '\0' && i + 1 < sizeof(d->params.srv_domain); i++) {
			d->params.srv_domain[i] = (char)tolower((unsigned char)dom[i]);
		}
		if (d->params.srv_domain[0] == '\0') {
			snprintf(why, whylen,
				 "[directory] has no uri, and no realm or srv_domain to "
				 "discover servers in");
			talloc_free(d);
			return -EINVAL;
		}
		d->servers = talloc_zero_array(d, struct dir_server, 1);
		if (d->servers == NULL) {
			talloc_free(d);
			return -ENOMEM;
		}
		d->servers[0].uri = talloc_strdup(d->servers, "");
		d->nservers = 1;
	}
	talloc_set_destructor(d, dir_destructor);
	*out = d;
	return 0;
}
