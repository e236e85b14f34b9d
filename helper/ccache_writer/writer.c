/*
 * ccache_writer/writer.c - the credential-cache writer: a root process forked at
 * start-up that writes and destroys users' ccaches with the user's rights.
 *
 * Three processes take part, and this file holds the code of all three:
 *  - the helper side (on the tevent loop): queues jobs, gives each to an idle
 *    writer (one of WRITER_LANES, started on demand; a user has at most one
 *    job in flight, so one user's held-up job never delays another user's
 *    while a writer is free) as one SOCK_SEQPACKET message, never blocks,
 *    enforces the job's deadline, kills a writer that does not answer or
 *    speaks out of turn, notices a dead one (EOF or EPIPE) and starts a new
 *    one for the next job;
 *  - the writer (root, single-threaded, not dumpable, holding only its end
 *    of the pair, stderr and /dev/null): reads one job, validates it,
 *    refuses what cannot be written as the user before forking, then forks a
 *    child per job, waits for its answer on a pipe until the deadline and
 *    kills it past that; it never calls libkrb5 itself;
 *  - the child: drops to the user's groups, gid and uid (and checks that it
 *    cannot get root back), becomes undumpable, dies with the writer, and
 *    only then initialises libkrb5 and touches the cache; it reports one
 *    small frame on the pipe and _exits.
 *
 * Trust boundary: only the helper can reach the writer (an anonymous
 * socketpair); only the writer can reach a child (a pipe).  What a job can
 * make the writer do is run libkrb5 with one user's rights on a cache name of
 * an allowed type, so it can never do more than that user could.  The child's
 * answer is parsed as untrusted bytes (it runs as the user, who may signal
 * it).  The messages between the helper and the writer never leave this
 * host and use private op and tag numbers below; the frame codec is the
 * shared one (common/proto.h).
 *
 * Never: touch a cache as root (uid 0 is refused outright), follow a link at
 * a FILE cache's final name (a cache is built under a temp name and renamed
 * into place), destroy a cache whose principal is not the expected one,
 * leave a marshalled credential in a buffer that is not scrubbed, or wait
 * for a user: a user who holds a lock on their own cache file (libkrb5
 * waits for it without limit) gets EBUSY at once (hold_cache_file), and
 * whatever else holds a job up (the child runs as the user, who may stop
 * it) keeps that user's writer for at most the per-job bound of run_job,
 * while the other writers serve the other users.  Only when as many users
 * as there are writers each hold one up do the rest wait, each round for at
 * most that bound.  The
 * writer is forked before the helper holds secrets; a restarted writer is
 * forked from the helper as it then is (its memory may hold other users'
 * secrets, but it is root like the helper, and its user-uid children are
 * undumpable, so the user can neither ptrace nor read them).
 */
#include "ccache_writer/ccache_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "proto.h"
#include "core/daemon.h"

/* --- the private protocol between the helper and the writer -------------- */

enum writer_op {
	WOP_STORE = 1,
	WOP_DESTROY = 2,
	WOP_READ = 3, /* the principal of an exact cache and, if asked, its TGT */
};

enum writer_tag {
	WT_UID = 1,	  /* u32 */
	WT_GID = 2,	  /* u32 */
	WT_GROUP = 3,	  /* u32, repeated: supplementary groups */
	WT_USER = 4,	  /* string: login name (%u, logs) */
	WT_CCACHE = 5,	  /* string: template (store), exact name (destroy, replies) */
	WT_PRINCIPAL = 6, /* string: the principal a destroyed cache must have */
	WT_CRED = 7,	  /* bytes, repeated, SECRET: krb5_marshal_credentials */
	WT_DEADLINE = 8,  /* u64: absolute CLOCK_MONOTONIC ms for the child */
	WT_ERR = 9,	  /* u32: 0 or a positive errno (replies) */
	WT_MESSAGE = 10,  /* string: what failed, for the helper's log (replies) */
	WT_WANT_TGT = 11, /* u32 0/1: read also returns the TGT (WT_CRED in the reply) */
	WT_REPLACE = 12,  /* u32 0/1: store only over an existing cache of ours (renewal) */
};

#define WRITER_VERSION	      1u
#define WRITER_CRED_MAX	      32768u /* bytes of a marshalled TGT a read returns */
#define WRITER_REPLY_MAX      (8192u + SECTX_STRING_MAX + WRITER_CRED_MAX) /* a reply */
#define WRITER_MSG_MAX	      512u	       /* bytes of a reply's message */
#define WRITER_CCNAME_MAX     SECTX_STRING_MAX /* bytes of a cache name */
#define WRITER_LOGIN_MAX      32u	       /* %u: bytes of a user name */
#define WRITER_MEMBER_MAX     64u	       /* bytes of a KEYRING subsidiary name */
#define WRITER_FD	      3		       /* the writer's end of the pair */
#define WRITER_LANES	      4		       /* writer processes: users' jobs side by side */
#define WRITER_STOP_GRACE_MS  1000	       /* a stopped writer gets this long to exit */
#define WRITER_REAP_POLL_MS   50	       /* retry of waitpid for a killed writer */
#define WRITER_MARGIN_MIN_MS  20	       /* the child's deadline comes this much ... */
#define WRITER_MARGIN_MAX_MS  500	       /* ... (at most) before the helper's */
#define WRITER_CHILD_READ_MS  2000	       /* a read or destroy job's process lives no longer */
#define WRITER_CHILD_STORE_MS 5000	       /* nor a store job's (it also fsyncs) */
#define NAME_TRIES	      32	       /* random names tried before giving up */
#define TEMP_PREFIX	      ".sectx-cc."     /* temp files; never "tkt*", so DIR ignores them */

/* Random suffixes never contain 'X', so a name a store returned never ends in
 * XXXXXX and is taken back as an exact name.  61 characters. */
static const char rand_alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWYZ0123456789";

enum cc_kind {
	CC_FILE_UNIQUE,	       /* FILE:/path...XXXXXX */
	CC_FILE,	       /* FILE:/path */
	CC_DIR_COLLECTION,     /* DIR:/path */
	CC_DIR_MEMBER,	       /* DIR::/path/tktNAME */
	CC_KEYRING_COLLECTION, /* KEYRING:persistent:UID */
	CC_KEYRING_MEMBER,     /* KEYRING:persistent:UID:NAME */
};

/* --- names: shared by the helper side and the writer --------------------- */

static bool valid_login(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > WRITER_LOGIN_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
		return false;
	}
	for (i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-')) {
			return false;
		}
	}
	return true;
}

/* An absolute path shorter than PATH_MAX with no empty, "." or ".."
 * component (so no "//" and no trailing '/'). */
static bool valid_abs_path(const char *p)
{
	const char *c, *end;

	if (p[0] != '/' || strlen(p) >= PATH_MAX) {
		return false;
	}
	for (c = p + 1;; c = end + 1) {
		size_t n;

		end = strchr(c, '/');
		n = end != NULL ? (size_t)(end - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
			return false;
		}
		if (end == NULL) {
			return true;
		}
	}
}

/* Expand %U, %u and %% of tmpl into out (outsz bytes).  0 or -EINVAL /
 * -ENAMETOOLONG with *why set. */
