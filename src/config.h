/*
 * config.h - the server's configuration file (docs/config.md).
 *
 * One setting per line, `key value`, `#` starts a comment; blank lines are
 * ignored; a key may appear once.  Every error is reported as
 * "FILE:LINE:COL: message" and the whole file is rejected: a configuration
 * is parsed into a fresh struct and only used when it parsed completely.
 */
#ifndef DMVGATE_CONFIG_H
#define DMVGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_FILE (64 * 1024)   /* bytes of configuration text */
#define CONFIG_MAX_LINE 1024          /* bytes in one line */
#define CONFIG_PATH_MAX 1024          /* bytes in a path value */

struct config {
	char listen_host[64];         /* "127.0.0.1" (IPv4 or IPv6 literal) */
	uint16_t listen_port;         /* 8080 */
	unsigned threads;             /* MHD worker threads (0 = CPU count) */
	char data[CONFIG_PATH_MAX];   /* "" = --data / $DMVGATE_DATA / ./var */
	char policy[CONFIG_PATH_MAX]; /* "" = the built-in default path */
	size_t max_body;              /* bytes; larger bodies get 413 */
	size_t max_header;            /* bytes of request line + headers */
	unsigned max_connections;
	unsigned connection_timeout;  /* seconds of inactivity */
	unsigned checkpoint_interval; /* seconds between signed checkpoints */
	unsigned name_candidates;     /* most records a name+dob query returns */
	unsigned max_records;         /* most records any query returns */
	unsigned report_k;            /* public report: counts 1..k-1 shown as "<k" */
	char tls_cert[CONFIG_PATH_MAX];      /* "" = plain HTTP; else PEM certificate chain */
	char tls_key[CONFIG_PATH_MAX];       /* PEM private key of tls_cert */
	char tls_client_ca[CONFIG_PATH_MAX]; /* "" = no client certificates asked */
	char user[CONFIG_PATH_MAX];          /* "" = stay; else drop to this user (privdrop.h) */
};

/* Fills c with the defaults above. */
void config_defaults(struct config *c);

/*
 * Parses text (len bytes, need not be NUL-terminated) named name into c,
 * which must hold defaults first.  Errors are written, one line each, to
 * errbuf (errsz bytes, NUL-terminated, truncated if needed).  Returns 0,
 * or -1 when any error was found (c is then unspecified: use a scratch
 * copy).
 */
int config_parse(struct config *c, const char *name, const char *text, size_t len,
    char *errbuf, size_t errsz);

/* Reads and parses a file (at most CONFIG_MAX_FILE bytes); as above. */
int config_load(struct config *c, const char *path, char *errbuf, size_t errsz);

/*
 * Parses "HOST:PORT" or "[V6]:PORT" (or just ":PORT" / "PORT") into c's
 * listen fields.  Returns 0 or -1.
 */
int config_parse_listen(struct config *c, const char *s, size_t len);

/*
 * The policy file used when none is configured: $DMVGATE_POLICY, else
 * policy/default.policy next to the running binary (the source tree),
 * else /etc/dmvgate/default.policy, else /usr/share/dmvgate/default.policy.
 * Writes the first that exists into out (or the last candidate when none
 * does).  Returns 0 when it exists, -1 otherwise.
 */
int config_default_policy(char *out, size_t outsz);

#endif /* DMVGATE_CONFIG_H */
