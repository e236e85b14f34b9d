/*
 * conn.c - libnss_sectx's connection to sectxd's nss.sock.
 *
 * One connection per process, kept open between lookups (nss.sock serves
 * read-only identity requests, so keeping it is safe) and guarded by a
 * mutex.  It is reopened when the process forked (pid changed) or changed
 * its euid (the helper saw the uid at connect time), and once more when a
 * kept connection turns out to have been closed by the helper (idle timeout,
 * restart).  Every wait, the mutex included, ends at the lookup's deadline.
 *
 * Trust: the helper is believed only if its socket's peer uid is root
 * (common/client.c); its replies are parsed by the codec and each value is
 * checked again before it reaches the caller (no id 0, no ':' or newline in
 * a passwd or group field).  Must never: block past the deadline, raise
 * SIGPIPE, leak the descriptor across exec, or touch NSS.
 */
#include "nss_sectx.h"

#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
/* All guarded by conn_lock. */
static struct sectx_conn conn = SECTX_CONN_INIT;
static uint32_t conn_reqid;
static uint8_t conn_req[SECTX_HDR_LEN + 2 * SECTX_FIELD_HDR_LEN + SECTX_NAME_MAX + 8];
static uint8_t conn_resp[SECTX_FRAME_MAX];

static void conn_atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	/* The connection belongs to the parent: sectx_client_usable() sees the
	 * new pid and the next lookup closes our copy and reconnects. */
	memcpy(&conn_lock, &fresh, sizeof(fresh));
}

static void conn_init_once(void)
{
	(void)pthread_atfork(NULL, NULL, conn_atfork_child);
}

static pthread_once_t marker_once = PTHREAD_ONCE_INIT;
static int in_helper; /* written once, under marker_once */

static void marker_check(void)
{
	/* secure_getenv: a setuid program cannot be made blind to sectx users. */
	in_helper = secure_getenv("_SECTX_IN_HELPER") != NULL;
}

SECTX_HOT int nss_sectx_disabled(int *errnop)
{
	/* Read once per process: sectxd sets the marker before anything else
	 * (and a scan of the environment per lookup would cost more than the
	 * lookup itself). */
	pthread_once(&marker_once, marker_check);
	if (in_helper) {
		*errnop = ENOENT;
		return 1;
	}
	return 0;
}

/* One request/reply on the process's connection.  Returns 0 with msg and
 * status, or -errno.  Caller holds conn_lock. */
static int exchange(size_t reqlen, struct sectx_msg *msg, uint32_t *status, int64_t deadline)
{
	int ret;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		int reused = sectx_client_usable(&conn);

		if (!reused) {
			/* after fork or setuid the old descriptor is only a copy: close it */
			sectx_client_close(&conn);
			ret = sectx_client_connect(sectx_socket_dir(), SECTX_NSS_SOCKET, deadline,
						   &conn);
			if (ret != 0) {
				return ret;
			}
		}
		ret = sectx_client_call(&conn, conn_req, reqlen, conn_resp, sizeof(conn_resp), msg,
					status, deadline);
		if (ret == 0) {
			return 0;
		}
		sectx_client_close(&conn);
		/* A kept connection may have been closed by the helper (idle,
		 * restart): one fresh attempt.  A fresh one failing is final. */
		if (!reused || ret == -ETIMEDOUT) {
			return ret;
		}
	}
	return -ECONNRESET;
}

enum nss_status nss_sectx_ask(uint16_t op, const char *name, uint16_t id_tag, uint32_t id,
			      nss_sectx_reply_fn fn, void *arg, int *errnop)
{
	int64_t deadline = sectx_deadline_after(NSS_SECTX_DEADLINE_MS);
	struct timespec abs;
	struct sectx_wbuf w;
	struct sectx_msg msg;
	uint32_t status = SECTX_E_INTERNAL;
	enum nss_status nret;
	size_t len;
	int ret;

	pthread_once(&conn_once, conn_init_once);
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_sec += NSS_SECTX_DEADLINE_MS / 1000;
	abs.tv_nsec += (NSS_SECTX_DEADLINE_MS % 1000) * 1000000L;
	if (abs.tv_nsec >= 1000000000L) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_clocklock(&conn_lock, CLOCK_MONOTONIC, &abs) != 0) {
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	sectx_frame_begin(&w, conn_req, sizeof(conn_req), SECTX_PROTO_VERSION, op, ++conn_reqid);
	if (name != NULL) {
		sectx_put_string(&w, SECTX_TAG_NAME, name);
	} else {
		sectx_put_u32(&w, id_tag, id);
	}
	if (sectx_frame_end(&w, &len) != 0) {
		*errnop = ENOENT;
		nret = NSS_STATUS_NOTFOUND; /* a name the helper could not know */
		goto done;
	}
	ret = exchange(len, &msg, &status, deadline);
	if (ret != 0) {
		*errnop = ENOENT;
		nret = NSS_STATUS_UNAVAIL;
		goto done;
	}
	switch (status) {
	case SECTX_OK:
		nret = fn(&msg, arg, errnop);
		break;
	case SECTX_E_NOTFOUND:
		*errnop = ENOENT;
		nret = NSS_STATUS_NOTFOUND;
		break;
	case SECTX_E_BUSY:
		*errnop = EAGAIN;
		nret = NSS_STATUS_TRYAGAIN;
		break;
	default:
		*errnop = ENOENT;
		nret = NSS_STATUS_UNAVAIL;
		break;
	}
done:
	pthread_mutex_unlock(&conn_lock);
	return nret;
}

int nss_sectx_lock_bounded(pthread_mutex_t *m)
{
	struct timespec abs;

	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_sec += NSS_SECTX_DEADLINE_MS / 1000;
	return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &abs);
}
