// reclaim-harness reproducer: @TITLE@
// (the runtime every reproducer shares: native/repro-runtime.c, with native/uapi.h inlined)
// Build: aarch64-linux-gnu-gcc (arm64 guest) or gcc (x86_64) -static -O2 -o repro repro.c
// Run as root: ./repro [DIR for file mappings, default /mnt/scratch or /tmp]
// Exit 1: the bug showed; 0: every check held; 2: the set-up failed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_EXCLUSIVE (1ULL << 56)
#define NPROC 3
#define UNUSED __attribute__((unused))
#define NMAP 64

enum { OP_MAP, OP_UNMAP, OP_TOUCH_READ, OP_TOUCH_WRITE, OP_TOUCH_ZERO, OP_ADVISE, OP_MLOCK, OP_MUNLOCK, OP_FORK, OP_WAIT, OP_READALL, OP_ADDR };
struct req { int op, map; long a, b, c; };
struct rep { long ret; int err; unsigned long addr; };
struct span { int map; long first, count, offset, len; };

static const char *names[NPROC] = {"P", "C", "Q"};
static int cmd_pipe[NPROC][2], rep_pipe[NPROC][2];
static pid_t pids[NPROC];
static int parent_of[NPROC] = {-1, 0, -1};
static long ps;
static char dir[200];

/* ---- worker side: one per process of the trace ---- */
static char *maddr[NMAP];
static long mpages[NMAP];
static unsigned char *gone[NMAP];

static void die(const char *what)
{
	fprintf(stderr, "repro: set-up failed: %s: %s\n", what, strerror(errno));
	exit(2);
}

static long range_end(int m, long first, long count)
{
	return count < 0 || first + count > mpages[m] ? mpages[m] : first + count;
}

static long do_map(int m, int kind, long pages, int locked)
{
	int flags = kind == ANON_PRIVATE ? MAP_PRIVATE | MAP_ANONYMOUS : kind == ANON_SHARED ? MAP_SHARED | MAP_ANONYMOUS : kind == HUGETLB ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB : kind == FILE_SHARED || kind == MEMFD ? MAP_SHARED : MAP_PRIVATE;
	int fd = -1;
	if (kind == FILE_PRIVATE || kind == FILE_SHARED) {
		char path[300];
		snprintf(path, sizeof(path), "%s/repro-%d-%d.dat", dir, (int)getpid(), m);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return -errno;
		char *buf = malloc(ps);
		for (long i = 0; i < pages; i++) {
			memset(buf, 0x40 + (int)(i % 64), ps);
			if (write(fd, buf, ps) != ps)
				return -EIO;
		}
		free(buf);
		fsync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	} else if (kind == MEMFD) {
		fd = memfd_create("repro", 0);
		if (fd < 0 || ftruncate(fd, pages * ps) < 0)
			return -errno;
	}
	void *p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, flags | (locked ? MAP_LOCKED : 0), fd, 0);
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED)
		return -errno;
	maddr[m] = p;
	mpages[m] = pages;
	gone[m] = calloc(pages, 1);
	return 0;
}

static void serve(int me);

static long handle(int me, struct req *q, struct rep *r)
{
	int m = q->map;
	long i, end;
	switch (q->op) {
	case OP_MAP:
		return do_map(m, (int)q->a, q->b, (int)q->c);
	case OP_ADDR:
		r->addr = (unsigned long)maddr[m];
		return 0;
	case OP_UNMAP:
		end = range_end(m, q->a, q->b);
		for (i = q->a; i < end; i++)
			gone[m][i] = 1;
		return munmap(maddr[m] + q->a * ps, (end - q->a) * ps) ? -errno : 0;
	case OP_TOUCH_READ:
	case OP_TOUCH_WRITE:
	case OP_TOUCH_ZERO:
		end = range_end(m, q->a, q->b);
		for (i = q->a; i < end; i++) {
			volatile char *c = maddr[m] + i * ps;
			if (gone[m][i])
				continue;
			if (q->op == OP_TOUCH_READ)
				(void)*c;
			else
				memset((char *)c, q->op == OP_TOUCH_ZERO ? 0 : (int)(0x41 + i % 50), ps);
		}
		return 0;
	case OP_ADVISE:
		end = range_end(m, q->a, q->b);
		return madvise(maddr[m] + q->a * ps, (end - q->a) * ps, (int)q->c) ? -errno : 0;
	case OP_MLOCK:
		return mlock(maddr[m], mpages[m] * ps) ? -errno : 0;
	case OP_MUNLOCK:
		return munlock(maddr[m], mpages[m] * ps) ? -errno : 0;
	case OP_FORK: {
		pid_t c = fork();
		if (c < 0)
			return -errno;
		if (c == 0)
			serve((int)m);
		return c;
	}
	case OP_WAIT:
		return waitpid((pid_t)q->a, NULL, 0) < 0 ? -errno : 0;
	case OP_READALL:
		for (m = 0; m < NMAP; m++)
			for (i = 0; maddr[m] && i < mpages[m]; i++)
				if (!gone[m][i])
					(void)*(volatile char *)(maddr[m] + i * ps);
		return 0;
	}
	return -EINVAL;
}

static void serve(int me)
{
	struct req q;
	for (;;) {
		if (read(cmd_pipe[me][0], &q, sizeof(q)) != sizeof(q))
			_exit(0);
		struct rep r = {0};
		long ret = handle(me, &q, &r);
		r.ret = ret < 0 ? -1 : ret;
		r.err = ret < 0 ? (int)-ret : 0;
		if (write(rep_pipe[me][1], &r, sizeof(r)) != sizeof(r))
			_exit(0);
	}
}

