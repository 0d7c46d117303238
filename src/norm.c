/*
 * norm.c - name and address normalization (see norm.h).  Accent folding
 * covers Latin-1, Latin Extended-A, the Vietnamese block and a few
 * letters from Latin Extended-B; that is what DMV name fields hold.
 */
#include "norm.h"

#include <string.h>

#include "util.h"

/* Folding of U+00C0..U+00FF; '\0' means drop, '*' means a two-letter form. */
static const char latin1[64] =
    "AAAAAA*CEEEEIIII"  /* C0-CF, C6 = AE */
    "DNOOOOO\0OUUUUY**" /* D0-DF, D7 = x (drop), DE = TH, DF = SS */
    "AAAAAA*CEEEEIIII"  /* E0-EF */
    "DNOOOOO\0OUUUUY*Y";/* F0-FF, FE = TH */

/* Folding of U+0100..U+017F (upper case). */
static const char latin_ext_a[129] =
    "AAAAAACCCCCCCCDDDDEEEEEEEEEEGGGGGGGGHHHHIIIIIIIIII**JJKKKLLLLLLLLLL"
    "NNNNNNNNNOOOOOO**RRRRRRSSSSSSSSTTTTTTUUUUUUUUUUUUWWYYYZZZZZZS";

struct out {
	char *p;
	size_t n, sz;
	int overflow;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n + 1 > o->sz) {
		o->overflow = 1;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

/*
 * Folds one code point into upper-case ASCII.  Writes up to 4 bytes into
 * buf; returns the count, 0 to drop it, or -1 for "a separator".
 */
static int
fold(long cp, char buf[4])
{
	if (cp < 0x80) {
		char c = (char)cp;
		if (c >= 'a' && c <= 'z') {
			buf[0] = (char)(c - 'a' + 'A');
			return 1;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			buf[0] = c;
			return 1;
		}
		return -1;
	}
	if (cp >= 0xc0 && cp <= 0xff) {
		char f = latin1[cp - 0xc0];
		if (f == '\0')
			return -1;
		if (f != '*') {
			buf[0] = f;
			return 1;
		}
		switch (cp) {
		case 0xc6: case 0xe6: memcpy(buf, "AE", 2); return 2;
		case 0xde: case 0xfe: memcpy(buf, "TH", 2); return 2;
		default: memcpy(buf, "SS", 2); return 2;
		}
	}
	if (cp >= 0x100 && cp <= 0x17f) {
		char f = latin_ext_a[cp - 0x100];
		if (f != '*') {
			buf[0] = f;
			return 1;
		}
		if (cp == 0x132 || cp == 0x133) {
			memcpy(buf, "IJ", 2);
			return 2;
		}
		memcpy(buf, "OE", 2);
		return 2;
	}
	if (cp == 0x1a0 || cp == 0x1a1) {
		buf[0] = 'O';
		return 1;
	}
	if (cp == 0x1af || cp == 0x1b0) {
		buf[0] = 'U';
		return 1;
	}
	if (cp >= 0x1ea0 && cp <= 0x1ef9) {
		long o = cp - 0x1ea0;
		buf[0] = o < 24 ? 'A' : o < 40 ? 'E' : o < 44 ? 'I' : o < 68 ? 'O' : o < 82 ? 'U' : 'Y';
		return 1;
	}
	if (cp == 0x2019 || cp == 0x2018 || cp == 0x2010 || cp == 0x2013 || cp == 0xa0 ||
	    (cp >= 0x300 && cp <= 0x36f))
		return cp >= 0x300 && cp <= 0x36f ? 0 : -1; /* combining marks drop */
	/* Another script's letter: keep its UTF-8 bytes. */
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (cp >> 18));
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Appends the folded form of in to o.  With words, separators become one
 * space between words; without, they are dropped.  Returns 0 or -1.
 */
static int
fold_into(struct out *o, const char *in, size_t len, int words)
{
	size_t i = 0, start = o->n;
	int pending_space = 0;
	char buf[4];

	while (i < len) {
		long cp = util_utf8_decode(in, len, &i);
		int k;

		if (cp < 0)
			return -1;
		k = fold(cp, buf);
		if (k < 0) {
			if (words && o->n > start)
				pending_space = 1;
			continue;
		}
		if (k == 0)
			continue;
		if (pending_space) {
			put(o, " ", 1);
			pending_space = 0;
		}
		put(o, buf, (size_t)k);
	}
	return o->overflow ? -1 : 0;
}

int
norm_name(const char *in, size_t len, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, 0 };

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (fold_into(&o, in, len, 0) < 0)
		return -1;
	return (int)o.n;
}