static int expand_template(const char *tmpl, uid_t uid, const char *user, char *out, size_t outsz,
			   const char **why)
{
	size_t o = 0;
	const char *t;

	for (t = tmpl; *t != '\0'; t++) {
		char num[16];
		const char *add = num;
		size_t n;

		if (*t != '%') {
			num[0] = *t;
			num[1] = '\0';
		} else if (t[1] == 'U') {
			snprintf(num, sizeof(num), "%u", (unsigned)uid);
			t++;
		} else if (t[1] == 'u') {
			if (!valid_login(user)) {
				*why = "the user name cannot go into a cache name (%u needs "
				       "[a-z_][a-z0-9_.-]*, at most 32 bytes)";
				return -EINVAL;
			}
			add = user;
			t++;
		} else if (t[1] == '%') {
			num[0] = '%';
			num[1] = '\0';
			t++;
		} else {
			*why = "unknown % sequence in the cache name (only %U, %u and %%)";
			return -EINVAL;
		}
		n = strlen(add);
		if (n >= outsz - o) {
			*why = "the cache name is too long";
			return -ENAMETOOLONG;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* Parse the decimal uid at *p (no sign, no leading zero); advance *p. */
static bool parse_uid(const char **p, uid_t *uid)
{
	const char *s = *p;
	unsigned long long v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 11) {
		v = v * 10 + (unsigned long long)(s[n] - '0');
		n++;
	}
	if (n == 0 || n > 10 || (n > 1 && s[0] == '0') || v >= (uid_t)-1) {
		return false;
	}
	*uid = (uid_t)v;
	*p = s + n;
	return true;
}

/* What kind of cache name is this, for uid?  Everything the writer cannot
 * write as the user is refused here, before anything forks.  destroy: only
 * exact names (no collection, no XXXXXX).  0 or -EINVAL with *why. */
static int classify(const char *name, uid_t uid, bool destroy, enum cc_kind *kind, const char **why)
{
	const char *p;

	if (strncmp(name, "FILE:", 5) == 0) {
		size_t n;

		p = name + 5;
		if (!valid_abs_path(p)) {
			*why =
			    "a FILE cache needs an absolute path without empty, . or .. components";
			return -EINVAL;
		}
		n = strlen(p);
		if (n >= 6 && strcmp(p + n - 6, "XXXXXX") == 0) {
			if (destroy) {
				*why = "a cache to destroy needs its exact name, not a template";
				return -EINVAL;
			}
			*kind = CC_FILE_UNIQUE;
		} else {
			*kind = CC_FILE;
		}
		return 0;
	}
	if (strncmp(name, "DIR::", 5) == 0) {
		const char *base;

		p = name + 5;
		base = strrchr(p, '/');
		if (!valid_abs_path(p) || base == NULL || strncmp(base + 1, "tkt", 3) != 0 ||
		    base == p) {
			*why = "a DIR subsidiary is DIR::/absolute/directory/tktNAME";
			return -EINVAL;
		}
		*kind = CC_DIR_MEMBER;
		return 0;
	}
	if (strncmp(name, "DIR:", 4) == 0) {
		if (destroy) {
			*why = "destroy takes one DIR subsidiary (DIR::/path/tktNAME), never a "
			       "collection";
			return -EINVAL;
		}
		if (!valid_abs_path(name + 4)) {
			*why = "a DIR collection needs an absolute path without empty, . or .. "
			       "components";
			return -EINVAL;
		}
		*kind = CC_DIR_COLLECTION;
		return 0;
	}
	if (strncmp(name, "KEYRING:", 8) == 0) {
		uid_t kuid;
		size_t i, n;

		p = name + 8;
		if (strncmp(p, "persistent:", 11) != 0) {
			*why = "session, user, process and thread keyrings belong to the login "
			       "process, not the helper: only KEYRING:persistent:UID is written";
			return -EINVAL;
		}
		p += 11;
		if (!parse_uid(&p, &kuid) || (*p != '\0' && *p != ':')) {
			*why = "KEYRING:persistent needs the user's numeric uid";
			return -EINVAL;
		}
		if (kuid != uid) {
			*why = "KEYRING:persistent names another user's keyring";
			return -EINVAL;
		}
		if (*p == '\0') {
			if (destroy) {
				*why = "destroy takes one KEYRING subsidiary "
				       "(KEYRING:persistent:UID:NAME), never a collection";
				return -EINVAL;
			}
			*kind = CC_KEYRING_COLLECTION;
			return 0;
		}
		p++;
		n = strlen(p);
		for (i = 0; i < n; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
				break;
			}
		}
		if (n == 0 || n > WRITER_MEMBER_MAX || i != n) {
			*why = "a KEYRING subsidiary name is 1-64 of [A-Za-z0-9_.-]";
			return -EINVAL;
		}
		*kind = CC_KEYRING_MEMBER;
		return 0;
	}
	*why = "not a credential cache the helper can write as the user (FILE:/path, DIR:/path "
	       "or KEYRING:persistent:UID; MEMORY, API, KCM and relative names are refused)";
	return -EINVAL;
}

/* Check who and ccache, expand ccache (store) into out.  Used by both sides:
 * the helper to fail early, the writer because it trusts nothing it did not
 * check itself.  0 or -errno with *why. */
static int check_job(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, const char *user,
		     const char *ccache, bool destroy, char *out, size_t outsz, enum cc_kind *kind,
		     const char **why)
{
	size_t i;
	int ret;

	if (uid == 0) {
		*why = "never written as root";
		return -EINVAL;
	}
	if (uid == (uid_t)-1 || gid == (gid_t)-1) {
		*why = "invalid uid or gid";
		return -EINVAL;
	}
	if (n_groups > SECTX_WRITER_MAX_GROUPS) {
		*why = "too many supplementary groups";
		return -E2BIG;
	}
	for (i = 0; i < n_groups; i++) {
		if (groups[i] == (gid_t)-1) {
			*why = "invalid supplementary group";
			return -EINVAL;
		}
	}
	if (sectx_validate_string((const uint8_t *)user, strnlen(user, SECTX_NAME_MAX + 1),
				  SECTX_NAME_MAX) != 0) {
		*why = "invalid user name";
		return -EINVAL;
	}
	if (sectx_validate_string((const uint8_t *)ccache, strnlen(ccache, WRITER_CCNAME_MAX + 1),
				  WRITER_CCNAME_MAX) != 0) {
		*why = "invalid or too long cache name";
		return -EINVAL;
	}
	if (destroy) {
		if (strlen(ccache) >= outsz) {
			*why = "the cache name is too long";
			return -ENAMETOOLONG;
		}
		memcpy(out, ccache, strlen(ccache) + 1);
	} else {
		ret = expand_template(ccache, uid, user, out, outsz, why);
		if (ret != 0) {
			return ret;
		}
	}
	return classify(out, uid, destroy, kind, why);
}

/* What a job produced.  err is 0 or a positive errno.  A read fills
 * principal and, if asked, cred (a marshalled TGT: SECRET, scrubbed by
 * whoever holds an outcome). */
struct outcome {
	int err;
	char ccache[WRITER_CCNAME_MAX + 1];
	char msg[WRITER_MSG_MAX];
	char principal[SECTX_STRING_MAX + 1];
	uint8_t cred[WRITER_CRED_MAX];
	size_t cred_len;
};

/* Build a reply frame for outcome into buf.  The message is reduced to
 * printable ASCII first: it may quote a path or a Kerberos message. */
static int build_outcome(uint8_t *buf, size_t cap, uint16_t op, uint32_t reqid,
			 const struct outcome *out, size_t *len)
{
	struct sectx_wbuf w;
	char clean[WRITER_MSG_MAX];
	size_t i;

	sectx_frame_begin(&w, buf, cap, WRITER_VERSION, (uint16_t)(op | SECTX_OP_REPLY), reqid);
	sectx_put_u32(&w, WT_ERR, (uint32_t)out->err);
	if (out->ccache[0] != '\0') {
		sectx_put_string(&w, WT_CCACHE, out->ccache);
	}
	if (out->principal[0] != '\0') {
		sectx_put_string(&w, WT_PRINCIPAL, out->principal);
	}
	if (out->cred_len > 0) {
		sectx_put_bytes(&w, WT_CRED, out->cred, out->cred_len);
	}
	if (out->msg[0] != '\0') {
		for (i = 0; i < sizeof(clean) - 1 && out->msg[i] != '\0'; i++) {
			unsigned char c = (unsigned char)out->msg[i];

			clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		clean[i] = '\0';
		sectx_put_string(&w, WT_MESSAGE, clean);
	}
	return sectx_frame_end(&w, len);
}

/* Parse a reply frame (from the child or the writer) for op and reqid. */
static int parse_outcome(const uint8_t *buf, size_t len, uint16_t op, uint32_t reqid,
			 struct outcome *out)
{
	struct sectx_msg msg;
	uint32_t err;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = sectx_msg_parse(buf, len, &msg);
	if (ret != 0) {
		return ret;
	}
	if (msg.hdr.op != (uint16_t)(op | SECTX_OP_REPLY) || msg.hdr.reqid != reqid) {
		return SECTX_ERR_BADFRAME;
	}
	ret = sectx_msg_get_u32(&msg, WT_ERR, &err);
	if (ret != 0) {
		return ret;
	}
	if (err > 4095) {
		return SECTX_ERR_BADLEN;
	}
	out->err = (int)err;
	ret = sectx_msg_get_string(&msg, WT_CCACHE, out->ccache, sizeof(out->ccache),
				   WRITER_CCNAME_MAX);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	ret =
	    sectx_msg_get_string(&msg, WT_MESSAGE, out->msg, sizeof(out->msg), WRITER_MSG_MAX - 1);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	if (op != WOP_READ) {
		return 0;
	}
	ret = sectx_msg_get_string(&msg, WT_PRINCIPAL, out->principal, sizeof(out->principal),
				   SECTX_STRING_MAX);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		return ret;
	}
	{
		const uint8_t *p = NULL;
		size_t n = 0;

		ret = sectx_msg_get_bytes(&msg, WT_CRED, &p, &n);
		if (ret == 0) {
			if (n == 0 || n > sizeof(out->cred)) {
				return SECTX_ERR_BADLEN;
			}
			memcpy(out->cred, p, n);
			out->cred_len = n;
		} else if (ret != SECTX_ERR_NOFIELD) {
			return ret;
		}
	}
	return 0;
}

/* ======================================================================== */
/* The child: one job, as the user.                                          */
/* ======================================================================== */

/* One job as the writer received it.  creds point into frame. */
struct job {
	uint16_t op;
	uint32_t reqid;
	uid_t uid;
	gid_t gid;
	gid_t groups[SECTX_WRITER_MAX_GROUPS];
	size_t n_groups;
	char user[SECTX_NAME_MAX + 1];
	char ccache[WRITER_CCNAME_MAX + 1]; /* expanded (store) or as given (destroy) */
	enum cc_kind kind;
	char principal[SECTX_STRING_MAX + 1];
	struct sectx_field creds[SECTX_WRITER_MAX_CREDS];
	size_t n_creds;
	int64_t deadline;
	bool want_tgt;	/* read: return the TGT too */
	bool replace;	/* store: only over an existing cache of ours */
	uint8_t *frame; /* the received frame, scrubbed by the writer and the child */
	size_t frame_len;
};

static int fail(struct outcome *out, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct outcome *out, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	out->err = err;
	return -err;
}

/* Like fail, adding ": strerror(err)". */
static int sys_fail(struct outcome *out, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sys_fail(struct outcome *out, int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	n = strlen(out->msg);
	snprintf(out->msg + n, sizeof(out->msg) - n, ": %s", strerror(err));
	out->err = err;
	return -err;
}

/* The errno that best says what a Kerberos ccache error means. */
static int krb5_errno(krb5_error_code kret)
{
	switch (kret) {
	case KRB5_FCC_NOFILE:
	case KRB5_CC_NOTFOUND:
		return ENOENT;
	case KRB5_FCC_PERM:
		return EACCES;
	case KRB5_CC_NOMEM:
	case ENOMEM:
		return ENOMEM;
	case KRB5_CC_BADNAME:
	case KRB5_CC_UNKNOWN_TYPE:
		return EINVAL;
	}
	if (kret > 0 && kret < 4096) {
		return (int)kret; /* libkrb5 passes some errno values through */
	}
	return EIO;
}

/* Like fail, adding ": <Kerberos message>". */
static int krb_fail(krb5_context ctx, krb5_error_code kret, struct outcome *out, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
static int krb_fail(krb5_context ctx, krb5_error_code kret, struct outcome *out, const char *fmt,
		    ...)
{
	const char *m = krb5_get_error_message(ctx, kret);
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	n = strlen(out->msg);
	snprintf(out->msg + n, sizeof(out->msg) - n, ": %s", m != NULL ? m : "unknown error");
	krb5_free_error_message(ctx, m);
	out->err = krb5_errno(kret);
	return -out->err;
}

/* n random characters of rand_alphabet into s (no NUL added). */
static int random_chars(char *s, size_t n)
{
	const size_t a = sizeof(rand_alphabet) - 1;
	uint8_t b[32];
	size_t i = 0, k;

	while (i < n) {
		ssize_t r = getrandom(b, sizeof(b), 0);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		for (k = 0; k < (size_t)r && i < n; k++) {
			if (b[k] < 256 - 256 % a) { /* no modulo bias */
				s[i++] = rand_alphabet[b[k] % a];
			}
		}
	}
	return 0;
}

/* Drop to the job's user for good and check that it took.  Runs in the
 * child, which is single-threaded. */
static int drop_privileges(const struct job *j, pid_t writer, struct outcome *out)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setgroups(j->n_groups, j->groups) != 0) {
		return sys_fail(out, errno, "cannot set the groups of uid %u", (unsigned)j->uid);
	}
	if (setresgid(j->gid, j->gid, j->gid) != 0) {
		return sys_fail(out, errno, "cannot set gid %u", (unsigned)j->gid);
	}
	if (setresuid(j->uid, j->uid, j->uid) != 0) {
		return sys_fail(out, errno, "cannot set uid %u", (unsigned)j->uid);
	}
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != j->uid ||
	    eu != j->uid || su != j->uid || rg != j->gid || eg != j->gid || sg != j->gid) {
		return fail(out, EPERM, "dropping to uid %u did not take", (unsigned)j->uid);
	}
	if (setuid(0) == 0 || (j->gid != 0 && setgid(0) == 0)) {
		return fail(out, EPERM, "uid %u could regain root: refusing to go on",
			    (unsigned)j->uid);
	}
	/* The uid change reset both; the user may neither ptrace nor core-dump
	 * this process, and it must not outlive the writer. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
		return sys_fail(out, errno, "prctl");
	}
	if (getppid() != writer) {
		return fail(out, ECHILD, "the writer went away");
	}
	umask(077);
	return 0;
}

/* Initialise princ's cache cc and store creds in it. */
static int write_creds(krb5_context ctx, krb5_ccache cc, krb5_principal princ, krb5_creds **creds,
		       const char *name, struct outcome *out)
{
	krb5_error_code kret;
	size_t i;

	kret = krb5_cc_initialize(ctx, cc, princ);
	if (kret != 0) {
		return krb_fail(ctx, kret, out, "cannot initialise %s", name);
	}
	for (i = 0; creds[i] != NULL; i++) {
		kret = krb5_cc_store_cred(ctx, cc, creds[i]);
		if (kret != 0) {
			return krb_fail(ctx, kret, out, "cannot store a credential in %s", name);
		}
	}
	return 0;
}

/* The principal of cache name: 0 with *princ, 1 if there is no such cache,
 * or -errno (a cache there that cannot be read). */
static int read_principal(krb5_context ctx, const char *name, krb5_principal *princ,
			  struct outcome *out)
{
	krb5_ccache cc = NULL;
	krb5_error_code kret;

	*princ = NULL;
	kret = krb5_cc_resolve(ctx, name, &cc);
	if (kret != 0) {
		return krb_fail(ctx, kret, out, "cannot resolve %s", name);
	}
	kret = krb5_cc_get_principal(ctx, cc, princ);
	krb5_cc_close(ctx, cc);
	if (kret == KRB5_FCC_NOFILE || kret == KRB5_CC_NOTFOUND) {
		return 1;
	}
	if (kret != 0) {
		return krb_fail(ctx, kret, out, "cannot read %s", name);
	}
	return 0;
}

/* The child's read lock on the user's cache file (see hold_cache_file), held
 * until the child exits; -1: none. */
static int held_cache_fd = -1;

/* Let the cache file go before libkrb5 takes a lock of its own that could
 * conflict with ours (an old libkrb5 locks a cache it destroys exclusively). */
static void release_cache_file(void)
{
	if (held_cache_fd >= 0) {
		close(held_cache_fd);
		held_cache_fd = -1;
	}
}

/* Before libkrb5 opens the existing cache file path (which st, from lstat,
 * describes): libkrb5 waits without limit for its fcntl lock, and the user
 * may hold a write lock (or a lease) on their own file for as long as they
 * like, which would hold the single writer and every other user's job.  So
 * open it without blocking (O_NONBLOCK: a lease or a FIFO put there since
 * the lstat fails instead of waiting), check it is still that regular file of
 * the user, and take a shared lock without waiting: a conflicting lock fails
 * the job at once with EBUSY.  The lock is then ours until the child exits,
 * so nobody can take a write lock on this file under libkrb5 (its own shared
 * lock is compatible); what is left (another file renamed in, a stopped
 * child) is bounded by the writer's per-job limit (run_job).  Returns 0 (go
 * on; an unreadable file of the user is left to libkrb5, which fails on it
 * as we did), 1 (gone meanwhile), or -errno with out set. */
static int hold_cache_file(const char *path, const struct stat *st, uid_t uid, bool destroy,
			   struct outcome *out)
{
	struct flock fl;
	struct stat now;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return 1;
		}
		if (errno == EACCES) {
			return 0;
		}
		if (errno == EWOULDBLOCK) {
			return fail(out, EBUSY,
				    "%s is locked by another process (a lease): not waiting for it",
				    path);
		}
		if (errno == ELOOP) {
			return fail(out, destroy ? ESTALE : EEXIST,
				    "%s was replaced by a symlink: left alone", path);
		}
		return sys_fail(out, errno, "cannot open %s", path);
	}
	if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_uid != uid ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return fail(out, destroy ? ESTALE : EEXIST,
			    "%s was replaced while we looked at it: left alone", path);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file, as libkrb5 locks it */
	ret = fcntl(fd, F_OFD_SETLK, &fl);
	if (ret != 0 && errno == EINVAL) {
		/* No OFD locks: only test (a classic lock of ours would go with
		 * libkrb5's close of its own descriptor). */
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_RDLCK;
		fl.l_whence = SEEK_SET;
		ret = fcntl(fd, F_GETLK, &fl);
		if (ret == 0 && fl.l_type != F_UNLCK) {
			ret = -1;
			errno = EAGAIN;
		}
	}
	if (ret != 0) {
		int err = errno;

		close(fd);
		if (err == EAGAIN || err == EACCES) {
			return fail(out, EBUSY,
				    "%s is locked by another process: not waiting for it", path);
		}
		return sys_fail(out, err, "cannot lock %s", path);
	}
	release_cache_file();
	held_cache_fd = fd;
	return 0;
}

