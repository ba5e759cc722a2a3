// SPDX-License-Identifier: GPL-2.0
/*
 * reclaim-harness smoke probe for the userspace reclaim interfaces of the
 * qemu/patches/linux-6.12 series: /proc/PID/reclaim, PMADV_FLAG_RANGE,
 * process_madvise(MADV_DONTNEED) and /dev/shrinkmem.
 *
 * Build: aarch64-linux-gnu-gcc -static -O2 -o probe probe.c
 *
 * Runs as /init (then it mounts /proc, /sys and /dev itself and powers the
 * machine off at the end) or as a child of /init. Output is KTAP-like:
 *   ok N - name
 *   not ok N - name # reason
 *   ok N - name # SKIP reason
 * followed by "# probe done". On a kernel without the series, the checks
 * of the missing interfaces are reported as SKIP "not present".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef PMADV_FLAG_RANGE
#define PMADV_FLAG_RANGE 0x1
#endif

#define NR_PAGES 256
#define PM_SWAP (1ULL << 62)
#define PM_PRESENT (1ULL << 63)

static int test_nr;
static long page_size;
static int have_swap;

static void report(int ok, const char *name, const char *fmt, ...)
{
	char why[256] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	printf("%sok %d - %s%s%s\n", ok ? "" : "not ", ++test_nr, name,
	       why[0] ? " # " : "", why);
	fflush(stdout);
}

static void skip(const char *name, const char *reason)
{
	printf("ok %d - %s # SKIP %s\n", ++test_nr, name, reason);
	fflush(stdout);
}

static int write_str(const char *path, const char *s, ssize_t *ret)
{
	int fd = open(path, O_WRONLY);
	int err = 0;
	ssize_t n;

	if (fd < 0)
		return errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		err = errno;
	if (ret)
		*ret = n;
	close(fd);
	return err;
}

static long sys_pidfd_open(pid_t pid)
{
	return syscall(__NR_pidfd_open, pid, 0);
}

static long sys_process_madvise(int pidfd, const struct iovec *vec, size_t vlen,
			    int advice, unsigned int flags)
{
	return syscall(__NR_process_madvise, pidfd, vec, vlen, advice, flags);
}

/* Write a v1 swap header ("SWAPSPACE2") onto a block device, like mkswap. */
static int make_swap(const char *dev, unsigned long size)
{
	unsigned char *hdr = calloc(1, page_size);
	uint32_t *info = (uint32_t *)(hdr + 1024);
	int fd, ret = -1;

	if (!hdr)
		return -1;
	info[0] = 1;				/* version */
	info[1] = size / page_size - 1;		/* last_page */
	info[2] = 0;				/* nr_badpages */
	memcpy(hdr + page_size - 10, "SWAPSPACE2", 10);
	fd = open(dev, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, hdr, page_size) == page_size && !fsync(fd))
			ret = 0;
		close(fd);
	}
	free(hdr);
	return ret;
}

static void setup_swap(void)
{
	const char *name = "zram_swap";
	unsigned long size = 128UL << 20;
	char buf[4096];
	ssize_t n;
	int fd;

	fd = open("/proc/swaps", O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (strchr(buf, '\n') && strchr(buf, '\n')[1]) {
				have_swap = 1;
				report(1, name, "swap already active");
				return;
			}
		}
	}
	if (access("/sys/block/zram0/disksize", W_OK)) {
		skip(name, "no /sys/block/zram0");
		return;
	}
	snprintf(buf, sizeof(buf), "%lu", size);
	if (write_str("/sys/block/zram0/disksize", buf, NULL) && errno != EBUSY) {
		report(0, name, "disksize: %s", strerror(errno));
		return;
	}
	if (make_swap("/dev/zram0", size)) {
		report(0, name, "mkswap: %s", strerror(errno));
		return;
	}
	if (swapon("/dev/zram0", 0)) {
		report(0, name, "swapon: %s", strerror(errno));
		return;
	}
	have_swap = 1;
	report(1, name, NULL);
}

