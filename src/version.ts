/**
 * The service's version: package.json's, the one place it is written. Read
 * once at start-up, from the project root whether this runs from the
 * sources (tests) or from dist/.
 */
import { readFileSync } from 'node:fs';

const PROJECT_ROOT = new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url);

export const SERVICE_VERSION: string = (JSON.parse(readFileSync(new URL('package.json', PROJECT_ROOT), 'utf8')) as { version: string }).version;
