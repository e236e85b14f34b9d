/*
 * sectxctl/cmd_ident.c - user, group, groups and tickets: what sectxd knows
 * of an identity, and the sessions it holds tickets for.
 *
 * Anyone may ask: user/group/groups show what getpwnam and getgrnam already
 * tell (plus the source and expiry; the lookup may start an existence
 * check, charged to the caller's uid).  tickets shows root every session
 * and any other user only their own (sectxd decides by SO_PEERCRED).
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sectxctl.h"

/* A NAME or a number: 1 with *id for a number, 0 for a name. */
static int parse_id(const char *arg, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (arg[0] < '0' || arg[0] > '9') {
		return 0;
	}
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX) {
		return 0;
	}
	*id = (uint32_t)v;
	return 1;
}

/* Ask ID_INFO of kind for arg.  EXIT_OK with the reply in ctl->reply. */
static int ask(struct ctl *ctl, uint32_t kind, const char *arg)
{
	struct sectx_wbuf w;
	uint32_t id;

	ctl_begin(ctl, &w, SECTX_OP_ID_INFO);
	sectx_put_u32(&w, SECTX_TAG_ID_KIND, kind);
	if (kind != SECTX_ID_INFO_GROUPS && parse_id(arg, &id)) {
		sectx_put_u32(&w, kind == SECTX_ID_INFO_GROUP ? SECTX_TAG_GID : SECTX_TAG_UID, id);
	} else {
		sectx_put_string(&w, SECTX_TAG_NAME, arg);
	}
	return ctl_finish(ctl, &w);
}

/* Which NSS module other than sectx would answer (files, ldap...): what the
 * local databases say of a name the sectx store does not know. */
static const char *other_source(uint32_t kind, const char *arg)
{
	uint32_t id;

	if (kind == SECTX_ID_INFO_GROUP) {
		if (parse_id(arg, &id) ? getgrgid(id) != NULL : getgrnam(arg) != NULL) {
			return "other NSS module";
		}
	} else if (parse_id(arg, &id) ? getpwuid(id) != NULL : getpwnam(arg) != NULL) {
		return "other NSS module";
	}
	return NULL;
}

static void print_common(struct ctl *ctl, struct out *o, uint32_t kind, const char *arg)
{
	char source[64], name[SECTX_NAME_MAX + 1];
	uint64_t expires = 0;
	uint32_t ttl = 0, stale = 0;
	bool found;

	ctl_reply_string(ctl, SECTX_TAG_SOURCE, source, sizeof(source));
	ctl_reply_string(ctl, SECTX_TAG_NAME, name, sizeof(name));
	(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_EXPIRES, &expires);
	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_TTL, &ttl);
	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_STALE, &stale);
	found = name[0] != '\0';
	out_str(o, "query", arg);
	out_bool(o, "found", found);
	out_str(o, "source", source);
	out_time(o, "expires", (int64_t)expires);
	/* past its expiry, served because no server answered */
	out_bool(o, "stale", stale != 0);
	if (!found) {
		out_str(o, "local_databases", other_source(kind, arg));
		return;
	}
	out_str(o, "name", name);
	out_uint(o, "ttl_seconds", ttl);
}

static void print_user(struct ctl *ctl, struct out *o)
{
	char text[SECTX_STRING_MAX + 1];
	uint32_t v = 0;

	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_UID, &v);
	out_uint(o, "uid", v);
	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_GID, &v);
	out_uint(o, "gid", v);
	ctl_reply_string(ctl, SECTX_TAG_GECOS, text, sizeof(text));
	out_str(o, "gecos", text);
	ctl_reply_string(ctl, SECTX_TAG_HOME, text, sizeof(text));
	out_str(o, "home", text);
	ctl_reply_string(ctl, SECTX_TAG_SHELL, text, sizeof(text));
	out_str(o, "shell", text);
	ctl_reply_string(ctl, SECTX_TAG_PRINCIPAL, text, sizeof(text));
	out_str(o, "principal", text);
}

static void print_list(struct ctl *ctl, struct out *o, const char *key, uint16_t tag, bool u32)
{
	char text[SECTX_NAME_MAX + 1];
	struct sectx_field f;
	uint32_t v;
	size_t pos;

	out_arr_begin(o, key);
	for (pos = 0; sectx_msg_next(&ctl->reply, tag, &pos, &f) == 0;) {
		if (u32 && sectx_field_u32(&f, &v) == 0) {
			out_uint(o, NULL, v);
		} else if (!u32 &&
			   sectx_field_string(&f, text, sizeof(text), SECTX_NAME_MAX) == 0) {
			out_str(o, NULL, text);
		}
	}
	out_arr_end(o);
}

