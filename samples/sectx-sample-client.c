/*
 * sectx-sample-client.c - a gss-sample "sign" client on the sectx context
 * library.
 *
 * It speaks the token framing and message sequence of MIT krb5's gss-client
 * (see sample_token.h), so MIT's gss-server and sectx-sample-server are both
 * its peers: an empty NOOP|CONTEXT_NEXT token, the context tokens, the
 * message wrapped with confidentiality and flagged SEND_MIC, the server's MIC
 * of the message verified here, and a closing NOOP.
 *
 * The initiator runs in this process (common/gss_ctx.h) with the caller's
 * own credentials: the default ccache (KRB5CCNAME) for Kerberos, the
 * mechanism's own configuration (NTLM_USER_FILE, NTLMUSER) for NTLM.  It
 * needs no helper and no privilege and must not be installed setuid.  For
 * Kerberos it requires mutual authentication; whether a context is mutual is
 * what the library decides from the mechanism (NTLM never is), not the
 * returned flags.  Everything the server sends is untrusted: token sizes are
 * bounded and every read has a deadline.
 *
 * Exit codes: 0 the message was signed and the signature verified; 1 the
 * context or the signature failed; 2 usage; 3 the server could not be
 * reached.
 */
#include <errno.h>
#include <gssapi/gssapi.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <talloc.h>
#include <unistd.h>

#include "clock.h" /* sectx_now_ms, sectx_deadline_after */
#include "gss_ctx.h"
#include "proto.h" /* sectx_strerror */
#include "sample_token.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct client {
	const char *host;
	const char *target; /* SERVICE@HOST */
	const char *message;
	const char *ccache; /* NULL: the library default (KRB5CCNAME) */
	uint16_t port;
	unsigned mech;
	uint32_t req_flags;
	bool verbose;
	int fd;
	uint8_t tok[SAMPLE_TOKEN_MAX];
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sectx-sample-client [-port N] [-spnego | -mech krb5|spnego|ntlm]\n"
	    "                           [-ccache NAME] [-nomutual] [-q] HOST SERVICE@HOST MESSAGE\n"
	    "  Authenticates to a gss-sample server at HOST:N (default %d) as the\n"
	    "  owner of the ccache, sends MESSAGE wrapped and verifies the server's\n"
	    "  signature of it.  Kerberos always requires mutual authentication.\n"
	    "exit codes: 0 verified, 1 failed, 2 usage, 3 server unreachable\n",
	    SAMPLE_DEFAULT_PORT);
}

/* Connect to host:port (any address family) before deadline.  Returns the
 * socket or -1 after printing why. */
static int connect_to_server(const char *host, uint16_t port, int64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL, *ai;
	struct pollfd pfd;
	char portstr[8];
	int fd = -1, err = 0, rc;
	socklen_t elen;
	int64_t left;

	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "sectx-sample-client: unknown host %s: %s\n", host,
			gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		err = errno;
		if (err == EINPROGRESS) {
			pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
			left = deadline - sectx_now_ms();
			rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			elen = sizeof(err);
			if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
			    err == 0) {
				break;
			}
			if (rc == 0) {
				err = ETIMEDOUT;
			}
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "sectx-sample-client: cannot connect to %s port %u: %s\n", host,
			port, strerror(err));
	}
	return fd;
}

static int recv_token(struct client *c, uint8_t *flags, size_t *len, const char *what)
{
	int ret = sample_recv_token(c->fd, flags, c->tok, sizeof(c->tok), len,
				    sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));

	if (ret != 0) {
		fprintf(stderr, "sectx-sample-client: reading %s: %s\n", what,
			ret == -ECONNRESET ? "the server closed the connection"
					   : sectx_strerror(ret));
	}
	return ret;
}

static int send_token(struct client *c, uint8_t flags, const uint8_t *tok, size_t len,
		      const char *what)
{
	int ret =
	    sample_send_token(c->fd, flags, tok, len, sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));

	if (ret != 0) {
		fprintf(stderr, "sectx-sample-client: sending %s: %s\n", what, sectx_strerror(ret));
	}
	return ret;
}

