/*
 * mhd_bare.c - the HTTP ceilings for bench-server.sh: a bare libmicrohttpd
 * server (same flags as dmvgate serve: epoll thread pool) answering every
 * request with a fixed 200-byte JSON body, no parsing, no policy, no
 * lookup.  Three modes, each adding one piece of what dmvgate must do:
 *
 *   mhd_bare PORT THREADS              answer at once (the HTTP ceiling)
 *   mhd_bare PORT THREADS suspend      suspend each request; a second thread
 *                                      resumes whatever has queued (the cost
 *                                      of MHD's suspend/resume alone)
 *   mhd_bare PORT THREADS commit FILE  as suspend, and that thread first
 *                                      writes one 300-byte record per request
 *                                      in one pwrite per batch and
 *                                      fdatasyncs FILE (preallocated with
 *                                      zeros like audit/entries): the group
 *                                      commit ceiling of "durable before the
 *                                      reply", with no work per request
 *
 * Runs until SIGTERM/SIGINT, then prints the batch count (commit/suspend).
 * A bench tool: it exits on set-up errors and trusts its loopback client.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#define REC_SIZE 300
#define PREALLOC ((off_t)256 << 20)

static const char body[] =
    "{\"decision\":\"permit\",\"rules\":[{\"id\":\"law-enforcement\",\"cite\":\"18 USC 2721(b)(1)\"}],"
    "\"audit\":{\"index\":1},\"records\":[{\"license_number\":\"D1234567\",\"last_name\":\"DOE\","
    "\"first_name\":\"JANE\",\"dob\":\"1980-01-01\"}]}\n";

/* One request in suspend/commit mode (freed when MHD completes it). */
struct req {
	struct MHD_Connection *conn;
	int resumed;
	struct req *next;
};

static int deferred;                  /* suspend or commit mode */
static int fd = -1;                   /* commit mode: the file */
static off_t off;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct req *queue;             /* suspended, waiting for the resumer */
static unsigned long batches, resumed;

/* Takes the whole queue, makes it durable in commit mode, resumes it. */
static void *
resumer(void *arg)
{
	static char buf[REC_SIZE * 4096];

	(void)arg;
	memset(buf, 'x', sizeof buf);
	pthread_mutex_lock(&mu);
	for (;;) {
		struct req *l;
		size_t n = 0;

		while (queue == NULL)
			pthread_cond_wait(&cv, &mu);
		l = queue;
		queue = NULL;
		pthread_mutex_unlock(&mu);
		for (struct req *x = l; x != NULL; x = x->next)
			n++;
		if (fd >= 0) {
			size_t len = n * REC_SIZE > sizeof buf ? sizeof buf : n * REC_SIZE;

			if (off + (off_t)len > PREALLOC)
				off = 0;
			if (pwrite(fd, buf, len, off) != (ssize_t)len || fdatasync(fd) < 0) {
				perror("mhd_bare: write");
				_exit(1);
			}
			off += (off_t)len;
		}
		batches++;
		resumed += n;
		while (l != NULL) {
			struct req *next = l->next;

			l->resumed = 1;
			MHD_resume_connection(l->conn);
			l = next;
		}
		pthread_mutex_lock(&mu);
	}
	return NULL;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *data, size_t *size, void **state)
{
	struct MHD_Response *r;
	struct req *q = *state;
	enum MHD_Result ret;

	(void)cls; (void)url; (void)method; (void)version; (void)data;
	if (q == NULL) {
		if (!deferred) {
			*state = (void *)1;
			return MHD_YES;
		}
		if ((q = calloc(1, sizeof *q)) == NULL)
			return MHD_NO;
		q->conn = c;
		*state = q;
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	if (deferred && !q->resumed) {
		MHD_suspend_connection(c);
		pthread_mutex_lock(&mu);
		q->next = queue;
		queue = q;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void
completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
	(void)cls; (void)c; (void)t;
	if (deferred)
		free(*state);
	*state = NULL;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	pthread_t th;
	sigset_t set;
	int sig;

	if (argc == 4 && strcmp(argv[3], "suspend") == 0) {
		deferred = 1;
	} else if (argc == 5 && strcmp(argv[3], "commit") == 0) {
		static char zeros[1 << 20];

		deferred = 1;
		if ((fd = open(argv[4], O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0) {
			perror(argv[4]);
			return 1;
		}
		for (off_t o = 0; o < PREALLOC; o += (off_t)sizeof zeros)
			if (pwrite(fd, zeros, sizeof zeros, o) != (ssize_t)sizeof zeros) {
				perror(argv[4]);
				return 1;
			}
		if (fdatasync(fd) < 0) {
			perror(argv[4]);
			return 1;
		}
	} else if (argc != 3) {
		fprintf(stderr, "usage: mhd_bare PORT THREADS [suspend | commit FILE]\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (deferred && pthread_create(&th, NULL, resumer, NULL) != 0) {
		fprintf(stderr, "mhd_bare: cannot start the resumer\n");
		return 1;
	}
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO |
	    (deferred ? MHD_ALLOW_SUSPEND_RESUME : 0), (uint16_t)atoi(argv[1]), NULL, NULL,
	    handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]),
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "mhd_bare: cannot start\n");
		return 1;
	}
	sigwait(&set, &sig);
	if (deferred) {
		/* Suspended connections cannot be stopped cleanly: report and go. */
		fprintf(stderr, "mhd_bare: %lu batches, %lu requests (mean %.1f)\n", batches, resumed,
		    batches ? (double)resumed / (double)batches : 0.0);
		_exit(0);
	}
	MHD_stop_daemon(d);
	return 0;
}
