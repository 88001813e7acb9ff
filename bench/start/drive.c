/*
 * The timing driver of the benchmarks: runs a command and appends
 * per-container times, in nanoseconds, one a line, to a file.
 *
 *   drive seq N FILE -- CMD [ARGS...]
 *       runs CMD N times one after another (stdout to /dev/null); each run
 *       is one container; its wall time, fork to reaped, is one sample.
 *   drive ticks N FILE -- CMD [ARGS...]
 *       runs CMD once; CMD starts N containers itself and writes one byte
 *       to stdout when it is ready and one after each container; the time
 *       between two bytes is one sample.
 *   drive stats FILE
 *       prints "n median p10 p90 mean" of the samples, in microseconds.
 *
 * A command that fails (non-zero status, fewer bytes than promised) makes
 * drive fail, so that a broken tool never passes for a fast one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "drive: %s: %s\n", what, strerror(errno));
	exit(1);
}

static pid_t spawn(char **cmd, int out)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (out >= 0 && dup2(out, 1) < 0)
			_exit(127);
		execvp(cmd[0], cmd);
		fprintf(stderr, "drive: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid, char **cmd)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "drive: %s failed (status %#x)\n", cmd[0], status);
		return -1;
	}
	return 0;
}

static int seq(long n, FILE *f, char **cmd)
{
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null");
	for (long i = 0; i < n; i++) {
		int64_t t0 = now();
		pid_t pid = spawn(cmd, devnull);
		if (reap(pid, cmd) < 0)
			return 1;
		fprintf(f, "%lld\n", (long long)(now() - t0));
	}
	return 0;
}

static int ticks(long n, FILE *f, char **cmd)
{
	int p[2];
	char c;
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	pid_t pid = spawn(cmd, p[1]);
	close(p[1]);
	int64_t *t = calloc((size_t)n + 1, sizeof *t);
	long got = 0;
	while (got <= n) {
		ssize_t r = read(p[0], &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		t[got++] = now();
	}
	close(p[0]);
	if (reap(pid, cmd) < 0)
		return 1;
	if (got != n + 1) {
		fprintf(stderr, "drive: %s reported %ld containers of %ld\n", cmd[0],
		        got - 1, n);
		return 1;
	}
	for (long i = 1; i <= n; i++)
		fprintf(f, "%lld\n", (long long)(t[i] - t[i - 1]));
	free(t);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static int stats(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die(file);
	size_t n = 0, cap = 1024;
	double *v = malloc(cap * sizeof *v), x, sum = 0;
	while (fscanf(f, "%lf", &x) == 1) {
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[n++] = x / 1000.0;
		sum += x / 1000.0;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "drive: %s: no samples\n", file);
		return 1;
	}
	qsort(v, n, sizeof *v, cmp);
	printf("%zu %.1f %.1f %.1f %.1f\n", n, pct(v, n, 50), pct(v, n, 10),
	       pct(v, n, 90), sum / (double)n);
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "stats") == 0)
		return stats(argv[2]);
	if (argc < 6 || strcmp(argv[4], "--") != 0 ||
	    (strcmp(argv[1], "seq") != 0 && strcmp(argv[1], "ticks") != 0)) {
		fprintf(stderr, "usage: drive seq|ticks N FILE -- CMD [ARGS...]\n"
		                "       drive stats FILE\n");
		return 2;
	}
	long n = atol(argv[2]);
	FILE *f = fopen(argv[3], "a");
	if (!f)
		die(argv[3]);
	int r = argv[1][0] == 's' ? seq(n, f, argv + 5) : ticks(n, f, argv + 5);
	if (fclose(f) != 0)
		die(argv[3]);
	return r;
}