static int run_ident(struct ctl *ctl, int argc, char **argv, uint32_t kind)
{
	struct out o;
	bool json, found;
	uint32_t gid;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 1, 1, "takes one NAME or id");

	if (ret >= 0) {
		return ret;
	}
	ret = ask(ctl, kind, argv[1]);
	if (ret != EXIT_OK) {
		return ret;
	}
	out_begin(&o, stdout, json);
	print_common(ctl, &o, kind, argv[1]);
	found = sectx_msg_get_u32(&ctl->reply, SECTX_TAG_GID, &gid) == 0;
	if (found && kind == SECTX_ID_INFO_USER) {
		print_user(ctl, &o);
	} else if (found && kind == SECTX_ID_INFO_GROUP) {
		out_uint(&o, "gid", gid);
		print_list(ctl, &o, "members", SECTX_TAG_MEMBER, false);
	} else if (found) {
		out_uint(&o, "primary_gid", gid);
		print_list(ctl, &o, "groups", SECTX_TAG_MEMBER_GID, true);
	}
	out_end(&o);
	return found ? EXIT_OK : EXIT_FAILED;
}

static int cmd_user(struct ctl *ctl, int argc, char **argv)
{
	return run_ident(ctl, argc, argv, SECTX_ID_INFO_USER);
}

static int cmd_group(struct ctl *ctl, int argc, char **argv)
{
	return run_ident(ctl, argc, argv, SECTX_ID_INFO_GROUP);
}

static int cmd_groups(struct ctl *ctl, int argc, char **argv)
{
	return run_ident(ctl, argc, argv, SECTX_ID_INFO_GROUPS);
}

/* One SESSION field: "UID USER CCACHE PRINCIPAL END RENEW_TILL LAST SERVICE". */
static void print_session(struct out *o, const char *text)
{
	char user[SECTX_NAME_MAX + 1], ccache[1024], principal[SECTX_NAME_MAX + 1];
	char service[SECTX_NAME_MAX + 1];
	long long end, till, last;
	unsigned uid;

	if (sscanf(text, "%u %256s %1023s %256s %lld %lld %lld %256s", &uid, user, ccache,
		   principal, &end, &till, &last, service) != 8) {
		return;
	}
	out_obj_begin(o, NULL);
	out_str(o, "user", user);
	out_uint(o, "uid", uid);
	out_str(o, "service", service);
	out_str(o, "ccache", ccache);
	out_str(o, "principal", principal);
	out_time(o, "expires", end);
	out_time(o, "renew_till", till);
	out_time(o, "last_renewal", last);
	out_obj_end(o);
}

static int cmd_tickets(struct ctl *ctl, int argc, char **argv)
{
	char text[SECTX_STRING_MAX + 1];
	struct sectx_field f;
	struct sectx_wbuf w;
	struct passwd *pw;
	struct out o;
	uint32_t uid;
	size_t pos, n = 0;
	bool json;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 0, 1, "takes at most one USER");

	if (ret >= 0) {
		return ret;
	}
	ctl_begin(ctl, &w, SECTX_OP_TICKETS);
	if (argc == 2) {
		if (!parse_id(argv[1], &uid)) {
			pw = getpwnam(argv[1]);
			if (pw == NULL) {
				fprintf(stderr, "sectxctl tickets: no such user: %s\n", argv[1]);
				return EXIT_FAILED;
			}
			uid = (uint32_t)pw->pw_uid;
		}
		sectx_put_u32(&w, SECTX_TAG_UID, uid);
	}
	ret = ctl_finish(ctl, &w);
	if (ret != EXIT_OK) {
		return ret;
	}
	out_begin(&o, stdout, json);
	out_arr_begin(&o, "sessions");
	for (pos = 0; sectx_msg_next(&ctl->reply, SECTX_TAG_SESSION, &pos, &f) == 0; n++) {
		if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) == 0) {
			print_session(&o, text);
		}
	}
	out_arr_end(&o);
	out_uint(&o, "count", n);
	out_end(&o);
	return EXIT_OK;
}

const struct command sectxctl_ident_commands[] = {
    {"user", "user [--json] NAME|UID",
     "Show the user as NSS would return it from sectx: its entry, the source that\n"
     "answered (static file, auto mapping, directory, negative cache, none), when it\n"
     "expires, and whether it is stale (served past its expiry: no server answered).\n"
     "Exit 1 if sectx does not know the user.\n",
     cmd_user},
    {"group", "group [--json] NAME|GID",
     "Show the group as NSS would return it from sectx, with its source and expiry.\n", cmd_group},
    {"groups", "groups [--json] NAME",
     "Show the user's primary group and the groups sectx lists it in.\n", cmd_groups},
    {"tickets", "tickets [--json] [USER]",
     "List open sessions with their ccache, principal, expiry, renew-till and last\n"
     "renewal.  Root sees every session (or USER's); any other user only their own.\n",
     cmd_tickets},
    {NULL, NULL, NULL, NULL},
};
