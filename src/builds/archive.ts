// A user's archive (a linux-image .deb, a modules tarball), unpacked as data: every member is
// read first, and one with an absolute path or a '..' part, a link that points outside the
// tree, or a device node or FIFO is refused by name. What is unpacked keeps no owner and no mode:
// directories 0755, files 0644, so nothing set-uid and no device reaches the guest image.
import { chmodSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { execa } from 'execa';

export interface Member {
  /** '-' file, 'd' directory, 'l' symbolic link, 'h' hard link, 'c'/'b' device, 'p' FIFO, ... */
  type: string;
  name: string;
  /** a link's target */
  target?: string;
}

/** A C-quoted string of GNU tar's --quoting-style=c, unquoted. */
function unquote(s: string): string {
  return s.replace(/\\(?:([0-7]{1,3})|(.))/g, (_m, oct: string | undefined, c: string) => (oct ? String.fromCharCode(parseInt(oct, 8)) : ({ n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', a: '\x07', b: '\b' } as Record<string, string>)[c] ?? c));
}

const LINE = /^(\S)\S*\s+\S+\s+\S+\s+\S+\s+\S+\s+"((?:[^"\\]|\\.)*)"(?: (->|link to) "((?:[^"\\]|\\.)*)")?$/;

/** One line of `tar -tv --quoting-style=c` as a member. */
export function memberOf(line: string): Member | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { type: m[1]!, name: unquote(m[2]!), ...(m[4] !== undefined ? { target: unquote(m[4]) } : {}) };
}

/** Why a member may not be unpacked, or undefined. */
export function memberProblem(m: Member): string | undefined {
  const escapes = (p: string) => posix.normalize(p).split('/').includes('..');
  if (m.name.startsWith('/')) return `${m.name}: an absolute path`;
  if (m.name.split('/').includes('..')) return `${m.name}: a path with '..'`;
  if ('cbp'.includes(m.type)) return `${m.name}: a ${m.type === 'p' ? 'FIFO' : 'device node'}`;
  if (!'-dlh'.includes(m.type)) return `${m.name}: a member of type '${m.type}' (want files, directories and links)`;
  if (m.type === 'l') {
    const t = m.target ?? '';
    if (t.startsWith('/')) return `${m.name}: a link to ${t}, outside the archive${/(^|\/)(build|source)$/.test(m.name) ? " (make modules_install's build and source links: leave them out, tar --exclude=build --exclude=source)" : ''}`;
    if (escapes(posix.join(posix.dirname(m.name), t))) return `${m.name}: a link to ${t}, outside the archive`;
  }
  if (m.type === 'h' && (m.target === undefined || m.target.startsWith('/') || escapes(m.target))) return `${m.name}: a hard link to ${m.target}, outside the archive`;
  return undefined;
}

/** Unpacks a tar file (any compression tar reads) into `into`, or throws naming every refused member. */
export async function unpackTar(tar: string, into: string, what: string): Promise<void> {
  const list = await execa('tar', ['-tvP', '--quoting-style=c', '-f', tar], { reject: false, maxBuffer: 1 << 28 });
  if (list.exitCode !== 0) throw new Error(`${what}: cannot read it as an archive: ${list.stderr.trim().split('\n').pop()}`);
  const lines = list.stdout.split('\n').filter(Boolean);
  const refused = lines.flatMap((l) => {
    const m = memberOf(l);
    if (!m) return [`a member tar lists as '${l}', which the harness cannot read`];
    const p = memberProblem(m);
    return p ? [p] : [];
  });
  if (refused.length) throw new Error(`${what}: refused, it holds ${refused.length} member(s) that are not plain data:\n  ${refused.slice(0, 20).join('\n  ')}${refused.length > 20 ? `\n  (and ${refused.length - 20} more)` : ''}`);
  const x = await execa('tar', ['-xf', tar, '-C', into, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir'], { reject: false, all: true });
  if (x.exitCode !== 0) throw new Error(`${what}: cannot unpack it:\n${x.all}`);
  // links through links: each one, resolved, must stay in the tree
  const root = realpathSync(into);
  const out = links(into).filter((l) => {
    try {
      const r = realpathSync(l);
      return r !== root && !r.startsWith(root + '/');
    } catch {
      return false; // dangling: it leads nowhere
    }
  });
  if (out.length) throw new Error(`${what}: refused: ${out.map((l) => `${relative(into, l)} leads outside the archive (through another link)`).join('; ')}`);
  normalizeModes(into);
}

function links(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isSymbolicLink() ? [join(dir, e.name)] : e.isDirectory() ? links(join(dir, e.name)) : []));
}

/** Directories 0755, files 0644; links are left as they are (lchmod does not exist). */
function normalizeModes(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) normalizeModes(p);
    else if (e.isFile()) chmodSync(p, 0o644);
    else if (!e.isSymbolicLink()) {
      // a member type tar made despite the listing: it does not stay
      rmSync(p, { force: true });
    }
  }
}

/** Unpacks a .deb's data into `into` (through its data tarball, with the same checks), or throws. */
export async function unpackDeb(deb: string, into: string, scratch: string, what: string): Promise<void> {
  const tar = join(scratch, 'data.tar');
  const r = await execa('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" > "$2"', 'sh', deb, tar], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`${what}: not a Debian package dpkg-deb can read:\n${r.all}`);
  try {
    await unpackTar(tar, into, what);
  } finally {
    rmSync(tar, { force: true });
  }
}
