/*
 * Stands in for ICU's 31 MB data library in the guest's Node tree: an empty,
 * invalid data package under the symbol libicuuc looks up, so ICU loads no data.
 * The harness uses no Intl API; what needs ICU data throws "Icu error".
 * Unpacking the initramfs costs about 8 ms per MB under TCG.
 */
const char ICU_DATA_SYMBOL[32] __attribute__((aligned(16))) = { 0 };
