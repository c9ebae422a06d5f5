/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A persistent worker pool: threads started once and woken per batch, not created per request. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/workers.h"

struct workers {
	unsigned n; /* parallelism, the submitting thread included */
	unsigned nthreads;
	pthread_t *threads;
	pthread_mutex_t busy; /* held by the thread whose batch the pool serves */
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;  /* a batch was posted, or quit */
	pthread_cond_t idle;  /* a helper left the batch */
	/* The current batch. */
	workers_fn *fn;
	void *ctx;
	unsigned parts;
	unsigned next;	   /* next part to hand out */
	unsigned active;   /* helpers inside the batch */
	unsigned long gen; /* batch counter, so a helper joins each batch once */
	int err;
	bool quit;
};

/* Takes parts until none is left; records the first error. Called with the lock held. */
static void take_parts(struct workers *pool)
{
	while (pool->next < pool->parts) {
		unsigned part = pool->next++;
		workers_fn *fn = pool->fn;
		void *ctx = pool->ctx;
		int r;

		pthread_mutex_unlock(&pool->lock);
		r = fn(ctx, part);
		pthread_mutex_lock(&pool->lock);
		if (r < 0 && pool->err == 0)
			pool->err = r;
	}
}

static void *helper(void *arg)
{
	struct workers *pool = arg;
	unsigned long seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->quit && pool->gen == seen)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->quit)
			break;
		seen = pool->gen;
		pool->active++;
		take_parts(pool);
		pool->active--;
		pthread_cond_broadcast(&pool->idle);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int workers_new(unsigned n, struct workers **ret_pool)
{
	struct workers *pool = calloc(1, sizeof(*pool));
	int r = 0;

	if (!pool)
		return -ENOMEM;
	pool->n = n ? n : 1;
	pthread_mutex_init(&pool->busy, NULL);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_cond_init(&pool->idle, NULL);
	if (pool->n > 1) {
		pool->threads = calloc(pool->n - 1, sizeof(*pool->threads));
		if (!pool->threads) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (unsigned i = 0; i + 1 < pool->n; i++) {
		if (pthread_create(&pool->threads[i], NULL, helper, pool) != 0) {
			/* Fewer threads than asked still work: the caller does the rest. */
			if (i == 0)
				pool->n = 1;
			break;
		}
		pool->nthreads++;
	}
	*ret_pool = pool;
	pool = NULL;
out:
	workers_free(pool);
	return r;
}

void workers_free(struct workers *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->quit = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pthread_mutex_destroy(&pool->busy);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
	pthread_cond_destroy(&pool->idle);
	free(pool);
}

unsigned workers_count(const struct workers *pool)
{
	return pool ? pool->n : 1;
}

/* The whole batch in the calling thread. */
static int run_alone(workers_fn *fn, void *ctx, unsigned parts)
{
	int err = 0;

	for (unsigned i = 0; i < parts; i++) {
		int r = fn(ctx, i);
		if (r < 0 && err == 0)
			err = r;
	}
	return err;
}

int workers_run(struct workers *pool, workers_fn *fn, void *ctx, unsigned parts)
{
	int r;

	if (!pool || pool->nthreads == 0 || parts < 2)
		return run_alone(fn, ctx, parts);
	/* The pool serves one batch at a time; a second caller does not wait for it. */
	if (pthread_mutex_trylock(&pool->busy) != 0)
		return run_alone(fn, ctx, parts);
	pthread_mutex_lock(&pool->lock);
	pool->fn = fn;
	pool->ctx = ctx;
	pool->parts = parts;
	pool->next = 0;
	pool->err = 0;
	pool->gen++;
	pthread_cond_broadcast(&pool->wake);
	take_parts(pool);
	/* Every part is handed out; wait for the helpers still working on theirs. */
	while (pool->active > 0)
		pthread_cond_wait(&pool->idle, &pool->lock);
	r = pool->err;
	pool->fn = NULL;
	pool->ctx = NULL;
	pool->parts = 0;
	pthread_mutex_unlock(&pool->lock);
	pthread_mutex_unlock(&pool->busy);
	return r;
}
