// The built-in suite.
import { basic } from './basic.js';
import { parse } from './parse.js';
import type { Scenario } from './types.js';

export const suite: readonly Scenario[] = [...basic, ...parse];
