/*
 * ccache_writer/child.c - a job's child: the code that runs as the user.
 *
 * The writer forks one child per job (writer.c, run_job) and the child
 * comes here at once: it drops to the job's groups, gid and uid for good
 * (and checks that it cannot get root back), becomes undumpable, dies with
 * the writer, and only then initialises libkrb5 and does the job: a store,
 * a destroy or a read, on keyrings and collections here and on cache files
 * in child_files.c.  Its libkrb5 context reads no configuration file
 * (init_context: an empty profile): nothing a job does needs one, and the
 * file (KRB5_CONFIG, /etc/krb5.conf) may be readable by root only.  It
 * reports one outcome frame on its pipe (wire.c) and _exits.  Everything
 * after drop_privileges runs with the user's rights and no more, so what a
 * job can make it do is what the user could do.
 *
 * Who can reach it: the writer, through the job it decoded and checked
 * (wire.c, names.c); and the user, whose process this is after the drop:
 * the user may signal or stop it and owns what it touches.  Its answer is
 * parsed by the writer as untrusted bytes.
 *
 * Never: run anything but the drop as root (nothing that runs as root in
 * the writer or the helper lives in this file or child_files.c), read the
 * Kerberos configuration (or depend on it: a default realm, a cache type),
 * destroy a cache whose principal is not the expected one, or leave a
 * marshalled credential in a buffer it does not scrub.
 */
#include <errno.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <profile.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ccache_writer/ccache_writer_int.h"

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

/* Like ccw_fail, adding ": <Kerberos message>". */
int ccw_krb_fail(krb5_context ctx, krb5_error_code kret, struct outcome *out, const char *fmt, ...)
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

/* Drop to the job's user for good and check that it took.  Runs in the
 * child, which is single-threaded. */
static int drop_privileges(const struct job *j, pid_t writer, struct outcome *out)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setgroups(j->n_groups, j->groups) != 0) {
		return ccw_sys_fail(out, errno, "cannot set the groups of uid %u",
				    (unsigned)j->uid);
	}
	if (setresgid(j->gid, j->gid, j->gid) != 0) {
		return ccw_sys_fail(out, errno, "cannot set gid %u", (unsigned)j->gid);
	}
	if (setresuid(j->uid, j->uid, j->uid) != 0) {
		return ccw_sys_fail(out, errno, "cannot set uid %u", (unsigned)j->uid);
	}
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != j->uid ||
	    eu != j->uid || su != j->uid || rg != j->gid || eg != j->gid || sg != j->gid) {
		return ccw_fail(out, EPERM, "dropping to uid %u did not take", (unsigned)j->uid);
	}
	if (setuid(0) == 0 || (j->gid != 0 && setgid(0) == 0)) {
		return ccw_fail(out, EPERM, "uid %u could regain root: refusing to go on",
				(unsigned)j->uid);
	}
	/* The uid change reset both; the user may neither ptrace nor core-dump
	 * this process, and it must not outlive the writer. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
		return ccw_sys_fail(out, errno, "prctl");
	}
	if (getppid() != writer) {
		return ccw_fail(out, ECHILD, "the writer went away");
	}
	umask(077);
	return 0;
}

/* Initialise princ's cache cc and store creds in it. */
int ccw_write_creds(krb5_context ctx, krb5_ccache cc, krb5_principal princ, krb5_creds **creds,
		    const char *name, struct outcome *out)
{
	krb5_error_code kret;
	size_t i;

	kret = krb5_cc_initialize(ctx, cc, princ);
	if (kret != 0) {
		return ccw_krb_fail(ctx, kret, out, "cannot initialise %s", name);
	}
	for (i = 0; creds[i] != NULL; i++) {
		kret = krb5_cc_store_cred(ctx, cc, creds[i]);
		if (kret != 0) {
			return ccw_krb_fail(ctx, kret, out, "cannot store a credential in %s",
					    name);
		}
	}
	return 0;
}

/* The principal of cache name: 0 with *princ, 1 if there is no such cache,
 * or -errno (a cache there that cannot be read). */
int ccw_read_principal(krb5_context ctx, const char *name, krb5_principal *princ,
		       struct outcome *out)
{
	krb5_ccache cc = NULL;
	krb5_error_code kret;

