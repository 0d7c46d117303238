/*
 * norm.h - normalization of names and addresses into lookup keys, so that
 * "José García-López", "JOSE GARCIA LOPEZ" and "jose garcia-lopez" find
 * the same person, and "123 Main Street, Apt 4" the same household as
 * "123 MAIN ST APT 4".
 *
 * Names: Latin letters with accents are folded to A-Z, letters and digits
 * kept, everything else (spaces, hyphens, apostrophes, periods) dropped,
 * upper case.  Letters of other scripts are kept as they are.
 * Addresses: the same folding, punctuation to spaces, common street
 * suffixes, directions and unit words abbreviated (USPS Pub. 28 style),
 * single spaces; the key is "STREET|CITY|ZIP5".
 */
#ifndef DMVGATE_NORM_H
#define DMVGATE_NORM_H

#include <stddef.h>

#define NORM_KEY_MAX 512   /* the longest key produced, with NUL */

/* Writes the normalized name into out (outsz bytes, NUL-terminated).
 * Returns its length, or -1 when it did not fit or the input was not
 * valid UTF-8. */
int norm_name(const char *in, size_t len, char *out, size_t outsz);

/* "LAST|FIRST" name key; same return convention. */
int norm_name_key(const char *last, size_t llen, const char *first, size_t flen,
    char *out, size_t outsz);

/* "STREET|CITY|ZIP5" address key; same return convention.  zip may be
 * ZIP+4; only the first five digits are kept. */
int norm_address_key(const char *street, size_t slen, const char *city, size_t clen,
    const char *zip, size_t zlen, char *out, size_t outsz);

/* Plates: upper case, spaces and hyphens dropped.  Same convention. */
int norm_plate(const char *in, size_t len, char *out, size_t outsz);

#endif /* DMVGATE_NORM_H */
