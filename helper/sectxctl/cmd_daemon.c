/*
 * sectxctl/cmd_daemon.c - the commands about sectxd itself: status, ping,
 * debug-level, check-config, config-keys, cache flush and id-map.
 *
 * status and ping are open to anyone (sectxd shows nothing a local user
 * could not see); debug-level, cache flush and id-map are refused by
 * sectxd to anyone but root.  check-config and config-keys run offline with
 * the same schema code as the daemon.
 */
#include <string.h>
#include <talloc.h>

#include "config.h"
#include "log.h"
#include "sectxctl.h"

/* The fields of a status reply; optional ones are zero or "" when absent. */
struct status {
	char version[SECTX_NAME_MAX + 1], config[SECTX_STRING_MAX + 1];
	char realm[SECTX_NAME_MAX + 1], kdc[SECTX_NAME_MAX + 1];
	char kdc_error[SECTX_STRING_MAX + 1], realm_state[16], renew_last[SECTX_STRING_MAX + 1];
	char nss_cache_file[SECTX_STRING_MAX + 1];
	uint32_t pid, level, nss, pam, contexts, offline_users, renewing;
	uint32_t users, groups, negative, handles, sessions;
	uint64_t uptime, requests, refused, realm_since, next_probe, renewed, renew_failed;
	uint64_t generation;
	bool has_probe, has_cached, has_identity;
};

static int read_status(struct ctl *ctl, struct status *s)
{
	const struct sectx_msg *m = &ctl->reply;

	memset(s, 0, sizeof(*s));
	if (sectx_msg_get_string(m, SECTX_TAG_VERSION_STR, s->version, sizeof(s->version),
				 SECTX_NAME_MAX) != 0 ||
	    sectx_msg_get_string(m, SECTX_TAG_CONFIG_FILE, s->config, sizeof(s->config),
				 SECTX_STRING_MAX) != 0 ||
	    sectx_msg_get_string(m, SECTX_TAG_REALM, s->realm, sizeof(s->realm), SECTX_NAME_MAX) !=
		0 ||
	    sectx_msg_get_u32(m, SECTX_TAG_PID, &s->pid) != 0 ||
	    sectx_msg_get_u32(m, SECTX_TAG_LOG_LEVEL, &s->level) != 0 ||
	    sectx_msg_get_u32(m, SECTX_TAG_CONN_NSS, &s->nss) != 0 ||
	    sectx_msg_get_u32(m, SECTX_TAG_CONN_PAM, &s->pam) != 0 ||
	    sectx_msg_get_u64(m, SECTX_TAG_UPTIME, &s->uptime) != 0 ||
	    sectx_msg_get_u64(m, SECTX_TAG_REQUESTS, &s->requests) != 0 ||
	    sectx_msg_get_u64(m, SECTX_TAG_CONN_REFUSED, &s->refused) != 0) {
		fprintf(stderr, "sectxctl: incomplete status reply from sectxd\n");
		return EXIT_FAILED;
	}
	/* optional: each present when its subsystem runs */
	ctl_reply_string(ctl, SECTX_TAG_KDC, s->kdc, sizeof(s->kdc));
	ctl_reply_string(ctl, SECTX_TAG_KDC_ERROR, s->kdc_error, sizeof(s->kdc_error));
	(void)sectx_msg_get_u32(m, SECTX_TAG_CTX_OPEN, &s->contexts);
	ctl_reply_string(ctl, SECTX_TAG_REALM_STATE, s->realm_state, sizeof(s->realm_state));
	(void)sectx_msg_get_u64(m, SECTX_TAG_REALM_SINCE, &s->realm_since);
	s->has_probe = sectx_msg_get_u64(m, SECTX_TAG_NEXT_PROBE, &s->next_probe) == 0;
	s->has_cached = sectx_msg_get_u32(m, SECTX_TAG_OFFLINE_USERS, &s->offline_users) == 0;
	(void)sectx_msg_get_u32(m, SECTX_TAG_RENEW_SESSIONS, &s->renewing);
	(void)sectx_msg_get_u64(m, SECTX_TAG_RENEW_DONE, &s->renewed);
	(void)sectx_msg_get_u64(m, SECTX_TAG_RENEW_FAILED, &s->renew_failed);
	ctl_reply_string(ctl, SECTX_TAG_RENEW_LAST, s->renew_last, sizeof(s->renew_last));
	(void)sectx_msg_get_u32(m, SECTX_TAG_LOGIN_HANDLES, &s->handles);
	(void)sectx_msg_get_u32(m, SECTX_TAG_SESSIONS_OPEN, &s->sessions);
	s->has_identity = sectx_msg_get_u32(m, SECTX_TAG_CACHED_USERS, &s->users) == 0;
	(void)sectx_msg_get_u32(m, SECTX_TAG_CACHED_GROUPS, &s->groups);
	(void)sectx_msg_get_u32(m, SECTX_TAG_NEGATIVE, &s->negative);
	(void)sectx_msg_get_u64(m, SECTX_TAG_GENERATION, &s->generation);
	ctl_reply_string(ctl, SECTX_TAG_NSS_CACHE_FILE, s->nss_cache_file,
			 sizeof(s->nss_cache_file));
	return EXIT_OK;
}