int
norm_name_key(const char *last, size_t llen, const char *first, size_t flen, char *out,
    size_t outsz)
{
	struct out o = { out, 0, outsz, 0 };

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (fold_into(&o, last, llen, 0) < 0)
		return -1;
	put(&o, "|", 1);
	if (fold_into(&o, first, flen, 0) < 0 || o.overflow)
		return -1;
	return (int)o.n;
}

/* USPS Publication 28 abbreviations for the words DMV addresses use. */
static const struct {
	const char *word, *abbr;
} abbrevs[] = {
	{ "ALLEY", "ALY" }, { "APARTMENT", "APT" }, { "AVENUE", "AVE" },
	{ "BOULEVARD", "BLVD" }, { "CIRCLE", "CIR" }, { "COURT", "CT" },
	{ "DRIVE", "DR" }, { "EAST", "E" }, { "EXPRESSWAY", "EXPY" },
	{ "FREEWAY", "FWY" }, { "HIGHWAY", "HWY" }, { "LANE", "LN" },
	{ "NORTH", "N" }, { "NORTHEAST", "NE" }, { "NORTHWEST", "NW" },
	{ "NUMBER", "APT" }, { "PARKWAY", "PKWY" }, { "PLACE", "PL" },
	{ "ROAD", "RD" }, { "ROUTE", "RTE" }, { "SOUTH", "S" },
	{ "SOUTHEAST", "SE" }, { "SOUTHWEST", "SW" }, { "SQUARE", "SQ" },
	{ "STREET", "ST" }, { "SUITE", "STE" }, { "TERRACE", "TER" },
	{ "TRAIL", "TRL" }, { "UNIT", "APT" }, { "WEST", "W" },
	{ "STE", "APT" }, { "APT", "APT" },
};

/* Rewrites the words of a folded street in place with abbreviations. */
static int
abbreviate(char *s, size_t *n, size_t sz)
{
	char tmp[NORM_KEY_MAX];
	size_t o = 0, i = 0;

	while (i < *n) {
		size_t j = i;
		const char *w;
		size_t wl;

		while (j < *n && s[j] != ' ')
			j++;
		w = s + i;
		wl = j - i;
		for (size_t k = 0; k < UTIL_NELEM(abbrevs) && wl > 1; k++) {
			/* Every address of a load passes here: no strlen per word. */
			if (abbrevs[k].word[0] == w[0] && strncmp(abbrevs[k].word, w, wl) == 0 &&
			    abbrevs[k].word[wl] == '\0') {
				w = abbrevs[k].abbr;
				wl = strlen(w);
				break;
			}
		}
		if (o + wl + 2 > sizeof tmp)
			return -1;
		if (o > 0)
			tmp[o++] = ' ';
		memcpy(tmp + o, w, wl);
		o += wl;
		i = j + 1;
	}
	if (o + 1 > sz)
		return -1;
	memcpy(s, tmp, o);
	s[o] = '\0';
	*n = o;
	return 0;
}

int
norm_address_key(const char *street, size_t slen, const char *city, size_t clen,
    const char *zip, size_t zlen, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, 0 };
	size_t n, zn = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (fold_into(&o, street, slen, 1) < 0)
		return -1;
	n = o.n;
	if (abbreviate(out, &n, outsz) < 0)
		return -1;
	o.n = n;
	put(&o, "|", 1);
	if (fold_into(&o, city, clen, 1) < 0)
		return -1;
	put(&o, "|", 1);
	for (size_t i = 0; i < zlen && zn < 5; i++) {
		if (zip[i] >= '0' && zip[i] <= '9') {
			put(&o, zip + i, 1);
			zn++;
		} else if (zip[i] != ' ') {
			break;
		}
	}
	return o.overflow ? -1 : (int)o.n;
}

int
norm_plate(const char *in, size_t len, char *out, size_t outsz)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == ' ' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return -1;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = c;
	}
	if (outsz == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}
