/*
 * server_log.h - the gateway's request log: one line per request, written
 * to a file descriptor (stderr, read by journald) in batches.
 *
 * A write(2) per request cost the gateway about 2 us of a 40 us request
 * and, with journald behind stderr, woke another process each time.
 * Lines are appended to an in-memory buffer and written whole-line, in
 * order, when the buffer passes half its size, when its oldest line is
 * older than SERVER_LOG_MAX_DELAY_MS (checked by the next line and by the
 * main thread's poll every 250 ms, server_log_tick), and at
 * server_log_flush.  So a line reaches the descriptor at most about a
 * third of a second late, and a crash loses at most that much of this
 * operational log; the audit log,
 * not this one, is the record of what was disclosed.
 *
 * Thread-safe (one mutex; the work under it is a memcpy, or a write of the
 * batch).  A line longer than SERVER_LOG_LINE_MAX is cut and ends in "\n".
 */
#ifndef DMVGATE_SERVER_LOG_H
#define DMVGATE_SERVER_LOG_H

#include <stddef.h>
#include <stdint.h>

#define SERVER_LOG_BUF (32 * 1024)       /* buffered bytes before a write */
#define SERVER_LOG_LINE_MAX 512
#define SERVER_LOG_MAX_DELAY_MS 100

struct server_log;

/* A log writing to fd (not owned: never closed).  NULL when out of memory. */
struct server_log *server_log_new(int fd);

/* Appends one line (n bytes, its "\n" included or added). */
void server_log_line(struct server_log *l, const char *line, size_t n);

/* Writes the buffered lines when the oldest is over the delay. */
void server_log_tick(struct server_log *l);

/* Writes every buffered line now. */
void server_log_flush(struct server_log *l);

/* Flushes and frees l (NULL is a no-op). */
void server_log_free(struct server_log *l);

/* Bytes and lines written, and batches (for /metrics and tests). */
void server_log_stats(struct server_log *l, uint64_t *lines, uint64_t *writes);

#endif