static void print_status_json(const struct ctl *ctl, const struct status *s)
{
	struct out o;

	out_begin(&o, stdout, true);
	out_str(&o, "version", s->version);
	out_uint(&o, "protocol_version", ctl->reply.hdr.version);
	out_uint(&o, "pid", s->pid);
	out_uint(&o, "uptime_seconds", s->uptime);
	out_str(&o, "config_file", s->config);
	out_str(&o, "realm", s->realm);
	out_str(&o, "log_level", sectx_log_level_name((int)s->level));
	out_obj_begin(&o, "connections");
	out_uint(&o, "nss", s->nss);
	out_uint(&o, "pam", s->pam);
	out_obj_end(&o);
	out_uint(&o, "requests_served", s->requests);
	out_uint(&o, "connections_refused", s->refused);
	out_str(&o, "kdc", s->kdc);
	out_str(&o, "kdc_error", s->kdc_error);
	out_uint(&o, "contexts_open", s->contexts);
	out_str(&o, "realm_state", s->realm_state);
	out_uint(&o, "realm_state_seconds", s->realm_since);
	if (s->has_probe) {
		out_uint(&o, "next_probe_seconds", s->next_probe);
	}
	if (s->has_cached) {
		out_uint(&o, "offline_cached_credentials", s->offline_users);
	}
	out_obj_begin(&o, "renewal");
	out_uint(&o, "sessions", s->renewing);
	out_uint(&o, "renewed", s->renewed);
	out_uint(&o, "failed", s->renew_failed);
	out_str(&o, "last", s->renew_last);
	out_obj_end(&o);
	out_uint(&o, "login_handles", s->handles);
	out_uint(&o, "sessions_open", s->sessions);
	if (s->has_identity) {
		out_obj_begin(&o, "identity");
		out_uint(&o, "users", s->users);
		out_uint(&o, "groups", s->groups);
		out_uint(&o, "negative", s->negative);
		out_obj_end(&o);
		out_obj_begin(&o, "nss_cache");
		out_uint(&o, "generation", s->generation);
		out_str(&o, "file", s->nss_cache_file);
		out_obj_end(&o);
	}
	out_end(&o);
}

