import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package's version, from package.json at the package root (src/ under tsx, dist/ built: both one level down). */
export const VERSION: string = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
