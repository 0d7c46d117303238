/*
 * server.h - `dmvgate serve`: the JSON HTTP gateway over GNU libmicrohttpd
 * (docs/api.md).  Every /v1/query runs parse -> authenticate -> decide ->
 * look up -> build the body from the released fields only -> audit append;
 * the connection is suspended until the audit entry is durable and only
 * then answered (fail closed: 503 when the audit fails).
 *
 * server_run blocks in the calling thread, which handles the signals
 * (SIGHUP reloads the policy, SIGTERM/SIGINT drain and stop) and polls the
 * registry for changes every quarter second.
 */
#ifndef DMVGATE_SERVER_H
#define DMVGATE_SERVER_H

#include "config.h"

/*
 * Runs the gateway with cfg (copied), serving datadir with the policy at
 * policy_path.  When ready prints "dmvgate: listening on HOST:PORT" to
 * stderr.  Returns 0 after a clean shutdown (final checkpoint written), -1
 * when it could not start or the shutdown was not clean.
 */
int server_run(const struct config *cfg, const char *datadir, const char *policy_path);

#endif /* DMVGATE_SERVER_H */