/* An existing file at path that we may replace (store), destroy or read: it
 * must be a regular file of the user (lstat: a symlink is never followed) that
 * no other process holds locked (hold_cache_file: -EBUSY); if
 * it holds a cache, its principal must be princ (unless princ is NULL: read).  Returns 0 (may go
 * on), 1 (no file there), -EEXIST (not the user's cache file), -ESTALE (another principal's cache,
 * or for destroy an unreadable one), or -errno. */
static int check_existing_file(krb5_context ctx, const char *path, uid_t uid,
			       krb5_const_principal princ, bool destroy, struct outcome *out)
{
	char name[PATH_MAX + 8];
	krb5_principal have = NULL;
	struct stat st;
	int ret;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT) {
			return 1;
		}
		return sys_fail(out, errno, "cannot look at %s", path);
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != uid) {
		return fail(out, destroy ? ESTALE : EEXIST,
			    "%s is not a cache file of uid %u (a symlink, another owner's file or "
			    "not a regular file): left alone",
			    path, (unsigned)uid);
	}
	ret = hold_cache_file(path, &st, uid, destroy, out);
	if (ret != 0 || princ == NULL) {
		return ret;
	}
	snprintf(name, sizeof(name), "FILE:%s", path);
	ret = read_principal(ctx, name, &have, out);
	if (ret == 1) {
		return 1;
	}
	if (ret < 0) {
		if (!destroy) {
			return 0; /* the user's own unreadable file: replaced */
		}
		return fail(out, ESTALE, "%s holds no readable cache: left alone", path);
	}
	ret = 0;
	if (!krb5_principal_compare(ctx, have, princ)) {
		ret = fail(out, ESTALE, "%s holds another principal's cache: left alone", path);
	}
	krb5_free_principal(ctx, have);
	return ret;
}

/* The directory dir must be the user's own and writable by nobody else
 * (lstat: not a symlink).  create: mkdir(0700) it first if missing. */
static int check_user_dir(const char *dir, uid_t uid, bool create, struct outcome *out)
{
	struct stat st;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		return sys_fail(out, errno, "cannot create the cache directory %s", dir);
	}
	if (lstat(dir, &st) != 0) {
		return sys_fail(out, errno, "cannot look at the cache directory %s", dir);
	}
	if (S_ISLNK(st.st_mode)) {
		return fail(out, ELOOP, "the cache directory %s is a symlink", dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		return fail(out, ENOTDIR, "%s is not a directory", dir);
	}
	if (st.st_uid != uid || (st.st_mode & 022) != 0) {
		return fail(out, EPERM,
			    "the cache directory %s is not uid %u's own (owner %u, mode %04o)", dir,
			    (unsigned)uid, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

/* The directory of a DIR member name (DIR::/dir/tkt...) must be the user's:
 * check_user_dir on it, never created. */
static int check_member_dir(const struct job *j, struct outcome *out)
{
	const char *path = j->ccache + 5;
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	return check_user_dir(dir, j->uid, false, out);
}

/* An exact FILE: or DIR member name: its directory (DIR member) and then the
 * file itself, as check_existing_file. */
static int check_exact_file(krb5_context ctx, const struct job *j, krb5_principal expected,
			    bool destroy, struct outcome *out)
{
	int ret = j->kind == CC_DIR_MEMBER ? check_member_dir(j, out) : 0;

	return ret != 0 ? ret
			: check_existing_file(ctx, j->ccache + 5, j->uid, expected, destroy, out);
}

/* Write a cache of princ holding creds to path, replacing whatever is there
 * only by rename(2): the cache is built in a new temp file in the same
 * directory, which no reader knows, so a reader sees the old cache or the
 * whole new one, and a symlink at path is replaced, never followed. */
static int file_replace(krb5_context ctx, const char *path, krb5_principal princ,
			krb5_creds **creds, struct outcome *out)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX], name[PATH_MAX + 8], rnd[11];
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	struct stat st;
	bool created = false;
	int fd = -1, tries, ret;

	for (tries = 0; tries < NAME_TRIES; tries++) {
		ret = random_chars(rnd, sizeof(rnd) - 1);
		if (ret != 0) {
			return sys_fail(out, -ret, "getrandom");
		}
		rnd[sizeof(rnd) - 1] = '\0';
		if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s/" TEMP_PREFIX "%s",
				     (int)(slash - path), path, rnd) >= sizeof(tmp)) {
			return fail(out, ENAMETOOLONG, "%s: name too long", path);
		}
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		return sys_fail(out, tries == NAME_TRIES ? EEXIST : errno,
				"cannot create a cache file next to %s", path);
	}
	created = true;
	close(fd);
	fd = -1;

	/* libkrb5 writes by name; the temp name is random and in this directory
	 * only the user (or root) could replace it. */
	snprintf(name, sizeof(name), "FILE:%s", tmp);
	kret = krb5_cc_resolve(ctx, name, &cc);
	if (kret != 0) {
		ret = krb_fail(ctx, kret, out, "cannot resolve %s", name);
		goto done;
	}
	ret = write_creds(ctx, cc, princ, creds, path, out);
	krb5_cc_close(ctx, cc);
	if (ret != 0) {
		goto done;
	}
	fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = sys_fail(out, errno, "cannot reopen the new cache for %s", path);
		goto done;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid()) {
		ret = fail(out, EEXIST, "the new cache for %s was replaced under us", path);
		goto done;
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		ret = sys_fail(out, errno, "cannot finish the new cache for %s", path);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		ret = sys_fail(out, errno, "cannot put the new cache in place at %s", path);
		goto done;
	}
	created = false;
	ret = 0;
done:
	if (fd >= 0) {
		close(fd);
	}
	if (created) {
		unlink(tmp);
	}
	return ret;
}

/* FILE:/path...XXXXXX: reserve a new name (O_EXCL, never following a link),
 * then build the cache and rename it over the reservation. */
