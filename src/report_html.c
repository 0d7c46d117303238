/*
 * report_html.c - the transparency report as one self-contained HTML page
 * (report.h): inline CSS, bar charts drawn here as inline SVG, no script,
 * no external asset.  Each chart is an image with a title and description
 * (role="img") followed by the data table it draws, with a caption; the
 * page has a language, a heading outline, a readable width on a phone (the
 * SVG scales, wide tables scroll) and print rules.  Every string is
 * escaped; counts are the same suppressed strings the JSON and CSV show,
 * and a suppressed count draws no bar, so the picture reveals nothing the
 * numbers hide.
 */
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SVG_W 480
#define SVG_LABEL 170       /* label column, px */
#define SVG_VALUE 56        /* value text after the longest bar */
#define SVG_ROW 26
#define SVG_BAR 16
#define SVG_LEGEND 26
#define LABEL_CHARS 24      /* chart labels are cut here (the table has them whole) */

static void
esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

/* Escapes at most max characters of s (UTF-8 aware), adding "…" when cut. */
static void
esc_cut(FILE *f, const char *s, size_t max)
{
	size_t chars = 0, i = 0;
	char buf[8];

	while (s[i] != '\0') {
		size_t n = 1;
		if (chars == max) {
			fputs("\xe2\x80\xa6", f);
			return;
		}
		while ((s[i + n] & 0xc0) == 0x80 && n < 4)
			n++;
		memcpy(buf, s + i, n);
		buf[n] = '\0';
		esc(f, buf);
		i += n;
		chars++;
	}
}

/* Escapes s, setting `quoted` spans in <code>. */
static void
esc_code(FILE *f, const char *s)
{
	int in = 0;
	char buf[2] = { 0, 0 };

	for (; *s; s++) {
		if (*s == '`') {
			fputs(in ? "</code>" : "<code>", f);
			in = !in;
			continue;
		}
		buf[0] = *s;
		esc(f, buf);
	}
	if (in)
		fputs("</code>", f);
}

static const char *
color_of(const char *measure, int i)
{
	static const struct { const char *m, *c; } named[] = {
		{ "permit", "#1a7f37" }, { "deny", "#c62828" }, { "limited", "#b35900" },
		{ "invalid", "#6f42c1" }, { "error", "#555555" }, { "accepted", "#1a7f37" },
		{ "refused", "#c62828" }, { "certified", "#1a7f37" }, { "expired", "#c62828" },
	};
	static const char *const palette[] = { "#1f5fa8", "#c62828", "#1a7f37", "#b35900",
		"#6f42c1", "#555555" };

	for (size_t j = 0; j < UTIL_NELEM(named); j++)
		if (strcmp(named[j].m, measure) == 0)
			return named[j].c;
	return palette[i % (int)UTIL_NELEM(palette)];
}

static void
row_label(FILE *f, const struct report_tabdef *d, const struct report_row *row, size_t cut)
{
	for (int j = 0; j < d->nkey; j++) {
		if (j)
			fputs(" / ", f);
		if (cut)
			esc_cut(f, row->part[j], cut);
		else
			esc(f, row->part[j]);
	}
}

/* The displayed value of v: 0 when suppressed. */
static uint64_t
shown(uint64_t v, int k)
{
	return v > 0 && k > 1 && v < (uint64_t)k ? 0 : v;
}