/* ---- controller side ---- */
static struct rep cmd(int p, int op, int map, long a, long b, long c)
{
	struct req q = {op, map, a, b, c};
	struct rep r = {-1, EPIPE, 0};
	if (write(cmd_pipe[p][1], &q, sizeof(q)) != sizeof(q) || read(rep_pipe[p][0], &r, sizeof(r)) != sizeof(r))
		fprintf(stderr, "repro: %s does not answer\n", names[p]);
	if (op == OP_FORK && r.ret > 0)
		pids[map] = (pid_t)r.ret;
	return r;
}

static unsigned long addr_of(int p, int map)
{
	return cmd(p, OP_ADDR, map, 0, 0, 0).addr;
}

static void spawn(int p)
{
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0)
		serve(p);
	pids[p] = c;
}

static long last_ret;
static int last_err;
static size_t UNUSED last_len; /* bytes the last write_file() passed */

static void record(long ret)
{
	last_ret = ret;
	last_err = ret < 0 ? errno : 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
	last_len = len;
	int fd = open(path, O_WRONLY);
	if (fd < 0) {
		record(-1);
		return;
	}
	record(write(fd, data, len));
	close(fd);
}

static void UNUSED reclaim_text(int p, const char *text, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/reclaim", (int)pids[p]);
	write_file(path, text, len);
}

static void UNUSED reclaim_range(int p, int map, long first, long count, long extra)
{
	char text[64];
	unsigned long a = addr_of(p, map);
	int n = snprintf(text, sizeof(text), "0x%lx %ld", a + first * ps, count * ps + extra);
	reclaim_text(p, text, (size_t)n);
}

static int pidfd(int p)
{
	return (int)syscall(SYS_pidfd_open, pids[p], 0);
}

static void UNUSED pmadvise(int p, const struct span *v, int n, int advice, unsigned flags)
{
	struct iovec iov[1100];
	for (int i = 0; i < n; i++) {
		unsigned long a = addr_of(p, v[i].map);
		iov[i].iov_base = (void *)(a + v[i].first * ps + v[i].offset);
		iov[i].iov_len = v[i].len >= 0 ? (size_t)v[i].len : (size_t)v[i].count * ps;
	}
	int fd = pidfd(p);
	record(syscall(SYS_process_madvise, fd, n ? iov : NULL, (size_t)n, advice, flags));
	close(fd);
}

static int fds[NPROC] = {-1, -1, -1};

static void UNUSED sigkill(int p)
{
	fds[p] = pidfd(p);
	kill(pids[p], SIGKILL);
}

static void UNUSED mrelease(int p, unsigned flags)
{
	record(syscall(SYS_process_mrelease, fds[p] >= 0 ? fds[p] : pidfd(p), flags));
}

static void UNUSED reap(int p)
{
	if (parent_of[p] >= 0)
		cmd(parent_of[p], OP_WAIT, 0, pids[p], 0, 0);
	else
		waitpid(pids[p], NULL, 0);
}

static void UNUSED shrinkmem(const char *text)
{
	write_file("/dev/shrinkmem", text, strlen(text));
}

/* Workers hold every pipe end: they go when the controller does, on every exit path. */
static void finish(void)
{
	for (int p = 0; p < NPROC; p++)
		if (pids[p] > 0)
			kill(pids[p], SIGKILL);
}

static void setup(const char *d)
{
	atexit(finish);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one); /* workers inherit it: one CPU, as in the harness */
	ps = sysconf(_SC_PAGESIZE);
	struct stat st;
	snprintf(dir, sizeof(dir), "%s", d ? d : stat("/mnt/scratch", &st) == 0 ? "/mnt/scratch" : "/tmp");
	for (int p = 0; p < NPROC; p++)
		if (pipe(cmd_pipe[p]) || pipe(rep_pipe[p]))
			die("pipe");
}

static void UNUSED check_ret(const char *what, int ok)
{
	if (!ok) {
		printf("repro: BUG: %s: ret %ld errno %d (%s)\n", what, last_ret, last_err, strerror(last_err));
		exit(1);
	}
}

static void UNUSED check_page(int p, int map, long page, unsigned long long want, int excl, const char *why)
{
	char path[64];
	unsigned long long e = 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pids[p]);
	int fd = open(path, O_RDONLY);
	unsigned long a = addr_of(p, map) + page * ps;
	if (fd < 0 || pread(fd, &e, 8, (off_t)(a / ps) * 8) != 8)
		die("pagemap");
	close(fd);
	unsigned long long got = e & (PM_PRESENT | PM_SWAP);
	int x = !!(e & PM_EXCLUSIVE);
	if (got != want || (excl >= 0 && got == PM_PRESENT && x != excl)) {
		printf("repro: BUG: %s page %ld of mapping %d (0x%lx): pagemap 0x%llx (present %d swapped %d exclusive %d), expected %s%s\n  %s\n",
		       names[p], page, map, a, e, !!(e & PM_PRESENT), !!(e & PM_SWAP), x,
		       want == PM_PRESENT ? "present" : want == PM_SWAP ? "swapped" : "not present",
		       excl < 0 ? "" : excl ? ", exclusive" : ", not exclusive", why);
		exit(1);
	}
}