/* A child that dirties NR_PAGES anon pages and waits to be killed. */
struct child {
	pid_t pid;
	char *area;
	int check_fd;	/* write a byte: child verifies contents and exits */
};

static int start_child(struct child *c)
{
	int ready[2], go[2];
	char ch;

	c->area = mmap(NULL, NR_PAGES * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->area == MAP_FAILED)
		return -1;
	/* keep THP out of it: the check counts 4K entries */
	madvise(c->area, NR_PAGES * page_size, MADV_NOHUGEPAGE);
	if (pipe(ready) || pipe(go))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		int bad = 0;

		close(ready[0]);
		close(go[1]);
		for (long i = 0; i < NR_PAGES; i++)
			memset(c->area + i * page_size, (int)(i % 250) + 1,
			       page_size);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		if (read(go[0], &ch, 1) != 1)
			_exit(3);
		for (long i = 0; i < NR_PAGES; i++)
			if (c->area[i * page_size] != (char)(i % 250 + 1) ||
			    c->area[(i + 1) * page_size - 1] !=
			    (char)(i % 250 + 1))
				bad++;
		_exit(bad ? 1 : 0);
	}
	close(ready[1]);
	close(go[0]);
	c->check_fd = go[1];
	if (read(ready[0], &ch, 1) != 1)
		return -1;
	close(ready[0]);
	return 0;
}

