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

/** What this build is: GET /version and the build_info gauge. */
export interface BuildInfo {
  readonly version: string;
  /** The commit built, when the build said it (BUILD_COMMIT): null from a working tree. */
  readonly commit: string | null;
  readonly node: string;
}

export function buildInfo(env: Readonly<Record<string, string | undefined>> = process.env): BuildInfo {
  return { version: SERVICE_VERSION, commit: env['BUILD_COMMIT'] || null, node: process.versions.node };
}
