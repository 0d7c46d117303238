/*
 * util.h - small helpers shared by every module: error reporting, bounded
 * strings, dates, hex, time, constant-time comparison, atomic file writes
 * and the terminal progress bar.
 *
 * Conventions used across dmvgate:
 *  - functions return 0 on success and -1 on failure (or NULL), never exit;
 *  - a function that allocates says who frees in its comment;
 *  - untrusted input is checked against a named limit before it is used.
 */
#ifndef DMVGATE_UTIL_H
#define DMVGATE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define UTIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UTIL_WUR __attribute__((warn_unused_result))
#define UTIL_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Program name used in messages ("dmvgate"). */
extern const char *util_progname;

/* Print "dmvgate: MESSAGE" to stderr. util_warn appends ": strerror(errno)". */
void util_errx(const char *fmt, ...) UTIL_PRINTF(1, 2);
void util_warn(const char *fmt, ...) UTIL_PRINTF(1, 2);

/* Allocation that reports failure on stderr; returns NULL on failure.
 * The caller frees the result with free(). */
void *util_calloc(size_t n, size_t size);
char *util_strdup(const char *s);
char *util_strndup(const char *s, size_t n);
/* printf into a freshly allocated string; caller frees. */
char *util_aprintf(const char *fmt, ...) UTIL_PRINTF(1, 2);

/*
 * Bounded copy: copies src into dst (size dstsz) and NUL-terminates.
 * Returns 0, or -1 when src did not fit (dst then holds a truncated copy).
 */
int util_strlcpy(char *dst, const char *src, size_t dstsz) UTIL_WUR;

/*
 * Dates.  A civil date is kept as days since 1970-01-01 (may be negative).
 * util_date_parse accepts exactly YYYY-MM-DD with a real calendar day and
 * years 1800..2200; returns 0 and stores the day number, else -1.
 */
int util_date_parse(const char *s, size_t len, int32_t *days) UTIL_WUR;
/* Writes YYYY-MM-DD and a NUL into out (at least 11 bytes). */
void util_date_format(int32_t days, char out[11]);
int32_t util_days_from_civil(int y, unsigned m, unsigned d);
void util_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d);
/* Day of week for a day number: 0 = Sunday .. 6 = Saturday. */
int util_weekday(int32_t days);
/* Today's UTC date as a day number. */
int32_t util_today(void);

/* Wall clock in microseconds since the epoch (UTC). */
int64_t util_now_us(void);
/* Monotonic clock in nanoseconds, for measuring durations. */
uint64_t util_mono_ns(void);
/* RFC 3339 UTC with microseconds, e.g. 2026-11-26T14:08:17.123456Z. */
void util_time_format(int64_t us, char out[32]);
/* Parses YYYY-MM-DD (midnight UTC) or the RFC 3339 form above. */
int util_time_parse(const char *s, int64_t *us) UTIL_WUR;

/* Lower-case hex of n bytes into out (2n+1 bytes with the NUL). */
void util_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits into out; returns 0 or -1. */
int util_unhex(const char *in, size_t inlen, uint8_t *out, size_t n) UTIL_WUR;

/* Compares n bytes in constant time; 0 when equal. */
int util_ct_memcmp(const void *a, const void *b, size_t n) UTIL_WUR;
/* Overwrites n bytes so that the compiler cannot elide it. */
void util_wipe(void *p, size_t n);
/* Fills buf with n bytes from the kernel's CSPRNG; returns 0 or -1. */
int util_random(void *buf, size_t n) UTIL_WUR;

/*
 * Writes len bytes to path atomically: a temporary file in the same
 * directory created with mode, written, fsynced, renamed over path, and the
 * directory fsynced.  Returns 0 or -1 with errno set.
 */
int util_write_file_atomic(const char *path, const void *buf, size_t len, int mode) UTIL_WUR;
/*
 * Reads a whole file of at most maxlen bytes.  On success stores a
 * malloc'd, NUL-terminated buffer (caller frees) and its length.
 * Returns 0, or -1 (errno EFBIG when the file exceeds maxlen).
 */
int util_read_file(const char *path, size_t maxlen, char **out, size_t *outlen) UTIL_WUR;
/* fsync a directory; returns 0 or -1. */
int util_fsync_dir(const char *path) UTIL_WUR;
/* mkdir -p with mode for each created component; returns 0 or -1. */
int util_mkdirs(const char *path, int mode) UTIL_WUR;

/* Strict decimal parsing: whole string, within [min,max]; 0 or -1. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) UTIL_WUR;

/*
 * Terminal progress bar on stderr, drawn only when stderr is a terminal.
 * total may be 0 when unknown.  util_progress_done clears the line.
 */
struct util_progress {
	const char *label;
	uint64_t total;
	uint64_t last_draw_ns;
	int enabled;
};
void util_progress_init(struct util_progress *p, const char *label, uint64_t total);
void util_progress_update(struct util_progress *p, uint64_t done);
void util_progress_done(struct util_progress *p);

/* Validates UTF-8 (no overlongs, no surrogates, no NUL); 0 when valid. */
int util_utf8_valid(const char *s, size_t len);
/*
 * Decodes the code point at s[*i] (len bytes in all) strictly -- no
 * overlong forms, surrogates or values past U+10FFFF -- and advances *i.
 * Returns the code point, or -1 when the bytes there are not UTF-8.
 */
long util_utf8_decode(const char *s, size_t len, size_t *i);
/* Writes v in decimal to out (at least 21 bytes), NUL-terminated; returns
 * the number of digits.  (snprintf "%llu" without its cost, for hot paths.) */
size_t util_u64_dec(char *out, uint64_t v);
/* The histogram bucket v falls in, given nb ascending inclusive upper
 * bounds: the first i with v <= bounds[i], or nb (the +Inf bucket). */
size_t util_bucket(const double *bounds, size_t nb, double v);

#endif /* DMVGATE_UTIL_H */
