/*
 * sectxctl/sectxctl.c - the sectx admin CLI.
 *
 * A client like any other: it connects to pam.sock per call and the helper
 * decides what its uid may do (status for anyone, debug-level for root).  It
 * holds no privilege of its own and must not be installed setuid.
 * check-config runs offline with the same schema code as the daemon.
 *
 * Exit codes: 0 success; 1 refused, failed or invalid config; 2 usage;
 * 3 helper unreachable or timed out.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "proto.h"

#ifndef SECTX_DEFAULT_CONFIG
#define SECTX_DEFAULT_CONFIG "/etc/sectx/sectx.conf"
#endif

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define DEFAULT_TIMEOUT_MS 5000

struct ctl {
	const char *socket_dir;
	int64_t timeout_ms;
	uint8_t req[SECTX_FRAME_MAX];
	uint8_t resp[SECTX_FRAME_MAX];
	struct sectx_msg reply;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sectxctl [--socket-dir DIR] [--timeout MS] COMMAND [ARGS]\n"
		"commands:\n"
		"  status [--json]       helper version, uptime, config, realm, connections\n"
		"  ping                  check that the helper answers\n"
		"  debug-level LEVEL     set the helper's log level (root only):\n"
		"                        error, warning, info, debug, trace or 0-4\n"
		"  check-config [FILE]   validate a configuration file offline\n"
		"                        (default " SECTX_DEFAULT_CONFIG ")\n"
		"  config-keys           list every configuration key with its default\n"
		"  cache flush           forget cached identities and republish the NSS cache\n"
		"                        (root only)\n"
		"  id-map                list id mappings, collisions and refused static entries\n"
		"                        (root only)\n"
		"exit codes: 0 ok, 1 refused or failed, 2 usage, 3 helper unreachable\n");
}

/* Send the frame in ctl->req and wait for its reply.  Prints the reason and
 * returns an exit code on failure; on success the reply is in ctl->reply. */
