/*
 * config.c - the `key value` configuration parser (see config.h).
 *
 * A table maps each key to a typed setter with its bounds, as in nginx's
 * directive slots; the parser walks the text with a cursor, never past len,
 * and reports each error with its line and column (1-based, in bytes).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->listen_host, "127.0.0.1");
	c->listen_port = 8080;
	c->threads = 0;
	c->max_body = 64 * 1024;
	c->max_header = 8 * 1024;
	c->max_connections = 1024;
	c->connection_timeout = 30;
	c->checkpoint_interval = 10;
	c->name_candidates = 10;
	c->max_records = 50;
	c->report_k = 10;
}

enum ktype { K_LISTEN, K_UINT, K_SIZE, K_PATH };

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	uint64_t min, max;
};

#define OFF(f) offsetof(struct config, f)
/* Sorted by name. */
static const struct key keys[] = {
	{ "checkpoint_interval", K_UINT, OFF(checkpoint_interval), 1, 86400 },
	{ "connection_timeout", K_UINT, OFF(connection_timeout), 1, 3600 },
	{ "data", K_PATH, OFF(data), 0, 0 },
	{ "listen", K_LISTEN, 0, 0, 0 },
	{ "max_body", K_SIZE, OFF(max_body), 256, 16 * 1024 * 1024 },
	{ "max_connections", K_UINT, OFF(max_connections), 1, 65536 },
	{ "max_header", K_SIZE, OFF(max_header), 1024, 1024 * 1024 },
	{ "max_records", K_UINT, OFF(max_records), 1, 1000 },
	{ "name_candidates", K_UINT, OFF(name_candidates), 1, 1000 },
	{ "policy", K_PATH, OFF(policy), 0, 0 },
	{ "report_k", K_UINT, OFF(report_k), 2, 1000 },
	{ "threads", K_UINT, OFF(threads), 0, 256 },
	{ "tls_cert", K_PATH, OFF(tls_cert), 0, 0 },
	{ "tls_client_ca", K_PATH, OFF(tls_client_ca), 0, 0 },
	{ "tls_key", K_PATH, OFF(tls_key), 0, 0 },
	{ "user", K_PATH, OFF(user), 0, 0 },
};

struct errs {
	const char *name;
	char *buf;
	size_t sz, used;
	int count;
};

static void UTIL_PRINTF(4, 5)
err_at(struct errs *e, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->count++;
	if (e->sz == 0 || e->used + 1 >= e->sz)
		return;
	n = snprintf(e->buf + e->used, e->sz - e->used, "%s:%u:%u: ", e->name, line, col);
	if (n < 0 || (size_t)n >= e->sz - e->used) {
		e->used = e->sz - 1;
		return;
	}
	e->used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->used, e->sz - e->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= e->sz - e->used) {
		e->used = e->sz - 1;
		return;
	}
	e->used += (size_t)n;
	if (e->used + 1 < e->sz) {
		e->buf[e->used++] = '\n';
		e->buf[e->used] = '\0';
	}
}

int
config_parse_listen(struct config *c, const char *s, size_t len)
{
	char host[64], port[8];
	const char *colon;
	size_t hl;
	int64_t p;
	unsigned char addr[16];

	if (len == 0 || memchr(s, '\0', len) != NULL)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (rb == NULL || (size_t)(rb - s) + 1 >= len || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s) - 1;
		if (hl == 0 || hl >= sizeof host)
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = rb + 1;
		if (inet_pton(AF_INET6, host, addr) != 1)
			return -1;
	} else {
		colon = NULL;
		for (size_t i = len; i > 0; i--)
			if (s[i - 1] == ':') {
				colon = s + i - 1;
				break;
			}
		if (colon == NULL) {
			colon = s - 1;    /* just a port */
			hl = 0;
		} else
			hl = (size_t)(colon - s);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (hl == 0)
			strcpy(host, "127.0.0.1");
		else if (inet_pton(AF_INET, host, addr) != 1)
			return -1;
	}
	if ((size_t)(s + len - (colon + 1)) == 0 || (size_t)(s + len - (colon + 1)) >= sizeof port)
		return -1;
	memcpy(port, colon + 1, (size_t)(s + len - (colon + 1)));
	port[s + len - (colon + 1)] = '\0';
	if (util_parse_i64(port, 1, 65535, &p) < 0)
		return -1;
	strcpy(c->listen_host, host);
	c->listen_port = (uint16_t)p;
	return 0;
}

