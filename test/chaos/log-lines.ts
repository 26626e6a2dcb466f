/**
 * The service's JSON log lines in the instances' output files, parsed: what
 * the harness reads of what the instances said (their alarms, their
 * takeovers). Anything else in the files (a crash's trace) is skipped.
 */
import { readFile } from 'node:fs/promises';

/** A line of the service's log: pino's fields, and whatever the line carries. */
export interface ServiceLine {
  readonly level?: number;
  /** Milliseconds since the epoch. */
  readonly time?: number;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** Every line of `files` that is the service's JSON and contains `text`. */
export async function serviceLines(files: readonly string[], text: string): Promise<ServiceLine[]> {
  const lines: ServiceLine[] = [];
  for (const file of files) {
    const content = await readFile(file, 'utf8').catch(() => '');
    for (const line of content.split('\n')) {
      if (!line.includes(text)) continue;
      try {
        lines.push(JSON.parse(line) as ServiceLine);
      } catch {
        // Not a log line of the service's.
      }
    }
  }
  return lines;
}
