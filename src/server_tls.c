/*
 * server_tls.c - HTTPS and client certificates for the gateway (see
 * server_tls.h, docs/security.md).
 *
 * libmicrohttpd does the TLS with GnuTLS: MHD_OPTION_HTTPS_MEM_CERT/KEY
 * give it the server's certificate and key, MHD_OPTION_HTTPS_MEM_TRUST the
 * authorities of client certificates (it then asks every client for one,
 * GNUTLS_CERT_REQUEST: a client without one still connects).  Whether a
 * presented certificate is acceptable is decided here, per request, by
 * gnutls_certificate_verify_peers2 against those authorities; the
 * registry then compares its fingerprint with the agency's bindings.
 */
#include "server_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/sha2.h>

#include "util.h"

struct server_tls {
	char *cert;       /* PEM, NUL-terminated */
	char *key;        /* PEM private key; wiped on free */
	size_t keylen;
	char *ca;         /* PEM authorities of client certificates, or NULL */
};

void
server_tls_free(struct server_tls *t)
{
	if (t == NULL)
		return;
	if (t->key != NULL)
		util_wipe(t->key, t->keylen);
	free(t->key);
	free(t->cert);
	free(t->ca);
	free(t);
}

static int
read_pem(const char *path, const char *what, char **out, size_t *len)
{
	if (util_read_file(path, SERVER_TLS_FILE_MAX, out, len) < 0) {
		util_warn("serve: cannot read the TLS %s %s", what, path);
		return -1;
	}
	if (*len == 0 || strstr(*out, "-----BEGIN ") == NULL) {
		util_errx("serve: the TLS %s %s is not PEM", what, path);
		return -1;
	}
	return 0;
}

/* Checks with GnuTLS that the certificate and key load and match. */
static int
check_pair(const struct server_tls *t, const char *certpath)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t c, k;
	int rc = -1, e;

	if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS)
		goto out;
	c.data = (unsigned char *)t->cert;
	c.size = (unsigned)strlen(t->cert);
	k.data = (unsigned char *)t->key;
	k.size = (unsigned)t->keylen;
	e = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	if (e < 0) {
		util_errx("serve: TLS certificate %s and its key: %s", certpath, gnutls_strerror(e));
		goto out;
	}
	if (t->ca != NULL) {
		gnutls_datum_t a = { (unsigned char *)t->ca, (unsigned)strlen(t->ca) };
		e = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
		if (e <= 0) {
			util_errx("serve: no usable client certificate authority: %s",
			    e < 0 ? gnutls_strerror(e) : "no certificate found");
			goto out;
		}
	}
	rc = 0;
out:
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	return rc;
}

struct server_tls *
server_tls_load(const char *cert, const char *key, const char *client_ca)
{
	struct server_tls *t = util_calloc(1, sizeof *t);
	size_t n;

	if (t == NULL)
		return NULL;
	if (read_pem(cert, "certificate", &t->cert, &n) < 0 ||
	    read_pem(key, "key", &t->key, &t->keylen) < 0)
		goto fail;
	if (client_ca != NULL && client_ca[0] != '\0' &&
	    read_pem(client_ca, "client certificate authority", &t->ca, &n) < 0)
		goto fail;
	if (check_pair(t, cert) < 0)
		goto fail;
	return t;
fail:
	server_tls_free(t);
	return NULL;
}

unsigned
server_tls_options(const struct server_tls *t, struct MHD_OptionItem *opts)
{
	size_t i = 0;

	if (t != NULL) {
		opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert };
		opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, t->key };
		opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)(uintptr_t)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
		if (t->ca != NULL)
			opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca };
	}
	opts[i] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return t != NULL ? MHD_USE_TLS : 0;
}

int
server_tls_peer_sha256(struct MHD_Connection *conn, uint8_t out[32])
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *certs;
	gnutls_session_t sess;
	unsigned n = 0, status = 0;
	struct sha256_ctx h;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return 0;
	sess = (gnutls_session_t)ci->tls_session;
	if (gnutls_certificate_type_get(sess) != GNUTLS_CRT_X509)
		return 0;
	certs = gnutls_certificate_get_peers(sess, &n);
	if (certs == NULL || n == 0 || certs[0].size == 0)
		return 0;
	if (gnutls_certificate_verify_peers2(sess, &status) != GNUTLS_E_SUCCESS || status != 0)
		return 0;
	sha256_init(&h);
	sha256_update(&h, certs[0].size, certs[0].data);
	sha256_digest(&h, 32, out);
	return 1;
}

int
server_tls_fingerprint_parse(const char *s, uint8_t out[32])
{
	static const char *const prefixes[] = { "sha256 Fingerprint=", "SHA256 Fingerprint=",
	    "sha256:", "SHA256:" };
	size_t n = 0;

	for (size_t i = 0; i < UTIL_NELEM(prefixes); i++)
		if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) {
			s += strlen(prefixes[i]);
			break;
		}
	while (*s != '\0' && n < 32) {
		if (util_unhex(s, 2, &out[n], 1) < 0)   /* (stops at a NUL in s[1]) */
			return -1;
		n++;
		s += 2;
		if (*s == ':' && n < 32)
			s++;
	}
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	return n == 32 && *s == '\0' ? 0 : -1;
}

int
server_tls_file_fingerprint(const char *pem_path, uint8_t out[32])
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in, der = { NULL, 0 };
	struct sha256_ctx h;
	char *text = NULL;
	size_t len;
	int rc = -1, e;

	if (util_read_file(pem_path, SERVER_TLS_FILE_MAX, &text, &len) < 0) {
		util_warn("%s", pem_path);
		return -1;
	}
	in.data = (unsigned char *)text;
	in.size = (unsigned)len;
	if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
		goto out;
	if ((e = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM)) < 0 ||
	    (e = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0) {
		util_errx("%s: not a PEM certificate: %s", pem_path, gnutls_strerror(e));
		goto out;
	}
	sha256_init(&h);
	sha256_update(&h, der.size, der.data);
	sha256_digest(&h, 32, out);
	rc = 0;
out:
	gnutls_free(der.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	free(text);
	return rc;
}
