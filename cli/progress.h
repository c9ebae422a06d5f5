/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress line for long copies on a terminal, and cancellation by SIGINT/SIGTERM. */
#ifndef VMCRYPT_CLI_PROGRESS_H
#define VMCRYPT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct progress {
	bool tty;      /* stderr is a terminal: draw; otherwise stay quiet */
	bool drawn;    /* a line is on screen without its final newline */
	bool finished; /* the final line (done == total) was drawn */
	struct timespec start;
	struct timespec last;
};

/* Starts timing; call right before the operation. */
void progress_init(struct progress *p);
/* vmc_progress_fn: redraws at most 4 times a second; returns false once cancelled. */
bool progress_update(uint64_t done, uint64_t total, void *userdata);
/* Ends the line if one is left open (after an error or cancellation). */
void progress_end(struct progress *p);

/*
 * SIGINT and SIGTERM set a flag instead of killing the process. interrupt makes
 * blocking reads return EINTR (for prompts); otherwise system calls restart.
 */
void cancel_catch(bool interrupt);
/* Restores the default action of SIGINT and SIGTERM. */
void cancel_release(void);
bool cancel_requested(void);

#endif
