/*
 * cmd_audit.c - `dmvgate audit verify|show|subject|prove|check-proof|
 * consistency|prune|reindex`.  Every subcommand but prune and reindex
 * opens the log read-only and takes no lock, so they all work while a
 * server is writing; they then see the log as it was when they started.
 * Only options are parsed here; the work is in audit_*.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "notice.h"
#include "cli.h"
#include "key.h"
#include "util.h"

#define RETENTION_DAYS_DEFAULT 400

static const char usage_main[] =
    "usage: dmvgate audit SUBCOMMAND [options]   (dmvgate audit SUBCOMMAND --help)\n\n"
    "  verify        recompute every leaf, the tree and every checkpoint\n"
    "  show          print entries as JSON lines, with filters\n"
    "  subject       a person's access history (who, when, why, outcome)\n"
    "  prove         an inclusion proof of one entry (c2sp.org/tlog-proof@v1)\n"
    "  check-proof   verify a proof offline\n"
    "  consistency   a consistency proof between two tree sizes, checked\n"
    "  prune         drop entry bodies older than the retention period\n"
    "  reindex       rebuild the search index from the log\n\n"
    "Common option: --data DIR (else $DMVGATE_DATA, else ./var).\n";

static const char usage_verify[] =
    "usage: dmvgate audit verify [--data DIR] [--key VERIFIER|FILE]\n\n"
    "Recomputes every entry's leaf hash and the whole Merkle tree, compares them with\n"
    "the stored hashes and with every signed checkpoint (signature, size, root), and\n"
    "checks that the published checkpoint is the latest.  Prints\n"
    "\"verified N entries, M checkpoints\" and exits 0, or names the first bad index\n"
    "and exits 1.  A checkpoint signed by any key of the history verifies: --key\n"
    "(a verifier, or a file of them, one per line) defaults to DIR/checkpoint.key.pub\n"
    "and the keys retired by `dmvgate keys rotate` (DIR/keys/retired).\n";

static const char usage_show[] =
    "usage: dmvgate audit show [--data DIR] [--agency ORI] [--user U] [--subject KEY]\n"
    "                          [--license L] [--from T] [--to T] [--decision permit|deny|none]\n"
    "                          [--kind K] [--limit N]\n\n"
    "Prints matching entries as JSON lines, oldest first.  T is YYYY-MM-DD or RFC 3339\n"
    "(--to is exclusive).  KEY is a subject key such as license:D1234567 or\n"
    "plate:CA:7ABC123; --license L is --subject license:L.  K is query, auth_failure,\n"
    "registry, alert, checkpoint or void.\n";

static const char usage_subject[] =
    "usage: dmvgate audit subject [--data DIR] (--license L | --subject KEY) [--json]\n\n"
    "A person's access history, ready to send in answer to their request: every entry\n"
    "that names them, with who asked (agency, user), when, the purpose and reason, the\n"
    "legal process cited, the outcome, the items released, and the entry's index\n"
    "(prove any of them with `dmvgate audit prove INDEX`).  With --license it also\n"
    "lists the notices about requests for that record (docs/notices.md): when, by\n"
    "which agency, the outcome, the due date, and whether and when it was sent.\n";

static const char usage_prove[] =
    "usage: dmvgate audit prove [--data DIR] [-o FILE] INDEX\n\n"
    "Writes an inclusion proof of entry INDEX against the latest checkpoint, in the\n"
    "c2sp.org/tlog-proof@v1 text format: the entry itself (extra), its index, the\n"
    "proof hashes and the signed checkpoint.  Check it with `audit check-proof`.\n";

static const char usage_check[] =
    "usage: dmvgate audit check-proof FILE --key VERIFIER|FILE\n\n"
    "Verifies a proof offline, with nothing but the log's public key: the checkpoint\n"
    "signature, the entry, and its inclusion in the checkpoint's tree.  Prints the\n"
    "entry as JSON and \"proof OK\".\n";

static const char usage_cons[] =
    "usage: dmvgate audit consistency [--data DIR] OLD_SIZE NEW_SIZE\n"
    "       dmvgate audit consistency [--data DIR] --checkpoint FILE [--key VERIFIER|FILE]\n\n"
    "Prints the RFC 9162 consistency proof between the trees of OLD_SIZE and NEW_SIZE\n"
    "entries (NEW_SIZE at most the latest checkpoint's size), with both roots, and\n"
    "checks it.  With --checkpoint, OLD is a signed checkpoint kept from earlier (e.g.\n"
    "from GET /v1/checkpoint): its signature is checked (--key, default the log's\n"
    "DIR/checkpoint.key.pub), and the log must still contain that exact tree; NEW is\n"
    "the latest checkpoint.  A failure means the log was rolled back or forked.\n";

static const char usage_prune[] =
    "usage: dmvgate audit prune [--data DIR] [--before DATE] [--retention-days N]\n\n"
    "Drops the bodies of entries older than DATE (default: now minus the retention,\n"
    "400 days unless --retention-days says otherwise), keeping their hashes, so the\n"
    "tree, every checkpoint and every proof of later entries still verify.  Refuses a\n"
    "DATE inside the retention period.  Safe while a server is running.\n";

static const char usage_reindex[] =
    "usage: dmvgate audit reindex [--data DIR]\n\n"
    "Rebuilds DIR/audit/index.db (subject, agency, user and time index) from the log.\n";

static char *
auditdir_of(const char *data)
{
	return util_aprintf("%s/audit", cli_datadir(data));
}

/* A verifier given inline (name+id+key), or a file holding one or a list
 * of them, one per line (a key history, key.h). */
