// subject: a workload whose memory the harness reclaims.
//
// It reads one command per line and answers each with one JSON line. Every
// page it writes carries a self-describing pattern (tag, page index,
// generation), so `verify` can tell a lost page (zero), a stale one (older
// generation) and a misplaced one (another page's data) apart. Commands:
//
//   map KIND PAGES [PATH] [locked] [thp|nothp] [keep]
//       KIND: anon-private anon-shared file-private file-shared memfd hugetlb
//       file kinds take PATH; the file is recreated with generation-1 pages,
//       synced and dropped from the page cache, unless `keep` is given.
//   unmap ID [FIRST COUNT]
//   touch ID read|write|zero [FIRST COUNT]   zero: write zero bytes (private anon)
//   mlock ID [FIRST COUNT] / munlock ID [FIRST COUNT]
//   madvise ID free|cold|pageout|dontneed|willneed|hugepage|nohugepage|
//              mergeable|unmergeable [FIRST COUNT]
//   msync ID [sync|async|invalidate]
//   fork SOCKPATH   child connects to the unix socket SOCKPATH and serves it
//   wait PID        waitpid() on a forked child
//   reapall         reap every child that has exited (waitpid WNOHANG)
//   verify [ID]
//   open PATH rdonly|wronly   an fd to PATH, kept across setuid
//   write FD HEX    one write(2) of the bytes HEX spells: the count or the errno
//   write FD fault  one write(2) of 4 bytes from an unmapped address (EFAULT paths)
//   close FD
//   setuid UID      drop to UID (real, effective and saved; gid the same)
//   info
//   exit [CODE]
//
// Replies: {"ok":true,...} or {"ok":false,"error":"EINVAL","errno":22,"msg":"..."}.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi.h"

#define MAX_MAPS 256
#define MAX_BAD_LISTED 64
#define MAGIC 0x5245434c41494d00ULL /* "RECLAIM\0" */

static const char *kind_names[] = {"anon-private", "anon-shared", "file-private",
				   "file-shared", "memfd", "hugetlb"};

/* Per-page expectation held by this process. */
#define PG_OWN 1	/* written by this process in a private mapping: exact gen */
#define PG_LAZY 2	/* MADV_FREE'd since last write: zero is allowed */
#define PG_GONE 4	/* unmapped */

struct map {
	int used;
	enum map_kind kind;
	char *addr;
	size_t pages;
	uint64_t tag;
	char path[256];
	int locked, thp;
	uint32_t *gen;	/* expected generation; 0 = never written (zero page) */
	uint8_t *flags;
};

static struct map maps[MAX_MAPS];
static size_t page_size;
static int in_fd = 0, out_fd = 1;

/* ---- output ---- */

static char *out;
static size_t out_len, out_cap;

static void put(const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
		va_end(ap);
		if (n >= 0 && out_len + (size_t)n < out_cap) {
			out_len += n;
			return;
		}
		out_cap = out_cap ? out_cap * 2 : 4096;
		out = realloc(out, out_cap);
		if (!out)
			_exit(3);
	}
}

static void flush_reply(void)
{
	put("\n");
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = write(out_fd, out + off, out_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(2);
		off += n;
	}
	out_len = 0;
}

static int fail(int err, const char *what)
{
	const char *name = strerrorname_np(err);
	out_len = 0;
	put("{\"ok\":false,\"error\":\"%s\",\"errno\":%d,\"msg\":\"%s: %s\"}",
	    name ? name : "EUNKNOWN", err, what, strerror(err));
	return -1;
}

static int usage(const char *what)
{
	out_len = 0;
	put("{\"ok\":false,\"error\":\"EUSAGE\",\"errno\":0,\"msg\":\"%s\"}", what);
	return -1;
}

