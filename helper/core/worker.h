/*
 * core/worker.h - run one blocking call in a forked worker process the event loop
 * can kill: for the libkrb5 calls that have no step API and no bound of their
 * own (the kpasswd exchange, the renewal of a TGT).
 *
 * The worker is forked for one call, runs the given function and exits; the
 * loop only reads its answer from a pipe and kills it at the deadline or when
 * the request is freed.  See worker.c for what the child may do (fork safety).
 */
#ifndef SECTX_WORKER_H
#define SECTX_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>

#define SECTX_WORKER_FD		3		/* the child's answer descriptor */
#define SECTX_WORKER_ANSWER_MAX (1024u * 1024u) /* largest answer_max a caller may ask */

/*
 * What the worker runs, in the child: arg as given to sectx_worker_send, fd
 * the write end of the answer pipe (SECTX_WORKER_FD; every other descriptor
 * but 0-2 is closed).  It writes its answer to fd and returns (or _exit()s);
 * the worker then _exit(0)s.  It must only do its call: no talloc, no tevent,
 * no logging through the helper, nothing that takes a lock another thread of
 * the helper may have held at fork (OpenSSL).
 */
typedef void (*sectx_worker_fn)(void *arg, int fd);

/*
 * Fork a worker that runs child_fn(child_arg, SECTX_WORKER_FD) and read its
 * answer, at most answer_max bytes (1..SECTX_WORKER_ANSWER_MAX), until it
 * closes the pipe or the buffer is full.  deadline: absolute, sectx_now_ms()
 * scale; then the worker is killed (SIGKILL) and reaped and the request fails
 * with ETIMEDOUT.  Freeing the request also kills and reaps the worker.
 * child_arg and what it points to need to live only until this returns: the
 * child has its own copy, so the caller scrubs its secrets right after.
 * Returns NULL only when out of memory.
 */
struct tevent_req *sectx_worker_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     sectx_worker_fn child_fn, void *child_arg, size_t answer_max,
				     int64_t deadline);

/*
 * 0 with *bytes (on mem_ctx, *len bytes, followed by a NUL not counted in
 * *len; scrubbed with explicit_bzero when freed, so it may hold a ticket) and
 * *len: what the worker wrote, possibly nothing (it died before answering);
 * -ETIMEDOUT (the deadline passed, the worker was killed); -ENOMEM; -EIO (no
 * worker could be started or its pipe could not be read; logged); -EINVAL
 * (no child_fn, or answer_max out of range).
 */
int sectx_worker_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, uint8_t **bytes, size_t *len);

/*
 * In the child: write all len bytes of buf to fd, retrying on EINTR.  0, or
 * -1 if the pipe is gone (the loop stopped listening).  Async-signal-safe.
 */
int sectx_worker_write(int fd, const void *buf, size_t len);

#endif /* SECTX_WORKER_H */
