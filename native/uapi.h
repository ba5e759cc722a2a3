/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel ABI values the shim, the subject and the reproducers use, for libc headers older than
 * the kernel (values from include/uapi/asm-generic/mman-common.h and the unified syscall table),
 * and the subject's mapping kinds: the one table src/protocol/abi.ts is checked against.
 */
#ifndef RECLAIM_UAPI_H
#define RECLAIM_UAPI_H

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
/* reclaim-harness port (spec A2): process_madvise() flag for the whole address space */
#ifndef PMADV_FLAG_RANGE
#define PMADV_FLAG_RANGE 0x1
#endif

/* The subject's mapping kinds, by number (subject "map KIND", the reproducers' OP_MAP). */
enum map_kind { ANON_PRIVATE, ANON_SHARED, FILE_PRIVATE, FILE_SHARED, MEMFD, HUGETLB };

#endif
