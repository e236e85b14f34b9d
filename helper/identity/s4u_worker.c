/*
 * identity/s4u_worker.c - the processes behind the existence checks (see
 * s4u.h): the spawner ("zygote"), forked by sectxd at start, and the
 * workers it forks, which ask the realm by S4U2Self with the host key.
 * This file is all that runs in them; the helper's side is s4u.c.
 *
 * Both speak only frames of the common/proto codec on their socket
 * (identity_int.h, wire.c): the spawner reads ID_OP_S4U_SPAWN and answers
 * with the new worker's pid and socket (SCM_RIGHTS); a worker reads
 * ID_OP_S4U_CHECK with a principal and answers EXISTS, UNKNOWN or ERROR
 * with a message.  A frame they cannot decode ends them: sectxd then starts
 * another.
 *
 * Who reaches this: sectxd only, through a socketpair, with principals it
 * has validated; the processes take nothing else from anyone.  They must
 * never outlive sectxd (PR_SET_PDEATHSIG), hold any descriptor but their
 * socket and stderr, write anything but their socket and stderr, or carry
 * a secret of sectxd's: the spawner is forked before any request has
 * brought one into sectxd's memory.
 */
#include "identity/identity_int.h"

#include <errno.h>
#include <krb5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"

/* S4U2Self.  MIT libkrb5 exports this (krb5_3_MIT, since 1.8; kvno -U and
 * gss_acquire_cred_impersonate_name use it) but declares it only in its
 * private k5-int.h, so we declare it as Samba does. */
krb5_error_code KRB5_CALLCONV krb5_get_credentials_for_user(krb5_context context,
							    krb5_flags options, krb5_ccache ccache,
							    krb5_creds *in_creds,
							    krb5_data *subject_cert,
							    krb5_creds **out_creds);

/* --- the worker ------------------------------------------------------------------------------- */

struct worker {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal host;
	krb5_ccache cc;
	time_t tgt_end;
};