static int store_file_unique(krb5_context ctx, const struct job *j, krb5_principal princ,
			     krb5_creds **creds, struct outcome *out)
{
	char path[PATH_MAX];
	size_t n = strlen(j->ccache + 5);
	int fd = -1, tries, ret;

	memcpy(path, j->ccache + 5, n + 1);
	for (tries = 0; tries < NAME_TRIES; tries++) {
		ret = random_chars(path + n - 6, 6);
		if (ret != 0) {
			return sys_fail(out, -ret, "getrandom");
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		return sys_fail(out, tries == NAME_TRIES ? EEXIST : errno, "cannot create %s",
				j->ccache + 5);
	}
	close(fd);
	ret = file_replace(ctx, path, princ, creds, out);
	if (ret != 0) {
		unlink(path); /* our empty reservation */
		return ret;
	}
	/* The same name as the template, its X's replaced. */
	memcpy(out->ccache, j->ccache, 5 + n + 1);
	memcpy(out->ccache + 5 + n - 6, path + n - 6, 6);
	return 0;
}

/* FILE:/path or DIR::/dir/tktNAME: replace that file if it is ours. */
static int store_file_exact(krb5_context ctx, const struct job *j, const char *path,
			    krb5_principal princ, krb5_creds **creds, struct outcome *out)
{
	int ret;

	ret = check_existing_file(ctx, path, j->uid, princ, false, out);
	if (ret < 0) {
		return ret;
	}
	if (ret == 1 && j->replace) {
		return fail(out, ENOENT, "%s: no cache any more (destroyed by its user)", path);
	}
	ret = file_replace(ctx, path, princ, creds, out);
	if (ret == 0) {
		snprintf(out->ccache, sizeof(out->ccache), "%s", j->ccache);
	}
	return ret;
}

/* Is the user's persistent keyring there to be had?  Containers and some
 * kernels refuse keyctl; say so plainly rather than with libkrb5's words. */
static int keyring_probe(uid_t uid, struct outcome *out)
{
	long r = syscall(SYS_keyctl, KEYCTL_GET_PERSISTENT, (unsigned long)uid,
			 (long)KEY_SPEC_PROCESS_KEYRING);

	if (r < 0) {
		return sys_fail(out, EOPNOTSUPP,
				"kernel keyrings are not available here (keyctl get_persistent "
				"for uid %u: %s)",
				(unsigned)uid, strerror(errno));
	}
	return 0;
}

/* DIR:/path or KEYRING:persistent:UID: a new subsidiary in that collection,
 * made primary. */
static int store_collection(krb5_context ctx, const struct job *j, const char *type,
			    krb5_principal princ, krb5_creds **creds, struct outcome *out)
{
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	char *full = NULL;
	int ret;

	kret = krb5_cc_set_default_name(ctx, j->ccache);
	if (kret == 0) {
		kret = krb5_cc_new_unique(ctx, type, NULL, &cc);
	}
	if (kret != 0) {
		return krb_fail(ctx, kret, out, "cannot create a new cache in %s", j->ccache);
	}
	ret = write_creds(ctx, cc, princ, creds, j->ccache, out);
	if (ret == 0) {
		kret = krb5_cc_switch(ctx, cc);
		if (kret == 0) {
			kret = krb5_cc_get_full_name(ctx, cc, &full);
		}
		if (kret != 0) {
			ret = krb_fail(ctx, kret, out, "cannot make the new cache in %s primary",
				       j->ccache);
		}
	}
	if (ret == 0 && strlen(full) >= sizeof(out->ccache)) {
		ret = fail(out, ENAMETOOLONG, "the new cache's name is too long");
	}
	if (ret != 0) {
		krb5_cc_destroy(ctx, cc);
	} else {
		snprintf(out->ccache, sizeof(out->ccache), "%s", full);
		krb5_cc_close(ctx, cc);
	}
	krb5_free_string(ctx, full);
	return ret;
}

/* KEYRING:persistent:UID:NAME: reinitialise that subsidiary if it is ours
 * (libkrb5 has no atomic replace for keyrings). */
static int store_keyring_member(krb5_context ctx, const struct job *j, krb5_principal princ,
				krb5_creds **creds, struct outcome *out)
{
	krb5_principal have = NULL;
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	int ret;

	ret = read_principal(ctx, j->ccache, &have, out);
	if (ret == 0 && !krb5_principal_compare(ctx, have, princ)) {
		ret =
		    fail(out, ESTALE, "%s holds another principal's cache: left alone", j->ccache);
	}
	krb5_free_principal(ctx, have);
	if (ret < 0) {
		return ret;
	}
	if (ret == 1 && j->replace) {
		return fail(out, ENOENT, "%s: no cache any more (destroyed by its user)",
			    j->ccache);
	}
	kret = krb5_cc_resolve(ctx, j->ccache, &cc);
	if (kret != 0) {
		return krb_fail(ctx, kret, out, "cannot resolve %s", j->ccache);
	}
	ret = write_creds(ctx, cc, princ, creds, j->ccache, out);
	krb5_cc_close(ctx, cc);
	if (ret == 0) {
		snprintf(out->ccache, sizeof(out->ccache), "%s", j->ccache);
	}
	return ret;
}

static void child_store(krb5_context ctx, struct job *j, struct outcome *out)
{
	krb5_creds *creds[SECTX_WRITER_MAX_CREDS + 1] = {NULL};
	krb5_principal princ;
	krb5_error_code kret;
	size_t i;

	for (i = 0; i < j->n_creds; i++) {
		krb5_data d;

		d.magic = KV5M_DATA;
		d.length = j->creds[i].len;
		d.data = (char *)j->creds[i].value;
		kret = krb5_unmarshal_credentials(ctx, &d, &creds[i]);
		if (kret != 0) {
			krb_fail(ctx, kret, out, "cannot read credential %zu", i);
			goto done;
		}
		if (!krb5_principal_compare(ctx, creds[0]->client, creds[i]->client)) {
			fail(out, EINVAL, "the credentials are of different clients");
			goto done;
		}
	}
	/* What is left of the secrets is in creds; the frame goes now. */
	explicit_bzero(j->frame, j->frame_len);
	princ = creds[0]->client;

	switch (j->kind) {
	case CC_FILE_UNIQUE:
		store_file_unique(ctx, j, princ, creds, out);
		break;
	case CC_FILE:
		store_file_exact(ctx, j, j->ccache + 5, princ, creds, out);
		break;
	case CC_DIR_COLLECTION:
		if (check_user_dir(j->ccache + 4, j->uid, true, out) == 0) {
			store_collection(ctx, j, "DIR", princ, creds, out);
		}
		break;
	case CC_DIR_MEMBER:
		if (check_member_dir(j, out) == 0) {
			store_file_exact(ctx, j, j->ccache + 5, princ, creds, out);
		}
		break;
	case CC_KEYRING_COLLECTION:
		if (keyring_probe(j->uid, out) == 0) {
			store_collection(ctx, j, "KEYRING", princ, creds, out);
		}
		break;
	case CC_KEYRING_MEMBER:
		if (keyring_probe(j->uid, out) == 0) {
			store_keyring_member(ctx, j, princ, creds, out);
		}
		break;
	}
done:
	for (i = 0; i < j->n_creds; i++) {
		krb5_free_creds(ctx, creds[i]); /* zeroes the session key */
	}
}

static void child_destroy(krb5_context ctx, struct job *j, struct outcome *out)
{
	krb5_principal expected = NULL, have = NULL;
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	int ret = 0;

	kret = krb5_parse_name(ctx, j->principal, &expected);
	if (kret != 0) {
		krb_fail(ctx, kret, out, "invalid principal");
		out->err = EINVAL;
		return;
	}
	switch (j->kind) {
	case CC_FILE:
	case CC_DIR_MEMBER:
		ret = check_exact_file(ctx, j, expected, true, out);
		break;
	case CC_KEYRING_MEMBER:
		ret = keyring_probe(j->uid, out);
		if (ret == 0) {
			ret = read_principal(ctx, j->ccache, &have, out);
		}
		if (ret == 0 && !krb5_principal_compare(ctx, have, expected)) {
			ret = fail(out, ESTALE, "%s holds another principal's cache: left alone",
				   j->ccache);
		} else if (ret < 0 && out->err != EOPNOTSUPP) {
			ret =
			    fail(out, ESTALE, "%s holds no readable cache: left alone", j->ccache);
		}
		break;
	default: /* classify() admits nothing else for destroy */
		ret = fail(out, EINVAL, "not an exact cache name");
		break;
	}
	if (ret == 1) {
		fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	release_cache_file();
	kret = krb5_cc_resolve(ctx, j->ccache, &cc);
	if (kret == 0) {
		kret = krb5_cc_destroy(ctx, cc); /* frees cc */
	}
	if (kret != 0) {
		krb_fail(ctx, kret, out, "cannot destroy %s", j->ccache);
	}
done:
	krb5_free_principal(ctx, have);
	krb5_free_principal(ctx, expected);
}

/* Read the principal of the exact cache j->ccache and, if asked, its TGT
 * (krbtgt/REALM@REALM of the principal's realm), as the user.  A FILE or DIR
 * member must be a regular file of the user (never a link). */
static void child_read(krb5_context ctx, struct job *j, struct outcome *out)
{
	krb5_principal have = NULL, tgs = NULL;
	krb5_creds mcreds, tgt;
	bool have_tgt = false;
	krb5_data *m = NULL;
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	char *pname = NULL;
	int ret = 0;

	switch (j->kind) {
	case CC_FILE:
	case CC_DIR_MEMBER:
		ret = check_exact_file(ctx, j, NULL, false, out);
		break;
	case CC_KEYRING_MEMBER:
		ret = keyring_probe(j->uid, out);
		break;
	default: /* classify() admits nothing else for an exact name */
		ret = fail(out, EINVAL, "not an exact cache name");
		break;
	}
	if (ret == -EEXIST) {
		out->err = ESTALE; /* a link or another owner's file: not our cache */
		goto done;
	}
	if (ret == 1) {
		fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	ret = read_principal(ctx, j->ccache, &have, out);
	if (ret == 1) {
		fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	kret = krb5_unparse_name(ctx, have, &pname);
	if (kret != 0 || strlen(pname) >= sizeof(out->principal)) {
		fail(out, EINVAL, "%s: the cache's principal cannot be named", j->ccache);
		goto done;
	}
	snprintf(out->principal, sizeof(out->principal), "%s", pname);
	if (!j->want_tgt) {
		goto done;
	}
	kret = krb5_build_principal_ext(ctx, &tgs, have->realm.length, have->realm.data,
					KRB5_TGS_NAME_SIZE, KRB5_TGS_NAME, have->realm.length,
					have->realm.data, 0);
	if (kret == 0) {
		kret = krb5_cc_resolve(ctx, j->ccache, &cc);
	}
	if (kret == 0) {
		memset(&mcreds, 0, sizeof(mcreds));
		mcreds.client = have;
		mcreds.server = tgs;
		memset(&tgt, 0, sizeof(tgt));
		kret = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, &tgt);
		have_tgt = kret == 0;
	}
	if (kret == KRB5_CC_NOTFOUND || kret == KRB5_CC_END) {
		goto done; /* a principal and no TGT: the caller decides */
	}
	if (kret == 0) {
		kret = krb5_marshal_credentials(ctx, &tgt, &m);
	}
	if (kret != 0) {
		krb_fail(ctx, kret, out, "cannot read the TGT in %s", j->ccache);
		goto done;
	}
	if (m->length == 0 || m->length > sizeof(out->cred)) {
		fail(out, E2BIG, "the TGT in %s is too large", j->ccache);
		goto done;
	}
	memcpy(out->cred, m->data, m->length);
	out->cred_len = m->length;
done:
	if (m != NULL) {
		explicit_bzero(m->data, m->length);
		krb5_free_data(ctx, m);
	}
	if (have_tgt) {
		krb5_free_cred_contents(ctx, &tgt); /* zeroes the session key */
	}
	if (cc != NULL) {
		krb5_cc_close(ctx, cc);
	}
	krb5_free_unparsed_name(ctx, pname);
	krb5_free_principal(ctx, tgs);
	krb5_free_principal(ctx, have);
}

/* The child's whole life: drop, do the job, report on resfd, _exit. */
static void child_main(struct job *j, int resfd, pid_t writer) __attribute__((noreturn));
static void child_main(struct job *j, int resfd, pid_t writer)
{
	static struct outcome out; /* static: the child's stack stays small */
	static uint8_t buf[WRITER_REPLY_MAX];
	krb5_context ctx = NULL;
	krb5_error_code kret;
	size_t len, off = 0;
	int ret;

	memset(&out, 0, sizeof(out));
	if (drop_privileges(j, writer, &out) != 0) {
		goto report;
	}
	kret = krb5_init_context(&ctx);
	if (kret != 0) {
		krb_fail(NULL, kret, &out, "cannot initialise Kerberos as uid %u",
			 (unsigned)j->uid);
		goto report;
	}
	if (j->op == WOP_STORE) {
		child_store(ctx, j, &out);
	} else if (j->op == WOP_READ) {
		child_read(ctx, j, &out);
	} else {
		child_destroy(ctx, j, &out);
	}
	krb5_free_context(ctx);
report:
	explicit_bzero(j->frame, j->frame_len);
	ret = build_outcome(buf, sizeof(buf), j->op, 0, &out, &len);
	explicit_bzero(&out, sizeof(out));
	if (ret != 0) {
		_exit(1);
	}
	while (off < len) {
		ssize_t n = write(resfd, buf + off, len - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			_exit(1);
		}
		off += (size_t)n;
	}
	explicit_bzero(buf, len);
	_exit(0);
}

/* ======================================================================== */
/* The writer process.                                                       */
/* ======================================================================== */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Wait for pid until deadline, then SIGKILL it; *status as waitpid's.
 * Returns true if it exited by itself. */
static bool reap_by(pid_t pid, int64_t deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid) {
			return true;
		}
		if (r < 0 && errno != EINTR) {
			*status = 0;
			return true; /* not ours any more (cannot happen) */
		}
		if (sectx_now_ms() >= deadline) {
			break;
		}
		sleep_ms(2);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
	}
	return false;
}

/* Parse and check a job frame into j.  0, or -errno with out set. */
static int parse_job(uint8_t *buf, size_t len, struct job *j, struct outcome *out)
{
	char raw[WRITER_CCNAME_MAX + 1];
	struct sectx_field f;
	struct sectx_msg msg;
	const char *why = NULL;
	uint32_t u;
	uint64_t dl;
	size_t pos = 0;
	int ret;

	ret = sectx_msg_parse(buf, len, &msg);
	if (ret != 0) {
		return fail(out, EPROTO, "malformed job: %s", sectx_strerror(ret));
	}
	j->frame = buf;
	j->frame_len = len;
	if (j->op != WOP_STORE && j->op != WOP_DESTROY && j->op != WOP_READ) {
		return fail(out, EPROTO, "unknown job %u", (unsigned)j->op);
	}
	ret = sectx_msg_get_u32(&msg, WT_UID, &u);
	j->uid = (uid_t)u;
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, WT_GID, &u);
		j->gid = (gid_t)u;
	}
	while (ret == 0 && sectx_msg_next(&msg, WT_GROUP, &pos, &f) == 0) {
		if (j->n_groups == SECTX_WRITER_MAX_GROUPS) {
			return fail(out, E2BIG, "too many groups");
		}
		ret = sectx_field_u32(&f, &u);
		j->groups[j->n_groups++] = (gid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_string(&msg, WT_USER, j->user, sizeof(j->user), SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_string(&msg, WT_CCACHE, raw, sizeof(raw), WRITER_CCNAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(&msg, WT_DEADLINE, &dl);
		j->deadline = dl > INT64_MAX ? INT64_MAX : (int64_t)dl;
	}
	if (ret == 0 && j->op == WOP_DESTROY) {
		ret = sectx_msg_get_string(&msg, WT_PRINCIPAL, j->principal, sizeof(j->principal),
					   SECTX_STRING_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(&msg, j->op == WOP_READ ? WT_WANT_TGT : WT_REPLACE, &u);
		if (ret == 0) {
			j->want_tgt = j->op == WOP_READ && u != 0;
			j->replace = j->op == WOP_STORE && u != 0;
		}
		ret = ret == SECTX_ERR_NOFIELD ? 0 : ret;
	}
	pos = 0;
	while (ret == 0 && j->op == WOP_STORE && sectx_msg_next(&msg, WT_CRED, &pos, &f) == 0) {
		if (j->n_creds == SECTX_WRITER_MAX_CREDS) {
			return fail(out, E2BIG, "too many credentials");
		}
		j->creds[j->n_creds++] = f;
	}
	if (ret != 0) {
		return fail(out, EPROTO, "malformed job: %s", sectx_strerror(ret));
	}
	if (j->op == WOP_STORE && j->n_creds == 0) {
		return fail(out, EINVAL, "no credentials to store");
	}
	ret = check_job(j->uid, j->gid, j->groups, j->n_groups, j->user, raw,
			j->op != WOP_STORE || j->replace, j->ccache, sizeof(j->ccache), &j->kind,
			&why);
	if (ret != 0) {
		return fail(out, -ret, "%s", why);
	}
	return 0;
}

/* Run j in a child as the user and wait for its outcome until the job's
 * deadline, and at most WRITER_CHILD_READ_MS / WRITER_CHILD_STORE_MS: this
 * writer serves one job at a time, and a child can be held up by its user
 * (a lock taken on a cache file renamed in after hold_cache_file looked, a
 * SIGSTOP: the child runs as the user), so that bound is the longest one
 * user's job keeps a writer from the next job.  Past it, kill the child. */
static void run_job(struct job *j, struct outcome *out)
{
	int64_t limit = j->op == WOP_STORE ? WRITER_CHILD_STORE_MS : WRITER_CHILD_READ_MS;
	int64_t deadline = min64(j->deadline, sectx_now_ms() + SECTX_WRITER_JOB_MAX_MS);
	uint8_t buf[WRITER_REPLY_MAX];
	size_t got = 0;
	pid_t writer = getpid(), pid;
	int p[2], status = 0;
	bool eof = false, overflow = false, limited = false, late;

	if (sectx_now_ms() >= deadline) {
		fail(out, ETIMEDOUT, "the deadline passed before the job started");
		return;
	}
	if (sectx_now_ms() + limit < deadline) {
		deadline = sectx_now_ms() + limit;
		limited = true;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		sys_fail(out, errno, "pipe");
		return;
	}
	pid = fork();
	if (pid < 0) {
		sys_fail(out, errno, "fork");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		close(WRITER_FD); /* the child never sees the helper's channel */
		child_main(j, p[1], writer);
	}
	close(p[1]);

	while (!eof && !overflow) {
		struct pollfd pfd = {p[0], POLLIN, 0};
		int64_t left = deadline - sectx_now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			break;
		}
		r = poll(&pfd, 1, (int)min64(left, 60000));
		if (r < 0 && errno != EINTR) {
			break;
		}
		if (r <= 0) {
			continue;
		}
		n = read(p[0], buf + got, sizeof(buf) - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			eof = true;
		} else {
			got += (size_t)n;
			overflow = got == sizeof(buf);
		}
	}
	close(p[0]);
	if (!eof || overflow) {
		kill(pid, SIGKILL);
	}
	late = !reap_by(pid, deadline, &status) || (!eof && !overflow);
	if (late && limited) {
		fail(out, ETIMEDOUT,
		     "the job for uid %u did not finish within %d ms (its cache may be locked by "
		     "another process, or its process stopped); killed so that other jobs do not "
		     "wait",
		     (unsigned)j->uid, (int)limit);
	} else if (late) {
		fail(
		    out, ETIMEDOUT,
		    "the job for uid %u did not finish before its deadline; its process was killed",
		    (unsigned)j->uid);
	} else if (overflow) {
		fail(out, EIO, "the job's process for uid %u answered too much; killed",
		     (unsigned)j->uid);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail(out, EIO, "the job's process for uid %u died (%s %d)", (unsigned)j->uid,
		     WIFSIGNALED(status) ? "signal" : "status",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	} else if (parse_outcome(buf, got, j->op, 0, out) != 0) {
		fail(out, EIO, "the job's process for uid %u answered garbage", (unsigned)j->uid);
	}
	explicit_bzero(buf, sizeof(buf));
}

/* Make this freshly forked process the writer: undumpable, dies with the
 * helper, default signals, nothing open but the pair (as WRITER_FD), stderr
 * and /dev/null. */
static int writer_setup(int fd, pid_t helper)
{
	struct sigaction sa;
	sigset_t none;
	int sig, devnull;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != helper ||
	    prctl(PR_SET_NAME, "sectxd-writer", 0, 0, 0) != 0) {
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			(void)sigaction(sig, &sa, NULL); /* EINVAL for glibc's reserved ones */
		}
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		return -1;
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) {
		return -1;
	}
	if (chdir("/") != 0) {
		return -1;
	}
	closelog(); /* its socket is about to go; syslog() reopens one on demand */
	if (fd != WRITER_FD && dup2(fd, WRITER_FD) != WRITER_FD) {
		return -1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0) {
		return -1;
	}
	if (fd == STDERR_FILENO && dup2(devnull, STDERR_FILENO) < 0) {
		return -1;
	}
	if (close_range(WRITER_FD + 1, ~0U, 0) != 0) {
		long max = sysconf(_SC_OPEN_MAX);
		int i;

		for (i = WRITER_FD + 1; i < (max > 0 && max < 65536 ? max : 65536); i++) {
			close(i);
		}
	}
	return 0;
}

/* The writer's life: serve jobs one at a time until the helper closes the
 * pair (or dies: PR_SET_PDEATHSIG). */
static void writer_main(int fd, pid_t helper) __attribute__((noreturn));
static void writer_main(int fd, pid_t helper)
{
	static uint8_t reply[WRITER_REPLY_MAX];
	static struct outcome out;
	struct job *j;
	uint8_t *buf;
	int ret;

	if (writer_setup(fd, helper) != 0) {
		_exit(1);
	}
	j = malloc(sizeof(*j));
	buf = malloc(SECTX_FRAME_MAX + 1);
	if (j == NULL || buf == NULL) {
		_exit(1);
	}
	for (;;) {
		struct iovec iov = {buf, SECTX_FRAME_MAX + 1};
		struct msghdr mh;
		struct sectx_hdr h;
		size_t len;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(WRITER_FD, &mh, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break; /* the helper closed the pair: stop */
		}
		memset(j, 0, sizeof(*j));
		memset(&out, 0, sizeof(out));
		if ((size_t)n >= SECTX_HDR_LEN) {
			(void)sectx_hdr_decode(buf, (size_t)n, &h); /* fills h whatever it says */
			j->op = h.op;
			j->reqid = h.reqid;
		}
		if ((mh.msg_flags & MSG_TRUNC) != 0 || (size_t)n > SECTX_FRAME_MAX) {
			fail(&out, EMSGSIZE, "job larger than %u bytes", SECTX_FRAME_MAX);
			n = SECTX_FRAME_MAX + 1; /* what recvmsg filled, to scrub */
		} else if (parse_job(buf, (size_t)n, j, &out) == 0) {
			run_job(j, &out);
		}
		explicit_bzero(buf, (size_t)n);
		ret = build_outcome(reply, sizeof(reply), j->op, j->reqid, &out, &len);
		explicit_bzero(&out, sizeof(out));
		if (ret == 0) {
			ret = send(WRITER_FD, reply, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
			explicit_bzero(reply, len);
		}
		if (ret != 0) {
			break;
		}
	}
	_exit(0);
}

/* ======================================================================== */
/* The helper side.                                                          */
/* ======================================================================== */

enum job_phase {
	JOB_QUEUED,  /* waiting for the writer */
	JOB_SENDING, /* the writer's; the frame not yet accepted by the socket */
	JOB_ACTIVE,  /* sent; the answer is awaited */
	JOB_DONE,    /* finished or detached */
};

/* One store or destroy request. */
struct writer_state {
	struct tevent_req *req;
	struct sectx_writer *w;		  /* NULL once detached */
	struct writer_state *prev, *next; /* the writer's queue */
	enum job_phase phase;
	uint16_t op;
	uint32_t reqid;
	uint8_t *frame; /* scrubbed when freed: holds credentials */
	size_t frame_len;
	int64_t deadline;
	struct tevent_timer *te;  /* deadline while queued */
	struct writer_lane *lane; /* the lane it was given to (JOB_SENDING, JOB_ACTIVE) */
	bool resent;
	unsigned uid; /* for logs */
	char *user;
	char *ccache;
	char *result;  /* store: the final cache name; read: the principal */
	uint8_t *cred; /* read: the marshalled TGT, scrubbed when freed */
	size_t cred_len;
	bool quiet_enoent; /* "no such cache" is an answer here, not an error */
};

/* A killed writer not yet reaped. */
struct writer_corpse {
	pid_t pid;
	struct tevent_timer *te;
};

/* One writer process and the job it runs.  Each writer runs one job at a
 * time, and a user's job can be held up (run_job bounds how long), so jobs
 * go to WRITER_LANES writers side by side, and a user has at most one job in
 * flight: one user's jobs never hold up another's while a lane is free. */
struct writer_lane {
	struct sectx_writer *w;
	unsigned idx;
	pid_t pid; /* -1: none */
	int fd;	   /* our end of the pair, -1: none */
	struct tevent_fd *fde;
	struct tevent_timer *busy_te; /* deadline of the job in flight */
	uint32_t busy_reqid;	      /* 0: idle */
	uint16_t busy_op;
	unsigned busy_uid;	     /* whose job is in flight (busy_reqid != 0) */
	struct writer_state *active; /* NULL if idle or its caller went away */
	unsigned starts;
};

struct sectx_writer {
	struct tevent_context *ev;
	struct tevent_immediate *kick_im;
	uint32_t next_reqid;
	struct writer_state *head, *tail;
	struct writer_lane
	    lanes[WRITER_LANES]; /* lane 0 starts with the writer, others on demand */
	bool stopping;
};

static void writer_kick(struct sectx_writer *w);
static void writer_kick_handler(struct tevent_context *ev, struct tevent_immediate *im,
				void *private_data);
static void writer_fd_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			      void *private_data);

static const char *op_verb(uint16_t op)
{
	return op == WOP_STORE ? "write" : op == WOP_READ ? "read" : "destroy";
}

static int scrub_buffer(uint8_t *buf)
{
	explicit_bzero(buf, talloc_get_size(buf));
	return 0;
}

static struct timeval tv_at(int64_t deadline_ms)
{
	int64_t left = deadline_ms - sectx_now_ms();

	if (left < 0) {
		left = 0;
	}
	return tevent_timeval_current_ofs((uint32_t)(left / 1000), (uint32_t)(left % 1000) * 1000);
}

static void log_exit(pid_t pid, int status, const char *how)
{
	if (WIFSIGNALED(status)) {
		SECTX_INFO("ccache writer (pid %d) %s: killed by signal %d", (int)pid, how,
			   WTERMSIG(status));
	} else {
		SECTX_INFO("ccache writer (pid %d) %s: exit status %d", (int)pid, how,
			   WEXITSTATUS(status));
	}
}

static int corpse_destructor(struct writer_corpse *c)
{
	int status;

	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
		}
	}
	return 0;
}