static void
chart(FILE *f, const struct report *r, const struct report_tab *t, const size_t *ord)
{
	const struct report_tabdef *d = t->def;
	int legend = d->chart == CH_STACK, m0 = d->chart_first, nm = d->nchart;
	uint64_t max = 0;
	double scale, x;
	int h = (legend ? SVG_LEGEND : 0) + (int)t->n * SVG_ROW + 8;
	char buf[32];

	for (size_t i = 0; i < t->n; i++) {
		uint64_t s = 0;
		for (int m = m0; m < m0 + nm; m++)
			s += shown(t->rows[i].v[m], r->k);
		if (s > max)
			max = s;
	}
	scale = max ? (double)(SVG_W - SVG_LABEL - 8 - SVG_VALUE) / (double)max : 0;
	fprintf(f, "<figure>\n<svg role=\"img\" aria-labelledby=\"%s-t %s-d\" viewBox=\"0 0 %d %d\" "
	    "width=\"100%%\" preserveAspectRatio=\"xMinYMin meet\" class=\"chart\">\n",
	    d->id, d->id, SVG_W, h);
	fprintf(f, "<title id=\"%s-t\">", d->id);
	esc(f, d->title);
	fprintf(f, " (bar chart)</title>\n<desc id=\"%s-d\">", d->id);
	for (size_t i = 0; i < t->n; i++) {
		const struct report_row *row = &t->rows[ord[i]];
		if (i)
			fputs("; ", f);
		row_label(f, d, row, 0);
		fputs(":", f);
		for (int m = m0; m < m0 + nm; m++) {
			report_count_format(row->v[m], r->k, buf, sizeof buf);
			fprintf(f, " %s ", d->meas[m]);
			esc(f, buf);
		}
	}
	fputs(". The table below has the same figures.</desc>\n", f);
	if (legend) {
		x = 4;
		for (int m = m0; m < m0 + nm; m++) {
			fprintf(f, "<rect x=\"%.0f\" y=\"6\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			    "<text x=\"%.0f\" y=\"16\">%s</text>\n", x, color_of(d->meas[m], m), x + 16,
			    d->meas[m]);
			x += 24 + 8.0 * (double)strlen(d->meas[m]);
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct report_row *row = &t->rows[ord[i]];
		int y = (legend ? SVG_LEGEND : 0) + (int)i * SVG_ROW + 4;
		uint64_t raw = 0;

		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", SVG_LABEL,
		    y + SVG_BAR - 3);
		row_label(f, d, row, LABEL_CHARS);
		fputs("</text>\n", f);
		x = SVG_LABEL + 8;
		for (int m = m0; m < m0 + nm; m++) {
			double w = (double)shown(row->v[m], r->k) * scale;
			raw += row->v[m];
			if (w > 0) {
				fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
				    "fill=\"%s\"/>\n", x, y, w, SVG_BAR, color_of(d->meas[m], m));
				x += w;
			}
		}
		report_count_format(raw, r->k, buf, sizeof buf);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"v\">", x + 4, y + SVG_BAR - 3);
		esc(f, buf);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n</figure>\n", f);
}

