/*
 * util.c - helpers shared by every module (see util.h).  Nothing here knows
 * about DMV records; everything here is small, bounded and return-coded.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *util_progname = "dmvgate";

static void
vmsg(int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;

	fprintf(stderr, "%s: ", util_progname);
	vfprintf(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
}

void
util_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
}

void
util_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(1, fmt, ap);
	va_end(ap);
}

void *
util_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		util_errx("out of memory");
	return p;
}

char *
util_strdup(const char *s)
{
	return util_strndup(s, strlen(s));
}

char *
util_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL) {
		util_errx("out of memory");
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
util_aprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		util_errx("out of memory");
		return NULL;
	}
	return s;
}

int
util_strlcpy(char *dst, const char *src, size_t dstsz)
{
	size_t n = strlen(src);

	if (dstsz == 0)
		return -1;
	if (n >= dstsz) {
		memcpy(dst, src, dstsz - 1);
		dst[dstsz - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * Civil-date arithmetic after Howard Hinnant's public-domain algorithms
 * (days_from_civil / civil_from_days), proleptic Gregorian calendar.
 */
int32_t
util_days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (int32_t)(era * 146097 + (int)doe - 719468);
}

void
util_civil_from_days(int32_t z0, int *y, unsigned *m, unsigned *d)
{
	int z = z0 + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int yy = (int)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

int
util_weekday(int32_t days)
{
	/* 1970-01-01 was a Thursday (4). */
	int w = (int)((days % 7 + 7 + 4) % 7);

	return w;
}

static int
days_in_month(int y, unsigned m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dim[m - 1];
}

static int
digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
util_date_parse(const char *s, size_t len, int32_t *days)
{
	int y, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
		return -1;
	if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 ||
	    d > days_in_month(y, (unsigned)m))
		return -1;
	*days = util_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

void
util_date_format(int32_t days, char out[11])
{
	int y;
	unsigned m, d;

	util_civil_from_days(days, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, m % 100, d % 100);
}

int64_t
util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int32_t
util_today(void)
{
	int64_t s = util_now_us() / 1000000;

	return (int32_t)(s / 86400 - (s % 86400 < 0));
}

uint64_t
util_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
util_time_format(int64_t us, char out[32])
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	int32_t days;
	int64_t sod;
	char date[11];

	if (frac < 0) {
		frac += 1000000;
		secs -= 1;
	}
	days = (int32_t)(secs / 86400);
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days -= 1;
	}
	util_date_format(days, date);
	snprintf(out, 32, "%sT%02d:%02d:%02d.%06dZ", date, (int)(sod / 3600),
	    (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
}

int
util_time_parse(const char *s, int64_t *us)
{
	size_t len = strlen(s);
	int32_t days;
	int hh, mi, ss, frac = 0;

	if (len < 10 || util_date_parse(s, 10, &days))
		return -1;
	if (len == 10) {
		*us = (int64_t)days * 86400 * 1000000;
		return 0;
	}
	/* YYYY-MM-DDTHH:MM:SS[.ffffff]Z */
	if (len < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len - 1] != 'Z')
		return -1;
	if (digits(s + 11, 2, &hh) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &ss))
		return -1;
	if (hh > 23 || mi > 59 || ss > 59)
		return -1;
	if (len != 20) {
		size_t nf = len - 21;
		if (s[19] != '.' || nf < 1 || nf > 6 || digits(s + 20, nf, &frac))
			return -1;
		for (size_t i = nf; i < 6; i++)
			frac *= 10;
	}
	*us = (((int64_t)days * 86400) + hh * 3600 + mi * 60 + ss) * 1000000 + frac;
	return 0;
}

void
util_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_unhex(const char *in, size_t inlen, uint8_t *out, size_t n)
{
	if (inlen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
util_ct_memcmp(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	return acc != 0;
}

void
util_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

int
util_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
dirname_of(const char *path, char *dir, size_t dirsz)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return util_strlcpy(dir, ".", dirsz);
	if ((size_t)(slash - path) + 1 > dirsz)
		return -1;
	if (slash == path)
		return util_strlcpy(dir, "/", dirsz);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 0;
}

int
util_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
util_write_file_atomic(const char *path, const void *buf, size_t len, int mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = buf;
	int fd = -1, rc = -1, saved;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp ||
	    dirname_of(path, dir, sizeof dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, (mode_t)mode) < 0)
		goto out;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	rc = util_fsync_dir(dir);
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	errno = saved;
	return rc;
}

int
util_read_file(const char *path, size_t maxlen, char **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, saved;

	if (f == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;
			if (cap > maxlen) {
				errno = EFBIG;
				goto out;
			}
			if ((nb = realloc(buf, ncap + 1)) == NULL)
				goto out;
			buf = nb;
			cap = ncap;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n > maxlen) {
			errno = EFBIG;
			goto out;
		}
		if (r == 0) {
			if (ferror(f))
				goto out;
			break;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = 0;
out:
	saved = errno;
	free(buf);
	fclose(f);
	errno = saved;
	return rc;
}

int
util_mkdirs(const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

int
util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
util_progress_init(struct util_progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->last_draw_ns = 0;
	p->enabled = isatty(STDERR_FILENO);
}

void
util_progress_update(struct util_progress *p, uint64_t done)
{
	uint64_t now;

	if (!p->enabled)
		return;
	now = util_mono_ns();
	if (now - p->last_draw_ns < 100000000u && done != p->total)
		return;
	p->last_draw_ns = now;
	if (p->total) {
		int pct = (int)(done * 100 / p->total), w = pct * 30 / 100;
		fprintf(stderr, "\r%-12s [%.*s%*s] %3d%% %llu/%llu", p->label, w,
		    "##############################", 30 - w, "", pct,
		    (unsigned long long)done, (unsigned long long)p->total);
	} else {
		fprintf(stderr, "\r%-12s %llu", p->label, (unsigned long long)done);
	}
	fflush(stderr);
}

void
util_progress_done(struct util_progress *p)
{
	if (p->enabled)
		fprintf(stderr, "\r\033[K");
}

size_t
util_u64_dec(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

long
util_utf8_decode(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned c = u[*i];
	size_t n;
	long cp;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		cp = c & 0x07;
	} else {
		return -1;
	}
	for (size_t k = 1; k <= n; k++) {
		if (*i + k >= len || (u[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (u[*i + k] & 0x3f);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return cp;
}

int
util_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		long cp;

		if (u[i] - 1u < 0x7fu) {     /* ASCII but NUL: most of what we see */
			i++;
			continue;
		}
		if ((cp = util_utf8_decode(s, len, &i)) <= 0)
			return -1; /* invalid, or NUL */
	}
	return 0;
}

size_t
util_bucket(const double *bounds, size_t nb, double v)
{
	size_t i = 0;

	while (i < nb && v > bounds[i])
		i++;
	return i;
}