static void corpse_poll(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct writer_corpse *c = talloc_get_type_abort(private_data, struct writer_corpse);
	int status = 0;
	pid_t r;

	(void)te;
	(void)now;
	c->te = NULL;
	r = waitpid(c->pid, &status, WNOHANG);
	if (r == c->pid || (r < 0 && errno != EINTR)) {
		if (r == c->pid) {
			log_exit(c->pid, status, "reaped");
		}
		c->pid = -1;
		talloc_free(c);
		return;
	}
	c->te = tevent_add_timer(ev, c, tevent_timeval_current_ofs(0, WRITER_REAP_POLL_MS * 1000),
				 corpse_poll, c);
	/* If that failed, the destructor reaps it at stop. */
}

/* Reap a killed writer now if it is gone, else from a timer: never wait. */
static void reap_later(struct sectx_writer *w, pid_t pid)
{
	struct writer_corpse *c;
	int status = 0;
	pid_t r;

	r = waitpid(pid, &status, WNOHANG);
	if (r == pid) {
		log_exit(pid, status, "reaped");
		return;
	}
	c = talloc_zero(w, struct writer_corpse);
	if (c == NULL) {
		SECTX_ERROR("ccache writer (pid %d) cannot be reaped: out of memory", (int)pid);
		return;
	}
	c->pid = pid;
	talloc_set_destructor(c, corpse_destructor);
	c->te = tevent_add_timer(
	    w->ev, c, tevent_timeval_current_ofs(0, WRITER_REAP_POLL_MS * 1000), corpse_poll, c);
}