/* ---- patterns ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static void fill_page(uint64_t *w, uint64_t tag, uint64_t index, uint32_t gen)
{
	uint64_t seed = mix(tag ^ mix(index ^ ((uint64_t)gen << 40)));
	size_t n = page_size / 8;
	w[0] = MAGIC ^ tag;
	w[1] = index;
	w[2] = gen;
	for (size_t k = 3; k < n; k++)
		w[k] = seed ^ (k * 0x9e3779b97f4a7c15ULL);
}

/* What a page holds: zero, a consistent pattern page, or garbage. */
struct seen {
	enum { SEEN_ZERO, SEEN_PATTERN, SEEN_GARBAGE } what;
	uint64_t tag, index;
	uint32_t gen;
};

static struct seen classify(const uint64_t *w)
{
	struct seen s = {SEEN_GARBAGE, 0, 0, 0};
	size_t n = page_size / 8, k;
	for (k = 0; k < n && !w[k]; k++)
		;
	if (k == n) {
		s.what = SEEN_ZERO;
		return s;
	}
	s.tag = w[0] ^ MAGIC;
	s.index = w[1];
	s.gen = (uint32_t)w[2];
	if (w[2] >> 32)
		return s;
	uint64_t seed = mix(s.tag ^ mix(s.index ^ ((uint64_t)s.gen << 40)));
	for (k = 3; k < n; k++)
		if (w[k] != (seed ^ (k * 0x9e3779b97f4a7c15ULL)))
			return s;
	s.what = SEEN_PATTERN;
	return s;
}

/* ---- argument helpers ---- */

static int parse_ulong(const char *s, unsigned long *v)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

static struct map *get_map(const char *id_s)
{
	unsigned long id;
	if (parse_ulong(id_s, &id) || id >= MAX_MAPS || !maps[id].used)
		return NULL;
	return &maps[id];
}

/* Optional FIRST COUNT after the required arguments; defaults to the whole map. */
static int page_range(struct map *m, char **tok, int ntok, int at, size_t *first, size_t *count)
{
	unsigned long f = 0, c = m->pages;
	if (ntok > at && parse_ulong(tok[at], &f))
		return -1;
	if (ntok > at + 1 && parse_ulong(tok[at + 1], &c))
		return -1;
	else if (ntok == at + 1)
		c = m->pages - (f < m->pages ? f : m->pages);
	if (f > m->pages || c > m->pages - f)
		return -1;
	*first = f;
	*count = c;
	return 0;
}

static int is_private(const struct map *m)
{
	return m->kind == ANON_PRIVATE || m->kind == FILE_PRIVATE || m->kind == HUGETLB;
}

static int is_file(const struct map *m)
{
	return m->kind == FILE_PRIVATE || m->kind == FILE_SHARED;
}

/* ---- commands ---- */

static int write_file_pattern(int fd, uint64_t tag, size_t pages)
{
	uint64_t *buf = malloc(page_size);
	if (!buf)
		return -1;
	for (size_t i = 0; i < pages; i++) {
		fill_page(buf, tag, i, 1);
		if (pwrite(fd, buf, page_size, (off_t)(i * page_size)) != (ssize_t)page_size) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	if (fsync(fd) < 0)
		return -1;
	return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) ? -1 : 0;
}

static size_t thp_size(void)
{
	unsigned long v = 2UL << 20;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 2UL << 20;
		fclose(f);
	}
	return v;
}

static void put_map(int id)
{
	struct map *m = &maps[id];
	put("{\"id\":%d,\"kind\":\"%s\",\"addr\":\"0x%lx\",\"pages\":%zu,\"bytes\":%zu,"
	    "\"locked\":%s,\"thp\":%s",
	    id, kind_names[m->kind], (unsigned long)m->addr, m->pages, m->pages * page_size,
	    m->locked ? "true" : "false", m->thp > 0 ? "true" : m->thp < 0 ? "false" : "null");
	if (is_file(m))
		put(",\"path\":\"%s\"", m->path);
	put("}");
}

