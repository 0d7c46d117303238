/*
 * server_tls.h - HTTPS for `dmvgate serve` (docs/security.md): the server's
 * certificate and key and the client-certificate authorities, read into
 * memory and handed to libmicrohttpd (GnuTLS); the SHA-256 fingerprint of
 * the certificate a client presented, for `agency bind-cert`.
 *
 * The TLS private key is read once, before privileges are dropped, kept
 * only in this module's memory (and GnuTLS's) and wiped when freed.  It is
 * never printed.
 */
#ifndef DMVGATE_SERVER_TLS_H
#define DMVGATE_SERVER_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#define SERVER_TLS_FILE_MAX (1024 * 1024)  /* bytes in one PEM file */
#define SERVER_TLS_NOPTS 5                 /* option items server_tls_options fills, END included */

struct server_tls;

/*
 * Reads the PEM certificate chain cert, its private key key and, when
 * client_ca is not NULL or "", the PEM certificate authorities that sign
 * client certificates.  Checks with GnuTLS that the key matches the
 * certificate.  Returns a new struct (free with server_tls_free) or NULL
 * with a message on stderr.
 */
struct server_tls *server_tls_load(const char *cert, const char *key, const char *client_ca);

/* Wipes the key and frees t (NULL is fine). */
void server_tls_free(struct server_tls *t);

/*
 * Fills opts (at least SERVER_TLS_NOPTS items, ending with MHD_OPTION_END)
 * with the options that make an MHD daemon speak TLS with t, for
 * MHD_OPTION_ARRAY, and returns the daemon flag to add (MHD_USE_TLS).
 * With t NULL it fills only MHD_OPTION_END and returns 0.  The items point
 * into t, which must outlive the daemon.
 */
unsigned server_tls_options(const struct server_tls *t, struct MHD_OptionItem *opts);

/*
 * The client certificate of conn: when the connection is TLS and the
 * client presented a certificate that verifies against the configured
 * client authorities, writes SHA-256 of its DER encoding to out and
 * returns 1; returns 0 when there is none (plain HTTP, no certificate, or
 * one that does not verify).  No allocation is kept.
 */
int server_tls_peer_sha256(struct MHD_Connection *conn, uint8_t out[32]);

/*
 * Parses a SHA-256 fingerprint: 64 hex digits, either case, optionally in
 * pairs separated by ':' (as `openssl x509 -fingerprint -sha256` prints),
 * optionally after "sha256:" or "SHA256 Fingerprint=".  0 or -1.
 */
int server_tls_fingerprint_parse(const char *s, uint8_t out[32]);

/*
 * SHA-256 of the first certificate of a PEM file (what bind-cert wants),
 * into out.  0, or -1 with a message on stderr.
 */
int server_tls_file_fingerprint(const char *pem_path, uint8_t out[32]);

#endif /* DMVGATE_SERVER_TLS_H */
