/**
 * `npm run measure -- <question> [its options]`: every measurement behind one
 * command. A question is a module of this folder whose comment opens with two
 * lines, the question it answers and `Kept in: <where its result is>`; the
 * rest of this folder (this file, the fixtures, what questions share) is not
 * one. `--list` names them; a question may be named by any unique beginning
 * of its name (`http` for http-baseline), and its options follow it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface Question {
  readonly name: string;
  readonly asks: string;
  readonly keptIn: string;
  readonly module: URL;
}

/** The question a module's opening comment states, if it is one. */
function questionOf(module: URL): Question | undefined {
  const opening = /^\/\*\*\n \* (.+)\n \* Kept in: (.+)\n/.exec(readFileSync(module, 'utf8'));
  if (!opening) return undefined;
  return { name: basename(module.pathname, '.js'), asks: opening[1]!, keptIn: opening[2]!, module };
}

const questions = readdirSync(new URL('.', import.meta.url))
  .filter((file) => file.endsWith('.js'))
  .map((file) => questionOf(new URL(file, import.meta.url)))
  .filter((question) => question !== undefined)
  .sort((a, b) => a.name.localeCompare(b.name));

function list(): string {
  const width = Math.max(...questions.map(({ name }) => name.length)) + 2;
  return [
    'usage: npm run measure -- <question> [options]    (npm run measure -- <question> --help: its options)',
    '',
    ...questions.map(
      ({ name, asks, keptIn }) => `  ${name.padEnd(width)}${asks}\n  ${''.padEnd(width)}kept in ${keptIn}`,
    ),
    '',
    'A question answered for good leaves the tree: its answer is a record of docs/decisions/, and git keeps its code.',
  ].join('\n');
}

const [named] = process.argv.slice(2);
if (named === undefined || named === '--list' || named === '--help') {
  console.log(list());
  process.exit(named === undefined ? 2 : 0);
}
const matching = questions.filter(({ name }) => name === named || name.startsWith(named));
const question = matching.find(({ name }) => name === named) ?? (matching.length === 1 ? matching[0] : undefined);
if (question === undefined) {
  console.error(
    `${matching.length > 1 ? 'more than one question begins with' : 'no question is named'} "${named}"\n\n${list()}`,
  );
  process.exit(2);
}
// The question reads its own options from process.argv, as when it is run by itself.
process.argv.splice(2, 1);
await import(question.module.href);
