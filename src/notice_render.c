/*
 * notice_render.c - the letter to a data subject (see notice.h and
 * docs/notices.md), in plain English and Spanish, as a self-contained
 * printable HTML page (inline style, no external resource, one language
 * per printed page) and as plain text wrapped at 72 columns.
 *
 * A letter says only what the person is entitled to: which agency asked
 * (its name and what kind of agency it is), when, the purpose it gave, the
 * legal process it cited, whether anything was released and what, and how
 * to ask for the full access history.  It never shows the requesting
 * officer, the request's free-text reason, policy rule names or any other
 * person's data, and the license number appears only by its last four
 * characters.  Every value from the database is HTML-escaped.
 */
#include "notice.h"

#include <stdarg.h>
#include <string.h>

#include "util.h"

enum lang { EN, ES };

struct out {
	FILE *f;
	int html;
	int err;
};

struct phrase {
	const char *key;
	const char *en, *es;
};

static const struct phrase purposes[] = {
	{ "criminal_investigation", "a criminal investigation", "una investigación penal" },
	{ "traffic_enforcement", "traffic enforcement", "el control del tránsito" },
	{ "dmv_administration", "DMV administration", "la administración del DMV" },
	{ "court_proceeding", "a court case", "un proceso judicial" },
	{ "service_of_process", "delivering court papers",
	  "la entrega de documentos judiciales" },
	{ "research_statistics", "research or statistics", "investigación o estadísticas" },
	{ "insurance_claim", "an insurance claim", "un reclamo de seguro" },
	{ "insurance_underwriting", "insurance underwriting", "la evaluación de un seguro" },
	{ "towed_vehicle_notice", "a notice about a towed vehicle",
	  "un aviso sobre un vehículo remolcado" },
	{ "cdl_verification", "checking a commercial driver license",
	  "la verificación de una licencia de conducir comercial" },
	{ "civil_immigration_enforcement", "civil immigration enforcement",
	  "el control migratorio civil" },
};

static const struct phrase categories[] = {
	{ "local_police", "a local police agency", "una agencia de policía local" },
	{ "state_police", "a state police agency", "una agencia de policía estatal" },
	{ "federal_criminal", "a federal law enforcement agency",
	  "una agencia federal de investigación penal" },
	{ "federal_immigration", "a federal immigration agency",
	  "una agencia federal de inmigración" },
	{ "court", "a court", "un tribunal" },
	{ "insurer", "an insurance company", "una compañía de seguros" },
	{ "employer_cdl", "an employer of commercial drivers",
	  "un empleador de conductores comerciales" },
	{ "tow_operator", "a towing company", "una compañía de grúas" },
	{ "dmv", "the DMV", "el DMV" },
	{ "researcher", "a research organization", "una organización de investigación" },
};

static const struct phrase kinds[] = {
	{ "judicial_warrant", "a warrant signed by a judge", "una orden firmada por un juez" },
	{ "court_order", "a court order", "una orden de un tribunal" },
	{ "judicial_subpoena", "a subpoena issued by a court",
	  "una citación (subpoena) emitida por un tribunal" },
	{ "grand_jury_subpoena", "a grand jury subpoena",
	  "una citación (subpoena) de un gran jurado" },
	{ "administrative_subpoena", "an administrative subpoena (not signed by a judge)",
	  "una citación administrativa (no firmada por un juez)" },
	{ "administrative_warrant", "an administrative warrant (not signed by a judge)",
	  "una orden administrativa (no firmada por un juez)" },
};

