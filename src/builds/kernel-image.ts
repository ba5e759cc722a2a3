// Kernel image files: an arm64 Image (Documentation/arch/arm64/booting.rst), gzipped or not, and an
// x86 bzImage (Documentation/arch/x86/boot.rst): what is wrong with one, and the release it was built as.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { gunzipSync, constants as zlib } from 'node:zlib';
import { DEFAULT_ARCH, type Arch } from './arch.js';

/** The first bytes of a file (fewer if it is shorter). */
export function head(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** The arm64 Image header's magic, "ARM\x64" at 0x38. */
const isArm64Image = (h: Buffer) => h.length >= 64 && h.readUInt32LE(0x38) === 0x644d5241;
/** The x86 boot protocol's header: "HdrS" at 0x202. */
const isBzImage = (h: Buffer) => h.length >= 0x206 && h.toString('latin1', 0x202, 0x206) === 'HdrS';

/** What is wrong with a file as the arch's kernel for QEMU's -kernel, or undefined. */
export function kernelImageProblem(path: string, arch: Arch = DEFAULT_ARCH): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'no such file';
  }
  if (!st.isFile()) return 'not a regular file';
  let h: Buffer;
  try {
    h = head(path, 1 << 16);
  } catch (e) {
    return `cannot read it (${(e as NodeJS.ErrnoException).code})`;
  }
  if (arch === 'x86_64') return bzImageProblem(h);
  if (h[0] === 0x1f && h[1] === 0x8b) {
    let inner: Buffer;
    try {
      inner = gunzipSync(h, { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch {
      return 'gzip data that does not decompress';
    }
    const p = imageProblem(inner);
    return p && `gzip-compressed, and inside: ${p}`;
  }
  return imageProblem(h);
}

function bzImageProblem(h: Buffer): string | undefined {
  if (isBzImage(h)) return undefined;
  const not = 'not an x86 bzImage (no "HdrS" at offset 0x202)';
  if (isArm64Image(h)) return `${not}: an arm64 Image (drop --arch x86_64)`;
  if (h.length >= 20 && h.readUInt32BE(0) === 0x7f454c46) return `${not}: an ELF file (vmlinux?); QEMU boots arch/x86/boot/bzImage`;
  return not;
}

function imageProblem(h: Buffer): string | undefined {
  if (isArm64Image(h)) {
    if (h.readBigUInt64LE(0x30) & 1n) return 'a big-endian arm64 Image; the guest is little-endian';
    return undefined;
  }
  const not = 'not an arm64 kernel Image';
  if (h.length >= 20 && h.readUInt32BE(0) === 0x7f454c46) {
    const machine = h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
    return machine === 183 ? `${not}: an arm64 ELF (vmlinux?); QEMU boots arch/arm64/boot/Image` : `${not}: an ELF file for machine ${machine}`;
  }
  if (isBzImage(h)) return `${not}: an x86 bzImage (run with --arch x86_64)`;
  if (h.length >= 8 && h.toString('latin1', 0, 2) === 'MZ' && h.toString('latin1', 4, 8) === 'zimg') {
    return `${not}: an EFI zboot image (CONFIG_EFI_ZBOOT, ${h.toString('latin1', 0x18, 0x20).replace(/\0.*$/, '')}); QEMU boots arch/arm64/boot/Image`;
  }
  return `${not} (no arm64 magic at offset 0x38)`;
}

/** The kernel release an arm64 Image (or gzip of one) or an x86 bzImage was built as. */
export function imageRelease(image: string): string | undefined {
  let data = readFileSync(image);
  // an x86 bzImage names its release in the boot header: kernel_version at 0x20e, plus 0x200
  // (Documentation/arch/x86/boot.rst); the banner itself is compressed
  if (isBzImage(data) && data.length >= 0x210) {
    const at = data.readUInt16LE(0x20e) + 0x200;
    return /^(\S+)/.exec(data.subarray(at, at + 200).toString('latin1'))?.[1];
  }
  if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  const at = data.indexOf('Linux version ');
  if (at < 0) return undefined;
  return /^Linux version (\S+)/.exec(data.subarray(at, at + 200).toString('latin1'))?.[1];
}