/* Forget the writer process: close the pair, kill it, reap it.  The job in
 * flight (if any) is the caller's business. */
static void writer_abandon(struct writer_lane *l, const char *why)
{
	pid_t pid = l->pid;

	if (l->fd < 0) {
		return;
	}
	SECTX_WARN("ccache writer (pid %d) %s; a new one starts with the next job", (int)pid, why);
	TALLOC_FREE(l->fde);
	close(l->fd);
	l->fd = -1;
	l->pid = -1;
	TALLOC_FREE(l->busy_te);
	l->busy_reqid = 0;
	kill(pid, SIGKILL); /* not reaped yet, so the pid is still ours */
	reap_later(l->w, pid);
}

/* Fork a writer. */
/* In the freshly forked child: become the writer in a new image of this
 * program (/proc/self/exe), so it holds nothing of the helper's memory even
 * when it is restarted long after start-up, with other users' TGTs in the
 * helper.  The pair goes as WRITER_FD; main() of the program hands over to
 * sectx_writer_exec_main().  If the exec fails, the child serves as it is:
 * correct, but without that isolation (logged by the helper at the restart). */
static void writer_exec(int fd, pid_t helper) __attribute__((noreturn));
static void writer_exec(int fd, pid_t helper)
{
	char parent[32];
	char *argv[] = {(char *)"sectxd-writer", (char *)SECTX_WRITER_ARG, parent, NULL};

	snprintf(parent, sizeof(parent), "%ld", (long)helper);
	if (dup2(fd, WRITER_FD) == WRITER_FD) { /* dup2 clears FD_CLOEXEC */
		execv("/proc/self/exe", argv);
	}
	writer_main(fd, helper);
}

int sectx_writer_exec_main(int argc, char **argv)
{
	char *end = NULL;
	long helper;

	if (argc != 3 || strcmp(argv[1], SECTX_WRITER_ARG) != 0) {
		return 0;
	}
	errno = 0;
	helper = strtol(argv[2], &end, 10);
	if (errno != 0 || end == argv[2] || *end != '\0' || helper <= 1 ||
	    getppid() != (pid_t)helper) {
		/* only ever started by writer_exec: refuse anything else */
		_exit(2);
	}
	writer_main(WRITER_FD, (pid_t)helper);
}

static int writer_spawn(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	int bufsz = (int)(2 * SECTX_FRAME_MAX);
	pid_t helper = getpid(), pid;
	int sv[2], fl, ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: socketpair: %s", strerror(-ret));
		return ret;
	}
	/* One message holds a whole job; make sure the socket takes it. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)) != 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)) != 0) {
		SECTX_DEBUG("ccache writer: cannot raise SO_SNDBUF: %s", strerror(errno));
	}
	fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: fcntl: %s", strerror(-ret));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: fork: %s", strerror(-ret));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (pid == 0) {
		close(sv[0]);
		writer_exec(sv[1], helper);
	}
	close(sv[1]);
	l->fde = tevent_add_fd(w->ev, w, sv[0], TEVENT_FD_READ, writer_fd_handler, l);
	if (l->fde == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		reap_later(w, pid);
		SECTX_ERROR("cannot start the ccache writer: out of memory");
		return -ENOMEM;
	}
	l->fd = sv[0];
	l->pid = pid;
	l->starts++;
	if (l->starts == 1 && l->idx == 0) {
		SECTX_INFO("ccache writer started (pid %d)", (int)pid);
	} else if (l->starts == 1) {
		SECTX_INFO("ccache writer started (pid %d, lane %u: another user's job is running)",
			   (int)pid, l->idx);
	} else {
		SECTX_WARN("ccache writer restarted (pid %d, lane %u, start %u)", (int)pid, l->idx,
			   l->starts);
	}
	return 0;
}

/* --- jobs ------------------------------------------------------------------ */

static void queue_unlink(struct sectx_writer *w, struct writer_state *s)
{
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		w->head = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	} else {
		w->tail = s->prev;
	}
	s->prev = s->next = NULL;
}

/* Take s off the writer (queue or in flight).  Leaves the writer busy if s
 * had reached it: its answer is read and dropped. */
static void job_detach(struct writer_state *s)
{
	struct sectx_writer *w = s->w;

	TALLOC_FREE(s->te);
	if (w == NULL) {
		s->phase = JOB_DONE;
		return;
	}
	if (s->phase == JOB_QUEUED) {
		queue_unlink(w, s);
	} else if (s->lane != NULL && s->lane->active == s) {
		struct writer_lane *l = s->lane;

		l->active = NULL;
		if (s->phase == JOB_SENDING) {
			/* Nothing reached the writer: it is free again. */
			l->busy_reqid = 0;
			TALLOC_FREE(l->busy_te);
			if (l->fde != NULL) {
				TEVENT_FD_NOT_WRITEABLE(l->fde);
			}
			if (!w->stopping) {
				tevent_schedule_immediate(w->kick_im, w->ev, writer_kick_handler,
							  w);
			}
		}
	}
	s->w = NULL;
	s->lane = NULL;
	s->phase = JOB_DONE;
}

static void job_fail(struct writer_state *s, int err, const char *msg)
{
	char u[64], c[256], m[WRITER_MSG_MAX];

	job_detach(s);
	if (err == ENOENT && s->quiet_enoent) {
		SECTX_INFO("ccache writer: nothing to %s at %s for user %s (uid %u)",
			   op_verb(s->op),
			   sectx_log_escape(s->ccache, strlen(s->ccache), c, sizeof(c)),
			   sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid);
	} else {
		SECTX_ERROR("ccache writer: cannot %s %s for user %s (uid %u): %s%s%s",
			    op_verb(s->op),
			    sectx_log_escape(s->ccache, strlen(s->ccache), c, sizeof(c)),
			    sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid,
			    strerror(err), msg != NULL && msg[0] != '\0' ? ": " : "",
			    msg != NULL ? sectx_log_escape(msg, strlen(msg), m, sizeof(m)) : "");
	}
	tevent_req_error(s->req, err);
}

static void job_done(struct writer_state *s, const struct outcome *out)
{
	char u[64], c[256];

	if (out->err != 0) {
		job_fail(s, out->err, out->msg);
		return;
	}
	if (s->op == WOP_STORE) {
		if (out->ccache[0] == '\0') {
			job_fail(s, EIO, "the writer named no cache");
			return;
		}
		s->result = talloc_strdup(s, out->ccache);
		if (s->result == NULL) {
			job_fail(s, ENOMEM, NULL);
			return;
		}
	}
	if (s->op == WOP_READ) {
		if (out->principal[0] == '\0') {
			job_fail(s, EIO, "the writer named no principal");
			return;
		}
		s->result = talloc_strdup(s, out->principal);
		if (out->cred_len > 0) {
			s->cred = talloc_memdup(s, out->cred, out->cred_len);
			if (s->cred != NULL) {
				talloc_set_destructor(s->cred, scrub_buffer);
				s->cred_len = out->cred_len;
			}
		}
		if (s->result == NULL || (out->cred_len > 0 && s->cred == NULL)) {
			job_fail(s, ENOMEM, NULL);
			return;
		}
	}
	job_detach(s);
	SECTX_DEBUG("ccache writer: %s %s for user %s (uid %u)",
		    s->op == WOP_STORE	? "wrote"
		    : s->op == WOP_READ ? "read"
					: "destroyed",
		    sectx_log_escape(s->op == WOP_STORE ? s->result : s->ccache,
				     strlen(s->op == WOP_STORE ? s->result : s->ccache), c,
				     sizeof(c)),
		    sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid);
	tevent_req_done(s->req);
}

