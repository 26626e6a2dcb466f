/**
 * `npm run measure`: every question of load/measure/ is named by `--list`
 * with where its answer is kept, that place exists, and a question is run by
 * a unique beginning of its name with its own options after it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pathOf, projectFile } from '../../src/paths.js';

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [pathOf(projectFile('dist/load/measure/run.js')), ...args]);

/** The sources that open with a question and where its answer is kept. */
const questions = readdirSync(projectFile('load/measure/'))
  .filter((file) => file.endsWith('.ts'))
  .flatMap((file) => {
    const opening = /^\/\*\*\n \* (.+)\n \* Kept in: (\S+)/.exec(
      readFileSync(projectFile(`load/measure/${file}`), 'utf8'),
    );
    return opening
      ? [{ name: file.slice(0, -'.ts'.length), asks: opening[1]!, keptIn: opening[2]!.replace(/,$/, '') }]
      : [];
  });

describe('npm run measure', () => {
  it('lists every question with what it asks and where its answer is kept, a file that exists', async () => {
    expect(questions.map(({ name }) => name)).toEqual(expect.arrayContaining(['bench', 'http-baseline']));
    const { stdout } = await run('--list');
    for (const { name, asks, keptIn } of questions) {
      expect(stdout).toContain(`${name}  `);
      expect(stdout).toContain(asks);
      expect(existsSync(projectFile(keptIn)), keptIn).toBe(true);
    }
  });

  it('runs a question named by a unique beginning, passing it the options that follow', async () => {
    const { stdout } = await run('http', '--help');
    expect(stdout).toMatch(/^usage: npm run measure -- http \[options\]/);
    expect(stdout).toContain('--answer-after-ms N');
  });

  it('refuses a name that is no question, listing them', async () => {
    await expect(run('no-such-question')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no question is named "no-such-question"'),
    });
  });
});