static int call(struct ctl *ctl, size_t reqlen)
{
	struct sectx_conn conn = SECTX_CONN_INIT;
	int64_t deadline = sectx_deadline_after(ctl->timeout_ms);
	uint32_t status = SECTX_E_INTERNAL;
	char msg[SECTX_STRING_MAX + 1];
	int ret;

	ret = sectx_client_connect(ctl->socket_dir, SECTX_PAM_SOCKET, deadline, &conn);
	if (ret != 0) {
		fprintf(stderr, "sectxctl: cannot reach sectxd at %s/%s: %s\n", ctl->socket_dir,
			SECTX_PAM_SOCKET,
			ret == -EPERM ? "socket is not owned by root" : sectx_strerror(ret));
		return EXIT_UNREACHABLE;
	}
	ret = sectx_client_call(&conn, ctl->req, reqlen, ctl->resp, sizeof(ctl->resp), &ctl->reply,
				&status, deadline);
	sectx_client_close(&conn);
	if (ret != 0) {
		fprintf(stderr, "sectxctl: no valid answer from sectxd: %s\n", sectx_strerror(ret));
		return ret == -ETIMEDOUT || ret == -ECONNRESET ? EXIT_UNREACHABLE : EXIT_FAILED;
	}
	if (status != SECTX_OK) {
		if (sectx_msg_get_string(&ctl->reply, SECTX_TAG_MESSAGE, msg, sizeof(msg),
					 SECTX_STRING_MAX) != 0) {
			snprintf(msg, sizeof(msg), "%s", sectx_status_name(status));
		}
		fprintf(stderr, "sectxctl: sectxd refused: %s\n", msg);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int simple_request(struct ctl *ctl, uint16_t op, int has_level, uint32_t level)
{
	struct sectx_wbuf w;
	size_t len;

	sectx_frame_begin(&w, ctl->req, sizeof(ctl->req), SECTX_PROTO_VERSION, op,
			  (uint32_t)getpid());
	if (has_level) {
		sectx_put_u32(&w, SECTX_TAG_LOG_LEVEL, level);
	}
	if (sectx_frame_end(&w, &len) != 0) {
		return EXIT_FAILED;
	}
	return call(ctl, len);
}

/* Print s as a JSON string literal. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20) {
			printf("\\u%04x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	char version[SECTX_NAME_MAX + 1], config[SECTX_STRING_MAX + 1], realm[SECTX_NAME_MAX + 1];
	char kdc[SECTX_NAME_MAX + 1] = "", kdc_error[SECTX_STRING_MAX + 1] = "";
	uint32_t pid = 0, level = 0, nss = 0, pam = 0, contexts = 0;
	uint64_t uptime = 0, requests = 0, refused = 0;
	char realm_state[16] = "";
	uint64_t realm_since = 0, next_probe = 0;
	uint32_t offline_users = 0;
	bool has_probe, has_cached;
	char renew_last[SECTX_STRING_MAX + 1] = "";
	uint32_t renewing = 0;
	uint64_t renewed = 0, renew_failed = 0;
	int json = 0;
	int ret;

	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		json = 1;
	} else if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	ret = simple_request(ctl, SECTX_OP_STATUS, 0, 0);
	if (ret != EXIT_OK) {
		return ret;
	}
	if (sectx_msg_get_string(&ctl->reply, SECTX_TAG_VERSION_STR, version, sizeof(version),
				 SECTX_NAME_MAX) != 0 ||
	    sectx_msg_get_string(&ctl->reply, SECTX_TAG_CONFIG_FILE, config, sizeof(config),
				 SECTX_STRING_MAX) != 0 ||
	    sectx_msg_get_string(&ctl->reply, SECTX_TAG_REALM, realm, sizeof(realm),
				 SECTX_NAME_MAX) != 0 ||
	    sectx_msg_get_u32(&ctl->reply, SECTX_TAG_PID, &pid) != 0 ||
	    sectx_msg_get_u32(&ctl->reply, SECTX_TAG_LOG_LEVEL, &level) != 0 ||
	    sectx_msg_get_u32(&ctl->reply, SECTX_TAG_CONN_NSS, &nss) != 0 ||
	    sectx_msg_get_u32(&ctl->reply, SECTX_TAG_CONN_PAM, &pam) != 0 ||
	    sectx_msg_get_u64(&ctl->reply, SECTX_TAG_UPTIME, &uptime) != 0 ||
	    sectx_msg_get_u64(&ctl->reply, SECTX_TAG_REQUESTS, &requests) != 0 ||
	    sectx_msg_get_u64(&ctl->reply, SECTX_TAG_CONN_REFUSED, &refused) != 0) {
		fprintf(stderr, "sectxctl: incomplete status reply from sectxd\n");
		return EXIT_FAILED;
	}
	/* optional: present when the Kerberos engine runs */
	(void)sectx_msg_get_string(&ctl->reply, SECTX_TAG_KDC, kdc, sizeof(kdc), SECTX_NAME_MAX);
	(void)sectx_msg_get_string(&ctl->reply, SECTX_TAG_KDC_ERROR, kdc_error, sizeof(kdc_error),
				   SECTX_STRING_MAX);
	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_CTX_OPEN, &contexts);
	/* optional: realm state and offline logins (realm_state.c, offline_cache.c) */
	(void)sectx_msg_get_string(&ctl->reply, SECTX_TAG_REALM_STATE, realm_state,
				   sizeof(realm_state), sizeof(realm_state) - 1);
	(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_REALM_SINCE, &realm_since);
	has_probe = sectx_msg_get_u64(&ctl->reply, SECTX_TAG_NEXT_PROBE, &next_probe) == 0;
	has_cached = sectx_msg_get_u32(&ctl->reply, SECTX_TAG_OFFLINE_USERS, &offline_users) == 0;
	/* optional: session renewal (helper/renewal.c) */
	(void)sectx_msg_get_u32(&ctl->reply, SECTX_TAG_RENEW_SESSIONS, &renewing);
	(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_RENEW_DONE, &renewed);
	(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_RENEW_FAILED, &renew_failed);
	(void)sectx_msg_get_string(&ctl->reply, SECTX_TAG_RENEW_LAST, renew_last,
				   sizeof(renew_last), SECTX_STRING_MAX);
	if (json) {
		printf("{\"version\": ");
		json_string(version);
		printf(", \"protocol_version\": %u, \"pid\": %u, \"uptime_seconds\": %llu, "
		       "\"config_file\": ",
		       (unsigned)ctl->reply.hdr.version, pid, (unsigned long long)uptime);
		json_string(config);
		printf(", \"realm\": ");
		json_string(realm);
		printf(", \"log_level\": ");
		json_string(sectx_log_level_name((int)level));
		printf(", \"connections\": {\"nss\": %u, \"pam\": %u}, \"requests_served\": %llu, "
		       "\"connections_refused\": %llu, \"kdc\": ",
		       nss, pam, (unsigned long long)requests, (unsigned long long)refused);
		json_string(kdc);
		printf(", \"kdc_error\": ");
		json_string(kdc_error);
		printf(", \"contexts_open\": %u", contexts);
		printf(", \"realm_state\": ");
		json_string(realm_state);
		printf(", \"realm_state_seconds\": %llu", (unsigned long long)realm_since);
		if (has_probe) {
			printf(", \"next_probe_seconds\": %llu", (unsigned long long)next_probe);
		}
		if (has_cached) {
			printf(", \"offline_cached_credentials\": %u", offline_users);
		}
		printf(", \"renewal\": {\"sessions\": %u, \"renewed\": %llu, \"failed\": %llu, "
		       "\"last\": ",
		       renewing, (unsigned long long)renewed, (unsigned long long)renew_failed);
		json_string(renew_last);
		printf("}}\n");
	} else {
		printf(
		    "version: %s\nprotocol_version: %u\npid: %u\nuptime: %llus\nconfig_file: %s\n"
		    "realm: %s\nlog_level: %s\nconnections: nss %u, pam %u\nrequests_served: %llu\n"
		    "connections_refused: %llu\n",
		    version, (unsigned)ctl->reply.hdr.version, pid, (unsigned long long)uptime,
		    config, realm[0] != '\0' ? realm : "(none)", sectx_log_level_name((int)level),
		    nss, pam, (unsigned long long)requests, (unsigned long long)refused);
		printf("kdc: %s\nkdc_error: %s\n", kdc[0] != '\0' ? kdc : "(none yet)",
		       kdc_error[0] != '\0' ? kdc_error : "(none)");
		printf("contexts_open: %u\n", contexts);
		if (realm_state[0] != '\0') {
			printf("realm_state: %s for %llus", realm_state,
			       (unsigned long long)realm_since);
			if (has_probe) {
				printf(", next probe in %llus", (unsigned long long)next_probe);
			}
			printf("\n");
		}
		if (has_cached) {
			printf("offline_cached_credentials: %u\n", offline_users);
		}
		printf("renewal: %u session(s), %llu renewed, %llu failed\nrenewal_last: %s\n",
		       renewing, (unsigned long long)renewed, (unsigned long long)renew_failed,
		       renew_last[0] != '\0' ? renew_last : "(none yet)");
	}
	return EXIT_OK;
}

