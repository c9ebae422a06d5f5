/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The producer/consumer ring shared by the volume copies and the re-encryption steps. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/pipeline.h"

struct pipeline {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned nslots;
	unsigned head;	/* oldest filled slot */
	unsigned count; /* filled slots */
	bool done;	/* producer finished */
	bool cancel;	/* consumer gave up */
	int err;
};

int pipeline_new(unsigned nslots, struct pipeline **ret_pl)
{
	struct pipeline *pl;

	if (nslots == 0)
		return -EINVAL;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return -ENOMEM;
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->cond, NULL);
	pl->nslots = nslots;
	*ret_pl = pl;
	return 0;
}

void pipeline_free(struct pipeline *pl)
{
	if (!pl)
		return;
	pthread_mutex_destroy(&pl->lock);
	pthread_cond_destroy(&pl->cond);
	free(pl);
}

int pipeline_slot(struct pipeline *pl)
{
	int slot = -1;

	pthread_mutex_lock(&pl->lock);
	while (pl->count == pl->nslots && !pl->cancel)
		pthread_cond_wait(&pl->cond, &pl->lock);
	if (!pl->cancel)
		slot = (int)((pl->head + pl->count) % pl->nslots);
	pthread_mutex_unlock(&pl->lock);
	return slot;
}

void pipeline_publish(struct pipeline *pl)
{
	pthread_mutex_lock(&pl->lock);
	pl->count++;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
}

void pipeline_finish(struct pipeline *pl, int err)
{
	pthread_mutex_lock(&pl->lock);
	pl->done = true;
	if (err < 0 && !pl->err)
		pl->err = err;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
}

int pipeline_next(struct pipeline *pl)
{
	int slot = -1;

	pthread_mutex_lock(&pl->lock);
	while (pl->count == 0 && !pl->done)
		pthread_cond_wait(&pl->cond, &pl->lock);
	if (pl->count > 0)
		slot = (int)pl->head;
	pthread_mutex_unlock(&pl->lock);
	return slot;
}

void pipeline_release(struct pipeline *pl)
{
	pthread_mutex_lock(&pl->lock);
	pl->head = (pl->head + 1) % pl->nslots;
	pl->count--;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
}

void pipeline_cancel(struct pipeline *pl, int err)
{
	pthread_mutex_lock(&pl->lock);
	pl->cancel = true;
	if (err < 0 && !pl->err)
		pl->err = err;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
}

int pipeline_error(struct pipeline *pl)
{
	int err;

	pthread_mutex_lock(&pl->lock);
	err = pl->err;
	pthread_mutex_unlock(&pl->lock);
	return err;
}
