/*
 * nss_bench.c - measure libnss_sectx lookups in ns/lookup (driven by
 * bench/nss_bench.py, which starts sectxd and the mount namespaces).
 *
 *   nss_bench direct LIB N      the module's _nss_sectx_getpwnam_r and
 *                               _nss_sectx_getpwuid_r called through dlsym,
 *                               against SECTX_SOCKET_DIR (mmap path when a
 *                               cache is there, socket path when not)
 *   nss_bench glibc N           getpwnam_r through glibc (whatever
 *                               /etc/nsswitch.conf says: the driver runs it in
 *                               a mount namespace)
 *   nss_bench cold LIB N ROUNDS the first lookups of a new process: ROUNDS
 *                               forked children (the parent never loads LIB)
 *                               each dlopen LIB and time their first and
 *                               second getpwnam_r of a hot user; prints the
 *                               medians (cold_dlopen, cold_first,
 *                               cold_second), in ns
 *
 * Users are user%07u with uid 100000 + i, i < N; misses are nouser%07u and
 * uid 50000000 + i.  Every figure is the mean over a run of at least
 * MIN_RUN_NS, the best of REPEAT runs after a warm-up.  "hot" cycles through
 * HOT names, "random" through RANDOM_SET names drawn from all N users
 * (cache-cold at large N).
 * Prints one "label ns" line per measurement.  A benchmark, not a test: it
 * never fails on a figure, only on a wrong answer.
 */
#include <dlfcn.h>
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOT	   1024u
#define RANDOM_SET 65536u
#define MIN_RUN_NS 100000000ll /* 0.1 s */
#define REPEAT	   5
#define MAX_ITER   (1ull << 32)

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getpwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);

static char (*names)[16];
static uid_t *uids;
static unsigned nkeys;
static getpwnam_fn by_name;
static getpwuid_fn by_uid;
static int expect; /* NSS status every call must return (direct) */
static int glibc_expect_found;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void fill(const char *prefix, unsigned base_uid, unsigned n, unsigned count, int random)
{
	unsigned i, k;

	for (i = 0; i < count; i++) {
		k = random ? (unsigned)(((uint64_t)rand() << 16 ^ (unsigned)rand()) % n) : i % n;
		snprintf(names[i], sizeof(names[i]), "%s%07u", prefix, k);
		uids[i] = base_uid + k;
	}
	nkeys = count;
}

/* One pass of iters lookups; aborts on a wrong answer. */
static void run_direct(uint64_t iters, int use_uid)
{
	struct passwd pw;
	char buf[1024];
	uint64_t i;
	int err;

	for (i = 0; i < iters; i++) {
		unsigned k = (unsigned)(i & (nkeys - 1));
		enum nss_status s = use_uid ? by_uid(uids[k], &pw, buf, sizeof(buf), &err)
					    : by_name(names[k], &pw, buf, sizeof(buf), &err);

		if ((int)s != expect) {
			fprintf(stderr, "nss_bench: %s %s gave status %d, expected %d\n",
				use_uid ? "uid" : "name", names[k], (int)s, expect);
			exit(1);
		}
	}
}

static void run_glibc(uint64_t iters, int use_uid)
{
	struct passwd pw, *res;
	char buf[1024];
	uint64_t i;

	for (i = 0; i < iters; i++) {
		unsigned k = (unsigned)(i & (nkeys - 1));
		int r = use_uid ? getpwuid_r(uids[k], &pw, buf, sizeof(buf), &res)
				: getpwnam_r(names[k], &pw, buf, sizeof(buf), &res);

		if (r != 0 || (res != NULL) != glibc_expect_found) {
			fprintf(stderr, "nss_bench: glibc lookup of %s: %d, %s\n", names[k], r,
				res != NULL ? "found" : "not found");
			exit(1);
		}
	}
}

/* ns per lookup: the best of REPEAT runs, each the mean over at least
 * MIN_RUN_NS (or max_iters lookups).  The minimum, because what disturbs a
 * run on a shared machine only ever adds time. */
static double measure(void (*fn)(uint64_t, int), int use_uid, uint64_t max_iters)
{
	uint64_t iters = 64;
	double best = 0;
	int64_t t0, dt;
	int rep;

	fn(iters < max_iters ? iters : max_iters, use_uid); /* warm-up */
	for (;;) {
		if (iters > max_iters) {
			iters = max_iters;
		}
		t0 = now_ns();
		fn(iters, use_uid);
		dt = now_ns() - t0;
		if (dt >= MIN_RUN_NS || iters >= max_iters || iters >= MAX_ITER) {
			break;
		}
		iters *= dt > 0 && MIN_RUN_NS / dt < 8 ? 2 : 8;
	}
	best = (double)dt / (double)iters;
	for (rep = 1; rep < REPEAT; rep++) {
		t0 = now_ns();
		fn(iters, use_uid);
		dt = now_ns() - t0;
		if ((double)dt / (double)iters < best) {
			best = (double)dt / (double)iters;
		}
	}
	return best;
}

static void report(const char *label, double ns)
{
	printf("%s %.1f\n", label, ns);
	fflush(stdout);
}

