// SPDX-License-Identifier: GPL-2.0
/*
 * Mutant schemata runtime for reclaim-harness: which mutant is live, and
 * which mutation sites have run since the last clear.
 *
 *   /sys/module/reclaim_mutant/parameters/mutant  0: none, N: mutant N
 *   /sys/module/reclaim_mutant/parameters/hits    read: the sites run (a
 *                                                 bitmap list); write: clear
 */
#include <linux/bitmap.h>
#include <linux/export.h>
#include <linux/moduleparam.h>
#include <linux/sprintf.h>
#include <asm/page.h>

#define RECLAIM_MUTANT_SITES (@SITES@ + 1)

int reclaim_mutant;
EXPORT_SYMBOL(reclaim_mutant);
module_param_named(mutant, reclaim_mutant, int, 0644);

static DECLARE_BITMAP(reclaim_mutant_sites, RECLAIM_MUTANT_SITES);

void reclaim_mutant_hit(int n)
{
	if (n > 0 && n < RECLAIM_MUTANT_SITES && !test_bit(n, reclaim_mutant_sites))
		set_bit(n, reclaim_mutant_sites);
}
EXPORT_SYMBOL(reclaim_mutant_hit);

static int hits_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%*pbl\n", RECLAIM_MUTANT_SITES, reclaim_mutant_sites);
}

static int hits_set(const char *val, const struct kernel_param *kp)
{
	bitmap_zero(reclaim_mutant_sites, RECLAIM_MUTANT_SITES);
	return 0;
}

static const struct kernel_param_ops hits_ops = {
	.set = hits_set,
	.get = hits_get,
};
module_param_cb(hits, &hits_ops, NULL, 0644);