static char *
load_key_arg(const char *arg)
{
	char *text = NULL;
	size_t len;

	if (access(arg, R_OK) == 0) {
		if (util_read_file(arg, (size_t)KEY_LIST_MAX * KEY_VERIFIER_MAX, &text, &len) < 0) {
			util_warn("%s", arg);
			return NULL;
		}
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		return text;
	}
	return util_strdup(arg);
}

static int
sub_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *keyarg = NULL;
	char *dir = NULL, *key = NULL;
	struct audit_verify_result res;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'k': keyarg = optarg; break;
		case 'h': cli_help(usage_verify); return CLI_OK;
		default: return cli_usage_error(usage_verify, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_verify, "unexpected argument '%s'", argv[optind]);
	if ((dir = auditdir_of(data)) == NULL)
		return CLI_FAIL;
	if (keyarg != NULL && (key = load_key_arg(keyarg)) == NULL)
		goto out;
	if (audit_verify(dir, key, 1, &res) < 0) {
		util_errx("audit verify FAILED: %s", res.error);
		if (res.bad_index_set)
			fprintf(stderr, "first bad index: %llu\n", (unsigned long long)res.bad_index);
		goto out;
	}
	printf("verified %llu entries, %llu checkpoints", (unsigned long long)res.entries,
	    (unsigned long long)res.checkpoints);
	if (res.pruned > 0)
		printf(" (%llu pruned entries checked by hash)", (unsigned long long)res.pruned);
	printf("\n");
	rc = CLI_OK;
out:
	free(dir);
	free(key);
	return rc;
}

struct show_ctx {
	long limit, n;
};

static int
show_cb(void *arg, const struct audit_record *r)
{
	struct show_ctx *c = arg;

	if (audit_record_json(stdout, r) < 0 || putchar('\n') == EOF)
		return -1;
	if (c->limit > 0 && ++c->n >= c->limit)
		return 1;
	return 0;
}

static int
parse_time_arg(const char *s, int64_t *us)
{
	if (util_time_parse(s, us) < 0) {
		util_errx("bad time '%s' (YYYY-MM-DD or RFC 3339 UTC)", s);
		return -1;
	}
	return 0;
}