static int cmd_direct(const char *lib, unsigned n)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	uint64_t max = getenv("NSS_BENCH_MAX_ITERS") != NULL
			   ? strtoull(getenv("NSS_BENCH_MAX_ITERS"), NULL, 10)
			   : MAX_ITER;

	if (h == NULL) {
		fprintf(stderr, "nss_bench: %s\n", dlerror());
		return 1;
	}
	by_name = (getpwnam_fn)dlsym(h, "_nss_sectx_getpwnam_r");
	by_uid = (getpwuid_fn)dlsym(h, "_nss_sectx_getpwuid_r");
	if (by_name == NULL || by_uid == NULL) {
		fprintf(stderr, "nss_bench: %s lacks the entry points\n", lib);
		return 1;
	}
	expect = NSS_STATUS_SUCCESS;
	fill("user", 100000, n, HOT < n ? HOT : n, 0);
	while (nkeys & (nkeys - 1)) {
		nkeys--; /* a power of two for the index mask */
	}
	report("getpwnam_hit_hot", measure(run_direct, 0, max));
	report("getpwuid_hit_hot", measure(run_direct, 1, max));
	fill("user", 100000, n, RANDOM_SET, 1);
	report("getpwnam_hit_random", measure(run_direct, 0, max));
	report("getpwuid_hit_random", measure(run_direct, 1, max));
	expect = NSS_STATUS_NOTFOUND;
	fill("nouser", 50000000, HOT, HOT, 0);
	report("getpwnam_miss", measure(run_direct, 0, max));
	report("getpwuid_miss", measure(run_direct, 1, max));
	return 0;
}

static int cmd_glibc(unsigned n, const char *what)
{
	uint64_t max = getenv("NSS_BENCH_MAX_ITERS") != NULL
			   ? strtoull(getenv("NSS_BENCH_MAX_ITERS"), NULL, 10)
			   : MAX_ITER;

	glibc_expect_found = 1;
	fill("user", 100000, n, HOT < n ? HOT : n, 0);
	while (nkeys & (nkeys - 1)) {
		nkeys--;
	}
	/* the constant module answers any name: it gets the same names */
	report("glibc_getpwnam_hit", measure(run_glibc, 0, max));
	if (what == NULL) {
		glibc_expect_found = 0;
		fill("nouser", 50000000, HOT, HOT, 0);
		report("glibc_getpwnam_miss", measure(run_glibc, 0, max));
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* In a child: dlopen lib, then two lookups of name; t[3] in ns. */
static int cold_child(const char *lib, const char *name, int64_t t[3])
{
	struct passwd pw;
	char buf[1024];
	int64_t t0;
	void *h;
	int err, i;

	t0 = now_ns();
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	t[0] = now_ns() - t0;
	if (h == NULL) {
		return 1;
	}
	by_name = (getpwnam_fn)dlsym(h, "_nss_sectx_getpwnam_r");
	if (by_name == NULL) {
		return 1;
	}
	for (i = 1; i <= 2; i++) {
		t0 = now_ns();
		if (by_name(name, &pw, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS) {
			return 1;
		}
		t[i] = now_ns() - t0;
	}
	return 0;
}

static int cmd_cold(const char *lib, unsigned n, unsigned rounds)
{
	static const char *labels[3] = {"cold_dlopen", "cold_first", "cold_second"};
	int64_t *t = calloc((size_t)rounds * 3, sizeof(*t));
	char name[16];
	unsigned r;
	int k;

	if (t == NULL || rounds == 0 || n == 0) {
		return 1;
	}
	snprintf(name, sizeof(name), "user%07u", n / 2);
	for (r = 0; r < rounds; r++) {
		int pfd[2], status = 0;
		int64_t got[3];
		pid_t pid;

		if (pipe(pfd) != 0) {
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			return 1;
		}
		if (pid == 0) {
			close(pfd[0]);
			if (cold_child(lib, name, got) != 0 ||
			    write(pfd[1], got, sizeof(got)) != (ssize_t)sizeof(got)) {
				_exit(1);
			}
			_exit(0);
		}
		close(pfd[1]);
		if (read(pfd[0], got, sizeof(got)) != (ssize_t)sizeof(got)) {
			fprintf(stderr, "nss_bench: cold lookup of %s failed in a child\n", name);
			return 1;
		}
		close(pfd[0]);
		waitpid(pid, &status, 0);
		for (k = 0; k < 3; k++) {
			t[(size_t)k * rounds + r] = got[k];
		}
	}
	for (k = 0; k < 3; k++) {
		qsort(t + (size_t)k * rounds, rounds, sizeof(*t), cmp_i64);
		report(labels[k], (double)t[(size_t)k * rounds + rounds / 2]);
	}
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	names = calloc(RANDOM_SET, sizeof(*names));
	uids = calloc(RANDOM_SET, sizeof(*uids));
	if (names == NULL || uids == NULL) {
		return 1;
	}
	srand(42);
	if (argc == 4 && strcmp(argv[1], "direct") == 0) {
		return cmd_direct(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "glibc") == 0) {
		return cmd_glibc((unsigned)strtoul(argv[2], NULL, 10), argc == 4 ? argv[3] : NULL);
	}
	if (argc == 5 && strcmp(argv[1], "cold") == 0) {
		return cmd_cold(argv[2], (unsigned)strtoul(argv[3], NULL, 10),
				(unsigned)strtoul(argv[4], NULL, 10));
	}
	fprintf(stderr, "usage: nss_bench direct LIB N | nss_bench glibc N [constant] | "
			"nss_bench cold LIB N ROUNDS\n");
	return 2;
}
