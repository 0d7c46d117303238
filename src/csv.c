/*
 * csv.c - strict, bounded RFC 4180 reader over a memory-mapped file
 * (see csv.h).  The hot path is a byte loop with memchr-free branching;
 * only quoted fields with doubled quotes are copied.
 */
#include "csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct csv {
	char *name;
	const char *buf;
	size_t len;
	size_t pos;
	size_t line;          /* line of the next unread byte */
	size_t rec_line;      /* line where the last record started */
	int mapped;
	struct csv_field fields[CSV_MAX_FIELDS];
	char scratch[CSV_MAX_RECORD];
	size_t scratch_used;
	char err[128];
};

static struct csv *
csv_new(const char *name)
{
	struct csv *c = util_calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	if ((c->name = util_strdup(name)) == NULL) {
		free(c);
		return NULL;
	}
	c->line = 1;
	return c;
}

struct csv *
csv_open(const char *path)
{
	struct csv *c;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		util_warn("%s", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		util_errx("%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((c = csv_new(path)) == NULL) {
		close(fd);
		return NULL;
	}
	c->len = (size_t)st.st_size;
	if (c->len > 0) {
		void *p = mmap(NULL, c->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			util_warn("%s: mmap", path);
			close(fd);
			free(c->name);
			free(c);
			return NULL;
		}
		madvise(p, c->len, MADV_SEQUENTIAL);
		c->buf = p;
		c->mapped = 1;
	} else {
		c->buf = "";
	}
	close(fd);
	return c;
}

struct csv *
csv_open_mem(const char *name, const char *buf, size_t len)
{
	struct csv *c = csv_new(name);

	if (c == NULL)
		return NULL;
	c->buf = buf;
	c->len = len;
	return c;
}

void
csv_close(struct csv *c)
{
	if (c == NULL)
		return;
	if (c->mapped)
		munmap((void *)(uintptr_t)c->buf, c->len);
	free(c->name);
	free(c);
}

size_t csv_line(const struct csv *c) { return c->rec_line; }
const char *csv_error(const struct csv *c) { return c->err; }
size_t csv_offset(const struct csv *c) { return c->pos; }
size_t csv_size(const struct csv *c) { return c->len; }
const char *csv_name(const struct csv *c) { return c->name; }

int
csv_field_is(const struct csv_field *f, const char *s)
{
	size_t n = strlen(s);

	return f->len == n && memcmp(f->p, s, n) == 0;
}

/* Skips past the next LF (for resynchronising after an error). */
static void
skip_line(struct csv *c)
{
	while (c->pos < c->len) {
		if (c->buf[c->pos++] == '\n') {
			c->line++;
			return;
		}
	}
}

static int
fail(struct csv *c, const char *msg)
{
	snprintf(c->err, sizeof c->err, "%s", msg);
	skip_line(c);
	return -1;
}

static int
check_text(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80 || p[i] == '\0')
			return util_utf8_valid(p, n);
	}
	return 0;
}

int
csv_next(struct csv *c, const struct csv_field **fields, size_t *nfields)
{
	const char *b = c->buf;
	size_t n = 0, start_pos = c->pos;

	c->err[0] = '\0';
	c->scratch_used = 0;
	c->rec_line = c->line;
	if (c->pos >= c->len)
		return 0;
	for (;;) {
		struct csv_field *f;

		if (n == CSV_MAX_FIELDS)
			return fail(c, "too many fields");
		f = &c->fields[n++];
		if (c->pos < c->len && b[c->pos] == '"') {
			/* Quoted field: copy only when a doubled quote appears. */
			size_t s = ++c->pos, out = 0;
			int copied = 0;
			char *dst = c->scratch + c->scratch_used;

			for (;;) {
				if (c->pos >= c->len)
					return fail(c, "unterminated quoted field");
				char ch = b[c->pos];
				if (ch == '"') {
					if (c->pos + 1 < c->len && b[c->pos + 1] == '"') {
						if (!copied) {
							size_t k = c->pos - s;
							if (c->scratch_used + k + 1 > sizeof c->scratch)
								return fail(c, "record too long");
							memcpy(dst, b + s, k);
							out = k;
							copied = 1;
						}
						if (c->scratch_used + out + 1 > sizeof c->scratch)
							return fail(c, "record too long");
						dst[out++] = '"';
						c->pos += 2;
						continue;
					}
					break;
				}
				if (ch == '\n')
					c->line++;
				if (copied) {
					if (c->scratch_used + out + 1 > sizeof c->scratch)
						return fail(c, "record too long");
					dst[out++] = ch;
				}
				c->pos++;
				if (c->pos - s > CSV_MAX_FIELD * 2)
					return fail(c, "field too long");
			}
			if (copied) {
				f->p = dst;
				f->len = out;
				c->scratch_used += out;
			} else {
				f->p = b + s;
				f->len = c->pos - s;
			}
			c->pos++; /* closing quote */
			if (c->pos < c->len && b[c->pos] != ',' && b[c->pos] != '\n' &&
			    !(b[c->pos] == '\r' && c->pos + 1 < c->len && b[c->pos + 1] == '\n'))
				return fail(c, "unexpected character after closing quote");
		} else {
			size_t s = c->pos;
			while (c->pos < c->len) {
				char ch = b[c->pos];
				if (ch == ',' || ch == '\n')
					break;
				if (ch == '\r' && c->pos + 1 < c->len && b[c->pos + 1] == '\n')
					break;
				if (ch == '"')
					return fail(c, "quote inside an unquoted field");
				if (ch == '\r')
					return fail(c, "bare carriage return");
				c->pos++;
			}
			f->p = b + s;
			f->len = c->pos - s;
		}
		if (f->len > CSV_MAX_FIELD)
			return fail(c, "field too long");
		if (check_text(f->p, f->len))
			return fail(c, "invalid UTF-8 or NUL byte");
		if (c->pos - start_pos > CSV_MAX_RECORD)
			return fail(c, "record too long");
		if (c->pos >= c->len)
			break;
		if (b[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (b[c->pos] == '\r')
			c->pos++;
		c->pos++; /* '\n' */
		c->line++;
		break;
	}
	*fields = c->fields;
	*nfields = n;
	return 1;
}
