/*
 * test_kdc_cache.c - unit tests of helper/login/kdc_cache.c, a realm's KDC
 * addresses: numeric addresses (IPv4, [IPv6]:port) and a name (localhost,
 * resolved with getaddrinfo_a and polled from a real tevent loop) in the
 * profile's order; the profile read once per realm (an edited krb5.conf is
 * not seen until sectx_kdc_cache_flush or SECTX_KDC_CACHE_TTL_MS); a realm
 * with no KDC (ENOENT); two exchanges waiting on one resolution, and a
 * waiter freed before it ends.
 *
 * The clock (sectx_now_ms) is replaced through -Wl,--wrap, so the TTL is
 * crossed without waiting; krb5.conf is a temp file named by KRB5_CONFIG.
 * MIT's profile looks at a file's mtime at most once a second, so the test
 * sleeps just over a second after each edit.
 */
#include "login/login_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static int64_t fake_now = 1000000;

int64_t __wrap_sectx_now_ms(void);
int64_t __wrap_sectx_now_ms(void)
{
	return fake_now;
}

struct fixture {
	char dir[64];
	char conf[96];
	struct tevent_context *ev;
	struct sectxd_krb5 *k;
};

static void write_conf(struct fixture *f, const char *b_kdc)
{
	FILE *fp = fopen(f->conf, "w");

	assert_non_null(fp);
	fprintf(fp,
		"[realms]\n"
		" A.TEST = {\n  kdc = 127.0.0.1:7001\n  kdc = [::1]:7002\n"
		"  kdc = localhost:7003\n }\n"
		" B.TEST = {\n  kdc = %s\n }\n",
		b_kdc);
	assert_int_equal(fclose(fp), 0);
}

struct got {
	bool done;
	int ret;
	struct sectx_kdc_target *t;
	size_t n;
};

static void got_list(struct tevent_req *req)
{
	struct got *g = tevent_req_callback_data_void(req);

	g->ret = sectx_kdc_list_recv(req, NULL, &g->t, &g->n);
	g->done = true;
	talloc_free(req);
}

static void list(struct fixture *f, const char *realm, struct got *g)
{
	krb5_data r = {.length = (unsigned)strlen(realm), .data = (char *)realm};
	struct tevent_req *req = sectx_kdc_list_send(f->k, f->ev, f->k, &r);

	assert_non_null(req);
	memset(g, 0, sizeof(*g));
	tevent_req_set_callback(req, got_list, g);
	for (int i = 0; i < 2000 && !g->done; i++) {
		assert_int_equal(tevent_loop_once(f->ev), 0);
	}
	assert_true(g->done);
}

static const char *addr_of(const struct sectx_kdc_target *t, char *buf, size_t len)
{
	if (t->ss.ss_family == AF_INET) {
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)&t->ss)->sin_addr, buf,
				 (socklen_t)len);
	}
	return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&t->ss)->sin6_addr, buf,
			 (socklen_t)len);
}

static unsigned port_of(const struct sectx_kdc_target *t)
{
	return t->ss.ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)&t->ss)->sin_port)
					  : ntohs(((const struct sockaddr_in6 *)&t->ss)->sin6_port);
}

static void test_order_numeric_and_name(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	struct got g;

	list(f, "A.TEST", &g);
	assert_int_equal(g.ret, 0);
	assert_true(g.n >= 3);
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.1");
	assert_int_equal(port_of(&g.t[0]), 7001);
	assert_string_equal(g.t[0].desc, "127.0.0.1:7001");
	assert_string_equal(addr_of(&g.t[1], buf, sizeof(buf)), "::1");
	assert_int_equal(port_of(&g.t[1]), 7002);
	for (size_t i = 2; i < g.n; i++) {
		/* localhost, through getaddrinfo_a */
		assert_string_equal(g.t[i].desc, "localhost:7003");
		assert_int_equal(port_of(&g.t[i]), 7003);
		assert_int_equal(g.t[i].socktype, SOCK_STREAM);
	}
	talloc_free(g.t);
}

