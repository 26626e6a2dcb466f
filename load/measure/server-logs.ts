/**
 * Where a measurement's servers write their output: a file each, in a folder
 * of the measurement's own under the system's temporary folder (said once,
 * on stderr). Not through the measuring process: the orders a server logs
 * under load would take that process's CPU, on the cores being measured.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { progress } from '../lib/rounds.js';

let folder: string | undefined;
let started = 0;

/** A fresh log file for the next server, named after what it is for. */
export function serverLog(name: string): string {
  if (folder === undefined) {
    folder = mkdtempSync(join(tmpdir(), 'order-threads-measure-'));
    progress(`the servers write to ${folder}/`);
  }
  return join(folder, `${++started}-${name}.log`);
}