/* The context loop.  Returns EXIT_OK with *out complete. */
static int establish(TALLOC_CTX *mem_ctx, struct client *c, struct sectx_gss_ctx **out)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = NULL;
	enum sectx_ctx_state state;
	const uint8_t *in = NULL;
	uint8_t *tok = NULL, flags = 0;
	size_t inlen = 0, toklen = 0;
	char *reason = NULL;
	int ret = EXIT_FAILED;

	if (tmp_ctx == NULL || sectx_gss_initiator_new(tmp_ctx, c->ccache, c->target, c->mech,
						       c->req_flags, &ctx, &reason) != 0) {
		fprintf(stderr, "sectx-sample-client: cannot start a %s context to %s: %s\n",
			sectx_mech_name(c->mech), c->target, reason ? reason : "out of memory");
		goto done;
	}
	if (send_token(c, SAMPLE_TOKEN_NOOP | SAMPLE_TOKEN_CONTEXT_NEXT, NULL, 0,
		       "the first token") != 0) {
		goto done;
	}
	for (;;) {
		state = sectx_gss_step(ctx, in, inlen, tmp_ctx, &tok, &toklen, &reason);
		if (toklen > 0) {
			if (c->verbose) {
				printf("Sending init_sec_context token (size=%zu)\n", toklen);
			}
			if (send_token(c, SAMPLE_TOKEN_CONTEXT, tok, toklen, "a context token") !=
			    0) {
				goto done;
			}
		}
		talloc_free(tok);
		tok = NULL;
		if (state == SECTX_CTX_COMPLETE) {
			break;
		}
		if (state != SECTX_CTX_CONTINUE) {
			fprintf(stderr, "sectx-sample-client: context failed: %s\n",
				reason ? reason : "unknown reason");
			goto done;
		}
		if (recv_token(c, &flags, &inlen, "a context token") != 0) {
			goto done;
		}
		if ((flags & SAMPLE_TOKEN_CONTEXT) == 0) {
			fprintf(stderr,
				"sectx-sample-client: expected a context token, got flags 0x%02x\n",
				flags);
			goto done;
		}
		in = c->tok;
	}
	*out = talloc_steal(mem_ctx, ctx);
	ret = EXIT_OK;
done:
	talloc_free(tmp_ctx);
	return ret;
}

