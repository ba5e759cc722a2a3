// The environment the agent reads, set by the guest's init (qemu/guest/init), the target bundle's
// launcher, or the host for --target local and ssh: one name each.
export const ENV = {
  /** the N-API shim, reclaim_shim.node (also what native.ts loads by default) */
  shim: 'RECLAIM_SHIM',
  /** the static subject binary */
  subject: 'RECLAIM_SUBJECT',
  /** Node itself, to start workers, where Node runs through its own loader */
  node: 'RECLAIM_NODE',
  /** the swap device the suite turns on and off (/dev/zram0) */
  swapDev: 'RECLAIM_SWAP_DEV',
  /** the scratch directory on a disk file system (/mnt/scratch) */
  scratch: 'RECLAIM_SCRATCH',
  /** why the target has no swap of its own */
  noSwap: 'RECLAIM_NO_SWAP',
  /** a file the init writes once swap and scratch are set up */
  staged: 'RECLAIM_STAGED',
  /** MiB of zram, or none: the agent stages the machine itself (a board, --target local) */
  stageSwap: 'RECLAIM_STAGE_SWAP',
} as const;
