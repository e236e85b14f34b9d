/*
 * fuzz_util.h - what the libFuzzer harnesses of tests/fuzz/ share: a reader
 * that takes structured values out of the fuzzer's bytes, a scratch
 * directory for the targets that read files, and a silent log.
 *
 * Included by exactly one harness per binary (everything here is static).
 * The harnesses run as the user who runs tests/fuzz/run; nothing here
 * touches a path outside the scratch directory, which lives under $TMPDIR
 * (the run script points it at its own build directory) or /dev/shm.
 */
#ifndef SECTX_FUZZ_UTIL_H
#define SECTX_FUZZ_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: abort with a line saying which (libFuzzer saves the
 * input that did it). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* --- taking values out of the input ------------------------------------------------------------
 */

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v = 0;

	if (f->n > 0) {
		v = f->p[0];
		f->p++;
		f->n--;
	}
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t hi = fz_u8(f);

	return (uint16_t)(hi << 8 | fz_u8(f));
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t hi = fz_u16(f);

	return hi << 16 | fz_u16(f);
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t hi = fz_u32(f);

	return hi << 32 | fz_u32(f);
}

/* Up to want bytes (fewer at the end of the input), pointing into it (never
 * NULL, even for none). */
static inline const uint8_t *fz_bytes(struct fz *f, size_t want, size_t *got)
{
	const uint8_t *p = f->p != NULL ? f->p : (const uint8_t *)"";

	*got = want < f->n ? want : f->n;
	f->p = p + *got;
	f->n -= *got;
	return p;
}

/* A C string of at most max bytes into out (max + 1 bytes): a length byte
 * scaled to max, then that many bytes, cut at the first NUL. */
static inline void fz_str(struct fz *f, char *out, size_t max)
{
	size_t want = fz_u16(f) % (max + 1), got, i;
	const uint8_t *p = fz_bytes(f, want, &got);

	for (i = 0; i < got && p[i] != '\0'; i++) {
		out[i] = (char)p[i];
	}
	out[i] = '\0';
}

/* --- a scratch directory -----------------------------------------------------------------------
 */

static char fuzz_dir[256];

static void fuzz_dir_remove(void)
{
	DIR *d = opendir(fuzz_dir);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
				(void)unlinkat(dirfd(d), de->d_name, 0);
			}
		}
		closedir(d);
	}
	(void)rmdir(fuzz_dir);
}

/* Create the scratch directory (mode 0700) once; removed at exit.  Aborts if
 * it cannot be made: a harness without it would test nothing. */
static const char *fuzz_dir_make(void)
{
	const char *tmp = getenv("TMPDIR");

	if (fuzz_dir[0] != '\0') {
		return fuzz_dir;
	}
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/sectx-fuzz-XXXXXX",
		 tmp != NULL && tmp[0] == '/' ? tmp : "/dev/shm");
	if (mkdtemp(fuzz_dir) == NULL) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/sectx-fuzz-XXXXXX");
		if (mkdtemp(fuzz_dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
	}
	atexit(fuzz_dir_remove);
	return fuzz_dir;
}

/* Remove every entry of the directory dirfd (files only: the targets make
 * no subdirectories). */
static inline void fuzz_dir_clear(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			(void)unlinkat(dfd, de->d_name, 0);
		}
	}
	closedir(d);
}

/* Write len bytes to dfd/name (replacing it), mode 0600.  0 or -1. */
static inline int fuzz_write_file(int dfd, const char *name, const void *p, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t off = 0;

	if (fd < 0) {
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)p + off, len - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* --- a silent log -------------------------------------------------------------------------------
 * Targets that link common/log.c are built with -Wl,--wrap=sectx_log: every
 * line the product logs is formatted (so a bad argument is still caught by
 * the sanitizers) and dropped, instead of one syslog line per input. */
#ifdef FUZZ_WRAP_LOG
void __wrap_sectx_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void __wrap_sectx_log(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	(void)level;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	FUZZ_CHECK(memchr(line, '\0', sizeof(line)) != NULL);
}
#endif

/* --- big buffers without a page fault each ----------------------------------------------------
 * On some virtual machines a fresh page costs ~100 us: a target whose code
 * mallocs a frame-sized buffer (128 KiB, beyond ASan's size classes: a new
 * mapping each time) on every call would run a few times a second.  Targets
 * built with -DFUZZ_WRAP_MALLOC -Wl,--wrap=malloc,--wrap=free keep up to
 * eight such blocks (64 KiB or more) after free and hand them out again for
 * the same size; a kept block is poisoned while it is free, so a use after
 * free is still reported (as use-after-poison), and ASan's own redzones
 * still bound it. */
#ifdef FUZZ_WRAP_MALLOC
#include <sanitizer/asan_interface.h>
#include <stdbool.h>

#define FUZZ_BIG_MIN (64u * 1024u)

void *__real_malloc(size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void __wrap_free(void *p);

static struct {
	void *p;
	size_t n;
	bool busy;
} fuzz_big[8];

void *__wrap_malloc(size_t n)
{
	size_t i;
	void *p;

	if (n < FUZZ_BIG_MIN) {
		return __real_malloc(n);
	}
	for (i = 0; i < sizeof(fuzz_big) / sizeof(fuzz_big[0]); i++) {
		if (fuzz_big[i].p != NULL && !fuzz_big[i].busy && fuzz_big[i].n == n) {
			fuzz_big[i].busy = true;
			ASAN_UNPOISON_MEMORY_REGION(fuzz_big[i].p, n);
			memset(fuzz_big[i].p, 0xbe, n < 4096 ? n : 4096); /* as ASan fills */
			return fuzz_big[i].p;
		}
	}
	p = __real_malloc(n);
	for (i = 0; p != NULL && i < sizeof(fuzz_big) / sizeof(fuzz_big[0]); i++) {
		if (fuzz_big[i].p == NULL) {
			fuzz_big[i].p = p;
			fuzz_big[i].n = n;
			fuzz_big[i].busy = true;
			break;
		}
	}
	return p;
}

void __wrap_free(void *p)
{
	size_t i;

	for (i = 0; p != NULL && i < sizeof(fuzz_big) / sizeof(fuzz_big[0]); i++) {
		if (fuzz_big[i].p == p) {
			FUZZ_CHECK(fuzz_big[i].busy); /* a double free */
			fuzz_big[i].busy = false;
			ASAN_POISON_MEMORY_REGION(p, fuzz_big[i].n);
			return;
		}
	}
	__real_free(p);
}
#endif

#endif /* SECTX_FUZZ_UTIL_H */