/* Print the context and refuse a Kerberos context that is not mutual. */
static int check_context(struct client *c, struct sectx_gss_ctx *ctx)
{
	struct sectx_ctx_info info;
	char flagbuf[128];

	if (sectx_gss_info(ctx, &info) != 0) {
		fprintf(stderr, "sectx-sample-client: the context is not complete\n");
		return EXIT_FAILED;
	}
	printf("Authenticated \"%s\" to \"%s\"\n", info.local_name ? info.local_name : "?",
	       info.peer_name ? info.peer_name : c->target);
	printf("  mechanism: %s%s\n", sectx_mech_name(info.mech),
	       info.via_spnego ? " (via SPNEGO)" : "");
	printf("  flags: %s\n", sample_flags_text(info.ret_flags, flagbuf, sizeof(flagbuf)));
	printf("  mutual: %s\n", info.mutual ? "yes" : "no");
	printf("  lifetime: %u s\n", info.lifetime);
	fflush(stdout);
	if (info.mech == SECTX_MECH_KRB5 && !info.mutual) {
		fprintf(stderr, "sectx-sample-client: the server was not authenticated "
				"(Kerberos context without mutual authentication)\n");
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* Wrap the message, send it asking for a MIC, verify the MIC, say goodbye. */
static int sign_message(TALLOC_CTX *mem_ctx, struct client *c, struct sectx_gss_ctx *ctx)
{
	TALLOC_CTX *tmp_ctx = talloc_new(mem_ctx);
	const uint8_t *msg = (const uint8_t *)c->message;
	size_t msglen = strlen(c->message), wlen = 0, miclen = 0;
	uint8_t *wrapped = NULL, flags = 0;
	bool conf = false;
	char *reason = NULL;
	int ret = EXIT_FAILED;

	if (tmp_ctx == NULL) {
		goto done;
	}
	if (sectx_gss_wrap(ctx, true, msg, msglen, tmp_ctx, &wrapped, &wlen, &conf, &reason) != 0) {
		fprintf(stderr, "sectx-sample-client: wrapping the message: %s\n",
			reason ? reason : "unknown reason");
		goto done;
	}
	if (!conf) {
		fprintf(stderr, "sectx-sample-client: warning: message not encrypted\n");
	}
	if (send_token(c,
		       SAMPLE_TOKEN_DATA | SAMPLE_TOKEN_WRAPPED | SAMPLE_TOKEN_ENCRYPTED |
			   SAMPLE_TOKEN_SEND_MIC,
		       wrapped, wlen, "the message") != 0) {
		goto done;
	}
	if (recv_token(c, &flags, &miclen, "the signature") != 0) {
		goto done;
	}
	if ((flags & SAMPLE_TOKEN_MIC) == 0) {
		fprintf(stderr, "sectx-sample-client: expected a MIC token, got flags 0x%02x\n",
			flags);
		goto done;
	}
	if (sectx_gss_verify_mic(ctx, msg, msglen, c->tok, miclen, tmp_ctx, &reason) != 0) {
		fprintf(stderr, "sectx-sample-client: verifying the signature: %s\n",
			reason ? reason : "unknown reason");
		goto done;
	}
	printf("Signature verified.\n");
	fflush(stdout);
	(void)send_token(c, SAMPLE_TOKEN_NOOP, NULL, 0, "the closing token");
	ret = EXIT_OK;
done:
	talloc_free(tmp_ctx);
	return ret;
}

static int parse_args(struct client *c, int argc, char **argv)
{
	bool spnego = false;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-port") == 0 && i + 1 < argc) {
			if (sample_parse_port(argv[++i], &c->port) != 0 || c->port == 0) {
				fprintf(stderr, "sectx-sample-client: bad port: %s\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "-mech") == 0 && i + 1 < argc) {
			c->mech = sectx_mech_from_name(argv[++i]);
			if (c->mech == 0) {
				fprintf(stderr,
					"sectx-sample-client: unknown mechanism %s "
					"(krb5, spnego or ntlm)\n",
					argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "-spnego") == 0) {
			spnego = true;
		} else if (strcmp(argv[i], "-krb5") == 0) {
			c->mech = SECTX_MECH_KRB5;
		} else if (strcmp(argv[i], "-ccache") == 0 && i + 1 < argc) {
			c->ccache = argv[++i];
		} else if (strcmp(argv[i], "-nomutual") == 0) {
			c->req_flags &= ~(uint32_t)GSS_C_MUTUAL_FLAG;
		} else if (strcmp(argv[i], "-q") == 0) {
			c->verbose = false;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (spnego) {
		if (c->mech != 0 && c->mech != SECTX_MECH_SPNEGO) {
			/* gss-client would restrict SPNEGO to that mechanism; the
			 * library negotiates what the acceptor allows instead. */
			fprintf(stderr,
				"sectx-sample-client: -spnego and -mech cannot be combined\n");
			return EXIT_USAGE;
		}
		c->mech = SECTX_MECH_SPNEGO;
	}
	if (c->mech == 0) {
		c->mech = SECTX_MECH_KRB5;
	}
	if (c->mech == SECTX_MECH_NTLM) {
		/* NTLM cannot authenticate the server: asking for it would make the
		 * library fail the context at completion. */
		c->req_flags &= ~(uint32_t)GSS_C_MUTUAL_FLAG;
	}
	if (argc - i != 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	c->host = argv[i];
	c->target = argv[i + 1];
	c->message = argv[i + 2];
	if (strlen(c->message) > SAMPLE_MESSAGE_MAX) {
		fprintf(stderr, "sectx-sample-client: message longer than %u bytes\n",
			SAMPLE_MESSAGE_MAX);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	TALLOC_CTX *mem_ctx = talloc_new(NULL);
	struct sectx_gss_ctx *ctx = NULL;
	struct client *c = NULL;
	int ret = EXIT_FAILED;

	signal(SIGPIPE, SIG_IGN);
	c = mem_ctx ? talloc_zero(mem_ctx, struct client) : NULL;
	if (c == NULL) {
		fprintf(stderr, "sectx-sample-client: out of memory\n");
		goto done;
	}
	c->port = SAMPLE_DEFAULT_PORT;
	c->req_flags = GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG;
	c->verbose = true;
	c->fd = -1;
	ret = parse_args(c, argc, argv);
	if (ret != EXIT_OK) {
		goto done;
	}
	c->fd = connect_to_server(c->host, c->port, sectx_deadline_after(SAMPLE_IO_TIMEOUT_MS));
	if (c->fd < 0) {
		ret = EXIT_UNREACHABLE;
		goto done;
	}
	ret = establish(mem_ctx, c, &ctx);
	if (ret == EXIT_OK) {
		ret = check_context(c, ctx);
	}
	if (ret == EXIT_OK) {
		ret = sign_message(mem_ctx, c, ctx);
	}
done:
	if (c != NULL && c->fd >= 0) {
		close(c->fd);
	}
	talloc_free(mem_ctx); /* deletes the context */
	return ret;
}