static void test_read_once_flush_ttl(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	struct got g;

	list(f, "B.TEST", &g);
	assert_int_equal(g.ret, 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.2");
	assert_int_equal(port_of(&g.t[0]), 88);
	talloc_free(g.t);

	write_conf(f, "127.0.0.3:750");
	sleep(1);
	usleep(100 * 1000);
	list(f, "B.TEST", &g); /* cached: the profile is not read again */
	assert_int_equal(g.ret, 0);
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.2");
	talloc_free(g.t);

	sectx_kdc_cache_flush(f->k);
	list(f, "B.TEST", &g);
	assert_int_equal(g.ret, 0);
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.3");
	assert_int_equal(port_of(&g.t[0]), 750);
	talloc_free(g.t);

	write_conf(f, "127.0.0.44");
	sleep(1);
	usleep(100 * 1000);
	fake_now += SECTX_KDC_CACHE_TTL_MS - 1;
	list(f, "B.TEST", &g); /* within the TTL */
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.3");
	talloc_free(g.t);
	fake_now += 1;
	list(f, "B.TEST", &g); /* past it: read again */
	assert_int_equal(g.ret, 0);
	assert_string_equal(addr_of(&g.t[0], buf, sizeof(buf)), "127.0.0.44");
	talloc_free(g.t);
}

static void test_no_kdc(void **state)
{
	struct fixture *f = *state;
	struct got g;

	list(f, "NONE.TEST", &g);
	assert_int_equal(g.ret, -ENOENT);
}

/* Two exchanges wait on one resolution of a name; one is freed first. */
static void test_waiters(void **state)
{
	struct fixture *f = *state;
	krb5_data r = {.length = 6, .data = "A.TEST"};
	struct tevent_req *r1, *r2, *r3;
	struct got g2 = {0};

	sectx_kdc_cache_flush(f->k);
	r1 = sectx_kdc_list_send(f->k, f->ev, f->k, &r);
	r2 = sectx_kdc_list_send(f->k, f->ev, f->k, &r);
	r3 = sectx_kdc_list_send(f->k, f->ev, f->k, &r);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_non_null(r3);
	assert_true(tevent_req_is_in_progress(r1)); /* localhost is being resolved */
	talloc_free(r1);
	tevent_req_set_callback(r2, got_list, &g2);
	for (int i = 0; i < 2000 && !g2.done; i++) {
		assert_int_equal(tevent_loop_once(f->ev), 0);
	}
	assert_true(g2.done);
	assert_int_equal(g2.ret, 0);
	assert_true(g2.n >= 3);
	talloc_free(g2.t);
	assert_false(tevent_req_is_in_progress(r3));
	talloc_free(r3);
	/* flushed while a resolution runs: the waiter still gets its answer */
	sectx_kdc_cache_flush(f->k);
	r1 = sectx_kdc_list_send(f->k, f->ev, f->k, &r);
	assert_non_null(r1);
	sectx_kdc_cache_flush(f->k);
	memset(&g2, 0, sizeof(g2));
	tevent_req_set_callback(r1, got_list, &g2);
	for (int i = 0; i < 2000 && !g2.done; i++) {
		assert_int_equal(tevent_loop_once(f->ev), 0);
	}
	assert_int_equal(g2.ret, 0);
	talloc_free(g2.t);
}

static int k_destructor(struct sectxd_krb5 *k)
{
	talloc_free(k->kdc_cache);
	krb5_free_context(k->ctx);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		return -1;
	}
	strcpy(f->dir, "/tmp/test_kdc_cache.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		return -1;
	}
	snprintf(f->conf, sizeof(f->conf), "%s/krb5.conf", f->dir);
	write_conf(f, "127.0.0.2");
	setenv("KRB5_CONFIG", f->conf, 1);
	sectx_log_init("test_kdc_cache", 1, SECTX_LOG_DEBUG);
	f->ev = tevent_context_init(NULL);
	f->k = talloc_zero(NULL, struct sectxd_krb5);
	if (f->ev == NULL || f->k == NULL || krb5_init_context(&f->k->ctx) != 0) {
		return -1;
	}
	talloc_set_destructor(f->k, k_destructor);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	talloc_free(f->k);
	talloc_free(f->ev);
	unlink(f->conf);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Until this process is down to its main thread again, at most 10 s: the
 * resolver threads (glibc's getaddrinfo_a helpers linger about a second
 * after their last request; the SRV lookup thread is detached) must be gone
 * before exit, or memcheck sees glibc's exit-time cleanup race them and
 * their resolver state as lost. */
static void wait_for_threads(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		int n = 0;

		if (d == NULL) {
			return;
		}
		while ((e = readdir(d)) != NULL) {
			n += e->d_name[0] != '.';
		}
		closedir(d);
		if (n <= 1) {
			return;
		}
		usleep(10000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_numeric_and_name),
	    cmocka_unit_test(test_read_once_flush_ttl),
	    cmocka_unit_test(test_no_kdc),
	    cmocka_unit_test(test_waiters),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);

	wait_for_threads();
	return failed;
}
