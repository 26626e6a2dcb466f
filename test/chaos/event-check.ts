/**
 * The events of a chaos run against what committed (pure, like checker.ts):
 * - every event whose change committed (a row of `events` at rest) was
 *   delivered — taken by the receiver — at least once;
 * - nothing was delivered that did not commit: every id the receiver got is
 *   a row of `events`;
 * - the events of one order were first taken in the order they were
 *   written (`seq`);
 * - every delivery's signature verified.
 */
import type { ReceivedDelivery } from './event-receiver.js';

/** A row of `events` at rest. */
export interface CommittedEvent {
  readonly id: string;
  readonly seq: number;
  readonly orderId: string;
  readonly type: string;
}

export type EventViolationKind =
  'event_not_delivered' | 'event_without_commit' | 'events_out_of_order' | 'event_signature_invalid';

export interface EventFinding {
  readonly kind: EventViolationKind;
  readonly message: string;
  readonly orderId?: string;
}

export function checkEvents(
  committed: readonly CommittedEvent[],
  received: readonly ReceivedDelivery[],
): EventFinding[] {
  const findings: EventFinding[] = [];
  const byId = new Map(committed.map((event) => [event.id, event]));
  const taken = received.filter((delivery) => delivery.accepted);
  const takenIds = new Set(taken.map((delivery) => delivery.id));
  for (const event of committed)
    if (!takenIds.has(event.id))
      findings.push({
        kind: 'event_not_delivered',
        orderId: event.orderId,
        message: `${event.type} ${event.id} committed (seq ${event.seq}) and was never delivered`,
      });
  for (const delivery of received) {
    if (!byId.has(delivery.id))
      findings.push({
        kind: 'event_without_commit',
        orderId: delivery.orderId,
        message: `${delivery.type || 'a delivery'} ${delivery.id || '(no id)'} was delivered but no such event committed`,
      });
    if (!delivery.signed)
      findings.push({
        kind: 'event_signature_invalid',
        orderId: delivery.orderId,
        message: `delivery of ${delivery.id || '(no id)'} did not verify with the endpoint's secret`,
      });
  }
  // Per order: the first time each of its events was taken, in seq order.
  const firstTaken = new Map<string, CommittedEvent[]>();
  const seen = new Set<string>();
  for (const delivery of taken) {
    const event = byId.get(delivery.id);
    if (!event || seen.has(event.id)) continue;
    seen.add(event.id);
    firstTaken.set(event.orderId, [...(firstTaken.get(event.orderId) ?? []), event]);
  }
  for (const [orderId, events] of firstTaken) {
    const inOrder = events.every((event, i) => i === 0 || events[i - 1]!.seq < event.seq);
    if (!inOrder)
      findings.push({
        kind: 'events_out_of_order',
        orderId,
        message: `taken as ${events.map((event) => `${event.type} (seq ${event.seq})`).join(', ')}`,
      });
  }
  return findings;
}