/* Released items in plain words: each group is named once, in this order. */
struct item_group {
	field_mask mask;
	const char *en, *es;
};
#define B(f) FIELD_BIT(FIELD_##f)
static const struct item_group item_groups[] = {
	{ B(LAST_NAME) | B(FIRST_NAME) | B(MIDDLE_NAME) | B(SUFFIX), "your name", "su nombre" },
	{ B(LICENSE_NUMBER), "your driver license number",
	  "su número de licencia de conducir" },
	{ B(DOB), "your date of birth", "su fecha de nacimiento" },
	{ B(SEX), "your sex", "su sexo" },
	{ B(HEIGHT_IN) | B(WEIGHT_LB) | B(EYE_COLOR) | B(HAIR_COLOR),
	  "your physical description (height, weight, eye and hair color)",
	  "su descripción física (estatura, peso, color de ojos y de cabello)" },
	{ B(STREET) | B(CITY) | B(STATE) | B(ZIP), "your address", "su dirección" },
	{ B(LICENSE_CLASS) | B(STATUS) | B(RESTRICTIONS) | B(ENDORSEMENTS) | B(ISSUED) |
	  B(EXPIRES), "details of your license (class, status, restrictions, dates)",
	  "los datos de su licencia (clase, estado, restricciones, fechas)" },
	{ B(LICENSE_KIND), "the type of your license", "el tipo de su licencia" },
	{ B(SSN), "your Social Security number", "su número de Seguro Social" },
	{ B(PLACE_OF_BIRTH), "your place of birth", "su lugar de nacimiento" },
	{ B(DOCUMENTS), "the documents you showed to get your license",
	  "los documentos que presentó para obtener su licencia" },
	{ B(PHOTO_ID), "the reference number of your photograph",
	  "el número de referencia de su fotografía" },
	{ B(PHOTO), "your photograph", "su fotografía" },
	{ B(HISTORY), "your driving history (tickets, accidents, suspensions)",
	  "su historial de manejo (multas, accidentes, suspensiones)" },
	{ B(PLATE) | B(PLATE_STATE) | B(PLATE_TYPE) | B(PLATE_EXPIRES) | B(VIN) | B(MAKE) |
	  B(MODEL) | B(MODEL_YEAR) | B(COLOR) | B(BODY_STYLE) | B(REGISTRATION_STATUS),
	  "the registration of your vehicles", "el registro de sus vehículos" },
	{ B(OWNER_LICENSE_NUMBER) | B(OWNER_NAME) | B(OWNER_STREET) | B(OWNER_CITY) |
	  B(OWNER_STATE) | B(OWNER_ZIP), "your name and address as a vehicle owner",
	  "su nombre y dirección como propietario de un vehículo" },
};
#undef B

static const char *const months_en[12] = { "January", "February", "March", "April", "May",
	"June", "July", "August", "September", "October", "November", "December" };
static const char *const months_es[12] = { "enero", "febrero", "marzo", "abril", "mayo",
	"junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre" };

/* The phrase for key, or key itself with '_' shown as ' ' (in buf). */
static const char *
phrase(const struct phrase *t, size_t n, const char *key, enum lang l, char *buf, size_t bufsz)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0)
			return l == EN ? t[i].en : t[i].es;
	if (util_strlcpy(buf, key, bufsz) < 0)
		buf[0] = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '_')
			*p = ' ';
	return buf;
}

static void
date_words(int32_t day, enum lang l, char *out, size_t outsz)
{
	int y;
	unsigned m, d;

	util_civil_from_days(day, &y, &m, &d);
	if (l == EN)
		snprintf(out, outsz, "%s %u, %d", months_en[m - 1], d, y);
	else
		snprintf(out, outsz, "%u de %s de %d", d, months_es[m - 1], y);
}

/* ---- output: HTML-escaped or wrapped plain text ---- */

static void
put(struct out *o, const char *s)
{
	if (fputs(s, o->f) == EOF)
		o->err = 1;
}

static void
put_escaped(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': put(o, "&amp;"); break;
		case '<': put(o, "&lt;"); break;
		case '>': put(o, "&gt;"); break;
		case '"': put(o, "&quot;"); break;
		case '\'': put(o, "&#39;"); break;
		default:
			if (fputc(*s, o->f) == EOF)
				o->err = 1;
		}
	}
}

