/**
 * What package.json says of the service — its version and the Node it runs
 * on — the one place each is written. Read once at start-up, from the
 * project root whether this runs from the sources (tests) or from dist/.
 */
import { readFileSync } from 'node:fs';

const PROJECT_ROOT = new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url);

interface PackageJson {
  readonly version: string;
  readonly engines: { readonly node: string };
}

export const PACKAGE: PackageJson = JSON.parse(readFileSync(new URL('package.json', PROJECT_ROOT), 'utf8')) as PackageJson;

export const SERVICE_VERSION: string = PACKAGE.version;