static int cmd_debug_level(struct ctl *ctl, int argc, char **argv)
{
	int level;
	int ret;

	if (argc != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	level = sectx_log_level_parse(argv[1]);
	if (level < 0) {
		fprintf(stderr,
			"sectxctl: invalid level '%s' (error, warning, info, debug, trace "
			"or 0-4)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	ret = simple_request(ctl, SECTX_OP_DEBUG_LEVEL, 1, (uint32_t)level);
	if (ret == EXIT_OK) {
		printf("log level: %s\n", sectx_log_level_name(level));
	}
	return ret;
}

static int cmd_cache_flush(struct ctl *ctl, int argc, char **argv)
{
	uint64_t gen = 0;
	int ret;

	if (argc != 2 || strcmp(argv[1], "flush") != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	ret = simple_request(ctl, SECTX_OP_CACHE_FLUSH, 0, 0);
	if (ret == EXIT_OK) {
		(void)sectx_msg_get_u64(&ctl->reply, SECTX_TAG_GENERATION, &gen);
		printf("NSS cache flushed (generation %llu)\n", (unsigned long long)gen);
	}
	return ret;
}

/* id-map: pages of mappings, collisions and refused static lines. */
static int cmd_id_map(struct ctl *ctl, int argc, char **argv)
{
	char text[SECTX_STRING_MAX + 1];
	struct sectx_field f;
	struct sectx_wbuf w;
	uint32_t index = 0, next;
	size_t len, pos;
	int ret, page;

	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (page = 0; page < 100000; page++) {
		sectx_frame_begin(&w, ctl->req, sizeof(ctl->req), SECTX_PROTO_VERSION,
				  SECTX_OP_ID_MAP, (uint32_t)getpid());
		sectx_put_u32(&w, SECTX_TAG_INDEX, index);
		if (sectx_frame_end(&w, &len) != 0) {
			return EXIT_FAILED;
		}
		ret = call(ctl, len);
		if (ret != EXIT_OK) {
			return ret;
		}
		if (page == 0 && sectx_msg_get_string(&ctl->reply, SECTX_TAG_ID_RANGE, text,
						      sizeof(text), SECTX_STRING_MAX) == 0) {
			printf("id_range: %s\n", text);
		}
		for (pos = 0; sectx_msg_next(&ctl->reply, SECTX_TAG_MAPPING, &pos, &f) == 0;) {
			if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) == 0) {
				printf("mapping: %s\n", text);
			}
		}
		for (pos = 0; sectx_msg_next(&ctl->reply, SECTX_TAG_COLLISION, &pos, &f) == 0;) {
			unsigned uid;
			char principal[SECTX_NAME_MAX + 1];
			int off = 0;

			if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) == 0 &&
			    sscanf(text, "%u %256s %n", &uid, principal, &off) == 2 && off > 0) {
				printf("collision: uid %u: %s refused (uid held by %s)\n", uid,
				       principal, text + off);
			}
		}
		for (pos = 0; sectx_msg_next(&ctl->reply, SECTX_TAG_ID_PROBLEM, &pos, &f) == 0;) {
			if (sectx_field_string(&f, text, sizeof(text), SECTX_STRING_MAX) == 0) {
				printf("refused: %s\n", text);
			}
		}
		if (sectx_msg_get_u32(&ctl->reply, SECTX_TAG_NEXT_INDEX, &next) != 0 ||
		    next <= index) {
			break;
		}
		index = next;
	}
	return EXIT_OK;
}

