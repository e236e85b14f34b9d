/*
 * login/ccache_fd.c - load a passed credential cache descriptor into a MEMORY
 * ccache (ccache_fd.h).
 *
 * Who reaches this: any local user, through a context init step or a
 * ticket authentication on pam.sock, with a descriptor of their choosing.
 * What they can make it do: read at most SECTX_CCACHE_FILE_MAX bytes from a
 * regular file they (or, for root callers, the user root names) own, and
 * have libkrb5 parse those bytes.  Nothing else: no path is opened, a FIFO,
 * socket, device or FUSE file is refused before any read, the parse works on
 * a private copy, so the file changing underneath cannot race the parser,
 * and only the TGT is kept (a few KiB per context, whatever the file held).
 */
#include "login/ccache_fd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "atomic_file.h"

#define FUSE_SUPER_MAGIC 0x65735546

/* Read all of fd, a regular file fstat said holds size bytes, into buf
 * (size + 1 bytes): 0 with *got, -EINVAL if it grew (one byte more than
 * fstat said shows it), or -errno. */
static int read_all(int fd, uint8_t *buf, size_t size, size_t *got)
{
	size_t n = 0;

	while (n <= size) {
		ssize_t r = pread(fd, buf + n, size + 1 - n, (off_t)n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			return -errno;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	*got = n;
	return n > size ? -EINVAL : 0;
}

bool sectx_fd_on_fuse(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) != 0 || sf.f_type == FUSE_SUPER_MAGIC;
}

int sectx_ccache_from_fd(krb5_context kctx, int fd, uid_t owner, krb5_ccache *out, uid_t *file_uid,
			 const char **why)
{
	krb5_ccache fcc = NULL, mcc = NULL;
	krb5_principal princ = NULL, tgs = NULL;
	krb5_creds match, tgt;
	krb5_error_code kret;
	uint8_t *buf = NULL;
	size_t size = 0, got = 0;
	struct stat st;
	char path[64];
	int mfd = -1;
	int ret;

	*out = NULL;
	memset(&tgt, 0, sizeof(tgt));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		*why = "the credential cache passed is not a regular file";
		goto done;
	}
	*file_uid = st.st_uid;
	if (owner != SECTX_ANY_OWNER && st.st_uid != owner) {
		ret = -EPERM;
		*why = "the credential cache passed belongs to another user";
		goto done;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > SECTX_CCACHE_FILE_MAX) {
		ret = -EINVAL;
		*why = "the credential cache passed is empty or too large";
		goto done;
	}
	if (sectx_fd_on_fuse(fd)) {
		ret = -EINVAL;
		*why = "the credential cache passed is on a FUSE filesystem";
		goto done;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		ret = -ENOMEM;
		*why = "out of memory";
		goto done;
	}
	ret = read_all(fd, buf, size, &got);
	if (ret != 0 || got == 0) {
		ret = ret == -EINVAL || got == 0 ? -EINVAL : -EIO;
		*why = "the credential cache passed changed while read, or cannot be read";
		goto done;
	}
	mfd = memfd_create("sectx-ccache", MFD_CLOEXEC);
	if (mfd < 0 || sectx_write_all(mfd, buf, got) != 0) {
		ret = -EIO;
		*why = "cannot copy the credential cache";
		goto done;
	}
	snprintf(path, sizeof(path), "FILE:/proc/self/fd/%d", mfd);
	kret = krb5_cc_resolve(kctx, path, &fcc);
	if (kret == 0) {
		kret = krb5_cc_get_principal(kctx, fcc, &princ);
	}
	if (kret != 0) {
		ret = -EINVAL;
		*why = "the descriptor passed is not a readable credential cache";
		goto done;
	}
	kret = krb5_build_principal_ext(kctx, &tgs, princ->realm.length, princ->realm.data,
					KRB5_TGS_NAME_SIZE, KRB5_TGS_NAME, princ->realm.length,
					princ->realm.data, 0);
	if (kret == 0) {
		memset(&match, 0, sizeof(match));
		match.client = princ;
		match.server = tgs;
		kret = krb5_cc_retrieve_cred(kctx, fcc, 0, &match, &tgt);
	}
	if (kret != 0) {
		ret = kret == ENOMEM ? -ENOMEM : -EINVAL;
		*why = "the credential cache passed holds no TGT of its principal's realm";
		goto done;
	}
	kret = krb5_cc_new_unique(kctx, "MEMORY", NULL, &mcc);
	if (kret == 0) {
		kret = krb5_cc_initialize(kctx, mcc, princ);
	}
	if (kret == 0) {
		kret = krb5_cc_store_cred(kctx, mcc, &tgt);
	}
	if (kret != 0) {
		ret = kret == ENOMEM ? -ENOMEM : -EIO;
		*why = "cannot load the credential cache";
		goto done;
	}
	*out = mcc;
	mcc = NULL;
	ret = 0;
done:
	if (mcc != NULL) {
		krb5_cc_destroy(kctx, mcc);
	}
	if (fcc != NULL) {
		krb5_cc_close(kctx, fcc);
	}
	krb5_free_cred_contents(kctx, &tgt);
	krb5_free_principal(kctx, tgs);
	krb5_free_principal(kctx, princ);
	if (mfd >= 0) {
		close(mfd); /* its pages go with the last reference */
	}
	if (buf != NULL) {
		explicit_bzero(buf, size + 1);
		free(buf);
	}
	return ret;
}