static const struct key *
find_key(const char *s, size_t n)
{
	size_t lo = 0, hi = UTIL_NELEM(keys);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strncmp(keys[mid].name, s, n);
		if (d == 0 && keys[mid].name[n] != '\0')
			d = 1;
		if (d == 0)
			return &keys[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Parses a size with an optional k/K or m/M suffix (binary). */
static int
parse_size(const char *v, size_t n, uint64_t *out)
{
	char buf[32];
	uint64_t mul = 1;
	int64_t x;

	if (n > 0 && (v[n - 1] == 'k' || v[n - 1] == 'K')) {
		mul = 1024;
		n--;
	} else if (n > 0 && (v[n - 1] == 'm' || v[n - 1] == 'M')) {
		mul = 1024 * 1024;
		n--;
	}
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (util_parse_i64(buf, 0, INT64_MAX / (1024 * 1024), &x) < 0)
		return -1;
	*out = (uint64_t)x * mul;
	return 0;
}

static void
set_value(struct config *c, const struct key *k, const char *v, size_t n,
    struct errs *e, unsigned line, unsigned col)
{
	char buf[32];
	uint64_t x = 0;
	int64_t i;

	switch (k->type) {
	case K_LISTEN:
		if (config_parse_listen(c, v, n) < 0)
			err_at(e, line, col, "invalid listen address, expected HOST:PORT or [IPV6]:PORT");
		return;
	case K_PATH:
		if (n >= CONFIG_PATH_MAX) {
			err_at(e, line, col, "path too long (at most %d bytes)", CONFIG_PATH_MAX - 1);
			return;
		}
		memcpy((char *)c + k->off, v, n);
		((char *)c + k->off)[n] = '\0';
		return;
	case K_SIZE:
		if (parse_size(v, n, &x) < 0) {
			err_at(e, line, col, "invalid size for \"%s\", expected a number with an optional k or m suffix", k->name);
			return;
		}
		break;
	case K_UINT:
		if (n == 0 || n >= sizeof buf) {
			err_at(e, line, col, "invalid number for \"%s\"", k->name);
			return;
		}
		memcpy(buf, v, n);
		buf[n] = '\0';
		if (util_parse_i64(buf, 0, INT64_MAX, &i) < 0) {
			err_at(e, line, col, "invalid number for \"%s\"", k->name);
			return;
		}
		x = (uint64_t)i;
		break;
	}
	if (x < k->min || x > k->max) {
		err_at(e, line, col, "\"%s\" must be between %llu and %llu", k->name,
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return;
	}
	if (k->type == K_SIZE)
		*(size_t *)(void *)((char *)c + k->off) = (size_t)x;
	else
		*(unsigned *)(void *)((char *)c + k->off) = (unsigned)x;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

int
config_parse(struct config *c, const char *name, const char *text, size_t len,
    char *errbuf, size_t errsz)
{
	struct errs e = { name, errbuf, errsz, 0, 0 };
	unsigned char seen[UTIL_NELEM(keys)] = { 0 };
	size_t pos = 0;
	unsigned line = 0;

	if (errsz > 0)
		errbuf[0] = '\0';
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos, i = 0, ks, kn, vs, vn;
		const struct key *k;

		pos += ll + (nl ? 1 : 0);
		line++;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll > CONFIG_MAX_LINE) {
			err_at(&e, line, 1, "line too long (at most %d bytes)", CONFIG_MAX_LINE);
			continue;
		}
		if (util_utf8_valid(l, ll) != 0) {
			err_at(&e, line, 1, "invalid UTF-8 or NUL byte");
			continue;
		}
		/* strip a comment (values never contain '#') */
		for (size_t j = 0; j < ll; j++)
			if (l[j] == '#') {
				ll = j;
				break;
			}
		while (i < ll && is_space(l[i]))
			i++;
		if (i == ll)
			continue;
		ks = i;
		while (i < ll && !is_space(l[i]))
			i++;
		kn = i - ks;
		while (i < ll && is_space(l[i]))
			i++;
		vs = i;
		while (ll > vs && is_space(l[ll - 1]))
			ll--;
		vn = ll - vs;
		k = find_key(l + ks, kn);
		if (k == NULL) {
			err_at(&e, line, (unsigned)ks + 1, "unknown setting \"%.*s\"",
			    (int)(kn > 64 ? 64 : kn), l + ks);
			continue;
		}
		if (seen[k - keys]) {
			err_at(&e, line, (unsigned)ks + 1, "\"%s\" is duplicate", k->name);
			continue;
		}
		seen[k - keys] = 1;
		if (vn == 0) {
			err_at(&e, line, (unsigned)(ks + kn) + 1, "\"%s\" needs a value", k->name);
			continue;
		}
		for (size_t j = vs; j < vs + vn; j++)
			if (is_space(l[j]) && k->type != K_PATH) {
				err_at(&e, line, (unsigned)j + 1, "unexpected text after the value");
				vn = 0;
				break;
			}
		if (vn == 0)
			continue;
		set_value(c, k, l + vs, vn, &e, line, (unsigned)vs + 1);
	}
	return e.count ? -1 : 0;
}

int
config_load(struct config *c, const char *path, char *errbuf, size_t errsz)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (util_read_file(path, CONFIG_MAX_FILE, &text, &len) < 0) {
		snprintf(errbuf, errsz, "%s: %s\n", path,
		    errno == EFBIG ? "file too large" : strerror(errno));
		return -1;
	}
	rc = config_parse(c, path, text, len, errbuf, errsz);
	free(text);
	return rc;
}

int
config_default_policy(char *out, size_t outsz)
{
	const char *env = getenv("DMVGATE_POLICY");
	char exe[CONFIG_PATH_MAX];
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(out, outsz, "%s", env);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(out, outsz, "%s/policy/default.policy", exe) < outsz &&
			    access(out, R_OK) == 0)
				return 0;
		}
	}
	snprintf(out, outsz, "/etc/dmvgate/default.policy");
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, outsz, "/usr/share/dmvgate/default.policy");
	return access(out, R_OK) == 0 ? 0 : -1;
}