static void
table(FILE *f, const struct report *r, const struct report_tab *t, const size_t *ord)
{
	const struct report_tabdef *d = t->def;
	uint64_t tot[REPORT_MEASURES];
	char buf[32];

	fprintf(f, "<div class=\"scroll\"><table id=\"%s-table\" data-table=\"%s\">\n<caption>",
	    d->id, d->id);
	esc(f, d->title);
	if (report_tabdefs[T_SUMMARY].id != d->id)
		fputs(": data", f);
	fputs("</caption>\n<thead><tr>", f);
	for (int j = 0; j < d->nparts; j++)
		fprintf(f, "<th scope=\"col\">%s</th>", d->parts[j]);
	for (int m = 0; m < d->nmeas; m++)
		fprintf(f, "<th scope=\"col\" class=\"n\">%s</th>", d->meas[m]);
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < t->n; i++) {
		const struct report_row *row = &t->rows[ord[i]];
		fputs("<tr>", f);
		for (int j = 0; j < d->nparts; j++) {
			fputs(j == 0 ? "<th scope=\"row\">" : "<td>", f);
			esc(f, row->part[j]);
			fputs(j == 0 ? "</th>" : "</td>", f);
		}
		for (int m = 0; m < d->nmeas; m++) {
			report_count_format(row->v[m], r->k, buf, sizeof buf);
			fprintf(f, "<td class=\"n\" data-m=\"%s\">", d->meas[m]);
			esc(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n", f);
	if (d->total && t->n > 0) {
		report_tab_total(t, tot);
		fputs("<tfoot><tr><th scope=\"row\">(total)</th>", f);
		for (int j = 1; j < d->nparts; j++)
			fputs("<td></td>", f);
		for (int m = 0; m < d->nmeas; m++) {
			report_count_format(tot[m], r->k, buf, sizeof buf);
			fprintf(f, "<td class=\"n\" data-m=\"%s\">", d->meas[m]);
			esc(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr></tfoot>\n", f);
	}
	fputs("</table></div>\n", f);
}

static const char css[] =
	"*{box-sizing:border-box}"
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
	"line-height:1.5;color:#1b1b1b;background:#fff;margin:0 auto;max-width:62rem;padding:1rem}"
	"h1{font-size:clamp(1.4rem,4vw,2rem);margin:.2em 0}"
	"h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #1f5fa8;padding-bottom:.2rem}"
	"a{color:#1f5fa8}"
	".meta{color:#333}"
	".note{background:#fff4e5;border-left:4px solid #b35900;padding:.5rem .8rem}"
	".ok{background:#e9f5ec;border-left:4px solid #1a7f37;padding:.5rem .8rem}"
	".internal{background:#fdecea;border:2px solid #c62828;padding:.5rem .8rem;font-weight:bold}"
	"nav ul{columns:2 14rem;padding-left:1.2rem}"
	"figure{margin:1rem 0}"
	"svg.chart{max-width:min(100%,32rem);height:auto;font-size:13px;fill:#1b1b1b}"
	"svg.chart text{fill:#1b1b1b}"
	".scroll{overflow-x:auto}"
	"table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.92rem}"
	"caption{text-align:left;font-weight:600;padding:.3rem 0}"
	"th,td{border:1px solid #c8c8c8;padding:.25rem .5rem;text-align:left;vertical-align:top}"
	"thead th{background:#eef2f8}"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tfoot th,tfoot td{font-weight:bold;background:#f6f6f6}"
	"pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.6rem;"
	"font-size:.85rem}"
	"code{word-break:break-all}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}"
	"dt{font-weight:600}dd{margin:0;word-break:break-all}"
	"@media (max-width:36rem){body{padding:.6rem}dl{grid-template-columns:1fr}"
	"nav ul{columns:1}}"
	"@media print{nav{display:none}body{max-width:none;padding:0;font-size:10pt}"
	"a{color:inherit;text-decoration:none}h2{break-after:avoid}"
	"figure,tr{break-inside:avoid}.scroll{overflow:visible}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
	"@page{margin:1.5cm}";

int
report_render_html(const struct report *r, int64_t now_us, FILE *f)
{
	char gen[32], from[11], last[11], buf[32], hex[2 * AUDIT_HASH_SIZE + 1];
	char sig[AUDIT_NOTE_MAX];
	const struct report_tab *sum = &r->tabs[T_SUMMARY];
	uint64_t imm_other = 0;

	util_time_format(now_us, gen);
	report_period_text(r, from, last);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"dmvgate\">\n<title>Transparency report ", f);
	esc(f, r->period.label);
	fputs(" - ", f);
	esc(f, r->origin);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n", css);
	if (r->internal)
		fputs("<p class=\"internal\">INTERNAL REPORT: it names agencies.  Not for "
		      "publication; the public report is served at /transparency.</p>\n", f);
	fputs("<h1>DMV records access: transparency report ", f);
	esc(f, r->period.label);
	fprintf(f, "</h1>\n<p class=\"meta\" id=\"period\">Period: <time datetime=\"%s\">%s</time> "
	    "to <time datetime=\"%s\">%s</time> (UTC, both days included)%s.</p>\n", from, from,
	    last, last, report_complete(r, now_us) ? "" : ", in progress");
	fprintf(f, "<p class=\"meta\" id=\"generated\">Generated <time datetime=\"%s\">%s</time> by "
	    "the gateway <code>", gen, gen);
	esc(f, r->origin);
	fprintf(f, "</code> from its audit log: %llu entries in the period",
	    (unsigned long long)r->nentries);
	if (r->nentries > 0)
		fprintf(f, " (entries %llu to %llu)", (unsigned long long)r->first_index,
		    (unsigned long long)r->last_index);
	fprintf(f, ", of %llu in the log.</p>\n", (unsigned long long)r->log_size);
	fputs("<p>Every request to the DMV's records passes through this gateway, which decides it "
	      "with a public policy and writes the decision to a tamper-evident log before "
	      "answering.  This page counts those decisions.  It names no person and no agency: "
	      "agencies appear only by category.</p>\n", f);
	if (r->k > 1)
		fprintf(f, "<p class=\"meta\" id=\"suppression\">Small numbers are hidden: a count "
		    "from 1 to %d is shown as &lt;%d (zero is shown as 0), and such a count draws no "
		    "bar.</p>\n", r->k - 1, r->k);
	if (r->pruned)
		fputs("<p class=\"note\">Entries older than the log's retention period were removed; "
		      "this period's counts may be incomplete.</p>\n", f);
	fputs("</header>\n<nav aria-label=\"Contents\"><h2>Contents</h2><ul>\n", f);
	for (int t = 0; t < T_COUNT; t++) {
		if (!report_tab_visible(r, t))
			continue;
		fprintf(f, "<li><a href=\"#%s\">", report_tabdefs[t].id);
		esc(f, report_tabdefs[t].title);
		fputs("</a></li>\n", f);
	}
	fputs("<li><a href=\"#checkpoint\">Signed checkpoint and how to verify</a></li>\n"
	      "</ul></nav>\n<main>\n", f);

	for (size_t i = 0; i < sum->n; i++)
		if (strcmp(sum->rows[i].part[0], "... permitted without a judicial warrant or court "
		    "order") == 0)
			imm_other = sum->rows[i].v[0];

	for (int t = 0; t < T_COUNT; t++) {
		const struct report_tab *tab = &r->tabs[t];
		const struct report_tabdef *d = tab->def;
		size_t *ord;

		if (!report_tab_visible(r, t))
			continue;
		if ((ord = report_row_order(tab)) == NULL)
			return -1;
		fprintf(f, "<section id=\"%s\" aria-labelledby=\"%s-h\">\n<h2 id=\"%s-h\">", d->id,
		    d->id, d->id);
		esc(f, d->title);
		fputs("</h2>\n<p>", f);
		esc(f, d->desc);
		fputs("</p>\n", f);
		if (t == T_SUMMARY) {
			report_count_format(imm_other, r->k, buf, sizeof buf);
			if (imm_other == 0)
				fputs("<p class=\"ok\" id=\"attestation\">No request by an immigration "
				      "agency or for civil immigration enforcement was permitted without a "
				      "judicial warrant or court order in this period.</p>\n", f);
			else {
				fputs("<p class=\"note\" id=\"attestation\">", f);
				esc(f, buf);
				fputs(" request(s) by an immigration agency or for civil immigration "
				      "enforcement were permitted without a judicial warrant or court "
				      "order.</p>\n", f);
			}
		}
		if (tab->n == 0)
			fputs("<p><em>None in this period.</em></p>\n", f);
		else {
			if (d->chart != CH_NONE)
				chart(f, r, tab, ord);
			table(f, r, tab, ord);
		}
		fputs("</section>\n", f);
		free(ord);
	}

	fputs("<section id=\"checkpoint\" aria-labelledby=\"checkpoint-h\">\n"
	      "<h2 id=\"checkpoint-h\">Signed checkpoint and how to verify</h2>\n", f);
	if (r->cp != NULL) {
		util_hex(r->cp->root, AUDIT_HASH_SIZE, hex);
		fputs("<p>The log is a Merkle tree (RFC 9162).  Its latest signed checkpoint when "
		      "this report was made:</p>\n<dl>\n<dt>Log</dt><dd><code>", f);
		esc(f, r->cp->origin);
		fprintf(f, "</code></dd>\n<dt>Tree size</dt><dd id=\"tree-size\">%llu entries</dd>\n"
		    "<dt>Root hash</dt><dd><code id=\"root-hash\">%s</code></dd>\n"
		    "<dt>Signature</dt><dd><code id=\"signature\">", (unsigned long long)r->cp->size,
		    hex);
		esc(f, report_signature_line(r, sig, sizeof sig) == 0 ? sig : "(none)");
		fputs("</code></dd>\n<dt>Public key</dt><dd><code id=\"verifier\">", f);
		esc(f, r->verifier[0] ? r->verifier : "(not available)");
		fputs("</code></dd>\n", f);
		if (r->retired[0] != '\0') {
			/* keys retired by `dmvgate keys rotate`: older checkpoints verify with them */
			fputs("<dt>Past public keys</dt><dd><ul id=\"retired-keys\">", f);
			for (const char *p = r->retired; *p != '\0';) {
				size_t n = strcspn(p, "\n");
				char one[256];
				if (n < sizeof one) {
					memcpy(one, p, n);
					one[n] = '\0';
					fputs("<li><code>", f);
					esc(f, one);
					fputs("</code></li>", f);
				}
				p += n + (p[n] == '\n');
			}
			fputs("</ul></dd>\n", f);
		}
		fputs("</dl>\n<p>The signed note (C2SP tlog-checkpoint; the last line is "
		      "the Ed25519 signature):</p>\n<pre id=\"note\">", f);
		esc(f, r->cp->text);
		fputs("</pre>\n", f);
	} else
		fputs("<p>No signed checkpoint yet.</p>\n", f);
	fputs("<h3>How to verify</h3>\n<ol>\n", f);
	for (int i = 0; i < REPORT_VERIFY_STEPS; i++) {
		fputs("<li>", f);
		esc_code(f, report_verify_steps[i]);
		fputs("</li>\n", f);
	}
	fputs("</ol>\n</section>\n</main>\n<footer><p class=\"meta\">Also available as "
	      "<a href=\"/transparency.json?quarter=", f);
	esc(f, r->period.label);
	fputs("\">JSON</a> and <a href=\"/transparency.csv?quarter=", f);
	esc(f, r->period.label);
	fputs("\">CSV</a> (same figures).  Produced by dmvgate from its audit log.</p></footer>\n"
	      "</body>\n</html>\n", f);
	return 0;
}
