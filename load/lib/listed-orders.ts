/**
 * Done orders written straight into Postgres's `orders`, as many as a
 * measure or a plan needs (GET /orders over 100,000 of them): one statement,
 * no run of the service. Spread over `clients` clients and the last
 * `spanMs`, one in ten failed (payment_declined), one in a hundred canceled,
 * one in two hundred interrupted and one in a thousand dead-lettered, each
 * kept a day.
 */
import type pg from 'pg';

export async function writeDoneOrders(
  db: pg.Pool | pg.Client,
  count: number,
  { clients = 10, spanMs = 3_600_000, prefix = 'listed' }: { clients?: number; spanMs?: number; prefix?: string } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO orders (order_id, fingerprint, run, runs, state, kind, received_at, finished_at, replay_until)
     SELECT 'c' || (i % $2) || ':' || $4 || '-' || i, 'fp', nextval('order_runs'), 1, 'done',
            CASE WHEN i % 10 = 0 THEN 'payment_declined' WHEN i % 100 = 1 THEN 'canceled'
                 WHEN i % 200 = 2 THEN 'interrupted' WHEN i % 1000 = 3 THEN 'dead_lettered' ELSE 'ok' END,
            now() - ($1 - i) * ($3::double precision / $1) * interval '1 millisecond',
            now() - ($1 - i) * ($3::double precision / $1) * interval '1 millisecond' + interval '50 milliseconds',
            now() + interval '1 day'
       FROM generate_series(1, $1) AS i`,
    [count, clients, spanMs, prefix],
  );
  await db.query('ANALYZE orders');
}