static int read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;

	while (len > 0) {
		ssize_t n = read(fd, b, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one frame of at most max bytes from fd, waiting as long as it
 * takes: 0 and *len, or -1 at end of file, on an error or for a frame we
 * refuse. */
static int read_frame(int fd, uint8_t *buf, size_t max, size_t *len)
{
	size_t need = 0;

	if (read_all(fd, buf, SECTX_HDR_LEN) != 0 ||
	    id_wire_frame_need(buf, SECTX_HDR_LEN, max, &need) != 0 ||
	    read_all(fd, buf + SECTX_HDR_LEN, need - SECTX_HDR_LEN) != 0) {
		return -1;
	}
	*len = need;
	return 0;
}

static void answer(int fd, uint32_t reqid, uint32_t code, const char *msg)
{
	uint8_t frame[ID_S4U_FRAME_MAX];
	size_t len = 0;

	if (id_wire_s4u_answer_encode(frame, sizeof(frame), reqid, code, msg, &len) != 0 ||
	    sectx_write_all(fd, frame, len) != 0) {
		_exit(1);
	}
}

static void krb5_why(struct worker *w, krb5_error_code code, const char *what, char *why,
		     size_t whylen)
{
	const char *m = krb5_get_error_message(w->ctx, code);

	snprintf(why, whylen, "%s: %s", what, m);
	krb5_free_error_message(w->ctx, m);
}

/* The host principal: as configured, or the first keytab entry of the realm
 * that is not a krbtgt. */
static krb5_error_code find_host(struct worker *w, const char *realm, const char *configured,
				 char *why, size_t whylen)
{
	krb5_kt_cursor cur;
	krb5_keytab_entry ent;
	krb5_error_code code;

	if (configured[0] != '\0') {
		code = krb5_parse_name(w->ctx, configured, &w->host);
		if (code != 0) {
			krb5_why(w, code, "host_principal", why, whylen);
		}
		return code;
	}
	code = krb5_kt_start_seq_get(w->ctx, w->kt, &cur);
	if (code != 0) {
		krb5_why(w, code, "cannot read the keytab", why, whylen);
		return code;
	}
	while ((code = krb5_kt_next_entry(w->ctx, w->kt, &ent, &cur)) == 0) {
		krb5_principal p = ent.principal;
		bool ok = krb5_princ_realm(w->ctx, p)->length == strlen(realm) &&
			  memcmp(krb5_princ_realm(w->ctx, p)->data, realm, strlen(realm)) == 0 &&
			  !(krb5_princ_size(w->ctx, p) >= 1 &&
			    krb5_princ_component(w->ctx, p, 0)->length == 6 &&
			    memcmp(krb5_princ_component(w->ctx, p, 0)->data, "krbtgt", 6) == 0);

		if (ok && w->host == NULL) {
			code = krb5_copy_principal(w->ctx, p, &w->host);
		}
		krb5_free_keytab_entry_contents(w->ctx, &ent);
		if (w->host != NULL || code != 0) {
			break;
		}
	}
	krb5_kt_end_seq_get(w->ctx, w->kt, &cur);
	if (w->host == NULL) {
		snprintf(why, whylen, "no key of realm %s in the keytab", realm);
		return KRB5_KT_NOTFOUND;
	}
	return 0;
}

/* A TGT for the host principal from its key, in a memory ccache. */
static krb5_error_code host_tgt(struct worker *w, char *why, size_t whylen)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_creds creds;
	krb5_error_code code;

	memset(&creds, 0, sizeof(creds));
	if (w->cc != NULL && w->tgt_end > time(NULL) + 60) {
		return 0;
	}
	if (w->cc != NULL) {
		krb5_cc_destroy(w->ctx, w->cc);
		w->cc = NULL;
	}
	code = krb5_get_init_creds_opt_alloc(w->ctx, &opt);
	if (code == 0) {
		krb5_get_init_creds_opt_set_forwardable(opt, 0);
		krb5_get_init_creds_opt_set_proxiable(opt, 0);
		code = krb5_get_init_creds_keytab(w->ctx, &creds, w->host, w->kt, 0, NULL, opt);
	}
	if (code != 0) {
		krb5_why(w, code, "cannot get a ticket with the host key", why, whylen);
		goto done;
	}
	code = krb5_cc_new_unique(w->ctx, "MEMORY", NULL, &w->cc);
	if (code == 0) {
		code = krb5_cc_initialize(w->ctx, w->cc, w->host);
	}
	if (code == 0) {
		code = krb5_cc_store_cred(w->ctx, w->cc, &creds);
	}
	if (code != 0) {
		krb5_why(w, code, "cannot keep the host ticket", why, whylen);
		goto done;
	}
	w->tgt_end = creds.times.endtime;
done:
	krb5_free_cred_contents(w->ctx, &creds);
	if (opt != NULL) {
		krb5_get_init_creds_opt_free(w->ctx, opt);
	}
	return code;
}

static uint32_t check_one(struct worker *w, const char *realm, const char *configured,
			  const char *principal, char *why, size_t whylen)
{
	krb5_principal client = NULL;
	krb5_creds in, *out = NULL;
	krb5_error_code code;
	uint32_t result = ID_S4U_ERROR;
	int attempt;

	if (w->host == NULL && find_host(w, realm, configured, why, whylen) != 0) {
		return ID_S4U_ERROR;
	}
	/* a plain principal: no enterprise name, so no AS-REQ for the user */
	code =
	    krb5_parse_name_flags(w->ctx, principal, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &client);
	if (code != 0) {
		krb5_why(w, code, "invalid principal", why, whylen);
		return ID_S4U_ERROR;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (host_tgt(w, why, whylen) != 0) {
			break;
		}
		memset(&in, 0, sizeof(in));
		in.client = client;
		in.server = w->host;
		code =
		    krb5_get_credentials_for_user(w->ctx, KRB5_GC_NO_STORE, w->cc, &in, NULL, &out);
		if (code == 0) {
			result = ID_S4U_EXISTS;
			break;
		}
		if (code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN) {
			result = ID_S4U_UNKNOWN;
			break;
		}
		if (code == KRB5KDC_ERR_CLIENT_REVOKED || code == KRB5KDC_ERR_KEY_EXP) {
			result = ID_S4U_EXISTS; /* locked or expired, but known */
			break;
		}
		krb5_why(w, code, "S4U2Self", why, whylen);
		if (code != KRB5KRB_AP_ERR_TKT_EXPIRED && code != KRB5KDC_ERR_TGT_REVOKED) {
			break;
		}
		w->tgt_end = 0; /* our ticket went stale: once more with a fresh one */
	}
	if (out != NULL) {
		krb5_free_creds(w->ctx, out);
	}
	krb5_free_principal(w->ctx, client);
	return result;
}

static void worker_main(int fd, const char *keytab, const char *realm, const char *configured)
{
	struct worker w;
	char why[ID_S4U_MSG_MAX + 1];
	char path[4200];
	krb5_error_code code;

	memset(&w, 0, sizeof(w));
	code = krb5_init_context(&w.ctx);
	if (code != 0) {
		_exit(1);
	}
	snprintf(path, sizeof(path), "FILE:%s", keytab);
	code = krb5_kt_resolve(w.ctx, path, &w.kt);
	if (code != 0) {
		_exit(1);
	}
	for (;;) {
		uint8_t frame[ID_S4U_FRAME_MAX];
		char principal[SECTX_NAME_MAX + 1];
		uint32_t reqid, result;
		size_t len = 0;

		if (read_frame(fd, frame, sizeof(frame), &len) != 0 ||
		    id_wire_s4u_check_decode(frame, len, &reqid, principal, sizeof(principal)) !=
			0) {
			_exit(0); /* the parent closed the socket, or talks nonsense */
		}
		why[0] = '\0';
		result = check_one(&w, realm, configured, principal, why, sizeof(why));
		answer(fd, reqid, result, why);
	}
}

/* --- processes: the zygote and its workers ---------------------------------------------------- */

/* Become a clean child: die with our parent, default signals, nothing
 * blocked, only fd (as 3) and stderr open. */
void id_s4u_child_setup(int fd, const char *name)
{
	sigset_t none;
	int sig;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			signal(sig, SIG_DFL);
		}
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fd != 3 && dup2(fd, 3) != 3) {
		_exit(1);
	}
	close_range(4, ~0U, 0);
	prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* The zygote: forked once, before any request has brought a secret into
 * sectxd, it forks a worker for each request it reads and passes back the
 * worker's pid and socket (SCM_RIGHTS).  Workers restarted after a kill
 * thus never carry a copy of the helper's later memory.  It reaps them
 * (SIGCHLD ignored) and dies with sectxd. */
