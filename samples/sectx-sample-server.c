/*
 * sectx-sample-server.c - a gss-sample "sign" server whose acceptor runs in
 * sectxd.
 *
 * It speaks the token framing and message sequence of MIT krb5's gss-server
 * (see sample_token.h), so MIT's gss-client and sectx-sample-client are both
 * its peers, but it never reads a keytab: every context token goes to the
 * helper over pam.sock (SECTX_OP_CTX_ACCEPT_STEP), which accepts it with the
 * keytab entry and mechanisms the [service/NAME] section grants to this
 * process's uid, and so do unwrap and get-MIC.  One helper connection per
 * client session, because a context handle dies with the connection that
 * made it; closing it releases anything a failed session left behind.
 *
 * It binds 127.0.0.1 only: a sample, not a network service.  Everything a
 * client sends is untrusted: token sizes are bounded (SAMPLE_TOKEN_MAX),
 * every read has a deadline, and a message is printed with non-printable
 * bytes escaped.  It needs no privilege and must not be installed setuid.
 *
 * Exit codes: 0 success (with -once: the session succeeded); 1 the session
 * failed; 2 usage; 3 sectxd unreachable or the port could not be bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"
#include "sample_token.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define SAMPLE_SOCKET_ENV "SECTX_SOCKET" /* full path of pam.sock */
#define SAMPLE_PATH_MAX	  4096u

struct server {
	const char *target;		  /* SERVICE@HOST as given */
	char service[SECTX_NAME_MAX + 1]; /* [service/NAME] to accept as */
	char sock_dir[SAMPLE_PATH_MAX];
	char sock_name[SAMPLE_PATH_MAX];
	uint16_t port;
	bool once;
	bool verbose;
	int listen_fd;
};

/* One client session: its TCP stream, its helper connection, its context. */
struct session {
	int fd;
	struct sectx_conn helper;
	uint32_t handle;
	bool have_handle;
	uint32_t reqid;
	uint8_t tok[SAMPLE_TOKEN_MAX];
	uint8_t req[SECTX_FRAME_MAX];
	uint8_t resp[SECTX_FRAME_MAX];
	struct sectx_msg reply;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sectx-sample-server [-port N] [-once] [-service NAME] [-verbose]\n"
		"                           SERVICE@HOST\n"
		"  Accepts gss-sample clients on 127.0.0.1:N (default %d; 0 picks a free\n"
		"  port) and has sectxd accept their contexts as [service/NAME] (default:\n"
		"  the SERVICE part).  sectxd is found at $SECTX_SOCKET (path of pam.sock)\n"
		"  or in $SECTX_SOCKET_DIR.\n"
		"exit codes: 0 ok, 1 session failed, 2 usage, 3 sectxd or port unavailable\n",
		SAMPLE_DEFAULT_PORT);
}

/* Where pam.sock is: $SECTX_SOCKET split into directory and name, else the
 * usual socket directory.  Returns 0 or -ENAMETOOLONG / -EINVAL. */
static int find_helper(struct server *srv)
{
	const char *path = getenv(SAMPLE_SOCKET_ENV);
	const char *slash;
	size_t dirlen;

	if (path == NULL || *path == '\0') {
		snprintf(srv->sock_dir, sizeof(srv->sock_dir), "%s", sectx_socket_dir());
		snprintf(srv->sock_name, sizeof(srv->sock_name), "%s", SECTX_PAM_SOCKET);
		return 0;
	}
	slash = strrchr(path, '/');
	if (path[0] != '/' || slash == NULL || slash[1] == '\0') {
		return -EINVAL;
	}
	dirlen = (size_t)(slash - path);
	if (dirlen == 0) {
		dirlen = 1; /* "/pam.sock" */
	}
	if (dirlen >= sizeof(srv->sock_dir) || strlen(slash + 1) >= sizeof(srv->sock_name)) {
		return -ENAMETOOLONG;
	}
	memcpy(srv->sock_dir, path, dirlen);
	srv->sock_dir[dirlen] = '\0';
	snprintf(srv->sock_name, sizeof(srv->sock_name), "%s", slash + 1);
	return 0;
}