static void print_status_text(const struct ctl *ctl, const struct status *s)
{
	printf("version: %s\nprotocol_version: %u\npid: %u\nuptime: %llus\nconfig_file: %s\n"
	       "realm: %s\nlog_level: %s\nconnections: nss %u, pam %u\nrequests_served: %llu\n"
	       "connections_refused: %llu\n",
	       s->version, (unsigned)ctl->reply.hdr.version, s->pid, (unsigned long long)s->uptime,
	       s->config, s->realm[0] != '\0' ? s->realm : "(none)",
	       sectx_log_level_name((int)s->level), s->nss, s->pam, (unsigned long long)s->requests,
	       (unsigned long long)s->refused);
	printf("kdc: %s\nkdc_error: %s\n", s->kdc[0] != '\0' ? s->kdc : "(none yet)",
	       s->kdc_error[0] != '\0' ? s->kdc_error : "(none)");
	printf("contexts_open: %u\n", s->contexts);
	if (s->realm_state[0] != '\0') {
		printf("realm_state: %s for %llus", s->realm_state,
		       (unsigned long long)s->realm_since);
		if (s->has_probe) {
			printf(", next probe in %llus", (unsigned long long)s->next_probe);
		}
		printf("\n");
	}
	if (s->has_cached) {
		printf("offline_cached_credentials: %u\n", s->offline_users);
	}
	printf("renewal: %u session(s), %llu renewed, %llu failed\nrenewal_last: %s\n", s->renewing,
	       (unsigned long long)s->renewed, (unsigned long long)s->renew_failed,
	       s->renew_last[0] != '\0' ? s->renew_last : "(none yet)");
	printf("login_handles: %u\nsessions_open: %u\n", s->handles, s->sessions);
	if (s->has_identity) {
		printf("identity: %u user(s), %u group(s), %u negative\n", s->users, s->groups,
		       s->negative);
		printf("nss_cache: generation %llu, %s\n", (unsigned long long)s->generation,
		       s->nss_cache_file);
	}
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct status s;
	bool json;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 0, 0, "takes no arguments");

	if (ret >= 0) {
		return ret;
	}
	ret = ctl_simple(ctl, SECTX_OP_STATUS);
	if (ret == EXIT_OK) {
		ret = read_status(ctl, &s);
	}
	if (ret != EXIT_OK) {
		return ret;
	}
	if (json) {
		print_status_json(ctl, &s);
	} else {
		print_status_text(ctl, &s);
	}
	return EXIT_OK;
}

static int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct out o;
	bool json;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 0, 0, "takes no arguments");

	if (ret >= 0) {
		return ret;
	}
	ret = ctl_simple(ctl, SECTX_OP_PING);
	if (ret == EXIT_OK && json) {
		out_begin(&o, stdout, true);
		out_bool(&o, "answering", true);
		out_end(&o);
	} else if (ret == EXIT_OK) {
		printf("sectxd is answering\n");
	}
	return ret;
}

static int cmd_debug_level(struct ctl *ctl, int argc, char **argv)
{
	struct sectx_wbuf w;
	int level;
	int ret = ctl_opts_args(ctl, &argc, argv, NULL, 1, 1, "takes one LEVEL");

	if (ret >= 0) {
		return ret;
	}
	level = sectx_log_level_parse(argv[1]);
	if (level < 0) {
		fprintf(stderr,
			"sectxctl: invalid level '%s' (error, warning, info, debug, trace "
			"or 0-4)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	ctl_begin(ctl, &w, SECTX_OP_DEBUG_LEVEL);
	sectx_put_u32(&w, SECTX_TAG_LOG_LEVEL, (uint32_t)level);
	ret = ctl_finish(ctl, &w);
	if (ret == EXIT_OK) {
		printf("log level: %s\n", sectx_log_level_name(level));
	}
	return ret;
}

/* cache list: one CACHE_ENTRY "KIND TIME NAME" per entry. */
static int cache_list(struct ctl *ctl, bool json)
{
	char text[SECTX_STRING_MAX + 1], kind[16], name[SECTX_NAME_MAX + 1];
	struct sectx_field f;
	long long t;
	struct out o;
	size_t pos, n = 0;
	int ret = ctl_simple(ctl, SECTX_OP_CACHE_LIST);

	if (ret != EXIT_OK) {
		return ret;
	}
	out_begin(&o, stdout, json);
	out_arr_begin(&o, "entries");
	for (pos = 0; sectx_msg_next(&ctl->reply, SECTX_TAG_CACHE_ENTRY, &pos, &f) == 0;) {
		if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) != 0 ||
		    sscanf(text, "%15s %lld %256s", kind, &t, name) != 3) {
			continue;
		}
		out_obj_begin(&o, NULL);
		out_str(&o, "cache", kind);
		out_str(&o, "name", name);
		out_time(&o, strcmp(kind, "offline") == 0 ? "stored" : "expires", t);
		out_obj_end(&o);
		n++;
	}
	out_arr_end(&o);
	out_uint(&o, "count", n);
	out_end(&o);
	return EXIT_OK;
}

