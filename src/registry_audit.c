/*
 * registry_audit.c - writing the audit records of registry changes from
 * the CLI (see registry_flush_audit in registry.h).  Kept apart from
 * registry.c so that the registry itself does not depend on the audit log.
 */
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

struct flush {
	const char *datadir;
	int queued;               /* a server holds the log */
	int failed;
};

void
registry_change_entry(const struct registry_change *c, struct audit_entry *e,
    struct registry_entry_text *t)
{
	memset(e, 0, sizeof *e);
	e->kind = AUDIT_REGISTRY;
	e->time_us = c->time_us;
	e->ori = c->ori;
	e->user = c->userid;
	e->channel = "cli";
	snprintf(t->qtype, sizeof t->qtype, "%.*s", (int)strcspn(c->action, "."), c->action);
	e->query_type = t->qtype;   /* agency | user | process */
	snprintf(t->detail, sizeof t->detail, "%s%s%s", c->action, c->detail[0] ? " " : "",
	    c->detail);
	e->detail = t->detail;
}

/* Writes one queued change to the log (CLI: no server holds it). */
static int
flush_one(void *arg, const struct registry_change *c)
{
	struct flush *f = arg;
	struct audit_entry e;
	struct registry_entry_text t;

	registry_change_entry(c, &e, &t);
	if (audit_append_once(f->datadir, &e, NULL) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		f->queued = 1;
	else
		f->failed = 1;
	return 1;
}

int
registry_flush_audit(struct registry *r, const char *datadir)
{
	struct flush f = { datadir, 0, 0 };
	int total = 0, n;

	do {
		n = registry_drain(r, flush_one, &f);
		if (n < 0)
			return -1;
		total += n;
	} while (n == REGISTRY_DRAIN_BATCH && !f.queued && !f.failed);
	if (f.queued)
		return REGISTRY_QUEUED;
	if (f.failed) {
		util_errx("registry: the change is saved but its audit record could not be "
		    "written yet; it stays queued and is written by the next command or server");
		return -1;
	}
	return total;
}

void
registry_cli_audit(struct registry *r, const char *datadir)
{
	if (registry_flush_audit(r, datadir) == REGISTRY_QUEUED)
		fprintf(stderr, "dmvgate: audit record queued for the running server\n");
}