	*princ = NULL;
	kret = krb5_cc_resolve(ctx, name, &cc);
	if (kret != 0) {
		return ccw_krb_fail(ctx, kret, out, "cannot resolve %s", name);
	}
	kret = krb5_cc_get_principal(ctx, cc, princ);
	krb5_cc_close(ctx, cc);
	if (kret == KRB5_FCC_NOFILE || kret == KRB5_CC_NOTFOUND) {
		return 1;
	}
	if (kret != 0) {
		return ccw_krb_fail(ctx, kret, out, "cannot read %s", name);
	}
	return 0;
}

/* Is the user's persistent keyring there to be had?  Containers and some
 * kernels refuse keyctl; say so plainly rather than with libkrb5's words. */
static int keyring_probe(uid_t uid, struct outcome *out)
{
	long r = syscall(SYS_keyctl, KEYCTL_GET_PERSISTENT, (unsigned long)uid,
			 (long)KEY_SPEC_PROCESS_KEYRING);

	if (r < 0) {
		return ccw_sys_fail(out, EOPNOTSUPP,
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
		return ccw_krb_fail(ctx, kret, out, "cannot create a new cache in %s", j->ccache);
	}
	ret = ccw_write_creds(ctx, cc, princ, creds, j->ccache, out);
	if (ret == 0) {
		kret = krb5_cc_switch(ctx, cc);
		if (kret == 0) {
			kret = krb5_cc_get_full_name(ctx, cc, &full);
		}
		if (kret != 0) {
			ret = ccw_krb_fail(ctx, kret, out,
					   "cannot make the new cache in %s primary", j->ccache);
		}
	}
	if (ret == 0 && strlen(full) >= sizeof(out->ccache)) {
		ret = ccw_fail(out, ENAMETOOLONG, "the new cache's name is too long");
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

	ret = ccw_read_principal(ctx, j->ccache, &have, out);
	if (ret == 0 && !krb5_principal_compare(ctx, have, princ)) {
		ret = ccw_fail(out, ESTALE, "%s holds another principal's cache: left alone",
			       j->ccache);
	}
	krb5_free_principal(ctx, have);
	if (ret < 0) {
		return ret;
	}
	if (ret == 1 && j->replace) {
		return ccw_fail(out, ENOENT, "%s: no cache any more (destroyed by its user)",
				j->ccache);
	}
	kret = krb5_cc_resolve(ctx, j->ccache, &cc);
	if (kret != 0) {
		return ccw_krb_fail(ctx, kret, out, "cannot resolve %s", j->ccache);
	}
	ret = ccw_write_creds(ctx, cc, princ, creds, j->ccache, out);
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
			ccw_krb_fail(ctx, kret, out, "cannot read credential %zu", i);
			goto done;
		}
		if (!krb5_principal_compare(ctx, creds[0]->client, creds[i]->client)) {
			ccw_fail(out, EINVAL, "the credentials are of different clients");
			goto done;
		}
	}
	/* What is left of the secrets is in creds; the frame goes now. */
	explicit_bzero(j->frame, j->frame_len);
	princ = creds[0]->client;

	switch (j->kind) {
	case CC_FILE_UNIQUE:
		ccw_store_file_unique(ctx, j, princ, creds, out);
		break;
	case CC_FILE:
		ccw_store_file_exact(ctx, j, j->ccache + 5, princ, creds, out);
		break;
	case CC_DIR_COLLECTION:
		if (ccw_check_user_dir(j->ccache + 4, j->uid, true, out) == 0) {
			store_collection(ctx, j, "DIR", princ, creds, out);
		}
		break;
	case CC_DIR_MEMBER:
		if (ccw_check_member_dir(j, out) == 0) {
			ccw_store_file_exact(ctx, j, j->ccache + 5, princ, creds, out);
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

	/* Its realm is in the name: the child has no default realm. */
	kret =
	    krb5_parse_name_flags(ctx, j->principal, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &expected);
	if (kret != 0) {
		ccw_krb_fail(ctx, kret, out, "invalid principal");
		out->err = EINVAL;
		return;
	}
	switch (j->kind) {
	case CC_FILE:
	case CC_DIR_MEMBER:
		ret = ccw_check_exact_file(ctx, j, expected, true, out);
		break;
	case CC_KEYRING_MEMBER:
		ret = keyring_probe(j->uid, out);
		if (ret == 0) {
			ret = ccw_read_principal(ctx, j->ccache, &have, out);
		}
		if (ret == 0 && !krb5_principal_compare(ctx, have, expected)) {
			ret = ccw_fail(out, ESTALE,
				       "%s holds another principal's cache: left alone", j->ccache);
		} else if (ret < 0 && out->err != EOPNOTSUPP) {
			ret = ccw_fail(out, ESTALE, "%s holds no readable cache: left alone",
				       j->ccache);
		}
		break;
	default: /* classify() admits nothing else for destroy */
		ret = ccw_fail(out, EINVAL, "not an exact cache name");
		break;
	}
	if (ret == 1) {
		ccw_fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	ccw_release_cache_file();
	kret = krb5_cc_resolve(ctx, j->ccache, &cc);
	if (kret == 0) {
		kret = krb5_cc_destroy(ctx, cc); /* frees cc */
	}
	if (kret != 0) {
		ccw_krb_fail(ctx, kret, out, "cannot destroy %s", j->ccache);
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
		ret = ccw_check_exact_file(ctx, j, NULL, false, out);
		break;
	case CC_KEYRING_MEMBER:
		ret = keyring_probe(j->uid, out);
		break;
	default: /* classify() admits nothing else for an exact name */
		ret = ccw_fail(out, EINVAL, "not an exact cache name");
		break;
	}
	if (ret == -EEXIST) {
		out->err = ESTALE; /* a link or another owner's file: not our cache */
		goto done;
	}
	if (ret == 1) {
		ccw_fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	ret = ccw_read_principal(ctx, j->ccache, &have, out);
	if (ret == 1) {
		ccw_fail(out, ENOENT, "%s: no such cache", j->ccache);
		goto done;
	}
	if (ret < 0) {
		goto done;
	}
	kret = krb5_unparse_name(ctx, have, &pname);
	if (kret != 0 || strlen(pname) >= sizeof(out->principal)) {
		ccw_fail(out, EINVAL, "%s: the cache's principal cannot be named", j->ccache);
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
		ccw_krb_fail(ctx, kret, out, "cannot read the TGT in %s", j->ccache);
		goto done;
	}
	if (m->length == 0 || m->length > sizeof(out->cred)) {
		ccw_fail(out, E2BIG, "the TGT in %s is too large", j->ccache);
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

/* A libkrb5 context for the job, made after the drop, that reads no
 * configuration file: the user may not be able to read KRB5_CONFIG or
 * /etc/krb5.conf (a site keeping it 0600), and nothing a job does needs
 * it.  Reading it as root before the drop would work too, but would let
 * the file steer a process that runs as the user ([plugins] modules loaded
 * into it, a cache format) for nothing.  What the defaults of an empty
 * profile mean here: the FILE cache format is version 4 (every reader
 * takes it), there is no default realm (every principal a job names is
 * parsed with its realm, and a cache's principal comes from its
 * credentials), and no default cache (a collection is named by
 * krb5_cc_set_default_name before krb5_cc_new_unique uses it).  The
 * environment counts as before (KRB5_TRACE: the writer's, which is
 * root's). */
static krb5_error_code init_context(krb5_context *ctx)
{
	profile_t empty = NULL;
	krb5_error_code kret;

	kret = (krb5_error_code)profile_init(NULL, &empty);
	if (kret == 0) {
		kret = krb5_init_context_profile(empty, 0, ctx); /* takes a copy */
	}
	if (empty != NULL) {
		profile_release(empty);
	}
	return kret;
}

/* The child's whole life: drop, do the job, report on resfd, _exit. */
void ccw_child_main(struct job *j, int resfd, pid_t writer)
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
	kret = init_context(&ctx);
	if (kret != 0) {
		ccw_krb_fail(NULL, kret, &out, "cannot initialise Kerberos as uid %u",
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
	ret = ccw_outcome_encode(buf, sizeof(buf), j->op, 0, &out, &len);
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