/* cache flush [--user NAME] and cache expire. */
static int cache_drop(struct ctl *ctl, bool json, const char *user, bool expire)
{
	struct sectx_wbuf w;
	uint64_t gen = 0;
	uint32_t count = 0;
	struct out o;
	int ret;

	if (user == NULL) {
		/* every existence check and negative entry; a new NSS cache */
		ret = ctl_simple(ctl, SECTX_OP_CACHE_FLUSH);
		if (ret != EXIT_OK) {
			return ret;
		}
		(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_GENERATION, &gen);
	}
	if (!expire) {
		ctl_begin(ctl, &w, SECTX_OP_CACHE_DROP);
		if (user != NULL) {
			sectx_put_string(&w, SECTX_TAG_NAME, user);
		}
		ret = ctl_finish(ctl, &w);
		if (ret != EXIT_OK) {
			return ret;
		}
		(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_COUNT, &count);
	}
	if (json) {
		out_begin(&o, stdout, true);
		out_str(&o, "action", expire ? "expire" : "flush");
		out_str(&o, "user", user);
		out_uint(&o, "generation", gen);
		out_uint(&o, user != NULL ? "identity_entries" : "offline_credentials", count);
		out_end(&o);
	} else if (user != NULL) {
		printf("cached identity, negative entry and offline credential of %s forgotten\n",
		       user);
	} else {
		printf("NSS cache flushed (generation %llu)\n", (unsigned long long)gen);
		if (!expire) {
			printf("offline credentials deleted: %u\n", count);
		}
	}
	return EXIT_OK;
}

static int cmd_cache(struct ctl *ctl, int argc, char **argv)
{
	bool json;
	int ret =
	    ctl_opts_args(ctl, &argc, argv, &json, 1, 3, "list, flush [--user NAME] or expire");

	if (ret >= 0) {
		return ret;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		return cache_list(ctl, json);
	}
	if (strcmp(argv[1], "expire") == 0 && argc == 2) {
		return cache_drop(ctl, json, NULL, true);
	}
	if (strcmp(argv[1], "flush") == 0 && argc == 2) {
		return cache_drop(ctl, json, NULL, false);
	}
	if (strcmp(argv[1], "flush") == 0 && argc == 4 && strcmp(argv[2], "--user") == 0) {
		return cache_drop(ctl, json, argv[3], false);
	}
	return ctl_usage_error(ctl, "list, flush [--user NAME] or expire");
}

/* One page of id-map entries: a repeated string field, printed text or JSON. */
static void id_map_list(struct ctl *ctl, struct out *o, uint16_t tag, const char *label)
{
	char text[SECTX_STRING_MAX + 1];
	struct sectx_field f;
	size_t pos;

	for (pos = 0; sectx_msg_next(&ctl->reply, tag, &pos, &f) == 0;) {
		if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) != 0) {
			continue;
		}
		if (o->json) {
			out_obj_begin(o, NULL);
			out_str(o, "kind", label);
			out_str(o, "entry", text);
			out_obj_end(o);
		} else if (tag == SECTX_TAG_COLLISION) {
			unsigned uid;
			char principal[SECTX_NAME_MAX + 1];
			int off = 0;

			if (sscanf(text, "%u %256s %n", &uid, principal, &off) == 2 && off > 0) {
				printf("collision: uid %u: %s refused (uid held by %s)\n", uid,
				       principal, text + off);
			}
		} else {
			printf("%s: %s\n", label, text);
		}
	}
}

static int cmd_id_map(struct ctl *ctl, int argc, char **argv)
{
	char range[SECTX_STRING_MAX + 1];
	struct sectx_wbuf w;
	uint32_t index = 0, next;
	struct out o;
	bool json;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 0, 0, "takes no arguments");
	int page;

	if (ret >= 0) {
		return ret;
	}
	for (page = 0; page < 100000; page++) {
		ctl_begin(ctl, &w, SECTX_OP_ID_MAP);
		sectx_put_u32(&w, SECTX_TAG_INDEX, index);
		ret = ctl_finish(ctl, &w);
		if (ret != EXIT_OK) {
			if (page > 0 && json) {
				out_arr_end(&o);
				out_end(&o);
			}
			return ret;
		}
		if (page == 0) {
			ctl_reply_string(ctl, SECTX_TAG_ID_RANGE, range, sizeof(range));
			if (json) {
				out_begin(&o, stdout, true);
				out_str(&o, "id_range", range);
				out_arr_begin(&o, "entries");
			} else {
				o.json = false;
				if (range[0] != '\0') {
					printf("id_range: %s\n", range);
				}
			}
		}
		id_map_list(ctl, &o, SECTX_TAG_MAPPING, "mapping");
		id_map_list(ctl, &o, SECTX_TAG_COLLISION, "collision");
		id_map_list(ctl, &o, SECTX_TAG_ID_PROBLEM, "refused");
		if (sectx_msg_get_u32(&ctl->reply, SECTX_TAG_NEXT_INDEX, &next) != 0 ||
		    next <= index) {
			break;
		}
		index = next;
	}
	if (json) {
		out_arr_end(&o);
		out_end(&o);
	}
	return EXIT_OK;
}