static const char *reply_message(struct session *s, char *buf, size_t cap, uint32_t status)
{
	if (sectx_msg_get_string(&s->reply, SECTX_TAG_MESSAGE, buf, cap, SECTX_STRING_MAX) != 0 ||
	    buf[0] == '\0') {
		snprintf(buf, cap, "%s", sectx_status_name(status));
	}
	return buf;
}

/* Send the frame in s->req (reqlen bytes) and check the reply's status.
 * Returns 0 with the reply in s->reply, or prints why and returns an exit
 * code. */
static int helper_call(struct session *s, size_t reqlen, const char *what)
{
	char msg[SECTX_STRING_MAX + 1];
	uint32_t status = SECTX_E_INTERNAL;
	int ret;

	ret = sectx_client_call(&s->helper, s->req, reqlen, s->resp, sizeof(s->resp), &s->reply,
				&status, sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
	if (ret != 0) {
		fprintf(stderr, "sectx-sample-server: %s: no valid answer from sectxd: %s\n", what,
			sectx_strerror(ret));
		return EXIT_UNREACHABLE;
	}
	if (status != SECTX_OK) {
		fprintf(stderr, "sectx-sample-server: %s: sectxd refused: %s\n", what,
			reply_message(s, msg, sizeof(msg), status));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static void begin(struct session *s, struct sectx_wbuf *w, uint16_t op)
{
	sectx_frame_begin(w, s->req, sizeof(s->req), SECTX_PROTO_VERSION, op, ++s->reqid);
}

static int end(struct sectx_wbuf *w, size_t *len)
{
	int ret = sectx_frame_end(w, len);

	if (ret != 0) {
		fprintf(stderr, "sectx-sample-server: cannot build a request: %s\n",
			sectx_strerror(ret));
	}
	return ret;
}

/* Print what the helper says about the complete context.  Returns 0, or
 * EXIT_FAILED if the reply lacks a field the protocol promises. */
static int print_context(struct session *s)
{
	char peer[SECTX_NAME_MAX + 1], local[SECTX_NAME_MAX + 1], mech[SECTX_NAME_MAX + 1];
	char flagbuf[128];
	uint32_t flags = 0, mutual = 0, lifetime = 0;

	if (sectx_msg_get_string(&s->reply, SECTX_TAG_PEER_NAME, peer, sizeof(peer),
				 SECTX_NAME_MAX) != 0 ||
	    sectx_msg_get_string(&s->reply, SECTX_TAG_MECH, mech, sizeof(mech), SECTX_NAME_MAX) !=
		0 ||
	    sectx_msg_get_u32(&s->reply, SECTX_TAG_CTX_FLAGS, &flags) != 0 ||
	    sectx_msg_get_u32(&s->reply, SECTX_TAG_MUTUAL, &mutual) != 0) {
		fprintf(stderr, "sectx-sample-server: sectxd's COMPLETE reply lacks the "
				"context's name, mechanism or flags\n");
		return EXIT_FAILED;
	}
	if (sectx_msg_get_string(&s->reply, SECTX_TAG_LOCAL_NAME, local, sizeof(local),
				 SECTX_NAME_MAX) != 0) {
		snprintf(local, sizeof(local), "?");
	}
	(void)sectx_msg_get_u32(&s->reply, SECTX_TAG_LIFETIME, &lifetime);
	printf("Accepted connection: \"%s\"\n", peer);
	printf("  accepted as: %s\n", local);
	printf("  mechanism: %s\n", mech);
	printf("  flags: %s\n", sample_flags_text(flags, flagbuf, sizeof(flagbuf)));
	printf("  mutual: %s\n", mutual ? "yes" : "no");
	printf("  lifetime: %u s\n", lifetime);
	fflush(stdout);
	return EXIT_OK;
}

/* The context loop: CONTEXT tokens from the client go to the helper, its
 * tokens go back, until COMPLETE or FAILED. */
static int establish(struct server *srv, struct session *s)
{
	struct sectx_wbuf w;
	const uint8_t *out;
	size_t len, outlen;
	uint32_t state = SECTX_CTX_FAILED, handle;
	uint8_t flags = 0;
	char msg[SECTX_STRING_MAX + 1];
	int ret;

	for (;;) {
		ret = sample_recv_token(s->fd, &flags, s->tok, sizeof(s->tok), &len,
					sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
		if (ret != 0) {
			fprintf(stderr, "sectx-sample-server: reading a context token: %s\n",
				sectx_strerror(ret));
			return EXIT_FAILED;
		}
		if ((flags & SAMPLE_TOKEN_CONTEXT) == 0) {
			fprintf(stderr,
				"sectx-sample-server: expected a context token, got flags 0x%02x\n",
				flags);
			return EXIT_FAILED;
		}
		if (srv->verbose) {
			printf("Received context token (size=%zu)\n", len);
		}
		begin(s, &w, SECTX_OP_CTX_ACCEPT_STEP);
		sectx_put_string(&w, SECTX_TAG_SERVICE, srv->service);
		if (s->have_handle) {
			sectx_put_u32(&w, SECTX_TAG_CTX_HANDLE, s->handle);
		}
		sectx_put_bytes(&w, SECTX_TAG_TOKEN, s->tok, len);
		if (end(&w, &len) != 0) {
			return EXIT_FAILED;
		}
		ret = helper_call(s, len, "accepting a context token");
		if (ret != EXIT_OK) {
			return ret;
		}
		if (sectx_msg_get_u32(&s->reply, SECTX_TAG_CTX_STATE, &state) != 0) {
			fprintf(stderr,
				"sectx-sample-server: sectxd's reply has no context state\n");
			return EXIT_FAILED;
		}
		if (state == SECTX_CTX_FAILED) {
			s->have_handle = false; /* the helper dropped it */
		} else if (sectx_msg_get_u32(&s->reply, SECTX_TAG_CTX_HANDLE, &handle) == 0) {
			s->handle = handle;
			s->have_handle = true;
		} else {
			fprintf(stderr,
				"sectx-sample-server: sectxd's reply has no context handle\n");
			return EXIT_FAILED;
		}
		/* An output token is sent even when the step failed: it may carry
		 * the mechanism's error for the client. */
		if (sectx_msg_get_bytes(&s->reply, SECTX_TAG_TOKEN, &out, &outlen) == 0 &&
		    outlen > 0) {
			if (srv->verbose) {
				printf("Sending accept token (size=%zu)\n", outlen);
			}
			ret = sample_send_token(s->fd, SAMPLE_TOKEN_CONTEXT, out, outlen,
						sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
			if (ret != 0) {
				fprintf(stderr,
					"sectx-sample-server: sending a context token: %s\n",
					sectx_strerror(ret));
				return EXIT_FAILED;
			}
		}
		if (state == SECTX_CTX_FAILED) {
			fprintf(stderr, "sectx-sample-server: context refused: %s\n",
				reply_message(s, msg, sizeof(msg), SECTX_OK));
			return EXIT_FAILED;
		}
		if (state == SECTX_CTX_COMPLETE) {
			return print_context(s);
		}
		if (state != SECTX_CTX_CONTINUE) {
			fprintf(stderr, "sectx-sample-server: unknown context state %u\n", state);
			return EXIT_FAILED;
		}
	}
}

/* Answer one DATA token: unwrap it if WRAPPED, print it, and send its MIC
 * (SEND_MIC) or an empty NOOP. */
static int sign_one(struct session *s, uint8_t flags, size_t toklen)
{
	struct sectx_wbuf w;
	const uint8_t *data = s->tok, *mic;
	size_t datalen = toklen, len, miclen;
	uint32_t conf = 0;
	int ret;

	if (flags & SAMPLE_TOKEN_WRAPPED) {
		begin(s, &w, SECTX_OP_CTX_UNWRAP);
		sectx_put_u32(&w, SECTX_TAG_CTX_HANDLE, s->handle);
		sectx_put_bytes(&w, SECTX_TAG_TOKEN, s->tok, toklen);
		if (end(&w, &len) != 0) {
			return EXIT_FAILED;
		}
		ret = helper_call(s, len, "unwrapping the message");
		if (ret != EXIT_OK) {
			return ret;
		}
		if (sectx_msg_get_bytes(&s->reply, SECTX_TAG_DATA, &data, &datalen) != 0) {
			fprintf(stderr, "sectx-sample-server: sectxd's unwrap reply has no data\n");
			return EXIT_FAILED;
		}
		(void)sectx_msg_get_u32(&s->reply, SECTX_TAG_CONF, &conf);
		if ((flags & SAMPLE_TOKEN_ENCRYPTED) && !conf) {
			fprintf(stderr, "sectx-sample-server: warning: message not encrypted\n");
		}
		if (datalen > sizeof(s->tok)) {
			fprintf(stderr, "sectx-sample-server: unwrapped message too long\n");
			return EXIT_FAILED;
		}
		/* The reply buffer is reused by get-MIC: keep the message. */
		memmove(s->tok, data, datalen);
		data = s->tok;
	}
	printf("Received message: ");
	sample_print_quoted(stdout, data, datalen);
	printf("%s\n",
	       (flags & SAMPLE_TOKEN_WRAPPED) ? (conf ? " (sealed)" : " (signed)") : " (clear)");
	fflush(stdout);
	if ((flags & SAMPLE_TOKEN_SEND_MIC) == 0) {
		return sample_send_token(s->fd, SAMPLE_TOKEN_NOOP, NULL, 0,
					 sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS)) == 0
			   ? EXIT_OK
			   : EXIT_FAILED;
	}
	begin(s, &w, SECTX_OP_CTX_GET_MIC);
	sectx_put_u32(&w, SECTX_TAG_CTX_HANDLE, s->handle);
	sectx_put_bytes(&w, SECTX_TAG_DATA, data, datalen);
	if (end(&w, &len) != 0) {
		return EXIT_FAILED;
	}
	ret = helper_call(s, len, "signing the message");
	if (ret != EXIT_OK) {
		return ret;
	}
	if (sectx_msg_get_bytes(&s->reply, SECTX_TAG_TOKEN, &mic, &miclen) != 0) {
		fprintf(stderr, "sectx-sample-server: sectxd's get-MIC reply has no token\n");
		return EXIT_FAILED;
	}
	ret = sample_send_token(s->fd, SAMPLE_TOKEN_MIC, mic, miclen,
				sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
	if (ret != 0) {
		fprintf(stderr, "sectx-sample-server: sending the MIC: %s\n", sectx_strerror(ret));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* One client, start to end, as gss-server's sign_server does. */
static int serve_client(struct server *srv, struct session *s)
{
	struct sectx_wbuf w;
	uint8_t flags = 0;
	size_t len;
	int ret;

	s->have_handle = false;
	ret = sectx_client_connect(srv->sock_dir, srv->sock_name,
				   sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS), &s->helper);
	if (ret != 0) {
		fprintf(stderr, "sectx-sample-server: cannot reach sectxd at %s/%s: %s\n",
			srv->sock_dir, srv->sock_name,
			ret == -EPERM ? "socket is not owned by root" : sectx_strerror(ret));
		ret = EXIT_UNREACHABLE;
		goto done;
	}
	ret = sample_recv_token(s->fd, &flags, s->tok, sizeof(s->tok), &len,
				sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
	if (ret != 0) {
		fprintf(stderr, "sectx-sample-server: reading the first token: %s\n",
			sectx_strerror(ret));
		ret = EXIT_FAILED;
		goto done;
	}
	if ((flags & SAMPLE_TOKEN_NOOP) == 0 || (flags & SAMPLE_TOKEN_CONTEXT_NEXT) == 0) {
		/* gss-server would serve an unauthenticated client; this sample
		 * exists to show authentication, so it does not. */
		fprintf(stderr,
			"sectx-sample-server: the client did not start a context "
			"(flags 0x%02x); unauthenticated clients are not served\n",
			flags);
		ret = EXIT_FAILED;
		goto done;
	}
	ret = establish(srv, s);
	if (ret != EXIT_OK) {
		goto done;
	}
	for (;;) {
		ret = sample_recv_token(s->fd, &flags, s->tok, sizeof(s->tok), &len,
					sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
		if (ret != 0) {
			fprintf(stderr, "sectx-sample-server: reading a message token: %s\n",
				sectx_strerror(ret));
			ret = EXIT_FAILED;
			goto done;
		}
		if (flags & SAMPLE_TOKEN_NOOP) {
			break;
		}
		if ((flags & SAMPLE_TOKEN_DATA) == 0) {
			fprintf(stderr,
				"sectx-sample-server: expected a data token, got flags "
				"0x%02x\n",
				flags);
			ret = EXIT_FAILED;
			goto done;
		}
		ret = sign_one(s, flags, len);
		if (ret != EXIT_OK) {
			goto done;
		}
	}
	printf("Session closed by the client\n");
	fflush(stdout);
	ret = EXIT_OK;
done:
	if (s->have_handle && s->helper.fd >= 0) {
		/* Closing the connection would free it too; releasing says so. */
		begin(s, &w, SECTX_OP_CTX_RELEASE);
		sectx_put_u32(&w, SECTX_TAG_CTX_HANDLE, s->handle);
		if (sectx_frame_end(&w, &len) == 0) {
			(void)helper_call(s, len, "releasing the context");
		}
		s->have_handle = false;
	}
	sectx_client_close(&s->helper);
	return ret;
}

static int open_listener(struct server *srv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(srv->port)};
	socklen_t slen = sizeof(sin);
	int one = 1, fd, ret = EXIT_UNREACHABLE;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("sectx-sample-server: socket");
		goto done;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 5) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) != 0) {
		fprintf(stderr, "sectx-sample-server: cannot listen on 127.0.0.1:%u: %s\n",
			srv->port, strerror(errno));
		close(fd);
		goto done;
	}
	srv->listen_fd = fd;
	srv->port = ntohs(sin.sin_port);
	ret = EXIT_OK;
done:
	return ret;
}

static int parse_args(struct server *srv, int argc, char **argv)
{
	const char *service = NULL, *at;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-port") == 0 && i + 1 < argc) {
			if (sample_parse_port(argv[++i], &srv->port) != 0) {
				fprintf(stderr, "sectx-sample-server: bad port: %s\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "-service") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else if (strcmp(argv[i], "-once") == 0) {
			srv->once = true;
		} else if (strcmp(argv[i], "-verbose") == 0) {
			srv->verbose = true;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - i != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	srv->target = argv[i];
	at = strchr(srv->target, '@');
	if (service == NULL) {
		/* "sample@host" -> [service/sample]; a bare "sample" is its own service */
		size_t n = at != NULL ? (size_t)(at - srv->target) : strlen(srv->target);

		if (n == 0 || n > SECTX_NAME_MAX) {
			fprintf(stderr, "sectx-sample-server: bad service name: %s\n", srv->target);
			return EXIT_USAGE;
		}
		memcpy(srv->service, srv->target, n);
		srv->service[n] = '\0';
	} else if (*service == '\0' || strlen(service) > SECTX_NAME_MAX) {
		fprintf(stderr, "sectx-sample-server: bad -service name\n");
		return EXIT_USAGE;
	} else {
		snprintf(srv->service, sizeof(srv->service), "%s", service);
	}
	if (sectx_validate_string((const uint8_t *)srv->service, strlen(srv->service),
				  SECTX_NAME_MAX) != 0) {
		fprintf(stderr, "sectx-sample-server: bad service name: %s\n", srv->service);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct server srv = {.port = SAMPLE_DEFAULT_PORT, .listen_fd = -1};
	struct session *s = NULL;
	int ret, fd;

	signal(SIGPIPE, SIG_IGN);
	ret = parse_args(&srv, argc, argv);
	if (ret != EXIT_OK) {
		goto done;
	}
	if (find_helper(&srv) != 0) {
		fprintf(stderr, "sectx-sample-server: %s must be the absolute path of pam.sock\n",
			SAMPLE_SOCKET_ENV);
		ret = EXIT_USAGE;
		goto done;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		fprintf(stderr, "sectx-sample-server: out of memory\n");
		ret = EXIT_FAILED;
		goto done;
	}
	s->helper = (struct sectx_conn)SECTX_CONN_INIT;
	ret = open_listener(&srv);
	if (ret != EXIT_OK) {
		goto done;
	}
	printf("Listening on 127.0.0.1:%u for %s as [service/%s]\n", srv.port, srv.target,
	       srv.service);
	fflush(stdout);
	for (;;) {
		fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			perror("sectx-sample-server: accept");
			ret = EXIT_FAILED;
			goto done;
		}
		s->fd = fd;
		ret = serve_client(&srv, s);
		close(fd);
		s->fd = -1;
		if (srv.once) {
			break;
		}
	}
done:
	if (srv.listen_fd >= 0) {
		close(srv.listen_fd);
	}
	free(s);
	return ret;
}
