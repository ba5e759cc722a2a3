// The built-in suite.
import { args } from './args.js';
import { basic } from './basic.js';
import { errors } from './errno.js';
import { globals } from './globals.js';
import { matrix } from './matrix.js';
import { parse } from './parse.js';
import type { Scenario } from '../suite/types.js';

export const suite: readonly Scenario[] = [...basic, ...parse, ...errors, ...args, ...globals, ...matrix];
