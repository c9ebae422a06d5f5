/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress line for long copies on a terminal, and cancellation by SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

#define REDRAW_NS 250000000LL /* at most 4 redraws a second */

static volatile sig_atomic_t cancelled;

static void on_signal(int sig)
{
	(void)sig;
	cancelled = 1;
}

void cancel_catch(bool interrupt)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/*
	 * Without SA_RESTART a blocked read(2) at a prompt returns EINTR. SA_RESETHAND:
	 * a second Ctrl-C kills, should the first wait on a blocked pipe.
	 */
	sa.sa_flags = SA_RESETHAND | (interrupt ? 0 : SA_RESTART);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cancel_release(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

bool cancel_requested(void)
{
	return cancelled;
}

static long long elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	return (to->tv_sec - from->tv_sec) * 1000000000LL + (to->tv_nsec - from->tv_nsec);
}

/* "1.2 GiB"; rates drop the decimal from 100 up. */
static void human(char *buf, size_t len, double bytes, bool rate)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", bytes);
	else if (rate && bytes >= 100)
		snprintf(buf, len, "%.0f %s", bytes, units[u]);
	else
		snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

static void eta(char *buf, size_t len, double seconds)
{
	unsigned long long s = (unsigned long long)seconds;

	if (s >= 3600)
		snprintf(buf, len, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%llu:%02llu", s / 60, s % 60);
}

static void draw(struct progress *p, uint64_t done, uint64_t total, const struct timespec *now)
{
	char d[32], t[32], r[32], e[32];
	double secs = elapsed_ns(&p->start, now) / 1e9;
	double rate = secs > 0 ? done / secs : 0;
	/* Truncated: 100% only when done. */
	unsigned pct = total ? (unsigned)(100.0 * done / total) : 100;

	human(d, sizeof(d), done, false);
	human(t, sizeof(t), total, false);
	human(r, sizeof(r), rate, true);
	if (rate > 0 && done < total)
		eta(e, sizeof(e), (total - done) / rate);
	else if (done >= total)
		eta(e, sizeof(e), 0);
	else
		snprintf(e, sizeof(e), "--:--");
	/* \033[K clears what a longer previous line left behind. */
	fprintf(stderr, "\r  %s / %s (%u%%)  %s/s  ETA %s\033[K", d, t, pct, r, e);
	fflush(stderr);
	p->drawn = true;
}

void progress_init(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

bool progress_update(uint64_t done, uint64_t total, void *userdata)
{
	struct progress *p = userdata;
	struct timespec now;
	bool last = done >= total;

	if (cancelled)
		return false;
	if (!p->tty || p->finished)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && p->drawn && elapsed_ns(&p->last, &now) < REDRAW_NS)
		return true;
	p->last = now;
	draw(p, done, total, &now);
	if (last) {
		fputc('\n', stderr);
		p->drawn = false;
		p->finished = true;
	}
	return true;
}

void progress_end(struct progress *p)
{
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}