static int cmd_check_config(int argc, char **argv)
{
	const char *path = argc >= 2 ? argv[1] : SECTX_DEFAULT_CONFIG;
	struct sectx_config_errors *errs = NULL;
	struct sectx_config *cfg = NULL;
	TALLOC_CTX *tmp;
	int ret;

	if (argc > 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	tmp = talloc_new(NULL);
	if (tmp == NULL) {
		return EXIT_FAILED;
	}
	ret = sectx_config_load_file(tmp, path, &cfg, &errs);
	if (ret == 0) {
		printf("%s: OK\n", path);
	} else if (errs != NULL && errs->count > 0) {
		sectx_config_print_errors(stderr, errs);
	} else {
		fprintf(stderr, "%s: %s\n", path, strerror(-ret));
	}
	talloc_free(tmp);
	return ret == 0 ? EXIT_OK : EXIT_FAILED;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket-dir", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl *ctl;
	const char *cmd;
	char *end;
	int ret;
	int c;

	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL) {
		return EXIT_FAILED;
	}
	ctl->socket_dir = sectx_socket_dir();
	ctl->timeout_ms = DEFAULT_TIMEOUT_MS;
	/* "+": options end at the command, whose own arguments follow it */
	while ((c = getopt_long(argc, argv, "+s:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->socket_dir = optarg;
			break;
		case 't':
			errno = 0;
			ctl->timeout_ms = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ctl->timeout_ms <= 0 ||
			    ctl->timeout_ms > 600000) {
				fprintf(stderr, "sectxctl: --timeout takes 1 to 600000 ms\n");
				ret = EXIT_USAGE;
				goto done;
			}
			break;
		case 'h':
			usage(stdout);
			ret = EXIT_OK;
			goto done;
		case 'V':
			printf("sectxctl %s\n", PACKAGE_VERSION);
			ret = EXIT_OK;
			goto done;
		default:
			usage(stderr);
			ret = EXIT_USAGE;
			goto done;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		ret = EXIT_USAGE;
		goto done;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "status") == 0) {
		ret = cmd_status(ctl, argc, argv);
	} else if (strcmp(cmd, "ping") == 0 && argc == 1) {
		ret = simple_request(ctl, SECTX_OP_PING, 0, 0);
		if (ret == EXIT_OK) {
			printf("sectxd is answering\n");
		}
	} else if (strcmp(cmd, "debug-level") == 0) {
		ret = cmd_debug_level(ctl, argc, argv);
	} else if (strcmp(cmd, "check-config") == 0) {
		ret = cmd_check_config(argc, argv);
	} else if (strcmp(cmd, "cache") == 0) {
		ret = cmd_cache_flush(ctl, argc, argv);
	} else if (strcmp(cmd, "id-map") == 0) {
		ret = cmd_id_map(ctl, argc, argv);
	} else if (strcmp(cmd, "config-keys") == 0 && argc == 1) {
		sectx_config_print_schema(stdout);
		ret = EXIT_OK;
	} else {
		fprintf(stderr, "sectxctl: unknown command or arguments: %s\n", cmd);
		usage(stderr);
		ret = EXIT_USAGE;
	}
done:
	free(ctl);
	return ret;
}
