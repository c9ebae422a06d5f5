/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bounded ring of slots between one producer thread and one consumer thread. */
#ifndef VMC_BASE_PIPELINE_H
#define VMC_BASE_PIPELINE_H

/*
 * The ring hands out slot indices in [0, nslots); the users keep the buffers.
 * The producer fills slots in order and publishes them; the consumer takes
 * them in the same order and releases them. Either side can stop the other:
 * the producer by finishing (at the end or on an error), the consumer by
 * cancelling.
 */
struct pipeline;

/* 0, -ENOMEM or -EINVAL (nslots 0). */
int pipeline_new(unsigned nslots, struct pipeline **ret_pl);
/* NULL-safe. Neither side may still be using it. */
void pipeline_free(struct pipeline *pl);

/* Producer: waits for a free slot; its index, or -1 once the consumer has cancelled. */
int pipeline_slot(struct pipeline *pl);
/* Producer: the slot returned by pipeline_slot() is filled. */
void pipeline_publish(struct pipeline *pl);
/* Producer: nothing more will come; err < 0 records why. */
void pipeline_finish(struct pipeline *pl, int err);

/* Consumer: waits for the oldest filled slot; its index, or -1 at the end. */
int pipeline_next(struct pipeline *pl);
/* Consumer: done with the slot returned by pipeline_next(). */
void pipeline_release(struct pipeline *pl);
/* Consumer: stop the producer; err < 0 records why. */
void pipeline_cancel(struct pipeline *pl, int err);

/* The first error recorded by either side, or 0. */
int pipeline_error(struct pipeline *pl);

#endif