/* The job in flight is over for the writer: it may take the next one. */
static struct writer_state *writer_release(struct writer_lane *l)
{
	struct writer_state *s = l->active;

	l->active = NULL;
	l->busy_reqid = 0;
	TALLOC_FREE(l->busy_te);
	if (s != NULL) {
		s->lane = NULL;
	}
	return s;
}

/* Send the active job's frame.  Never blocks: on EAGAIN it waits for the
 * socket.  A writer found dead before the job reached it is replaced once. */
static void writer_send(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	struct writer_state *s = l->active;
	ssize_t n;
	int err;

	if (s == NULL || s->phase != JOB_SENDING) {
		if (l->fde != NULL) {
			TEVENT_FD_NOT_WRITEABLE(l->fde);
		}
		return;
	}
	n = send(l->fd, s->frame, s->frame_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)s->frame_len) {
		s->phase = JOB_ACTIVE;
		TEVENT_FD_NOT_WRITEABLE(l->fde);
		TALLOC_FREE(s->frame); /* scrubbed: the credentials leave the helper */
		return;
	}
	err = n < 0 ? errno : EIO;
	if (err == EAGAIN || err == EINTR) {
		TEVENT_FD_WRITEABLE(l->fde);
		return;
	}
	s = writer_release(l);
	writer_abandon(l, err == EPIPE || err == ECONNRESET ? "is gone" : "cannot be written to");
	if (!s->resent && (err == EPIPE || err == ECONNRESET)) {
		/* The job never reached it: give it to the next writer. */
		s->resent = true;
		s->phase = JOB_QUEUED;
		s->prev = NULL;
		s->next = w->head;
		if (w->head != NULL) {
			w->head->prev = s;
		} else {
			w->tail = s;
		}
		w->head = s;
	} else {
		s->phase = JOB_DONE;
		job_fail(s, err, "the writer could not be reached");
	}
	writer_kick(w);
}

static void writer_busy_timeout(struct tevent_context *ev, struct tevent_timer *te,
				struct timeval now, void *private_data)
{
	struct writer_lane *l = private_data;
	struct sectx_writer *w = l->w;
	struct writer_state *s;

	(void)ev;
	(void)te;
	(void)now;
	l->busy_te = NULL;
	s = writer_release(l);
	writer_abandon(l, "did not answer before the job's deadline");
	if (s != NULL) {
		s->phase = JOB_DONE;
		job_fail(s, ETIMEDOUT, "the writer did not answer in time");
	}
	writer_kick(w);
}

static void writer_read(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	uint8_t buf[WRITER_REPLY_MAX];
	struct iovec iov = {buf, sizeof(buf)};
	struct writer_state *s;
	struct outcome out;
	struct msghdr mh;
	char why[128] = "";
	ssize_t n;

	memset(&out, 0, sizeof(out));
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n == 0) {
		snprintf(why, sizeof(why), "exited");
	} else if (n < 0) {
		snprintf(why, sizeof(why), "cannot be read from (%s)", strerror(errno));
	} else if ((mh.msg_flags & MSG_TRUNC) != 0) {
		snprintf(why, sizeof(why), "sent an oversized answer");
	} else if (l->busy_reqid == 0) {
		snprintf(why, sizeof(why), "spoke out of turn");
	} else if (parse_outcome(buf, (size_t)n, l->busy_op, l->busy_reqid, &out) != 0) {
		snprintf(why, sizeof(why), "sent a malformed answer");
	}
	s = writer_release(l);
	if (why[0] != '\0') {
		writer_abandon(l, why);
		if (s != NULL) {
			job_fail(s, n == 0 ? EPIPE : EIO, "the writer went away during the job");
		}
	} else if (s != NULL) {
		job_done(s, &out);
	} else if (out.err == 0 && out.ccache[0] != '\0') {
		char c[256];

		/* The writer finished a store nobody waits for: say where it went. */
		SECTX_INFO("ccache writer: %s was written for a caller that went away",
			   sectx_log_escape(out.ccache, strlen(out.ccache), c, sizeof(c)));
	} else {
		SECTX_DEBUG("ccache writer: dropped the answer to a job whose caller went away");
	}
	explicit_bzero(&out, sizeof(out));
	explicit_bzero(buf, n > 0 ? (size_t)n : 0);
	writer_kick(w);
}

static void writer_fd_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			      void *private_data)
{
	struct writer_lane *l = private_data;

	(void)ev;
	(void)fde;
	if ((flags & TEVENT_FD_WRITE) != 0) {
		writer_send(l);
		return; /* a pending read is reported again */
	}
	if ((flags & TEVENT_FD_READ) != 0) {
		writer_read(l);
	}
}

/* The lane for a job of uid: NULL if uid has a job in flight (its jobs run in
 * order, one at a time) or no lane is idle; else the first idle lane. */
static struct writer_lane *idle_lane_for(struct sectx_writer *w, unsigned uid)
{
	struct writer_lane *idle = NULL;
	unsigned i;

	for (i = 0; i < WRITER_LANES; i++) {
		struct writer_lane *l = &w->lanes[i];

		if (l->busy_reqid != 0 && l->busy_uid == uid) {
			return NULL;
		}
		if (l->busy_reqid == 0 && idle == NULL) {
			idle = l;
		}
	}
	return idle;
}

/* Give idle lanes the first queued jobs of users who have none in flight,
 * starting their writers if needed. */
static void writer_kick(struct sectx_writer *w)
{
	struct writer_state *s, *next;

	for (s = w->head; s != NULL && !w->stopping; s = next) {
		struct writer_lane *l;
		int ret;

		next = s->next;
		if (sectx_now_ms() >= s->deadline) {
			queue_unlink(w, s);
			TALLOC_FREE(s->te);
			s->phase = JOB_DONE;
			job_fail(s, ETIMEDOUT, "its deadline passed in the queue");
			next = w->head; /* job_fail may have run callbacks: start over */
			continue;
		}
		l = idle_lane_for(w, s->uid);
		if (l == NULL) {
			continue;
		}
		queue_unlink(w, s);
		TALLOC_FREE(s->te);
		next = w->head;
		if (l->fd < 0) {
			ret = writer_spawn(l);
			if (ret != 0) {
				s->phase = JOB_DONE;
				job_fail(s, -ret, "the writer cannot be started");
				next = w->head;
				continue;
			}
		}
		l->busy_te = tevent_add_timer(w->ev, w, tv_at(s->deadline), writer_busy_timeout, l);
		if (l->busy_te == NULL) {
			s->phase = JOB_DONE;
			job_fail(s, ENOMEM, NULL);
			next = w->head;
			continue;
		}
		l->busy_reqid = s->reqid;
		l->busy_op = s->op;
		l->busy_uid = s->uid;
		l->active = s;
		s->lane = l;
		s->phase = JOB_SENDING;
		writer_send(l);
		next = w->head; /* the queue may have changed (a resend goes to its head) */
	}
}

static void writer_kick_handler(struct tevent_context *ev, struct tevent_immediate *im,
				void *private_data)
{
	(void)ev;
	(void)im;
	writer_kick(talloc_get_type_abort(private_data, struct sectx_writer));
}

static void job_queue_timeout(struct tevent_context *ev, struct tevent_timer *te,
			      struct timeval now, void *private_data)
{
	struct writer_state *s = talloc_get_type_abort(private_data, struct writer_state);

	(void)ev;
	(void)te;
	(void)now;
	s->te = NULL;
	job_fail(s, ETIMEDOUT, "its deadline passed in the queue");
}

static void job_cleanup(struct tevent_req *req, enum tevent_req_state req_state)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);

	(void)req_state;
	job_detach(s);
	TALLOC_FREE(s->frame);
}

/* Common part of store and destroy: create the request and check who and
 * ccache.  On a refusal the request is already failed (posted). */