/* Let the child verify its memory; returns its exit status. */
static int stop_child(struct child *c)
{
	int status = -1;

	if (write(c->check_fd, "g", 1) != 1)
		kill(c->pid, SIGKILL);
	close(c->check_fd);
	waitpid(c->pid, &status, 0);
	munmap(c->area, NR_PAGES * page_size);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int count_pagemap(pid_t pid, char *area, unsigned long long bit)
{
	char path[64];
	uint64_t ent[NR_PAGES];
	int fd, n = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	if (pread(fd, ent, sizeof(ent),
		  (uintptr_t)area / page_size * sizeof(uint64_t)) !=
	    sizeof(ent)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	for (int i = 0; i < NR_PAGES; i++)
		if (ent[i] & bit)
			n++;
	return n;
}

static int reclaim_present(void)
{
	return access("/proc/self/reclaim", F_OK) == 0;
}

static void check_reclaim_file(void)
{
	const char *name = "proc_reclaim_mode_0200";
	struct stat st;

	if (stat("/proc/self/reclaim", &st)) {
		skip(name, "not present");
		return;
	}
	if ((st.st_mode & 07777) != 0200)
		report(0, name, "mode %04o", st.st_mode & 07777);
	else
		report(1, name, NULL);
}

static void check_reclaim_anon(void)
{
	const char *name = "proc_reclaim_anon_swaps_child";
	struct child c;
	char path[64];
	ssize_t ret;
	int err, swapped, status;

	if (!reclaim_present()) {
		skip(name, "not present");
		return;
	}
	if (!have_swap) {
		skip(name, "no swap");
		return;
	}
	if (start_child(&c)) {
		report(0, name, "child setup: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/reclaim", c.pid);
	err = write_str(path, "anon\n", &ret);
	swapped = count_pagemap(c.pid, c.area, PM_SWAP);
	status = stop_child(&c);
	if (err)
		report(0, name, "write: %s", strerror(err));
	else if (ret != 5)
		report(0, name, "write returned %zd, expected 5", ret);
	else if (swapped != NR_PAGES)
		report(0, name, "%d/%d pages swapped", swapped, NR_PAGES);
	else if (status)
		report(0, name, "child saw corrupt contents (status %d)",
		       status);
	else
		report(1, name, "%d/%d swapped, contents intact", swapped,
		       NR_PAGES);
}

static void check_reclaim_bad_keyword(void)
{
	const char *name = "proc_reclaim_ALL_is_EINVAL";
	int err;

	if (!reclaim_present()) {
		skip(name, "not present");
		return;
	}
	err = write_str("/proc/self/reclaim", "ALL", NULL);
	if (err == EINVAL)
		report(1, name, NULL);
	else
		report(0, name, "got %s", err ? strerror(err) : "success");
}

static void check_shrinkmem(void)
{
	const char *name = "dev_shrinkmem_write_read";
	char buf[64], *end;
	ssize_t ret, n;
	int err, fd;

	if (access("/dev/shrinkmem", F_OK)) {
		skip(name, "not present");
		return;
	}
	err = write_str("/dev/shrinkmem", "1\n", &ret);
	if (err || ret != 2) {
		report(0, name, "write: %s ret %zd",
		       err ? strerror(err) : "short", ret);
		return;
	}
	fd = open("/dev/shrinkmem", O_RDONLY);
	if (fd < 0) {
		report(0, name, "open for read: %s", strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		report(0, name, "read: %s", n ? strerror(errno) : "empty");
		return;
	}
	buf[n] = 0;
	errno = 0;
	strtoul(buf, &end, 10);
	if (end == buf || *end != '\n' || errno)
		report(0, name, "read gave \"%s\"", buf);
	else
		report(1, name, "freed %lu pages", strtoul(buf, NULL, 10));
}

/* A child with written memory and a pidfd for it; reports and returns -1 on failure. */
static int start_child_pidfd(const char *name, struct child *c)
{
	int pidfd;

	if (start_child(c)) {
		report(0, name, "child setup: %s", strerror(errno));
		return -1;
	}
	pidfd = sys_pidfd_open(c->pid);
	if (pidfd < 0) {
		report(0, name, "pidfd_open: %s", strerror(errno));
		stop_child(c);
	}
	return pidfd;
}

static void check_pmadv_range(void)
{
	const char *name = "process_madvise_PAGEOUT_FLAG_RANGE";
	struct child c;
	long ret;
	int pidfd, err;

	pidfd = start_child_pidfd(name, &c);
	if (pidfd < 0)
		return;
	ret = sys_process_madvise(pidfd, NULL, 0, MADV_PAGEOUT, PMADV_FLAG_RANGE);
	err = errno;
	close(pidfd);
	stop_child(&c);
	if (ret == 0)
		report(1, name, NULL);
	else if (err == EINVAL)
		skip(name, "not present (EINVAL)");
	else
		report(0, name, "ret %ld: %s", ret, strerror(err));
}

static void check_dontneed_live(void)
{
	const char *name = "process_madvise_DONTNEED_live_is_EINVAL";
	struct child c;
	struct iovec iov;
	long ret;
	int pidfd, err;

	pidfd = start_child_pidfd(name, &c);
	if (pidfd < 0)
		return;
	iov.iov_base = c.area;
	iov.iov_len = NR_PAGES * page_size;
	ret = sys_process_madvise(pidfd, &iov, 1, MADV_DONTNEED, 0);
	err = errno;
	close(pidfd);
	/* the child must still see its data */
	if (stop_child(&c))
		report(0, name, "child memory was zapped");
	else if (ret == -1 && err == EINVAL)
		report(1, name, NULL);
	else
		report(0, name, "ret %ld errno %s", ret,
		       ret < 0 ? strerror(err) : "-");
}

static void mount_basics(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
}

int main(void)
{
	int is_init = getpid() == 1;
	struct utsname u;

	page_size = sysconf(_SC_PAGESIZE);
	if (is_init)
		mount_basics();
	setvbuf(stdout, NULL, _IOLBF, 0);
	uname(&u);
	printf("KTAP version 1\n# probe on %s %s %s\n", u.sysname, u.release,
	       u.machine);
	printf("1..7\n");

	check_reclaim_file();
	setup_swap();
	check_reclaim_anon();
	check_reclaim_bad_keyword();
	check_shrinkmem();
	check_pmadv_range();
	check_dontneed_live();

	printf("# probe done\n");
	fflush(stdout);
	if (is_init) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return 0;
}
