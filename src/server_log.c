/*
 * server_log.c - the request log's batching buffer (see server_log.h).
 *
 * One buffer under one mutex.  The write happens under the mutex too, so
 * batches leave in order; it is at most SERVER_LOG_BUF bytes, and EINTR
 * and short writes are retried.  A failing descriptor drops the batch (the
 * request log is operational; nothing waits on it).
 */
#include "server_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct server_log {
	pthread_mutex_t mu;
	int fd;
	size_t len;
	uint64_t first_ns;          /* when the oldest buffered line came */
	uint64_t lines, writes;
	char buf[SERVER_LOG_BUF];
};

struct server_log *
server_log_new(int fd)
{
	struct server_log *l = calloc(1, sizeof *l);

	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	l->fd = fd;
	return l;
}

static void
flush_locked(struct server_log *l)
{
	size_t off = 0;

	while (off < l->len) {
		ssize_t w = write(l->fd, l->buf + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (l->len > 0)
		l->writes++;
	l->len = 0;
}

void
server_log_line(struct server_log *l, const char *line, size_t n)
{
	uint64_t now = util_mono_ns();

	if (n > SERVER_LOG_LINE_MAX - 1)
		n = SERVER_LOG_LINE_MAX - 1;
	pthread_mutex_lock(&l->mu);
	if (l->len + n + 1 > sizeof l->buf)
		flush_locked(l);
	if (l->len == 0)
		l->first_ns = now;
	memcpy(l->buf + l->len, line, n);
	l->len += n;
	if (n == 0 || line[n - 1] != '\n')
		l->buf[l->len++] = '\n';
	l->lines++;
	if (l->len >= sizeof l->buf / 2 ||
	    now - l->first_ns >= (uint64_t)SERVER_LOG_MAX_DELAY_MS * 1000000u)
		flush_locked(l);
	pthread_mutex_unlock(&l->mu);
}

void
server_log_tick(struct server_log *l)
{
	pthread_mutex_lock(&l->mu);
	if (l->len > 0 &&
	    util_mono_ns() - l->first_ns >= (uint64_t)SERVER_LOG_MAX_DELAY_MS * 1000000u)
		flush_locked(l);
	pthread_mutex_unlock(&l->mu);
}

void
server_log_flush(struct server_log *l)
{
	pthread_mutex_lock(&l->mu);
	flush_locked(l);
	pthread_mutex_unlock(&l->mu);
}

void
server_log_stats(struct server_log *l, uint64_t *lines, uint64_t *writes)
{
	pthread_mutex_lock(&l->mu);
	*lines = l->lines;
	*writes = l->writes;
	pthread_mutex_unlock(&l->mu);
}

void
server_log_free(struct server_log *l)
{
	if (l == NULL)
		return;
	server_log_flush(l);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
