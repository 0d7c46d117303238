/*
 * Crash test for the audit log: 50 times, a child process appends with 4
 * concurrent appender threads (each reports every acknowledged index to
 * the parent through a pipe as soon as its durability callback fired) and
 * is SIGKILLed at a random moment.  After each kill the parent reopens the
 * log for writing (recovery), checks that every acknowledged index is
 * present with the entry that was written for it, closes it and runs
 * audit_verify.  Every third round a torn record is also appended to the
 * tail, as a power cut could leave it, and every third round one is
 * written right after the last whole record, into the writer's zero
 * padding.  Kept to a few seconds in total.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "audit.h"
#include "key.h"
#include "util.h"

#define ROUNDS 50
#define THREADS 4

static int pipe_w = -1;
static struct audit_log *child_log;

static void *
child_thread(void *arg)
{
	struct audit_entry e;
	char reason[64];
	uint64_t idx;
	long t = (long)arg;

	for (long i = 0;; i++) {
		memset(&e, 0, sizeof e);
		e.kind = AUDIT_QUERY;
		e.ori = "CA0340000";
		e.user = "crash";
		snprintf(reason, sizeof reason, "thread %ld seq %ld", t, i);
		e.reason = reason;
		e.decision = AUDIT_PERMIT;
		if (audit_append_wait(child_log, &e, &idx) < 0)
			_exit(3);
		/* acknowledged: tell the parent (8-byte writes are atomic on a pipe) */
		if (write(pipe_w, &idx, sizeof idx) != (ssize_t)sizeof idx)
			_exit(4);
	}
	return NULL;
}

static void
child_main(const char *auditdir)
{
	struct audit_config cfg;
	pthread_t th[THREADS];

	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_entries = 200;
	cfg.checkpoint_every_ms = 20;
	child_log = audit_open(auditdir, &cfg, AUDIT_WRITE);
	if (child_log == NULL)
		_exit(2);
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, child_thread, (void *)i) != 0)
			_exit(5);
	for (;;)
		pause();
}

static void
test_crash(void **state)
{
	char *d = test_tmpdir(), kp[512], ad[512];
	static uint64_t acked[1 << 20];
	static uint8_t present[1 << 20];
	size_t nacked = 0;
	unsigned seed = (unsigned)getpid();

	(void)state;
	snprintf(kp, sizeof kp, "%s/checkpoint.key", d);
	assert_int_equal(key_generate(kp, "crash.local/audit", 0), 0);
	snprintf(ad, sizeof ad, "%s/audit", d);
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2], status;
		pid_t pid;
		uint64_t idx;
		ssize_t r;
		struct audit_log *log;
		struct audit_verify_result res;
		static struct audit_record rec;
		uint64_t size;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			pipe_w = fds[1];
			child_main(ad);
			_exit(0);
		}
		close(fds[1]);
		/* let it run 5..60 ms, then kill it without warning */
		usleep(5000 + (useconds_t)(rand_r(&seed) % 55000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		while ((r = read(fds[0], &idx, sizeof idx)) == (ssize_t)sizeof idx) {
			assert_true(idx < UTIL_NELEM(acked));
			if (nacked < UTIL_NELEM(acked))
				acked[nacked++] = idx;
		}
		close(fds[0]);
		/* every third round, also simulate a torn write at the tail (what a
		 * power cut can leave): part of a record header and body */
		if (round % 3 == 1) {
			char ep[600];
			uint8_t junk[40] = { 0, 0, 0, 200, 1, 1 };
			int fd;

			snprintf(ep, sizeof ep, "%s/entries", ad);
			assert_true((fd = open(ep, O_WRONLY | O_APPEND)) >= 0);
			assert_int_equal(write(fd, junk, 4 + (size_t)(rand_r(&seed) % 30)) > 0, 1);
			close(fd);
		}
		/* every third round, the torn write lands where a real one does:
		 * right after the last whole record, in the writer's zero padding
		 * (so the torn record reads whole-length, its check bytes wrong) */
		if (round % 3 == 2) {
			char ep[600];
			uint8_t junk[40] = { 0, 0, 0, 200, 1, 1 }, b4[4];
			uint64_t end = 0;
			int fd;

			snprintf(ep, sizeof ep, "%s/entries", ad);
			assert_true((fd = open(ep, O_RDWR)) >= 0);
			while (pread(fd, b4, 4, (off_t)end) == 4 &&
			    (b4[0] | b4[1] | b4[2] | b4[3]) != 0)
				end += 8 + ((uint64_t)b4[0] << 24 | (uint64_t)b4[1] << 16 |
				    (uint64_t)b4[2] << 8 | b4[3]);
			assert_int_equal(pwrite(fd, junk, 4 + (size_t)(rand_r(&seed) % 30), (off_t)end) > 0, 1);
			close(fd);
		}
		/* recovery: every acknowledged entry is there */
		log = audit_open(ad, NULL, AUDIT_WRITE);
		assert_non_null(log);
		size = audit_size(log);
		memset(present, 0, sizeof present);
		for (size_t i = 0; i < nacked; i++) {
			assert_true(acked[i] < size);
			present[acked[i]] = 1;
		}
		/* and each one reads back intact (spot-check the newest ones fully) */
		for (size_t i = nacked > 200 ? nacked - 200 : 0; i < nacked; i++) {
			assert_int_equal(audit_get(log, acked[i], &rec), 0);
			assert_string_equal(rec.e.user, "crash");
		}
		/* the recovered log takes the next entry at the next index, right
		 * where the cut was (no gap that a later reader would call damage) */
		{
			struct audit_entry e;
			uint64_t next;

			memset(&e, 0, sizeof e);
			e.kind = AUDIT_QUERY;
			e.ori = "CA0340000";
			e.user = "after";
			e.decision = AUDIT_DENY;
			assert_int_equal(audit_append_wait(log, &e, &next), 0);
			assert_true(next == size);
			size++;
		}
		audit_close(log);
		assert_int_equal(audit_verify(ad, NULL, 0, &res), 0);
		assert_true(res.entries == size);
	}
	fprintf(stderr, "    crash test: %d kills, %zu acknowledged entries, all present\n", ROUNDS, nacked);
	test_rmtree(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
