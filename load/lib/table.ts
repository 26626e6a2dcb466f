/**
 * Tables for a terminal: columns padded with spaces, no quotes, no borders,
 * figures aligned right, and the whole no wider than a terminal (120 columns
 * by default): when the columns' natural widths add up to more, the widest
 * text columns wrap at spaces, line by line within their row. A figure never
 * wraps. console.table quotes every string and cannot wrap, which gave the
 * suite's tables ~270 columns; the libraries that do this (cli-table3,
 * table) draw boxes that take width and bring dependencies for ~80 lines.
 */

export interface Column {
  readonly heading: string;
  /** Figures align right and never wrap; text aligns left and wraps at spaces when the table must narrow. */
  readonly align?: 'left' | 'right';
}

export const TERMINAL_WIDTH = 120;
const GAP = '  ';

const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);
const longestWord = (text: string): number => Math.max(0, ...words(text).map((word) => word.length));

/** `text` in lines of at most `width`, broken at spaces (a word longer than the width is cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of words(text)) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * Each column's width: its natural width (the longest cell or heading), then,
 * while the table is wider than `width`, the widest column that may still
 * narrow loses a character — first down to its cells, its heading wrapping
 * (a heading over two lines costs less than every row over two), then down
 * to its longest word for text, its longest cell for figures.
 */
function columnWidths(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>, width: number): number[] {
  const cells = (index: number): string[] => rows.map((row) => row[index] ?? '');
  const widest = (values: readonly number[]): number => Math.max(0, ...values);
  const cellWidths = columns.map((_, i) => widest(cells(i).map((cell) => cell.length)));
  const widths = columns.map((column, i) => Math.max(column.heading.length, cellWidths[i]!));
  const headingsWrapped = columns.map((column, i) => Math.max(longestWord(column.heading), cellWidths[i]!));
  const cellsWrapped = columns.map((column, i) =>
    Math.max(
      longestWord(column.heading),
      widest(cells(i).map((cell) => (column.align === 'right' ? cell.length : longestWord(cell)))),
    ),
  );
  const total = (): number => widths.reduce((sum, w) => sum + w, 0) + GAP.length * (columns.length - 1);
  for (const least of [headingsWrapped, cellsWrapped]) {
    while (total() > width) {
      let narrowing = -1;
      for (let i = 0; i < widths.length; i++)
        if (widths[i]! > least[i]! && (narrowing < 0 || widths[i]! > widths[narrowing]!)) narrowing = i;
      if (narrowing < 0) break; // as narrow as it goes this way
      widths[narrowing]!--;
    }
  }
  return widths; // wider than asked if it must be: a figure is never cut
}

/** The table as lines of text: headings, a rule, then the rows. */
export function formatTable(
  columns: readonly Column[],
  rows: ReadonlyArray<readonly string[]>,
  width = TERMINAL_WIDTH,
): string {
  const widths = columnWidths(columns, rows, width);
  const render = (cells: readonly string[], alignOf: (i: number) => 'left' | 'right'): string[] => {
    const wrapped = widths.map((w, i) => wrap(cells[i] ?? '', w));
    const height = Math.max(...wrapped.map((lines) => lines.length));
    return Array.from({ length: height }, (_, line) =>
      wrapped
        .map((lines, i) => {
          const text = lines[line] ?? '';
          return alignOf(i) === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
        })
        .join(GAP)
        .trimEnd(),
    );
  };
  const align = (i: number): 'left' | 'right' => columns[i]?.align ?? 'left';
  return [
    ...render(
      columns.map((column) => column.heading),
      align,
    ),
    widths.map((w) => '─'.repeat(w)).join(GAP),
    ...rows.flatMap((row) => render(row, align)),
  ].join('\n');
}
