/**
 * How many bytes does a done order take in the in-memory store, all in, and does ORDER_RECORDS_MAX_MB count as many?
 * Kept in: docs/decisions/an-order-as-a-record.md
 *
 * Done orders of one client run through the store as the service runs them
 * (begun, charged, finished with three steps that succeeded), ids of 20 to 36
 * characters, in a store bounded wide enough to keep them all; then the V8
 * heap and the array buffers after full collections, less before, per order
 * (load/lib/record-bytes.ts) — beside what the store charges each against
 * its bound. The default bound, 64 MB, must hold 10 minutes of 1,000
 * orders/s: 600,000 done orders, 111 bytes each at most.
 *
 *   npm run measure -- record-bytes
 *   npm run measure -- record-bytes --orders 600000 --rounds 3
 */
import { parseCommandLine } from '../lib/command-line.js';
import { measureRecordBytes } from '../lib/record-bytes.js';
import { formatSpread, inRounds, roundsOption, spreadOf } from '../lib/rounds.js';
import { formatTable } from '../lib/table.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- record-bytes',
    summary: 'Bytes a done order takes in the in-memory store (heap and array buffers), and what its bound counts.',
  },
  {
    rounds: roundsOption(3),
    orders: { type: 'integer', default: 200_000, min: 10_000, help: 'done orders kept when memory is read' },
  },
);

const rounds = await inRounds(options.rounds, async () => {
  const figures = await measureRecordBytes(options.orders);
  process.stderr.write(
    `  ${figures.kept} kept: ${figures.measuredPerOrder.toFixed(1)} bytes measured (${figures.heapPerOrder.toFixed(1)} in the heap), ${figures.chargedPerOrder.toFixed(1)} charged\n`,
  );
  return figures;
});
const row = (name: string, values: number[]): string[] => [name, formatSpread(spreadOf(values))];
console.log(
  formatTable(
    [{ heading: 'per done order' }, { heading: `bytes (median of ${options.rounds}, min–max)`, align: 'right' }],
    [
      row(
        'measured: heap + array buffers',
        rounds.map((r) => r.measuredPerOrder),
      ),
      row(
        'of which the V8 heap',
        rounds.map((r) => r.heapPerOrder),
      ),
      row(
        'charged against ORDER_RECORDS_MAX_MB',
        rounds.map((r) => r.chargedPerOrder),
      ),
    ],
  ),
);
console.log(`${options.orders.toLocaleString('en-US')} done orders, ids of 20-36 characters, one run each`);
