/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small persistent pool of threads that runs the parts of one batch of work in parallel. */
#ifndef VMC_BASE_WORKERS_H
#define VMC_BASE_WORKERS_H

struct workers;

/* One part of a batch: 0 or a negative errno. Called from any thread of the pool. */
typedef int workers_fn(void *ctx, unsigned part);

/*
 * A pool for n-way parallelism: n - 1 threads, the caller of workers_run()
 * being the n-th. n <= 1 makes a pool without threads (everything runs in the
 * caller). 0 or -ENOMEM/-EAGAIN.
 */
int workers_new(unsigned n, struct workers **ret_pool);
/* Stops and joins the threads; NULL-safe. No batch may be running. */
void workers_free(struct workers *pool);
/* The parallelism given at creation (1 for NULL). */
unsigned workers_count(const struct workers *pool);

/*
 * Runs fn(ctx, i) for every i in [0, parts) and returns when all have
 * finished: the first negative result, or 0. Parts are handed out in
 * increasing order to whichever thread is free, the caller included. Safe to
 * call from several threads: while the pool serves one batch, another caller
 * runs its batch alone. pool may be NULL (everything in the caller).
 */
int workers_run(struct workers *pool, workers_fn *fn, void *ctx, unsigned parts);

#endif