static struct tevent_req *job_create(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct sectx_writer *w, uint16_t op, bool exact,
				     const struct sectx_writer_user *who, const char *ccache,
				     int64_t deadline_ms, struct writer_state **state_out)
{
	char expanded[WRITER_CCNAME_MAX + 1];
	struct writer_state *s;
	struct tevent_req *req;
	enum cc_kind kind;
	const char *why = "invalid arguments";
	int ret = -EINVAL;

	req = tevent_req_create(mem_ctx, &s, struct writer_state);
	if (req == NULL) {
		return NULL;
	}
	tevent_req_defer_callback(req, ev);
	tevent_req_set_cleanup_fn(req, job_cleanup);
	s->req = req;
	s->op = op;
	s->phase = JOB_DONE;
	s->deadline = deadline_ms;
	s->quiet_enoent = exact;
	s->uid = who != NULL ? (unsigned)who->uid : 0;
	s->user = talloc_strdup(s, who != NULL && who->name != NULL ? who->name : "?");
	s->ccache = talloc_strdup(s, ccache != NULL ? ccache : "?");
	*state_out = s;
	if (s->user == NULL || s->ccache == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	if (w != NULL && who != NULL && who->name != NULL && ccache != NULL &&
	    (who->n_groups == 0 || who->groups != NULL)) {
		ret = check_job(who->uid, who->gid, who->groups, who->n_groups, who->name, ccache,
				exact, expanded, sizeof(expanded), &kind, &why);
	}
	if (ret == 0 && w->stopping) {
		ret = -ESHUTDOWN;
		why = "the writer is stopping";
	}
	if (ret != 0) {
		job_fail(s, -ret, why);
		return tevent_req_post(req, ev);
	}
	w->next_reqid = w->next_reqid == UINT32_MAX ? 1 : w->next_reqid + 1;
	s->reqid = w->next_reqid;
	return req;
}

/* Bytes of the fields every job has. */
static size_t common_size(const struct sectx_writer_user *who, const char *ccache)
{
	return SECTX_HDR_LEN + 2 * (SECTX_FIELD_HDR_LEN + 4) +
	       who->n_groups * (SECTX_FIELD_HDR_LEN + 4) + SECTX_FIELD_HDR_LEN + strlen(who->name) +
	       SECTX_FIELD_HDR_LEN + strlen(ccache) + SECTX_FIELD_HDR_LEN + 8;
}

static void put_common(struct sectx_wbuf *wb, const struct sectx_writer_user *who,
		       const char *ccache, int64_t deadline)
{
	int64_t now = sectx_now_ms();
	int64_t margin = (deadline - now) / 5;
	size_t i;

	/* The child's deadline comes first, so the writer answers "timed out"
	 * before the helper gives up on the writer itself. */
	if (margin < WRITER_MARGIN_MIN_MS) {
		margin = WRITER_MARGIN_MIN_MS;
	}
	if (margin > WRITER_MARGIN_MAX_MS) {
		margin = WRITER_MARGIN_MAX_MS;
	}
	sectx_put_u32(wb, WT_UID, (uint32_t)who->uid);
	sectx_put_u32(wb, WT_GID, (uint32_t)who->gid);
	for (i = 0; i < who->n_groups; i++) {
		sectx_put_u32(wb, WT_GROUP, (uint32_t)who->groups[i]);
	}
	sectx_put_string(wb, WT_USER, who->name);
	sectx_put_string(wb, WT_CCACHE, ccache);
	sectx_put_u64(wb, WT_DEADLINE, (uint64_t)(deadline - margin > 0 ? deadline - margin : 0));
}

/* Queue s (its frame built) and start it if the writer is idle. */
static void job_enqueue(struct sectx_writer *w, struct writer_state *s, struct tevent_context *ev)
{
	s->w = w;
	s->phase = JOB_QUEUED;
	s->prev = w->tail;
	s->next = NULL;
	if (w->tail != NULL) {
		w->tail->next = s;
	} else {
		w->head = s;
	}
	w->tail = s;
	s->te = tevent_add_timer(ev, s, tv_at(s->deadline), job_queue_timeout, s);
	if (s->te == NULL) {
		job_fail(s, ENOMEM, NULL);
		return;
	}
	writer_kick(w);
}

static struct tevent_req *store_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct sectx_writer *w, const struct sectx_writer_user *who,
				     const char *ccache, bool replace, krb5_context kctx,
				     krb5_creds **creds, int64_t deadline_ms)
{
	krb5_data *m[SECTX_WRITER_MAX_CREDS] = {NULL};
	struct writer_state *s = NULL;
	struct tevent_req *req;
	struct sectx_wbuf wb;
	size_t n = 0, i, size;
	int ret = 0;

	req = job_create(mem_ctx, ev, w, WOP_STORE, replace, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	if (kctx == NULL || creds == NULL || creds[0] == NULL) {
		job_fail(s, EINVAL, "no credentials to store");
		return tevent_req_post(req, ev);
	}
	size = common_size(who, ccache) + SECTX_FIELD_HDR_LEN + 4;
	for (n = 0; creds[n] != NULL; n++) {
		krb5_error_code kret;

		if (n == SECTX_WRITER_MAX_CREDS) {
			ret = E2BIG;
			break;
		}
		if (!krb5_principal_compare(kctx, creds[0]->client, creds[n]->client)) {
			ret = EINVAL;
			break;
		}
		kret = krb5_marshal_credentials(kctx, creds[n], &m[n]);
		if (kret != 0) {
			ret = kret == ENOMEM ? ENOMEM : EINVAL;
			break;
		}
		size += SECTX_FIELD_HDR_LEN + m[n]->length;
	}
	if (ret == 0 && size > SECTX_FRAME_MAX) {
		ret = E2BIG;
	}
	if (ret == 0) {
		s->frame = talloc_size(s, size);
		if (s->frame == NULL) {
			ret = ENOMEM;
		} else {
			talloc_set_destructor(s->frame, scrub_buffer);
		}
	}
	if (ret == 0) {
		sectx_frame_begin(&wb, s->frame, size, WRITER_VERSION, WOP_STORE, s->reqid);
		put_common(&wb, who, ccache, deadline_ms);
		sectx_put_u32(&wb, WT_REPLACE, replace ? 1 : 0);
		for (i = 0; i < n; i++) {
			sectx_put_bytes(&wb, WT_CRED, m[i]->data, m[i]->length);
		}
		ret = sectx_frame_end(&wb, &s->frame_len) == 0 ? 0 : E2BIG;
	}
	for (i = 0; i < n && i < SECTX_WRITER_MAX_CREDS; i++) {
		if (m[i] != NULL) {
			explicit_bzero(m[i]->data, m[i]->length);
			krb5_free_data(kctx, m[i]);
		}
	}
	if (ret != 0) {
		job_fail(s, ret,
			 ret == E2BIG	 ? "too many or too large credentials"
			 : ret == EINVAL ? "the credentials are of different clients or unreadable"
					 : NULL);
		return tevent_req_post(req, ev);
	}
	job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

struct tevent_req *sectx_writer_store_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					   struct sectx_writer *w,
					   const struct sectx_writer_user *who, const char *ccache,
					   krb5_context kctx, krb5_creds **creds,
					   int64_t deadline_ms)
{
	return store_send(mem_ctx, ev, w, who, ccache, false, kctx, creds, deadline_ms);
}

struct tevent_req *sectx_writer_rewrite_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_creds **creds, int64_t deadline_ms)
{
	return store_send(mem_ctx, ev, w, who, ccache, true, kctx, creds, deadline_ms);
}

/* Map a finished request's error to -errno. */
static int job_recv_error(struct tevent_req *req)
{
	enum tevent_req_state st;
	uint64_t err;

	if (!tevent_req_is_error(req, &st, &err)) {
		return 0;
	}
	switch (st) {
	case TEVENT_REQ_USER_ERROR:
		return err > 0 && err < 4096 ? -(int)err : -EIO;
	case TEVENT_REQ_TIMED_OUT:
		return -ETIMEDOUT;
	case TEVENT_REQ_NO_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int sectx_writer_store_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char **ccache_name)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);
	int ret = job_recv_error(req);

	if (ret == 0) {
		*ccache_name = talloc_steal(mem_ctx, s->result);
	}
	tevent_req_received(req);
	return ret;
}

struct tevent_req *sectx_writer_destroy_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_const_principal principal, int64_t deadline_ms)
{
	struct writer_state *s = NULL;
	struct tevent_req *req;
	struct sectx_wbuf wb;
	char *pname = NULL;
	size_t size;
	int ret = 0;

	req = job_create(mem_ctx, ev, w, WOP_DESTROY, true, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	if (kctx == NULL || principal == NULL || krb5_unparse_name(kctx, principal, &pname) != 0) {
		job_fail(s, EINVAL, "no principal to check the cache against");
		return tevent_req_post(req, ev);
	}
	size = common_size(who, ccache) + SECTX_FIELD_HDR_LEN + strlen(pname);
	s->frame = size <= SECTX_FRAME_MAX ? talloc_size(s, size) : NULL;
	if (s->frame == NULL) {
		ret = size <= SECTX_FRAME_MAX ? ENOMEM : E2BIG;
	} else {
		sectx_frame_begin(&wb, s->frame, size, WRITER_VERSION, WOP_DESTROY, s->reqid);
		put_common(&wb, who, ccache, deadline_ms);
		sectx_put_string(&wb, WT_PRINCIPAL, pname);
		ret = sectx_frame_end(&wb, &s->frame_len) == 0 ? 0 : EINVAL;
	}
	krb5_free_unparsed_name(kctx, pname);
	if (ret != 0) {
		job_fail(s, ret, "cannot build the job");
		return tevent_req_post(req, ev);
	}
	job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_writer_destroy_recv(struct tevent_req *req)
{
	int ret = job_recv_error(req);

	tevent_req_received(req);
	return ret;
}

struct tevent_req *sectx_writer_read_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					  struct sectx_writer *w,
					  const struct sectx_writer_user *who, const char *ccache,
					  bool want_tgt, int64_t deadline_ms)
{
	struct writer_state *s = NULL;
	struct tevent_req *req;
	struct sectx_wbuf wb;
	size_t size;

	req = job_create(mem_ctx, ev, w, WOP_READ, true, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	size = common_size(who, ccache) + SECTX_FIELD_HDR_LEN + 4;
	s->frame = size <= SECTX_FRAME_MAX ? talloc_size(s, size) : NULL;
	if (s->frame == NULL) {
		job_fail(s, size <= SECTX_FRAME_MAX ? ENOMEM : E2BIG, "cannot build the job");
		return tevent_req_post(req, ev);
	}
	sectx_frame_begin(&wb, s->frame, size, WRITER_VERSION, WOP_READ, s->reqid);
	put_common(&wb, who, ccache, deadline_ms);
	sectx_put_u32(&wb, WT_WANT_TGT, want_tgt ? 1 : 0);
	if (sectx_frame_end(&wb, &s->frame_len) != 0) {
		job_fail(s, EINVAL, "cannot build the job");
		return tevent_req_post(req, ev);
	}
	job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_writer_read_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, krb5_context kctx,
			   char **principal, krb5_creds **tgt)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);
	int ret = job_recv_error(req);

	*tgt = NULL;
	if (ret == 0 && s->cred != NULL) {
		krb5_data d = {
		    .magic = KV5M_DATA, .length = (unsigned)s->cred_len, .data = (char *)s->cred};

		if (krb5_unmarshal_credentials(kctx, &d, tgt) != 0) {
			*tgt = NULL;
			ret = -EIO;
		}
	}
	if (ret == 0) {
		*principal = talloc_steal(mem_ctx, s->result);
	}
	TALLOC_FREE(s->cred);
	tevent_req_received(req);
	return ret;
}

/* --- start and stop ---------------------------------------------------------- */

static int writer_destructor(struct sectx_writer *w)
{
	struct writer_state *s;
	int64_t deadline;
	int status = 0;
	unsigned i;
	pid_t pid;

	w->stopping = true;
	while ((s = w->head) != NULL) {
		job_fail(s, ESHUTDOWN, "the writer is stopping");
	}
	for (i = 0; i < WRITER_LANES; i++) {
		s = writer_release(&w->lanes[i]);
		if (s != NULL) {
			s->phase = JOB_DONE;
			s->w = NULL;
			job_fail(s, ESHUTDOWN, "the writer is stopping");
		}
	}
	/* Closing the pairs tells the writers to exit; a writer busy with a
	 * job gets a grace period, then SIGKILL (its child follows:
	 * PDEATHSIG). */
	for (i = 0; i < WRITER_LANES; i++) {
		struct writer_lane *l = &w->lanes[i];

		if (l->fd < 0) {
			continue;
		}
		TALLOC_FREE(l->fde);
		close(l->fd);
		l->fd = -1;
	}
	deadline = sectx_now_ms() + WRITER_STOP_GRACE_MS;
	for (i = 0; i < WRITER_LANES; i++) {
		pid = w->lanes[i].pid;
		if (pid < 0) {
			continue;
		}
		w->lanes[i].pid = -1;
		if (reap_by(pid, deadline, &status)) {
			log_exit(pid, status, "stopped");
		} else {
			SECTX_WARN("ccache writer (pid %d) did not stop within %d ms: killed",
				   (int)pid, WRITER_STOP_GRACE_MS);
		}
	}
	return 0;
}

int sectx_writer_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev, struct sectx_writer **out)
{
	struct sectx_writer *w;
	unsigned i;
	int ret;

	w = talloc_zero(mem_ctx, struct sectx_writer);
	if (w == NULL) {
		return -ENOMEM;
	}
	w->ev = ev;
	for (i = 0; i < WRITER_LANES; i++) {
		w->lanes[i].w = w;
		w->lanes[i].idx = i;
		w->lanes[i].pid = -1;
		w->lanes[i].fd = -1;
	}
	w->kick_im = tevent_create_immediate(w);
	if (w->kick_im == NULL) {
		talloc_free(w);
		return -ENOMEM;
	}
	talloc_set_destructor(w, writer_destructor);
	ret = writer_spawn(&w->lanes[0]);
	if (ret != 0) {
		talloc_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

pid_t sectx_writer_pid(const struct sectx_writer *w)
{
	return w != NULL ? w->lanes[0].pid : -1;
}

/* --- the helper subsystem ------------------------------------------------------ */

static int writer_subsystem_start(struct sectxd_ctx *hctx)
{
	int ret = sectx_writer_start(hctx, hctx->ev, &hctx->writer);

	if (ret != 0) {
		SECTX_ERROR("cannot start the ccache writer: %s", strerror(-ret));
	}
	return ret;
}

static void writer_subsystem_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->writer);
}

const struct sectxd_subsystem sectxd_writer_subsystem = {
    .name = "ccache writer",
    .start = writer_subsystem_start,
    .stop = writer_subsystem_stop,
};