static int
sub_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "agency", required_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'u' },
		{ "subject", required_argument, NULL, 's' },
		{ "license", required_argument, NULL, 'L' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "decision", required_argument, NULL, 'D' },
		{ "kind", required_argument, NULL, 'K' },
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL;
	char *dir = NULL, *subj = NULL;
	struct audit_filter f;
	struct audit_log *log = NULL;
	struct show_ctx ctx = { 0, 0 };
	int64_t v;
	int c, rc = CLI_FAIL;

	audit_filter_init(&f);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'a': f.ori = optarg; break;
		case 'u': f.user = optarg; break;
		case 's': f.subject = optarg; break;
		case 'L':
			free(subj);
			if ((subj = util_aprintf("license:%s", optarg)) == NULL)
				return CLI_FAIL;
			f.subject = subj;
			break;
		case 'f':
			if (parse_time_arg(optarg, &f.from_us) < 0)
				goto usage;
			break;
		case 't':
			if (parse_time_arg(optarg, &f.to_us) < 0)
				goto usage;
			break;
		case 'D':
			if ((f.decision = audit_decision_parse(optarg)) < 0) {
				rc = cli_usage_error(usage_show, "bad --decision '%s'", optarg);
				goto out;
			}
			break;
		case 'K':
			if ((f.kind = audit_kind_parse(optarg)) < 0) {
				rc = cli_usage_error(usage_show, "bad --kind '%s'", optarg);
				goto out;
			}
			break;
		case 'n':
			if (util_parse_i64(optarg, 1, INT32_MAX, &v) < 0) {
				rc = cli_usage_error(usage_show, "bad --limit '%s'", optarg);
				goto out;
			}
			ctx.limit = (long)v;
			break;
		case 'h': cli_help(usage_show); rc = CLI_OK; goto out;
		default: goto usage;
		}
	}
	if (optind != argc) {
		rc = cli_usage_error(usage_show, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if ((dir = auditdir_of(data)) == NULL || (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL)
		goto out;
	if (audit_search(log, &f, show_cb, &ctx) < 0)
		goto out;
	if (fflush(stdout) != 0)
		goto out;
	rc = CLI_OK;
	goto out;
usage:
	rc = cli_usage_error(usage_show, "bad option");
out:
	audit_close(log);
	free(dir);
	free(subj);
	return rc;
}

struct subj_ctx {
	int json;
	long n;
};

static void
print_items(field_mask m)
{
	char buf[1024];

	if (m == 0) {
		fputs("none", stdout);
		return;
	}
	if (field_mask_format(m, ',', buf, sizeof buf) < 0)
		fputs("(many)", stdout);
	else
		fputs(buf, stdout);
}

static int
subj_cb(void *arg, const struct audit_record *r)
{
	struct subj_ctx *c = arg;
	const struct audit_entry *e = &r->e;
	char t[32];

	if (c->json) {
		if (c->n > 0)
			fputc(',', stdout);
		fputs("\n  ", stdout);
		if (audit_record_json(stdout, r) < 0)
			return -1;
		c->n++;
		return 0;
	}
	c->n++;
	util_time_format(e->time_us, t);
	printf("%s  entry %llu  %s\n", t, (unsigned long long)e->index, audit_kind_name(e->kind));
	printf("    who:      agency %s%s%s%s, user %s, via %s\n", *e->ori ? e->ori : "-",
	    *e->category ? " (" : "", e->category, *e->category ? ")" : "", *e->user ? e->user : "-",
	    *e->channel ? e->channel : "-");
	if (*e->query_type || *e->by)
		printf("    asked:    %s by %s\n", *e->query_type ? e->query_type : "-", *e->by ? e->by : "-");
	printf("    purpose:  %s%s%s\n", *e->purpose ? e->purpose : "-", *e->reason ? "; reason: " : "",
	    e->reason);
	printf("    legal process: %s\n", *e->legal_process ? e->legal_process : "none cited");
	printf("    outcome:  %s", audit_decision_name(e->decision));
	if (e->status)
		printf(" (%d)", e->status);
	if (e->nrules > 0) {
		printf("; rules:");
		for (int i = 0; i < e->nrules; i++)
			printf(" %s", e->rules[i]);
	}
	printf("\n    items released: ");
	print_items(e->decision == AUDIT_PERMIT ? e->items : 0);
	printf("\n");
	if (*e->detail)
		printf("    detail:   %s\n", e->detail);
	return ferror(stdout) ? -1 : 0;
}

/* A person's notices, after their access history (issue 6). */
struct notices_ctx {
	int json;
	long n;
};

static void
json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static int
notice_row(void *arg, const struct notice *nt)
{
	struct notices_ctx *c = arg;
	char id[NOTICE_ID_MAX], created[32], sent[32], due[11];

	notice_id_format(nt->id, id);
	util_time_format(nt->request_us, created);
	util_date_format(nt->due_day, due);
	if (nt->sent_us != 0)
		util_time_format(nt->sent_us, sent);
	if (c->json) {
		printf("%s\n  {\"id\":", c->n > 0 ? "," : "");
		json_str(id);
		printf(",\"request_time\":\"%s\",\"agency\":", created);
		json_str(nt->agency_name);
		printf(",\"category\":");
		json_str(nt->agency_category);
		printf(",\"purpose\":");
		json_str(nt->purpose);
		printf(",\"outcome\":");
		json_str(nt->outcome);
		printf(",\"legal_process\":");
		json_str(nt->legal_process);
		printf(",\"due\":\"%s\",\"sent\":", due);
		if (nt->sent_us != 0)
			printf("\"%s\"", sent);
		else
			printf("null");
		printf(",\"audit_index\":%lld}", (long long)nt->audit_index);
	} else {
		if (c->n == 0)
			printf("\nNotices about requests for this record:\n");
		printf("  %s  request %s by %s (%s), %s, %s; due %s; %s%s\n", id, created,
		    nt->agency_name, nt->agency_category, nt->purpose, nt->outcome, due,
		    nt->sent_us != 0 ? "sent " : "not yet sent", nt->sent_us != 0 ? sent : "");
	}
	c->n++;
	return ferror(stdout) ? -1 : 0;
}

/* Lists the notices about license lic; the JSON form adds a member. */
static int
list_notices(const char *data, const char *lic, int json)
{
	struct notice_db *db = notice_open(cli_datadir(data));
	struct notices_ctx c = { json, 0 };
	int rc;

	if (db == NULL)
		return -1;
	if (json)
		printf(",\"notices\":[");
	rc = notice_list_subject(db, lic, notice_row, &c);
	if (json)
		printf("%s]", c.n > 0 ? "\n" : "");
	else if (rc >= 0 && c.n == 0)
		printf("\nNo notice about a request for this record.\n");
	notice_close(db);
	return rc < 0 ? -1 : 0;
}

static int
sub_subject(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "license", required_argument, NULL, 'L' },
		{ "subject", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *lic = NULL, *key = NULL;
	char *dir = NULL, *subj = NULL;
	struct audit_filter f;
	struct audit_log *log = NULL;
	struct audit_checkpoint cp;
	struct subj_ctx ctx = { 0, 0 };
	int c, rc = CLI_FAIL, have_cp;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'L': lic = optarg; break;
		case 's': key = optarg; break;
		case 'j': ctx.json = 1; break;
		case 'h': cli_help(usage_subject); return CLI_OK;
		default: return cli_usage_error(usage_subject, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_subject, "unexpected argument '%s'", argv[optind]);
	if ((lic == NULL) == (key == NULL))
		return cli_usage_error(usage_subject, "give exactly one of --license or --subject");
	if (lic != NULL && (subj = util_aprintf("license:%s", lic)) == NULL)
		return CLI_FAIL;
	audit_filter_init(&f);
	f.subject = subj != NULL ? subj : key;
	if ((dir = auditdir_of(data)) == NULL || (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL)
		goto out;
	have_cp = audit_latest_checkpoint(log, &cp) == 0;
	if (ctx.json) {
		printf("{\"subject\":\"");
		for (const char *p = f.subject; *p; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			if ((unsigned char)*p >= 0x20)
				putchar(*p);
		}
		printf("\",\"log\":\"%s\",\"checkpoint_size\":%llu,\"entries\":[", audit_origin(log),
		    have_cp ? (unsigned long long)cp.size : 0ULL);
	} else {
		printf("Access history for %s\nLog %s, %llu entries", f.subject, audit_origin(log),
		    (unsigned long long)audit_size(log));
		if (have_cp)
			printf(", latest signed checkpoint covers %llu", (unsigned long long)cp.size);
		printf("\n\n");
	}
	if (audit_search(log, &f, subj_cb, &ctx) < 0)
		goto out;
	if (ctx.json)
		printf("%s]", ctx.n > 0 ? "\n" : "");
	else if (ctx.n == 0)
		printf("No access to this record is logged.\n");
	else
		printf("\n%ld entr%s. Each can be proven with: dmvgate audit prove INDEX\n", ctx.n,
		    ctx.n == 1 ? "y" : "ies");
	if (lic != NULL && list_notices(data, lic, ctx.json) < 0)
		goto out;
	if (ctx.json)
		printf("}\n");
	if (fflush(stdout) != 0)
		goto out;
	rc = CLI_OK;
out:
	audit_close(log);
	free(dir);
	free(subj);
	return rc;
}

static int
parse_u64_arg(const char *s, uint64_t *out)
{
	int64_t v;

	if (util_parse_i64(s, 0, INT64_MAX, &v) < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int
sub_prove(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *outpath = NULL;
	char *dir = NULL, *proof = NULL;
	struct audit_log *log = NULL;
	uint64_t index;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': outpath = optarg; break;
		case 'h': cli_help(usage_prove); return CLI_OK;
		default: return cli_usage_error(usage_prove, "bad option");
		}
	}
	if (optind + 1 != argc || parse_u64_arg(argv[optind], &index) < 0)
		return cli_usage_error(usage_prove, "give one INDEX");
	if ((dir = auditdir_of(data)) == NULL || (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL)
		goto out;
	if ((proof = audit_prove(log, index)) == NULL) {
		struct audit_checkpoint cp;
		int e = errno;
		uint64_t cpsize = audit_latest_checkpoint(log, &cp) == 0 ? cp.size : 0;

		errno = e;
		if (errno == ERANGE)
			util_errx("entry %llu is not covered by the latest checkpoint yet (it covers %llu "
			    "entries; the log has %llu)", (unsigned long long)index,
			    (unsigned long long)cpsize, (unsigned long long)audit_size(log));
		else if (errno == ENOENT && index < audit_first(log))
			util_errx("entry %llu was pruned (first kept entry is %llu)", (unsigned long long)index,
			    (unsigned long long)audit_first(log));
		else if (errno == ENOENT)
			util_errx("no checkpoint yet");
		else
			util_warn("cannot prove entry %llu", (unsigned long long)index);
		goto out;
	}
	if (outpath != NULL) {
		if (util_write_file_atomic(outpath, proof, strlen(proof), 0644) < 0) {
			util_warn("%s", outpath);
			goto out;
		}
	} else if (fputs(proof, stdout) == EOF || fflush(stdout) != 0) {
		goto out;
	}
	rc = CLI_OK;
out:
	audit_close(log);
	free(proof);
	free(dir);
	return rc;
}

static int
sub_check_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyarg = NULL, *why = "";
	char *key = NULL, *text = NULL;
	struct audit_proof *p = NULL;
	struct audit_record *r = NULL;
	size_t len;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': keyarg = optarg; break;
		case 'h': cli_help(usage_check); return CLI_OK;
		default: return cli_usage_error(usage_check, "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(usage_check, "give one proof FILE");
	if (keyarg == NULL)
		return cli_usage_error(usage_check, "--key is required (the log's verifier key)");
	if ((key = load_key_arg(keyarg)) == NULL)
		goto out;
	if (util_read_file(argv[optind], AUDIT_PROOF_TEXT_MAX, &text, &len) < 0) {
		util_warn("%s", argv[optind]);
		goto out;
	}
	if ((p = malloc(sizeof *p)) == NULL || (r = malloc(sizeof *r)) == NULL)
		goto out;
	if (audit_proof_parse(text, len, p, &why) < 0 || audit_proof_check(p, key, r, &why) < 0) {
		util_errx("%s: proof FAILED: %s", argv[optind], why);
		goto out;
	}
	if (audit_record_json(stdout, r) < 0)
		goto out;
	printf("\nproof OK: entry %llu is in the log %s of %llu entries (checkpoint signed by %.*s)\n",
	    (unsigned long long)p->index, p->cp.origin, (unsigned long long)p->cp.size,
	    (int)strcspn(key, "+"), key);
	rc = CLI_OK;
out:
	free(key);
	free(text);
	free(p);
	free(r);
	return rc;
}

static int
sub_consistency(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *cpfile = NULL, *keyarg = NULL;
	char *dir = NULL, b64[64], hex[65], *key = NULL;
	struct audit_log *log = NULL;
	struct audit_checkpoint cp, old;
	uint8_t proof[AUDIT_PROOF_MAX_HASHES][AUDIT_HASH_SIZE], r1[32], r2[32];
	uint64_t a = 0, b = 0;
	size_t n;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': cpfile = optarg; break;
		case 'k': keyarg = optarg; break;
		case 'h': cli_help(usage_cons); return CLI_OK;
		default: return cli_usage_error(usage_cons, "bad option");
		}
	}
	if (cpfile != NULL) {
		if (optind != argc)
			return cli_usage_error(usage_cons, "no sizes with --checkpoint");
	} else if (optind + 2 != argc || parse_u64_arg(argv[optind], &a) < 0 ||
	    parse_u64_arg(argv[optind + 1], &b) < 0) {
		return cli_usage_error(usage_cons, "give OLD_SIZE and NEW_SIZE");
	}
	if (a > b)
		return cli_usage_error(usage_cons, "OLD_SIZE must not exceed NEW_SIZE");
	if ((dir = auditdir_of(data)) == NULL || (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL)
		goto out;
	if (audit_latest_checkpoint(log, &cp) < 0) {
		util_errx("no checkpoint yet");
		goto out;
	}
	if (cpfile != NULL) {
		char *text = NULL, *pubpath = NULL;
		size_t len;
		const char *why = "";
		int ok;

		if (keyarg != NULL)
			key = load_key_arg(keyarg);
		else if ((pubpath = util_aprintf("%s/checkpoint.key.pub", cli_datadir(data))) != NULL)
			key = load_key_arg(pubpath);
		free(pubpath);
		if (key == NULL)
			goto out;
		if (util_read_file(cpfile, AUDIT_NOTE_MAX, &text, &len) < 0) {
			util_warn("%s", cpfile);
			goto out;
		}
		ok = audit_checkpoint_parse(text, len, key, &old, &why) == 0;
		free(text);
		if (!ok) {
			util_errx("%s: not a valid checkpoint of this log's key: %s", cpfile, why);
			goto out;
		}
		if (strcmp(old.origin, cp.origin) != 0) {
			util_errx("%s: origin '%s' is not this log's ('%s')", cpfile, old.origin, cp.origin);
			goto out;
		}
		if (old.size > cp.size) {
			util_errx("INCONSISTENT: %s signs a tree of %llu entries but the log's latest "
			    "checkpoint covers only %llu: the log was rolled back", cpfile,
			    (unsigned long long)old.size, (unsigned long long)cp.size);
			goto out;
		}
		if (audit_root(log, old.size, r1) < 0) {
			util_warn("cannot compute the root at %llu", (unsigned long long)old.size);
			goto out;
		}
		if (memcmp(r1, old.root, 32) != 0) {
			util_errx("INCONSISTENT: %s signs a different tree of %llu entries than the log "
			    "holds: the log was rewritten or forked", cpfile, (unsigned long long)old.size);
			goto out;
		}
		a = old.size;
		b = cp.size;
	}
	if (b > cp.size) {
		util_errx("NEW_SIZE %llu exceeds the latest checkpoint's size %llu",
		    (unsigned long long)b, (unsigned long long)cp.size);
		goto out;
	}
	if (audit_root(log, a, r1) < 0 || audit_root(log, b, r2) < 0 ||
	    audit_consistency_proof(log, a, b, proof, &n) < 0) {
		util_warn("cannot compute the proof");
		goto out;
	}
	if (b == cp.size && memcmp(r2, cp.root, 32) != 0) {
		util_errx("the stored tree does not match the latest checkpoint (run audit verify)");
		goto out;
	}
	util_hex(r1, 32, hex);
	printf("old %llu %s\n", (unsigned long long)a, hex);
	util_hex(r2, 32, hex);
	printf("new %llu %s\n", (unsigned long long)b, hex);
	for (size_t i = 0; i < n; i++) {
		key_b64_encode(proof[i], AUDIT_HASH_SIZE, b64);
		printf("%s\n", b64);
	}
	if (!audit_verify_consistency(a, b, r1, r2, (const uint8_t (*)[AUDIT_HASH_SIZE])proof, n)) {
		util_errx("consistency proof does NOT verify");
		goto out;
	}
	printf("consistent: the tree of %llu entries is a prefix of the tree of %llu (%zu hashes)\n",
	    (unsigned long long)a, (unsigned long long)b, n);
	rc = CLI_OK;
out:
	audit_close(log);
	free(dir);
	free(key);
	return rc;
}

static int
sub_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "before", required_argument, NULL, 'b' },
		{ "retention-days", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *before = NULL;
	char *dir = NULL, t[32];
	int64_t days = RETENTION_DAYS_DEFAULT, limit_us, before_us;
	uint64_t first;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'b': before = optarg; break;
		case 'r':
			if (util_parse_i64(optarg, 0, 100000, &days) < 0)
				return cli_usage_error(usage_prune, "bad --retention-days '%s'", optarg);
			break;
		case 'h': cli_help(usage_prune); return CLI_OK;
		default: return cli_usage_error(usage_prune, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_prune, "unexpected argument '%s'", argv[optind]);
	limit_us = util_now_us() - days * 86400LL * 1000000LL;
	before_us = limit_us;
	if (before != NULL) {
		if (parse_time_arg(before, &before_us) < 0)
			return CLI_USAGE;
		if (before_us > limit_us) {
			util_time_format(limit_us, t);
			util_errx("--before %s is inside the retention period of %lld days (earliest "
			    "allowed: %s)", before, (long long)days, t);
			return CLI_FAIL;
		}
	}
	if ((dir = auditdir_of(data)) == NULL)
		return CLI_FAIL;
	if (audit_prune(dir, before_us, &first) < 0)
		goto out;
	util_time_format(before_us, t);
	printf("pruned: entries before %s dropped; first kept entry is %llu\n", t,
	    (unsigned long long)first);
	rc = CLI_OK;
out:
	free(dir);
	return rc;
}

static int
sub_reindex(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL;
	char *dir = NULL;
	struct audit_log *log = NULL;
	uint64_t n;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'h': cli_help(usage_reindex); return CLI_OK;
		default: return cli_usage_error(usage_reindex, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_reindex, "unexpected argument '%s'", argv[optind]);
	if ((dir = auditdir_of(data)) == NULL || (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL)
		goto out;
	if (audit_index_sync(log, 1, &n) < 0)
		goto out;
	printf("reindexed %llu entries\n", (unsigned long long)(n - audit_first(log)));
	rc = CLI_OK;
out:
	audit_close(log);
	free(dir);
	return rc;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "verify", sub_verify }, { "show", sub_show }, { "subject", sub_subject },
		{ "prove", sub_prove }, { "check-proof", sub_check_proof },
		{ "consistency", sub_consistency }, { "prune", sub_prune }, { "reindex", sub_reindex },
	};

	if (argc < 2) {
		fputs(usage_main, stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_help(usage_main);
		return CLI_OK;
	}
	for (size_t i = 0; i < UTIL_NELEM(subs); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 1;
			return subs[i].fn(argc - 1, argv + 1);
		}
	}
	util_errx("audit: unknown subcommand '%s'", argv[1]);
	fputs(usage_main, stderr);
	return CLI_USAGE;
}