void id_s4u_zygote_main(int fd, const char *keytab, const char *realm, const char *configured)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		uint8_t req[ID_S4U_FRAME_MAX], reply[ID_S4U_FRAME_MAX];
		struct msghdr msg = {0};
		struct iovec iov;
		struct cmsghdr *cm;
		uint32_t pid32, reqid;
		size_t len = 0;
		int sv[2];
		pid_t pid;

		if (read_frame(fd, req, sizeof(req), &len) != 0 ||
		    id_wire_spawn_decode(req, len, &reqid) != 0) {
			_exit(0); /* sectxd closed its end, or talks nonsense */
		}
		pid32 = 0;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			sv[0] = sv[1] = -1;
		} else {
			pid = fork();
			if (pid == 0) {
				close(fd);
				close(sv[0]);
				id_s4u_child_setup(sv[1], "sectxd-s4u");
				worker_main(3, keytab, realm, configured);
				_exit(0);
			}
			pid32 = pid > 0 ? (uint32_t)pid : 0;
		}
		if (id_wire_spawned_encode(reply, sizeof(reply), reqid, pid32, &len) != 0) {
			_exit(1);
		}
		iov.iov_base = reply;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (pid32 != 0) {
			memset(&ctl, 0, sizeof(ctl));
			msg.msg_control = ctl.buf;
			msg.msg_controllen = sizeof(ctl.buf);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &sv[0], sizeof(int));
		}
		if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len) {
			_exit(1);
		}
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
	}
}
