/**
 * The terminal tables of the load suite and the measurements: no quotes, figures aligned right, no wider than asked.
 */
import { describe, expect, it } from 'vitest';
import { formatTable, TERMINAL_WIDTH, wrap } from '../../load/lib/table.js';

const widthOf = (text: string): number => Math.max(...text.split('\n').map((line) => [...line].length));

describe('terminal tables', () => {
  it('pads columns with spaces, text to the left and figures to the right, without quotes', () => {
    const table = formatTable(
      [{ heading: 'scenario' }, { heading: 'orders/s', align: 'right' }],
      [
        ['light', '5'],
        ['overhead', '1,572'],
      ],
    );
    expect(table.split('\n')).toEqual([
      'scenario  orders/s',
      '────────  ────────',
      'light            5',
      'overhead     1,572',
    ]);
    expect(table).not.toMatch(/['"]/);
  });

  it('fits 120 columns by wrapping headings of figures first, then text at spaces, never a figure', () => {
    const figures = Array.from({ length: 4 }, (_, i) => ({
      heading: `a long heading number ${i}`,
      align: 'right' as const,
    }));
    const prose = 'p50 within 3 ms of the 200 ms floor: p50 204.1 ms, not judged (smoke run)';
    const table = formatTable(
      [{ heading: 'scenario' }, ...figures, { heading: 'target' }],
      [['overhead', ...figures.map(() => '1,572 (1,498–1,601)'), prose]],
    );
    expect(widthOf(table)).toBeLessThanOrEqual(TERMINAL_WIDTH);
    expect(table).toContain('1,572 (1,498–1,601)');
    expect(table.replace(/\s+/g, ' ')).toContain('p50 within 3 ms of the 200 ms');
  });

  it('stays wider than asked rather than cut a figure', () => {
    const table = formatTable([{ heading: 'figure', align: 'right' }], [['1,234,567,890']], 8);
    expect(table).toContain('1,234,567,890');
  });

  it('wraps text at spaces, and cuts only a word longer than the width', () => {
    expect(wrap('at least 3,000 orders/s', 10)).toEqual(['at least', '3,000', 'orders/s']);
    expect(wrap('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrap('', 4)).toEqual(['']);
  });
});