static int cmd_check_config(struct ctl *ctl, int argc, char **argv)
{
	struct sectx_config_errors *errs = NULL;
	struct sectx_config *cfg = NULL;
	const char *path;
	TALLOC_CTX *tmp;
	struct out o;
	bool json;
	int ret = ctl_opts_args(ctl, &argc, argv, &json, 0, 1, "takes at most one FILE");
	size_t i;

	if (ret >= 0) {
		return ret;
	}
	path = argc == 2 ? argv[1] : ctl->config_path;
	tmp = talloc_new(NULL);
	if (tmp == NULL) {
		return EXIT_FAILED;
	}
	ret = sectx_config_load_file(tmp, path, &cfg, &errs);
	if (json) {
		out_begin(&o, stdout, true);
		out_str(&o, "file", path);
		out_bool(&o, "valid", ret == 0);
		out_arr_begin(&o, "errors");
		for (i = 0; errs != NULL && i < errs->count; i++) {
			out_obj_begin(&o, NULL);
			out_uint(&o, "line", errs->items[i].line);
			out_str(&o, "message", errs->items[i].message);
			out_obj_end(&o);
		}
		if (ret != 0 && (errs == NULL || errs->count == 0)) {
			out_obj_begin(&o, NULL);
			out_uint(&o, "line", 0);
			out_str(&o, "message", strerror(-ret));
			out_obj_end(&o);
		}
		out_arr_end(&o);
		out_end(&o);
	} else if (ret == 0) {
		printf("%s: OK\n", path);
	} else if (errs != NULL && errs->count > 0) {
		sectx_config_print_errors(stderr, errs);
	} else {
		fprintf(stderr, "%s: %s\n", path, strerror(-ret));
	}
	talloc_free(tmp);
	return ret == 0 ? EXIT_OK : EXIT_FAILED;
}

static int cmd_config_keys(struct ctl *ctl, int argc, char **argv)
{
	int ret = ctl_opts_args(ctl, &argc, argv, NULL, 0, 0, "takes no arguments");

	if (ret >= 0) {
		return ret;
	}
	sectx_config_print_schema(stdout);
	return EXIT_OK;
}

const struct command sectxctl_daemon_commands[] = {
    {"status", "status [--json]",
     "Show sectxd's version, uptime, config file, realm, log level, connections, the KDC\n"
     "that answered last, realm state, renewal, login handles, the identity cache's\n"
     "users, groups and negative entries, and the NSS cache's generation and file.\n",
     cmd_status},
    {"ping", "ping [--json]", "Check that sectxd answers.\n", cmd_ping},
    {"debug-level", "debug-level LEVEL",
     "Set sectxd's log level (root only): error, warning, info, debug, trace or 0-4.\n",
     cmd_debug_level},
    {"check-config", "check-config [--json] [FILE]",
     "Validate a configuration file offline (default: --config, " SECTX_DEFAULT_CONFIG ")\n"
     "and name the file and line of every problem.\n",
     cmd_check_config},
    {"config-keys", "config-keys", "List every configuration key with its type and default.\n",
     cmd_config_keys},
    {"cache", "cache [--json] list|flush [--user NAME]|expire",
     "Root only.  list: the identity cache's auto users (with the end of their existence\n"
     "check), its negative entries (with their expiry) and the offline credentials (with\n"
     "when they were stored).  expire: every existence check and negative entry expires\n"
     "and a new NSS cache is published.  flush: expire, and delete every offline\n"
     "credential.  flush --user NAME: forget only NAME's existence check, negative entry\n"
     "and offline credential.\n",
     cmd_cache},
    {"id-map", "id-map [--json]",
     "List id mappings, collisions and refused static entries (root only).\n", cmd_id_map},
    {NULL, NULL, NULL, NULL},
};