/* Display width of a UTF-8 string prefix of n bytes (code points). */
static size_t
width(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/* Writes s word-wrapped at 72 columns, starting at column col, with
 * continuation lines indented by indent. */
static void
put_wrapped(struct out *o, const char *s, size_t col, size_t indent)
{
	int linestart = 1;

	while (*s != '\0') {
		size_t n = strcspn(s, " "), w = width(s, n);

		if (!linestart && col + 1 + w > 72) {
			put(o, "\n");
			for (col = 0; col < indent; col++)
				put(o, " ");
		} else if (!linestart) {
			put(o, " ");
			col++;
		}
		if (fwrite(s, 1, n, o->f) != n)
			o->err = 1;
		col += w;
		linestart = 0;
		s += n;
		while (*s == ' ')
			s++;
	}
	put(o, "\n");
}

static void UTIL_PRINTF(2, 3)
para(struct out *o, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (o->html) {
		put(o, "<p>");
		put_escaped(o, buf);
		put(o, "</p>\n");
	} else {
		put_wrapped(o, buf, 0, 0);
		put(o, "\n");
	}
}

static void
heading(struct out *o, const char *s)
{
	if (o->html) {
		put(o, "<h2>");
		put_escaped(o, s);
		put(o, "</h2>\n");
	} else {
		put(o, s);
		put(o, "\n\n");
	}
}

static void
row(struct out *o, const char *label, const char *value)
{
	if (o->html) {
		put(o, "<tr><th>");
		put_escaped(o, label);
		put(o, "</th><td>");
		put_escaped(o, value);
		put(o, "</td></tr>\n");
	} else {
		char buf[2048];

		snprintf(buf, sizeof buf, "%s: %s", label, value);
		put(o, "  ");
		put_wrapped(o, buf, 2, 4);
	}
}

/* ---- the letter ---- */

static void
items_words(field_mask m, enum lang l, char *out, size_t outsz)
{
	size_t len = 0;
	int first = 1;

	out[0] = '\0';
	for (size_t i = 0; i < UTIL_NELEM(item_groups); i++) {
		const char *w;
		int k;

		if (!(m & item_groups[i].mask))
			continue;
		w = l == EN ? item_groups[i].en : item_groups[i].es;
		k = snprintf(out + len, outsz - len, "%s%s", first ? "" : "; ", w);
		if (k < 0 || (size_t)k >= outsz - len)
			break;
		len += (size_t)k;
		first = 0;
	}
}

static void
address_block(struct out *o, const struct notice *n)
{
	char line[256];

	snprintf(line, sizeof line, "%s %s %s", n->city, n->state, n->zip);
	if (o->html) {
		put(o, "<address>");
		put_escaped(o, n->name);
		put(o, "<br>");
		put_escaped(o, n->street);
		put(o, "<br>");
		put_escaped(o, line);
		put(o, "</address>\n");
	} else {
		put(o, n->name);
		put(o, "\n");
		put(o, n->street);
		put(o, "\n");
		put(o, line);
		put(o, "\n\n");
	}
}

static void
letter(struct out *o, const struct notice *n, int32_t letter_day, enum lang l)
{
	char date[64], when[64], tbuf[32], buf1[128], buf2[128], buf3[128], items[1024];
	char process[700], ref[NOTICE_ID_MAX], license[32], hhmm[6];
	const char *who, *why, *kind;
	size_t ln = strlen(n->subject);

	notice_id_format(n->id, ref);
	date_words(letter_day, l, date, sizeof date);
	util_time_format(n->request_us, tbuf);
	memcpy(hhmm, tbuf + 11, 5);
	hhmm[5] = '\0';
	date_words((int32_t)(n->request_us / 86400000000LL), l, when, sizeof when);
	snprintf(when + strlen(when), sizeof when - strlen(when),
	    l == EN ? " at %s UTC" : " a las %s (hora UTC)", hhmm);
	snprintf(license, sizeof license, "%s%s", ln > 4 ? "…" : "",
	    ln > 4 ? n->subject + ln - 4 : n->subject);
	who = phrase(categories, UTIL_NELEM(categories), n->agency_category, l, buf1, sizeof buf1);
	why = phrase(purposes, UTIL_NELEM(purposes), n->purpose, l, buf2, sizeof buf2);
	if (n->legal_process[0] == '\0')
		snprintf(process, sizeof process, "%s", l == EN ? "None." : "Ninguna.");
	else if (n->process_kind[0] == '\0')
		snprintf(process, sizeof process, l == EN ?
		    "The agency cited a reference (%s) that is not registered with us." :
		    "La agencia citó una referencia (%s) que no está registrada con nosotros.",
		    n->legal_process);
	else {
		kind = phrase(kinds, UTIL_NELEM(kinds), n->process_kind, l, buf3, sizeof buf3);
		snprintf(process, sizeof process, l == EN ? "%s, issued by %s, case %s (our reference %s)." :
		    "%s, emitida por %s, caso %s (nuestra referencia %s).", kind, n->process_court,
		    n->process_case, n->legal_process);
		if (process[0] >= 'a' && process[0] <= 'z')
			process[0] = (char)(process[0] - 'a' + 'A');
	}
	items_words(n->items, l, items, sizeof items);

	if (o->html)
		put(o, l == EN ? "<section lang=\"en\">\n" : "<section lang=\"es\">\n");
	if (o->html) {
		put(o, "<header><strong>");
		put(o, l == EN ? "Department of Motor Vehicles — Privacy Office" :
		    "Departamento de Vehículos Motorizados (DMV) — Oficina de Privacidad");
		put(o, "</strong><br>");
		put_escaped(o, date);
		put(o, l == EN ? "<br>Reference: " : "<br>Referencia: ");
		put_escaped(o, ref);
		put(o, "</header>\n");
	} else {
		put(o, l == EN ? "Department of Motor Vehicles - Privacy Office\n" :
		    "Departamento de Vehículos Motorizados (DMV) - Oficina de Privacidad\n");
		fprintf(o->f, "%s\n%s %s\n\n", date, l == EN ? "Reference:" : "Referencia:", ref);
	}
	address_block(o, n);
	heading(o, l == EN ? "An agency asked for information from your DMV record" :
	    "Una agencia pidió información de su expediente del DMV");
	para(o, l == EN ? "Dear %s," : "Estimado/a %s:", n->name[0] ? n->name :
	    (l == EN ? "DMV customer" : "cliente del DMV"));
	para(o, l == EN ?
	    "A government agency asked the Department of Motor Vehicles for information from"
	    " your driver record (license number ending in %s). The law requires us to tell"
	    " you about this kind of request. This letter tells you who asked, when, why,"
	    " and what we did." :
	    "Una agencia del gobierno pidió al Departamento de Vehículos Motorizados"
	    " información de su expediente de conductor (licencia terminada en %s). La ley"
	    " nos obliga a informarle sobre este tipo de pedido. Esta carta le dice quién"
	    " lo pidió, cuándo, por qué y qué hicimos.", license);
	if (o->html)
		put(o, "<table>\n");
	row(o, l == EN ? "Who asked" : "Quién lo pidió", n->agency_name);
	row(o, l == EN ? "Type of agency" : "Tipo de agencia", who);
	row(o, l == EN ? "When" : "Cuándo", when);
	row(o, l == EN ? "Reason the agency gave" : "Motivo que dio la agencia", why);
	row(o, l == EN ? "Legal document the agency cited" : "Documento legal que citó la agencia",
	    process);
	if (strcmp(n->outcome, "permit") == 0 && n->items != 0)
		row(o, l == EN ? "What we did" : "Qué hicimos", l == EN ?
		    "We gave the agency only this information:" :
		    "Le dimos a la agencia solamente esta información:");
	else if (strcmp(n->outcome, "permit") == 0)
		row(o, l == EN ? "What we did" : "Qué hicimos", l == EN ?
		    "We answered, but gave no information from your record." :
		    "Respondimos, pero no dimos información de su expediente.");
	else
		row(o, l == EN ? "What we did" : "Qué hicimos", l == EN ?
		    "We refused the request. We gave no information from your record." :
		    "Rechazamos el pedido. No dimos información de su expediente.");
	if (strcmp(n->outcome, "permit") == 0 && n->items != 0)
		row(o, l == EN ? "Information given" : "Información entregada", items);
	put(o, o->html ? "</table>\n" : "\n");
	para(o, l == EN ?
	    "You do not have to do anything. You may want to talk to a lawyer or a legal aid"
	    " organization about this letter." :
	    "Usted no tiene que hacer nada. Puede hablar con un abogado o con una organización"
	    " de ayuda legal sobre esta carta.");
	para(o, l == EN ?
	    "You have the right to see every time your DMV record was looked up and by whom."
	    " To get this list for free, ask the DMV Privacy Office for your \"record access"
	    " history\" in person at any DMV office or by mail, and give the reference %s." :
	    "Usted tiene derecho a ver cada vez que se consultó su expediente del DMV y quién"
	    " lo hizo. Para obtener esta lista gratis, pida a la Oficina de Privacidad del DMV"
	    " su \"historial de acceso al expediente\" en cualquier oficina del DMV o por"
	    " correo, e indique la referencia %s.", ref);
	para(o, "%s", l == EN ? "DMV Privacy Office" : "Oficina de Privacidad del DMV");
	if (o->html)
		put(o, "</section>\n");
}

static const char css[] =
	"body{font-family:Georgia,'Times New Roman',serif;font-size:12pt;line-height:1.45;"
	"max-width:42em;margin:2em auto;color:#000;background:#fff}"
	"header{margin-bottom:2em}address{font-style:normal;margin-bottom:2em}"
	"h2{font-size:14pt}table{border-collapse:collapse;margin:1em 0}"
	"th,td{text-align:left;vertical-align:top;padding:.3em .6em;border:1px solid #999}"
	"th{width:14em;font-weight:bold}"
	"section+section{break-before:page;page-break-before:always;margin-top:3em}"
	"@media print{body{margin:0}}";

int
notice_render_html(const struct notice *n, int32_t letter_day, FILE *f)
{
	struct out o = { f, 1, 0 };
	char ref[NOTICE_ID_MAX];

	notice_id_format(n->id, ref);
	put(&o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
	put(&o, "DMV notice ");
	put_escaped(&o, ref);
	put(&o, "</title>\n<style>");
	put(&o, css);
	put(&o, "</style>\n</head>\n<body>\n");
	letter(&o, n, letter_day, EN);
	letter(&o, n, letter_day, ES);
	put(&o, "</body>\n</html>\n");
	if (fflush(f) != 0)
		o.err = 1;
	return o.err ? -1 : 0;
}

int
notice_render_text(const struct notice *n, int32_t letter_day, FILE *f)
{
	struct out o = { f, 0, 0 };

	letter(&o, n, letter_day, EN);
	put(&o, "------------------------------------------------------------------------\n"
		"ESPAÑOL\n\n");
	letter(&o, n, letter_day, ES);
	if (fflush(f) != 0)
		o.err = 1;
	return o.err ? -1 : 0;
}