static int cmd_map(char **tok, int ntok)
{
	int k, id, fd = -1, prot = PROT_READ | PROT_WRITE, flags;
	unsigned long pages, align_to = 0;
	const char *path = NULL;
	int locked = 0, thp = 0, keep = 0;

	if (ntok < 3 || parse_ulong(tok[2], &pages) || pages == 0)
		return usage("map KIND PAGES [PATH] [locked] [thp|nothp] [keep] [align=BYTES]");
	for (k = 0; k < 6 && strcmp(tok[1], kind_names[k]); k++)
		;
	if (k == 6)
		return usage("unknown map kind");
	struct map m = {.used = 1, .kind = k, .pages = pages};
	int at = 3;
	if (is_file(&m)) {
		if (ntok < 4)
			return usage("file mappings need a PATH");
		path = tok[3];
		at = 4;
	}
	for (; at < ntok; at++) {
		if (!strcmp(tok[at], "locked"))
			locked = 1;
		else if (!strcmp(tok[at], "thp"))
			thp = 1;
		else if (!strcmp(tok[at], "nothp"))
			thp = -1;
		else if (!strcmp(tok[at], "keep"))
			keep = 1;
		else if (!strncmp(tok[at], "align=", 6)) {
			if (parse_ulong(tok[at] + 6, &align_to) || !align_to || (align_to & (align_to - 1)))
				return usage("align=BYTES wants a power of two");
		} else
			return usage("unknown map option");
	}
	for (id = 0; id < MAX_MAPS && maps[id].used; id++)
		;
	if (id == MAX_MAPS)
		return fail(ENOSPC, "map table");

	size_t len = pages * page_size;
	m.tag = 0xa000 + id;
	switch (m.kind) {
	case ANON_PRIVATE: flags = MAP_PRIVATE | MAP_ANONYMOUS; break;
	case ANON_SHARED: flags = MAP_SHARED | MAP_ANONYMOUS; break;
	case HUGETLB: flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB; break;
	case MEMFD:
		flags = MAP_SHARED;
		fd = memfd_create("subject", 0);
		if (fd < 0)
			return fail(errno, "memfd_create");
		if (ftruncate(fd, (off_t)len) < 0) {
			int e = errno;
			close(fd);
			return fail(e, "ftruncate");
		}
		break;
	default:
		flags = m.kind == FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		snprintf(m.path, sizeof(m.path), "%s", path);
		m.tag = fnv1a(m.path);
		fd = open(path, keep ? O_RDWR : O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return fail(errno, "open");
		if (!keep && write_file_pattern(fd, m.tag, pages) < 0) {
			int e = errno;
			close(fd);
			return fail(e, "write file");
		}
		break;
	}

	/*
	 * Each mapping sits between PROT_NONE guard pages, so it never merges
	 * with a neighbour into one VMA; THP and hugetlb get a PMD-aligned start,
	 * and align=BYTES a start aligned to that (an mTHP folio size).
	 */
	size_t align = (thp > 0 || m.kind == HUGETLB) ? thp_size() : page_size;
	if (align_to > align)
		align = align_to;
	size_t span = len + 2 * page_size + align;
	char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(e, "mmap (reserve)");
	}
	char *addr = (char *)(((uintptr_t)raw + page_size + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(addr, len, prot, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
		int e = errno;
		munmap(raw, span);
		if (fd >= 0)
			close(fd);
		return fail(e, "mmap");
	}
	if (fd >= 0)
		close(fd);
	if (thp && madvise(addr, len, thp > 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0) {
		int e = errno;
		munmap(addr, len);
		return fail(e, "madvise(HUGEPAGE)");
	}
	if (locked && mlock(addr, len) < 0) {
		int e = errno;
		munmap(addr, len);
		return fail(e, "mlock");
	}
	m.addr = addr;
	m.locked = locked;
	m.thp = thp;
	m.gen = calloc(pages, sizeof(*m.gen));
	m.flags = calloc(pages, 1);
	if (!m.gen || !m.flags)
		return fail(ENOMEM, "expectation table");
	if (is_file(&m))
		for (size_t i = 0; i < pages; i++)
			m.gen[i] = 1;
	maps[id] = m;
	put("{\"ok\":true,\"map\":");
	put_map(id);
	put("}");
	return 0;
}

static int cmd_unmap(char **tok, int ntok)
{
	struct map *m = get_map(ntok > 1 ? tok[1] : NULL);
	size_t first, count;
	if (!m || page_range(m, tok, ntok, 2, &first, &count))
		return usage("unmap ID [FIRST COUNT]");
	if (munmap(m->addr + first * page_size, count * page_size) < 0)
		return fail(errno, "munmap");
	for (size_t i = first; i < first + count; i++)
		m->flags[i] |= PG_GONE;
	size_t live = 0;
	for (size_t i = 0; i < m->pages; i++)
		live += !(m->flags[i] & PG_GONE);
	if (!live) {
		free(m->gen);
		free(m->flags);
		memset(m, 0, sizeof(*m));
	}
	put("{\"ok\":true,\"pages\":%zu}", count);
	return 0;
}

static int cmd_touch(char **tok, int ntok)
{
	struct map *m = get_map(ntok > 1 ? tok[1] : NULL);
	size_t first, count, done = 0;
	int how;
	if (!m || ntok < 3 || page_range(m, tok, ntok, 3, &first, &count))
		return usage("touch ID read|write|zero [FIRST COUNT]");
	if (!strcmp(tok[2], "read"))
		how = 0;
	else if (!strcmp(tok[2], "write"))
		how = 1;
	else if (!strcmp(tok[2], "zero") && is_private(m) && !is_file(m))
		how = 2;
	else
		return usage("touch ID read|write|zero [FIRST COUNT] (zero: private anon only)");
	for (size_t i = first; i < first + count; i++) {
		if (m->flags[i] & PG_GONE)
			continue;
		volatile uint64_t *w = (volatile uint64_t *)(m->addr + i * page_size);
		if (how == 0) {
			(void)w[0];
		} else if (how == 2) {
			/* Written, but all zero: identical pages for KSM to merge. */
			memset((void *)w, 0, page_size);
			m->gen[i] = 0;
			m->flags[i] = PG_OWN;
		} else {
			/*
			 * Never move a shared page's generation backwards. A private
			 * anon page never written holds nothing to look at: writing
			 * without reading first lets a THP mapping fault in a real
			 * huge page instead of the huge zero page.
			 */
			uint32_t g = m->gen[i];
			if (g || m->kind != ANON_PRIVATE) {
				struct seen s = classify((const uint64_t *)w);
				if (s.what == SEEN_PATTERN && s.tag == m->tag && s.index == i && s.gen > g)
					g = s.gen;
			}
			m->gen[i] = g + 1;
			fill_page((uint64_t *)w, m->tag, i, m->gen[i]);
			m->flags[i] = is_private(m) ? PG_OWN : 0;
		}
		done++;
	}
	put("{\"ok\":true,\"pages\":%zu}", done);
	return 0;
}

static int cmd_lock(char **tok, int ntok, int lock)
{
	struct map *m = get_map(ntok > 1 ? tok[1] : NULL);
	size_t first, count;
	if (!m || page_range(m, tok, ntok, 2, &first, &count))
		return usage("mlock|munlock ID [FIRST COUNT]");
	char *a = m->addr + first * page_size;
	if ((lock ? mlock(a, count * page_size) : munlock(a, count * page_size)) < 0)
		return fail(errno, lock ? "mlock" : "munlock");
	if (first == 0 && count == m->pages)
		m->locked = lock;
	put("{\"ok\":true,\"pages\":%zu}", count);
	return 0;
}

static int cmd_madvise(char **tok, int ntok)
{
	static const struct { const char *name; int advice; } advs[] = {
		{"free", MADV_FREE}, {"cold", MADV_COLD}, {"pageout", MADV_PAGEOUT},
		{"dontneed", MADV_DONTNEED}, {"willneed", MADV_WILLNEED},
		{"hugepage", MADV_HUGEPAGE}, {"nohugepage", MADV_NOHUGEPAGE},
		{"mergeable", MADV_MERGEABLE}, {"unmergeable", MADV_UNMERGEABLE},
	};
	struct map *m = get_map(ntok > 1 ? tok[1] : NULL);
	size_t first, count, k;
	if (!m || ntok < 3 || page_range(m, tok, ntok, 3, &first, &count))
		return usage("madvise ID ADVICE [FIRST COUNT]");
	for (k = 0; k < sizeof(advs) / sizeof(advs[0]) && strcmp(tok[2], advs[k].name); k++)
		;
	if (k == sizeof(advs) / sizeof(advs[0]))
		return usage("advice: free cold pageout dontneed willneed hugepage nohugepage mergeable unmergeable");
	if (madvise(m->addr + first * page_size, count * page_size, advs[k].advice) < 0)
		return fail(errno, "madvise");
	for (size_t i = first; i < first + count; i++) {
		if (advs[k].advice == MADV_FREE)
			m->flags[i] |= PG_LAZY;
		if (advs[k].advice == MADV_DONTNEED && is_private(m)) {
			/* Private pages go back to zero (anon) or to the file's data. */
			m->gen[i] = is_file(m) ? 1 : 0;
			m->flags[i] &= PG_GONE;
		}
	}
	put("{\"ok\":true,\"pages\":%zu}", count);
	return 0;
}

static int cmd_msync(char **tok, int ntok)
{
	struct map *m = get_map(ntok > 1 ? tok[1] : NULL);
	int how = MS_SYNC;
	if (!m)
		return usage("msync ID [sync|async|invalidate]");
	if (ntok > 2 && !strcmp(tok[2], "async"))
		how = MS_ASYNC;
	else if (ntok > 2 && !strcmp(tok[2], "invalidate"))
		how = MS_INVALIDATE;
	else if (ntok > 2 && strcmp(tok[2], "sync"))
		return usage("msync ID [sync|async|invalidate]");
	if (msync(m->addr, m->pages * page_size, how) < 0)
		return fail(errno, "msync");
	put("{\"ok\":true}");
	return 0;
}

static int cmd_fork(char **tok, int ntok)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (ntok < 2 || strlen(tok[1]) >= sizeof(sa.sun_path))
		return usage("fork SOCKPATH");
	strcpy(sa.sun_path, tok[1]);
	pid_t pid = fork();
	if (pid < 0)
		return fail(errno, "fork");
	if (pid > 0) {
		put("{\"ok\":true,\"child\":%d}", pid);
		return 0;
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(4);
	in_fd = out_fd = s;
	put("{\"ok\":true,\"hello\":%d,\"ppid\":%d}", getpid(), getppid());
	return 1; /* reset the line reader: this is a new channel */
}

static int cmd_wait(char **tok, int ntok)
{
	unsigned long pid;
	int status;
	if (ntok < 2 || parse_ulong(tok[1], &pid))
		return usage("wait PID");
	if (waitpid((pid_t)pid, &status, 0) < 0)
		return fail(errno, "waitpid");
	if (WIFSIGNALED(status))
		put("{\"ok\":true,\"pid\":%lu,\"signal\":%d}", pid, WTERMSIG(status));
	else
		put("{\"ok\":true,\"pid\":%lu,\"exit\":%d}", pid, WEXITSTATUS(status));
	return 0;
}

static int cmd_reapall(void)
{
	int n = 0, status;
	while (waitpid(-1, &status, WNOHANG) > 0)
		n++;
	put("{\"ok\":true,\"reaped\":%d}", n);
	return 0;
}

static const char *seen_name(struct seen s, char *buf, size_t n)
{
	if (s.what == SEEN_ZERO)
		return "zero";
	if (s.what == SEEN_GARBAGE)
		return "garbage";
	snprintf(buf, n, "tag:0x%llx/page:%llu/gen:%u", (unsigned long long)s.tag,
		 (unsigned long long)s.index, s.gen);
	return buf;
}

static int page_ok(const struct map *m, size_t i, struct seen s)
{
	if (s.what == SEEN_ZERO)
		return m->gen[i] == 0 || (m->flags[i] & PG_LAZY);
	if (s.what != SEEN_PATTERN || s.tag != m->tag || s.index != i)
		return 0;
	if (m->flags[i] & PG_OWN)
		return s.gen == m->gen[i];
	return s.gen >= m->gen[i];
}

static int cmd_verify(char **tok, int ntok)
{
	size_t checked = 0, bad = 0;
	struct map *only = NULL;
	char buf[96];
	if (ntok > 1 && !(only = get_map(tok[1])))
		return usage("verify [ID]");
	put("{\"ok\":true,\"bad\":[");
	for (int id = 0; id < MAX_MAPS; id++) {
		struct map *m = &maps[id];
		if (!m->used || (only && only != m))
			continue;
		for (size_t i = 0; i < m->pages; i++) {
			if (m->flags[i] & PG_GONE)
				continue;
			struct seen s = classify((const uint64_t *)(m->addr + i * page_size));
			checked++;
			if (page_ok(m, i, s))
				continue;
			if (bad++ < MAX_BAD_LISTED)
				put("%s{\"map\":%d,\"page\":%zu,\"addr\":\"0x%lx\",\"expect\":\"%s%u\","
				    "\"found\":\"%s\"}",
				    bad > 1 ? "," : "", id, i,
				    (unsigned long)(m->addr + i * page_size),
				    m->flags[i] & PG_OWN ? "gen:" : "gen>=", m->gen[i],
				    seen_name(s, buf, sizeof(buf)));
		}
	}
	put("],\"checked\":%zu,\"badCount\":%zu}", checked, bad);
	return 0;
}

static int cmd_open(char **tok, int ntok)
{
	int flags;
	if (ntok < 3)
		return usage("open PATH rdonly|wronly");
	if (!strcmp(tok[2], "rdonly"))
		flags = O_RDONLY;
	else if (!strcmp(tok[2], "wronly"))
		flags = O_WRONLY;
	else
		return usage("open PATH rdonly|wronly");
	int fd = open(tok[1], flags | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open");
	put("{\"ok\":true,\"fd\":%d}", fd);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int cmd_write(char **tok, int ntok)
{
	static char buf[1024];
	unsigned long fd;
	size_t n = 0;
	const char *hex = ntok > 2 ? tok[2] : "";
	if (ntok < 2 || parse_ulong(tok[1], &fd))
		return usage("write FD HEX|fault");
	if (!strcmp(hex, "fault")) {
		/* Page 0 is never mapped: the kernel's copy from user space faults. */
		const void *volatile unmapped = (const void *)16;
		ssize_t ret = write((int)fd, unmapped, 4);
		if (ret < 0)
			return fail(errno, "write");
		put("{\"ok\":true,\"ret\":%zd}", ret);
		return 0;
	}
	if (strlen(hex) % 2 || strlen(hex) / 2 > sizeof(buf))
		return usage("write FD HEX|fault");
	for (; hex[2 * n]; n++) {
		int hi = hexval(hex[2 * n]), lo = hexval(hex[2 * n + 1]);
		if (hi < 0 || lo < 0)
			return usage("write FD HEX: lower-case hex digits");
		buf[n] = (char)(hi << 4 | lo);
	}
	ssize_t ret = write((int)fd, buf, n);
	if (ret < 0)
		return fail(errno, "write");
	put("{\"ok\":true,\"ret\":%zd}", ret);
	return 0;
}

static int cmd_close(char **tok, int ntok)
{
	unsigned long fd;
	if (ntok < 2 || parse_ulong(tok[1], &fd))
		return usage("close FD");
	if (close((int)fd) < 0)
		return fail(errno, "close");
	put("{\"ok\":true}");
	return 0;
}

static int cmd_setuid(char **tok, int ntok)
{
	unsigned long uid;
	if (ntok < 2 || parse_ulong(tok[1], &uid))
		return usage("setuid UID");
	if (setgroups(0, NULL) < 0)
		return fail(errno, "setgroups");
	if (setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0)
		return fail(errno, "setresgid");
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		return fail(errno, "setresuid");
	put("{\"ok\":true,\"uid\":%d}", (int)getuid());
	return 0;
}

static int cmd_info(void)
{
	int first = 1;
	put("{\"ok\":true,\"pid\":%d,\"ppid\":%d,\"pageSize\":%zu,\"maps\":[", getpid(),
	    getppid(), page_size);
	for (int id = 0; id < MAX_MAPS; id++) {
		if (!maps[id].used)
			continue;
		put(first ? "" : ",");
		put_map(id);
		first = 0;
	}
	put("]}");
	return 0;
}

/* Returns 1 when the channel changed (forked child). */
static int dispatch(char *line)
{
	char *tok[16];
	int ntok = 0;
	for (char *p = strtok(line, " \t\r"); p && ntok < 16; p = strtok(NULL, " \t\r"))
		tok[ntok++] = p;
	if (!ntok)
		return usage("empty command"), 0;
	const char *c = tok[0];
	if (!strcmp(c, "map"))
		cmd_map(tok, ntok);
	else if (!strcmp(c, "unmap"))
		cmd_unmap(tok, ntok);
	else if (!strcmp(c, "touch"))
		cmd_touch(tok, ntok);
	else if (!strcmp(c, "mlock"))
		cmd_lock(tok, ntok, 1);
	else if (!strcmp(c, "munlock"))
		cmd_lock(tok, ntok, 0);
	else if (!strcmp(c, "madvise"))
		cmd_madvise(tok, ntok);
	else if (!strcmp(c, "msync"))
		cmd_msync(tok, ntok);
	else if (!strcmp(c, "fork"))
		return cmd_fork(tok, ntok) == 1;
	else if (!strcmp(c, "wait"))
		cmd_wait(tok, ntok);
	else if (!strcmp(c, "reapall"))
		cmd_reapall();
	else if (!strcmp(c, "verify"))
		cmd_verify(tok, ntok);
	else if (!strcmp(c, "open"))
		cmd_open(tok, ntok);
	else if (!strcmp(c, "write"))
		cmd_write(tok, ntok);
	else if (!strcmp(c, "close"))
		cmd_close(tok, ntok);
	else if (!strcmp(c, "setuid"))
		cmd_setuid(tok, ntok);
	else if (!strcmp(c, "info"))
		cmd_info();
	else if (!strcmp(c, "exit")) {
		unsigned long code = 0;
		if (ntok > 1 && parse_ulong(tok[1], &code))
			return usage("exit [CODE]"), 0;
		put("{\"ok\":true,\"exiting\":%lu}", code);
		flush_reply();
		_exit((int)code);
	} else
		usage("unknown command");
	return 0;
}

int main(void)
{
	static char line[4096];
	size_t have = 0;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	for (;;) {
		char *nl = memchr(line, '\n', have);
		if (!nl) {
			if (have == sizeof(line) - 1)
				have = 0; /* overlong line: drop it */
			ssize_t n = read(in_fd, line + have, sizeof(line) - 1 - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;
			have += n;
			continue;
		}
		*nl = 0;
		size_t used = nl + 1 - line;
		int forked = dispatch(line);
		flush_reply();
		if (forked) {
			have = 0; /* the parent's unread input is not ours */
			continue;
		}
		memmove(line, line + used, have - used);
		have -= used;
	}
}
