/**
 * What package.json says of the service — its version and the Node it runs
 * on — the one place each is written. Read once at start-up.
 */
import { readFileSync } from 'node:fs';
import { projectFile } from './paths.js';

interface PackageJson {
  readonly version: string;
  readonly engines: { readonly node: string };
}

export const PACKAGE: PackageJson = JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as PackageJson;

export const SERVICE_VERSION: string = PACKAGE.version;
