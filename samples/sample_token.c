/*
 * sample_token.c - gss-sample token framing over a TCP stream, with
 * deadlines (see sample_token.h).
 *
 * Never trusts a length from the peer: it is bounded before the body is
 * read.  Never blocks past the caller's deadline (poll before every read and
 * write) and never raises SIGPIPE (MSG_NOSIGNAL).  libc only.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h" /* sectx_now_ms */
#include "sample_token.h"

#define SAMPLE_TOKEN_HDR_LEN 5u

/* Wait until fd is ready for events or deadline passes: 0, -ETIMEDOUT or -errno. */
static int wait_ready(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left;
	int n;

	for (;;) {
		left = deadline - sectx_now_ms();
		if (left <= 0) {
			return -ETIMEDOUT;
		}
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0) {
			return 0; /* readable, writable, or an error the next call reports */
		}
		if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

static int write_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
	ssize_t n;
	int ret;

	while (len > 0) {
		ret = wait_ready(fd, POLLOUT, deadline);
		if (ret != 0) {
			return ret;
		}
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 0, -ECONNRESET on EOF, -ETIMEDOUT or -errno. */
static int read_all(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	ssize_t n;
	int ret;

	while (len > 0) {
		ret = wait_ready(fd, POLLIN, deadline);
		if (ret != 0) {
			return ret;
		}
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0) {
			return -ECONNRESET;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sample_send_token(int fd, uint8_t flags, const uint8_t *tok, size_t len, int64_t deadline)
{
	uint8_t hdr[SAMPLE_TOKEN_HDR_LEN];
	int ret;

	if (len > SAMPLE_TOKEN_MAX) {
		ret = -EMSGSIZE;
		goto done;
	}
	hdr[0] = flags;
	hdr[1] = (uint8_t)(len >> 24);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
	ret = write_all(fd, hdr, sizeof(hdr), deadline);
	if (ret == 0 && len > 0) {
		ret = write_all(fd, tok, len, deadline);
	}
done:
	return ret;
}

int sample_recv_token(int fd, uint8_t *flags, uint8_t *buf, size_t cap, size_t *len,
		      int64_t deadline)
{
	uint8_t hdr[SAMPLE_TOKEN_HDR_LEN];
	uint32_t n;
	int ret;

	*len = 0;
	ret = read_all(fd, hdr, sizeof(hdr), deadline);
	if (ret != 0) {
		goto done;
	}
	if (hdr[0] == 0) {
		ret = -EPROTO;
		goto done;
	}
	n = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
	if (n > SAMPLE_TOKEN_MAX || n > cap) {
		ret = -EMSGSIZE;
		goto done;
	}
	ret = read_all(fd, buf, n, deadline);
	if (ret != 0) {
		goto done;
	}
	*flags = hdr[0];
	*len = n;
done:
	return ret;
}

int sample_parse_port(const char *s, uint16_t *port)
{
	char *end = NULL;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9') {
		return -EINVAL;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535) {
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

void sample_print_quoted(FILE *out, const uint8_t *p, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
			fputc(p[i], out);
		} else {
			fprintf(out, "\\x%02x", p[i]);
		}
	}
	fputc('"', out);
}

const char *sample_flags_text(uint32_t flags, char *buf, size_t cap)
{
	/* RFC 2744 GSS_C_*_FLAG values; the server links no GSS-API header. */
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {1u << 0, "deleg"},	   {1u << 1, "mutual"},	    {1u << 2, "replay"},
	    {1u << 3, "sequence"}, {1u << 4, "conf"},	    {1u << 5, "integ"},
	    {1u << 6, "anon"},	   {1u << 7, "prot_ready"}, {1u << 8, "trans"},
	};
	size_t i, used = 0;
	int n;

	if (cap == 0) {
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((flags & names[i].bit) == 0) {
			continue;
		}
		n = snprintf(buf + used, cap - used, "%s%s", used > 0 ? " " : "", names[i].name);
		if (n < 0 || (size_t)n >= cap - used) {
			break;
		}
		used += (size_t)n;
	}
	if (used == 0) {
		snprintf(buf, cap, "none");
	}
	return buf;
}
