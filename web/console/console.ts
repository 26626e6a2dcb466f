/**
 * The console's script (GET /console): lists orders from GET /orders, a page
 * at a time, and shows one from GET /orders/{id}/timeline — why it ended as it
 * did, its steps drawn on the threads that ran them, its money, who canceled
 * it, its events — with the actions on it, each confirmed before it is sent
 * and its answer shown. An action is one entry of EVENT_ACTIONS (or of
 * ORDER_ACTIONS, for one on the whole order): a label, a question, a
 * request, and how to say its answer.
 *
 * It follows what it shows: an order open while it runs is read again every
 * FOLLOW_MS until it ends, its steps shown as they run from the live view's
 * stream (GET /threads/events, the one /threads reads) — whose losing them
 * has it read at once — and the list's rows are read again while one runs.
 * The list filters by lifecycle state (those GET /orders does not filter
 * itself are found here: FILTERED_HERE) and by order id; the address
 * (#order=…&client=…, #state=…, #id=…) opens an order and sets the filters,
 * and follows what is open, so a link is what the operator sees.
 *
 * Hooks for tests: each row has data-order-id, data-client and data-outcome;
 * the order's panel has data-order-id and data-state, its explanation
 * data-failure-kind, each bar data-step and data-thread-id (a recorded
 * attempt's also data-instance-id, data-run, data-takeovers and
 * data-outcome), the deadline's mark data-deadline-ms and data-drawn (inside,
 * or beyond the drawn runs), each step seen running data-live-step,
 * data-thread-id and data-activity, each event row data-event-id.
 */
import type { ThreadSnapshot, ViewedStep } from '../../src/observability/thread-frame.js';

interface Outcome {
  readonly kind: string;
  readonly http_status: number;
}
/** What the list and the timeline both say of an order. */
interface OrderHead {
  readonly order_id: string;
  readonly client: string;
  readonly state: 'running' | 'done';
  readonly outcome: Outcome | null;
  readonly runs: number;
  readonly tier?: string;
}
interface ListedOrder extends OrderHead {
  readonly at: string;
  /** Where it is in its life, where the list says it (a run taken over and running on: resumed). */
  readonly lifecycle?: string;
}
interface OrderList {
  readonly orders: ListedOrder[];
  readonly next: string | null;
}
interface Step {
  readonly name: string;
  readonly status: 'ok' | 'error' | 'canceled';
  readonly duration_ms: number;
  readonly thread_id?: number;
  readonly detail?: string;
  readonly kind?: string;
  readonly cause?: string;
  readonly thread_fate?: string;
  readonly attempts?: number;
  readonly retries?: number;
  readonly effect?: string;
}
interface Delivery {
  readonly endpoint_id: string;
  readonly failures: number;
  readonly first_attempt_at: string | null;
  readonly done_at: string | null;
  readonly outcome: string | null;
}
interface TimelineEvent {
  readonly id: string;
  readonly type: string;
  readonly timestamp: string;
  readonly run: number;
  readonly trace_id: string | null;
  readonly deliveries: Delivery[] | null;
  readonly data: { readonly outcome: Outcome; readonly payment: Money };
}
interface Money {
  readonly charged: number;
  readonly refunded: number;
}
/**
 * A step's attempt as recorded (with DATABASE_URL): its last try, a try whose thread was lost before it ran again, or a
 * step whose instance was lost before its end was recorded.
 */
interface StepAttempt {
  readonly step: string;
  readonly run: number;
  readonly takeovers: number;
  readonly thread_id: number | null;
  readonly instance_id: string;
  readonly started_at: string;
  readonly ended_at: string;
  readonly outcome: 'ok' | 'error' | 'canceled' | 'thread_died' | 'thread_terminated' | 'lost';
}
/** Who canceled its latest run, and when. */
interface CanceledBy {
  readonly actor: string;
  readonly actor_key?: string;
  readonly at: string;
}
interface Timeline extends OrderHead {
  readonly step_attempts?: StepAttempt[];
  readonly deadline_ms: number;
  readonly run_started_at?: string;
  readonly canceled_by?: CanceledBy;
  readonly redrivable: boolean;
  readonly payment: Money;
  readonly failure: { readonly kind: string; readonly step: string | null; readonly thread_id: number | null } | null;
  readonly steps: Step[];
  readonly compensations: Step[];
  readonly events: TimelineEvent[];
}

/**
 * What each kind the service answers means, for someone who has never seen the service: every kind of
 * src/http/wire/error-status.ts (test/unit/console-words.test.ts holds the two equal), each a clause that follows
 * "because". An order ends with one of the first ones; the others are a request's, which an action may be answered.
 */
const MEANING: Readonly<Record<string, string>> = {
  payment_declined: 'the payment provider declined the card',
  payment_unavailable: 'the payment provider could not be reached, even after retries',
  vendor_unavailable: 'the shop (vendor) could not be told of the order',
  no_courier: 'no courier could be booked',
  refund_failed:
    'the payment provider refused a refund (a compensation’s own kind: its order ends compensation_failed)',
  timeout:
    'it ran past its deadline (its own deadline_ms, or the service’s ORDER_TIMEOUT_MS), and every step still running was canceled',
  client_gone:
    'every caller hung up before it ended: its steps were canceled and what it was charged refunded, nothing was sent back, and a retry with the same order_id runs it again',
  shutting_down:
    'the service was stopping and could not wait for it: its steps were stopped (or its run handed over to another instance), and a retry runs it again',
  overloaded: 'there was no room for it (too many orders in flight, or the worker pool’s queue full): nothing ran',
  compensation_failed: 'a refund was refused by the payment provider: the money is still taken — follow it up',
  thread_lost: 'the worker thread running a step was lost again and again through no fault of the step',
  interrupted: 'the instance running it was lost (or lost its database); its payment was voided',
  outcome_unknown: 'the database went away while its outcome was recorded: a retry learns what was kept',
  store_unavailable: 'the database (Postgres) could not be reached: nothing started',
  internal:
    'of a bug in a step: its code threw, or brought its thread down (the log has its stack); what it was charged was refunded',
  canceled: 'its client or the admin asked it to stop',
  dead_lettered:
    'the instances running it were lost more often than ORDER_RECOVERIES_MAX allows: it was parked, its payment refunded, for the admin to redrive',
  bad_request: 'the request was not one the service takes (its body, its query or its path)',
  unsupported_media_type: 'the request’s body was not JSON',
  payload_too_large: 'the request’s body was over its size limit',
  method_not_allowed: 'that method is not allowed on that path',
  not_found: 'there is no such order, or its record is kept no longer',
  request_timeout: 'the request did not arrive in time (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS)',
  headers_too_large: 'the request’s headers were too large',
  idempotency_key_reuse: 'its order_id had been used before for a different order',
  unauthorized: 'no API key came with it, or one nobody was issued',
  forbidden: 'its key may not do that (a client’s key on the admin’s surface, or naming another client)',
  rate_limited: 'its client sent more than its CLIENT_RATE_LIMIT allows: nothing was read or started',
  misdirected_request: 'its Host header names a host this service does not answer for',
  cross_site_request: 'a page of another origin asked for a change',
  too_many_webhooks: 'its client has WEBHOOKS_PER_CLIENT webhook endpoints already',
  order_ended: 'the order had ended otherwise already: only an order under way can be canceled',
  not_redrivable:
    'only an order parked dead_lettered, or failed by the infrastructure, can be redriven, and only with DATABASE_URL',
  money_unsettled: 'its last run still holds money not refunded',
  events_gone: 'some of the events after its cursor are no longer kept',
};

const STEP_MEANING: Readonly<Record<string, string>> = {
  payment: 'charge the customer',
  vendor: 'tell the shop',
  courier: 'book a courier',
  refund: 'give the money back',
};

const $ = <T extends HTMLElement>(selector: string): T => document.querySelector<T>(selector)!;
const onServer = (path: string): string => new URL(path, location.origin).href;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  made.append(...children);
  return made;
}

/**
 * How the page reads what it follows: plainly, nothing cached (the answers say no-store). Once GET
 * /orders/{id}/timeline answers with an ETag and Cache-Control: no-cache, 'no-cache' here makes each read a
 * conditional one by the browser itself (If-None-Match, and a 304 answered from its cache), with nothing else to change.
 */
const FOLLOW_CACHE: RequestCache = 'no-store';

/** Times a read turned away 503 with Retry-After is asked again, at most. */
const READS_ASKED_AGAIN = 3;

/**
 * GET `path` as the API asks of a client: a read turned away for a while (503 with Retry-After, a busy instance's) is
 * asked again after the time it names. Beside busy cores, the list's first read was refused, and the page said so
 * and stayed empty.
 */
async function readFollowingRetryAfter(path: string): Promise<Response> {
  for (let asked = 1; ; asked++) {
    const response = await fetch(onServer(path), { headers: { accept: 'application/json' }, cache: FOLLOW_CACHE });
    const after = response.headers.get('retry-after');
    if (response.status !== 503 || after === null || asked > READS_ASKED_AGAIN) return response;
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Number(after) * 1000));
  }
}

async function getJson<T>(path: string): Promise<T> {
  const response = await readFollowingRetryAfter(path);
  const body = (await response.json()) as T & { error?: { message: string } };
  if (!response.ok) throw new Error(body.error?.message ?? `${response.status}`);
  return body;
}

function outcomeBadge(outcome: Outcome | null, lifecycle?: string): HTMLElement {
  if (!outcome) {
    const resumed = lifecycle === 'resumed';
    return element('span', { class: 'outcome running' }, resumed ? 'resumed' : 'running');
  }
  // Stopped as someone asked, not failed.
  if (outcome.kind === 'canceled') return element('span', { class: 'outcome canceled' }, 'canceled');
  const ok = outcome.kind === 'ok';
  return element('span', { class: `outcome ${ok ? 'ok' : 'failed'}` }, ok ? 'succeeded' : `failed: ${outcome.kind}`);
}

/** A time as a clock reads it (24 hours: it never wraps); with its day when it is not today. */
function when(iso: string): string {
  const at = new Date(iso);
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  return at.toDateString() === new Date().toDateString() ? time : `${at.toLocaleDateString()} ${time}`;
}
const money = (amount: number): string => amount.toLocaleString();
const seconds = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
const selectorValue = (value: string): string => CSS.escape(value);

// ---- the address: what is open and how the list is filtered, as a link ----

/** The page's address after the #: the order open (`order`, `client`) and the list's `state` and `id` filters. */
interface Address {
  readonly order?: string;
  readonly client?: string;
  readonly state?: string;
  readonly id?: string;
}

function addressNow(): Address {
  const read = new URLSearchParams(location.hash.slice(1));
  const field = (name: keyof Address): Partial<Address> => {
    const value = read.get(name);
    return value ? { [name]: value } : {};
  };
  return { ...field('order'), ...field('client'), ...field('state'), ...field('id') };
}

/** Says `changes` in the address, without a step in the history or a hashchange (the page did it). */
function setAddress(changes: Address): void {
  const address = new URLSearchParams(location.hash.slice(1));
  for (const [name, value] of Object.entries(changes) as Array<[string, string | undefined]>)
    if (value) address.set(name, value);
    else address.delete(name);
  const hash = address.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
}

// ---- the list ----

/** The states GET /orders filters by itself (its `state`). */
const LISTED_STATES: readonly string[] = ['running', 'done', 'succeeded', 'failed'];
/**
 * The lifecycle states GET /orders does not filter yet, found here among the orders of a state it does: the state asked
 * for, and which of its orders are in the state. Once the list filters one itself, its entry goes and its name joins
 * LISTED_STATES: the page then asks for it.
 */
const FILTERED_HERE: Readonly<
  Record<string, { readonly asked: string; readonly keep: (order: ListedOrder) => boolean }>
> = {
  canceled: { asked: 'done', keep: (order) => order.outcome?.kind === 'canceled' },
  interrupted: { asked: 'done', keep: (order) => order.outcome?.kind === 'interrupted' },
  dead_lettered: { asked: 'done', keep: (order) => order.outcome?.kind === 'dead_lettered' },
  // A run taken over from a lost instance and running on: only a list that says each order's lifecycle tells it.
  resumed: { asked: 'running', keep: (order) => order.lifecycle === 'resumed' },
};

/**
 * Where a page of the list starts: a cursor the list API gave (null: the newest), and how many of the orders found
 * there were on the page before (a filter applied here may find more in one of the API's pages than a page shows).
 */
interface PageStart {
  readonly cursor: string | null;
  readonly skip: number;
}
/** A filter applied here reads the API's pages this many orders at a time, and at most this many pages for a page. */
const SCAN_LIMIT = 200;
const SCAN_PAGES = 10;

interface ListFilter {
  /** What GET /orders is asked for, besides the page. */
  readonly asked: URLSearchParams;
  /** The orders kept of those it gives; undefined: all of them. */
  readonly keep: ((order: ListedOrder) => boolean) | undefined;
  readonly limit: number;
}

/** A page of the list: its orders, where the next one starts (null: none), and how many orders were looked at. */
interface ListPage {
  readonly orders: readonly ListedOrder[];
  readonly next: PageStart | null;
  readonly scanned: number;
  /** The filter stopped looking after SCAN_PAGES of the API's pages: older orders are on the next page. */
  readonly searchedOn: boolean;
}

/** The filter as last asked for (a form changed but not sent is not it). */
let filter: ListFilter | undefined;
/** The pages' starts seen, the first page's first: "newer" goes back one. */
const pages: PageStart[] = [{ cursor: null, skip: 0 }];
let pageIndex = 0;
let nextStart: PageStart | null = null;

const formText = (form: FormData, name: string): string => {
  const value = form.get(name);
  return typeof value === 'string' ? value.trim() : '';
};

function listFilter(): ListFilter {
  const form = new FormData($<HTMLFormElement>('#filters'));
  const asked = new URLSearchParams();
  const state = formText(form, 'state');
  const here = LISTED_STATES.includes(state) ? undefined : FILTERED_HERE[state];
  const askedState = here?.asked ?? state;
  if (askedState) asked.set('state', askedState);
  const client = formText(form, 'client');
  if (client) asked.set('client', client);
  for (const name of ['since', 'until'] as const) {
    const value = formText(form, name);
    if (value) asked.set(name, new Date(value).toISOString());
  }
  const id = formText(form, 'id');
  const keeps = [here?.keep, id ? (order: ListedOrder) => order.order_id.includes(id) : undefined].filter(
    (keep) => keep !== undefined,
  );
  const keep = keeps.length === 0 ? undefined : (order: ListedOrder) => keeps.every((kept) => kept(order));
  return { asked, keep, limit: Number(formText(form, 'limit')) || 20 };
}

async function readPage({ asked, keep, limit }: ListFilter, start: PageStart): Promise<ListPage> {
  const query = (cursor: string | null, size: number): string => {
    const page = new URLSearchParams(asked);
    page.set('limit', String(size));
    if (cursor) page.set('cursor', cursor);
    return `/orders?${page.toString()}`;
  };
  if (!keep) {
    const list = await getJson<OrderList>(query(start.cursor, limit));
    const next = list.next === null ? null : { cursor: list.next, skip: 0 };
    return { orders: list.orders, next, scanned: list.orders.length, searchedOn: false };
  }
  const orders: ListedOrder[] = [];
  let { cursor, skip } = start;
  let scanned = 0;
  for (let read = 1; ; read++) {
    const list = await getJson<OrderList>(query(cursor, SCAN_LIMIT));
    scanned += list.orders.length;
    const kept = list.orders.filter(keep);
    const taken = kept.slice(skip, skip + limit - orders.length);
    orders.push(...taken);
    // More found in this page than the page shows: the next page starts here, past them.
    if (skip + taken.length < kept.length)
      return { orders, next: { cursor, skip: skip + taken.length }, scanned, searchedOn: false };
    skip = 0;
    if (list.next === null) return { orders, next: null, scanned, searchedOn: false };
    cursor = list.next;
    if (orders.length === limit) return { orders, next: { cursor, skip: 0 }, scanned, searchedOn: false };
    if (read === SCAN_PAGES) return { orders, next: { cursor, skip: 0 }, scanned, searchedOn: true };
  }
}

function orderRow(order: ListedOrder): HTMLTableRowElement {
  const row = element(
    'tr',
    { tabindex: '0', 'data-order-id': order.order_id, 'data-client': order.client },
    element('td', { title: order.order_id }, order.order_id),
    element('td', { title: order.client }, order.client),
    element('td', {}, outcomeBadge(order.outcome, order.lifecycle)),
    element('td', {}, String(order.runs)),
    element('td', { title: order.at }, when(order.at)),
  );
  row.dataset['outcome'] = order.outcome?.kind ?? 'running';
  const open = (): void => void openOrder(order.client, order.order_id);
  row.addEventListener('click', open);
  row.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') open();
  });
  return row;
}

/** The row of an order, if the list shows it. */
const rowOf = (client: string, orderId: string): HTMLTableRowElement | null =>
  document.querySelector<HTMLTableRowElement>(
    `#orders tr[data-order-id="${selectorValue(orderId)}"][data-client="${selectorValue(client)}"]`,
  );

/** The open order's row says what the order says now, without the list read again. */
function updateRow(order: OrderHead): void {
  const row = rowOf(order.client, order.order_id);
  if (!row) return;
  row.dataset['outcome'] = order.outcome?.kind ?? 'running';
  row.cells[2]?.replaceChildren(outcomeBadge(order.outcome));
  row.cells[3]?.replaceChildren(String(order.runs));
}

function markOpenRow(): void {
  for (const other of document.querySelectorAll('#orders tr[aria-selected]')) other.removeAttribute('aria-selected');
  if (open) rowOf(open.client, open.orderId)?.setAttribute('aria-selected', 'true');
}

/** While the list shows an order running, it is read again this often: its rows say how each ended. */
const LIST_FOLLOW_MS = 3000;
let listFollow: ReturnType<typeof setTimeout> | undefined;
/** Lists asked for so far: an answer to an earlier one is not shown over a later one's. */
let listsAsked = 0;

/** The list's page as it is now; `quietly`: read again as it is followed, without saying it loads. */
async function showList(quietly = false): Promise<readonly ListedOrder[]> {
  clearTimeout(listFollow);
  const asked = ++listsAsked;
  const note = $('#list-note');
  if (!quietly) note.textContent = 'loading…';
  let page: ListPage;
  try {
    page = await readPage((filter ??= listFilter()), pages[pageIndex]!);
  } catch (error) {
    if (asked !== listsAsked) return [];
    note.textContent = `The list could not be read: ${(error as Error).message}`;
    // Followed, it is read again: one refusal (a busy instance's 503) must not stop the following.
    if (quietly) listFollow = setTimeout(() => void showList(true), LIST_FOLLOW_MS);
    return [];
  }
  if (asked !== listsAsked) return page.orders;
  nextStart = page.next;
  // The order in focus keeps it, read again: a row replaced under the keyboard would lose its place.
  const focused = document.activeElement instanceof HTMLTableRowElement ? document.activeElement.dataset : undefined;
  $('#orders').replaceChildren(...page.orders.map(orderRow));
  if (focused?.['orderId'] !== undefined) rowOf(focused['client'] ?? '', focused['orderId'])?.focus();
  markOpenRow();
  const count = page.orders.length;
  note.textContent =
    count === 0 && !page.searchedOn
      ? 'No order matches.'
      : `${count} order${count === 1 ? '' : 's'}${page.next ? ' — more are older' : ''}.` +
        (page.searchedOn ? ` Looked through ${page.scanned.toLocaleString()} orders: older → looks on.` : '') +
        (count > 0 ? ' Click one to open it.' : '');
  $<HTMLButtonElement>('#newer').disabled = pageIndex === 0;
  $<HTMLButtonElement>('#older').disabled = page.next === null;
  $('#page-number').textContent = `page ${pageIndex + 1}`;
  if (page.orders.some((order) => order.state === 'running'))
    listFollow = setTimeout(() => void showList(true), LIST_FOLLOW_MS);
  return page.orders;
}

/** The list from its first page, filtered as the form says (the address says so too); an exact id found once opens. */
async function listAgain(): Promise<void> {
  filter = listFilter();
  pages.length = 1;
  pageIndex = 0;
  const form = new FormData($<HTMLFormElement>('#filters'));
  const id = formText(form, 'id');
  setAddress({ state: formText(form, 'state'), id });
  const orders = await showList();
  const exact = orders.filter((order) => order.order_id === id);
  if (exact.length === 1) await openOrder(exact[0]!.client, id);
}

$<HTMLFormElement>('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  void listAgain();
});
$('#older').addEventListener('click', () => {
  if (!nextStart) return;
  pages[++pageIndex] = nextStart;
  pages.length = pageIndex + 1;
  void showList();
});
$('#newer').addEventListener('click', () => {
  if (pageIndex === 0) return;
  pageIndex--;
  void showList();
});

// ---- one order: why it ended so, and its facts ----

/** Who canceled it, and when, in words. */
function canceledByWords({ actor, actor_key, at }: CanceledBy): string {
  const who = actor === 'admin' ? `the admin${actor_key ? ` (key ${actor_key})` : ''}` : `its client, ${actor},`;
  return `${who} at ${when(at)}`;
}

const stepNamed = (step: string): string => `the ${step} step (${STEP_MEANING[step] ?? step})`;

/** What the step that failed it did, in a sentence: failed on its thread, or brought the thread down. */
function failedStepWords(timeline: Timeline, name: string, threadId: number | null): string {
  const step = timeline.steps.find((candidate) => candidate.name === name);
  const thread = threadId ? `thread ${threadId}` : 'its thread';
  if (step?.thread_fate === 'died')
    return ` ${capitalized(stepNamed(name))} brought its thread down: its own code crashed, exited or ran out of memory, and ${thread} died with it. The steps of other orders that shared the thread ran again on another; this order's still running were canceled.`;
  if (step?.thread_fate === 'terminated')
    return ` ${capitalized(stepNamed(name))} held ${thread} past its cancellation's grace (it ignored the cancel, or kept the thread from answering), and the thread was terminated for it. The steps of other orders that shared it ran again on another; this order's still running were canceled.`;
  return ` ${capitalized(stepNamed(name))} failed${threadId ? ` on thread ${threadId}` : ''}; the steps still running were canceled.`;
}

const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** For an order past its deadline: the steps still running when it passed, which made it late. */
function lateStepsWords(timeline: Timeline): string {
  const late = timeline.steps.filter((step) => step.status === 'canceled' && step.cause === 'timeout');
  if (timeline.steps.length === 0) return '';
  if (late.length === 0) return ' Every step had ended when its deadline passed.';
  const said = late.map(
    (step) =>
      `${stepNamed(step.name)}, ${money(step.duration_ms)} ms${step.thread_id ? ` on thread ${step.thread_id}` : ''}`,
  );
  return ` What made it late, still running when its deadline (${money(timeline.deadline_ms)} ms) passed: ${said.join('; ')}.`;
}

/** Why the order ended as it did (or that it runs), in a sentence or three. */
function explanation(timeline: Timeline): HTMLElement {
  const { canceled_by: canceledBy } = timeline;
  if (!timeline.outcome) {
    const canceling = canceledBy
      ? ` Being canceled: ${canceledByWords(canceledBy)} asked it to stop; its steps are stopping, and what it was charged is refunded.`
      : '';
    return element(
      'p',
      { class: 'why running', 'data-failure-kind': 'running' },
      element('b', {}, 'Still running.'),
      ` This page follows it until it ends: its steps as they run, and how it ends.${canceling}`,
    );
  }
  if (!timeline.failure)
    return element('p', { class: 'why ok', 'data-failure-kind': 'none' }, 'Succeeded: every step did its part.');
  const { kind, step, thread_id } = timeline.failure;
  if (kind === 'canceled')
    return element(
      'p',
      { class: 'why', 'data-failure-kind': kind },
      element('b', {}, 'Canceled.'),
      ` ${canceledBy ? capitalized(canceledByWords(canceledBy)) : 'Its client or the admin'} asked it to stop: its steps still running were canceled, and what it was charged refunded.`,
    );
  return element(
    'p',
    { class: 'why', 'data-failure-kind': kind },
    element('b', {}, `Failed: ${kind}.`),
    ` It failed because ${MEANING[kind] ?? kind}.`,
    step ? failedStepWords(timeline, step, thread_id) : '',
    kind === 'timeout' ? lateStepsWords(timeline) : '',
    timeline.redrivable ? ' The admin may redrive it: send it on again as a new run.' : '',
  );
}

function facts(timeline: Timeline): HTMLElement {
  const { charged, refunded } = timeline.payment;
  const fact = (name: string, value: string): HTMLElement => element('span', {}, element('b', {}, `${name}: `), value);
  return element(
    'div',
    { class: 'facts' },
    fact('client', timeline.client),
    fact('state', timeline.state),
    fact('runs', String(timeline.runs)),
    ...(timeline.tier ? [fact('tier', timeline.tier)] : []),
    fact('charged', money(charged)),
    fact('refunded', money(refunded)),
    fact('kept', money(charged - refunded)),
    fact('deadline', `${money(timeline.deadline_ms)} ms`),
    ...(timeline.canceled_by ? [fact('canceled by', canceledByWords(timeline.canceled_by))] : []),
  );
}

// ---- one order: its steps drawn on its threads ----

function stepLabel(step: Step): string {
  const lost = step.thread_fate === 'terminated' ? 'was terminated' : 'died';
  const again = step.attempts
    ? ` ↻ ran ${step.attempts}×: its thread ${lost} under it${step.thread_id ? `, ran again on thread ${step.thread_id}` : ''}`
    : '';
  const retries = step.retries ? `, ${step.retries} retr${step.retries === 1 ? 'y' : 'ies'}` : '';
  return `${step.name} ${step.status === 'ok' ? 'ok' : (step.detail ?? step.status)} · ${step.duration_ms} ms${retries}${again}`;
}

/** A bar on the drawing: a step's attempt, on the lane of the thread (and instance) that ran it. */
interface Span {
  readonly lane: string;
  readonly laneName: string;
  /** From the run's start (recorded attempts) or from the steps' dispatch, which follows it at once. */
  readonly fromMs: number;
  readonly toMs: number;
  /** Its bar's look: a step's status, or how its try was cut (StepAttempt['outcome']). */
  readonly status: Step['status'] | StepAttempt['outcome'];
  readonly label: string;
  readonly title: string;
  readonly hooks: Record<string, string>;
}

const threadName = (thread: number | null | undefined): string => (thread ? `thread ${thread}` : 'no thread');

/** Without recorded attempts: each step from its dispatch (all at once) to its end, on its last attempt's thread. */
function stepSpans(steps: readonly Step[]): Span[] {
  return steps.map((step) => ({
    lane: String(step.thread_id ?? 0),
    laneName: threadName(step.thread_id),
    fromMs: 0,
    toMs: step.duration_ms,
    status: step.status,
    label: stepLabel(step),
    title: stepLabel(step),
    hooks: { 'data-step': step.name, 'data-thread-id': String(step.thread_id ?? 0) },
  }));
}

/** What became of an attempt, in words: how it ended, or what cut it. */
function attemptWords(attempt: StepAttempt): string {
  switch (attempt.outcome) {
    case 'lost':
      return `${attempt.step} lost with its instance: under way there (or ended unrecorded) when the instance was lost; drawn from the run's start to its takeover`;
    case 'thread_died':
      return `${attempt.step}: ${threadName(attempt.thread_id)} died under it, and it ran again on another`;
    case 'thread_terminated':
      return `${attempt.step}: ${threadName(attempt.thread_id)} was terminated under it, and it ran again on another`;
    default:
      return `${attempt.step} ${attempt.outcome}`;
  }
}

/** Each recorded attempt where and when it ran, timed from the latest run's start. */
function attemptSpans(attempts: readonly StepAttempt[], runStart: number): Span[] {
  return attempts.map((attempt) => {
    const from = Date.parse(attempt.started_at) - runStart;
    const to = Date.parse(attempt.ended_at) - runStart;
    const again =
      attempt.takeovers > 0
        ? ` ↻ ran again after ${attempt.takeovers} takeover${attempt.takeovers === 1 ? '' : 's'}`
        : '';
    const label = `${attemptWords(attempt)} · ${Math.round(to - from)} ms · run ${attempt.run}${again}`;
    const thread = attempt.outcome === 'lost' ? 'thread unknown' : threadName(attempt.thread_id);
    return {
      lane: `${attempt.instance_id}/${attempt.thread_id ?? 0}`,
      laneName: `${thread}\ninstance ${attempt.instance_id.slice(0, 8)}`,
      fromMs: from,
      toMs: to,
      status: attempt.outcome,
      label,
      title: `${label} — instance ${attempt.instance_id}, ${when(attempt.started_at)} to ${when(attempt.ended_at)}`,
      hooks: {
        'data-step': attempt.step,
        'data-thread-id': String(attempt.thread_id ?? 0),
        'data-instance-id': attempt.instance_id,
        'data-run': String(attempt.run),
        'data-takeovers': String(attempt.takeovers),
        'data-outcome': attempt.outcome,
      },
    };
  });
}

/** The spans on their lanes over one time axis, with the deadline marked. */
function timeDrawing(spans: readonly Span[], deadlineMs: number, key: string): HTMLElement {
  const first = Math.min(0, ...spans.map((span) => span.fromMs));
  const last = Math.max(1, ...spans.map((span) => span.toMs));
  // A deadline just past the steps is drawn where it falls; one far beyond is said at the edge.
  const end = deadlineMs <= last + (last - first) / 4 ? Math.max(last, deadlineMs) : last;
  const at = (ms: number): string => `${(100 * (ms - first)) / (end - first)}%`;
  const deadlineDrawn = deadlineMs <= end;
  const lanes = [...new Map(spans.map((span) => [span.lane, span.laneName])).entries()].sort(([a], [b]) =>
    a.localeCompare(b, undefined, { numeric: true }),
  );
  const drawn = lanes.flatMap(([lane, name]) => {
    const own = spans.filter((span) => span.lane === lane);
    // A row each: a label too long for its bar is written beside it (placeLabels), where no other bar is.
    const bars = own.map((span, row) => {
      const label = element('span', { class: 'label' }, span.label);
      const bar = element('div', { class: `bar ${span.status}`, title: span.title, ...span.hooks }, label);
      bar.style.left = at(span.fromMs);
      bar.style.width = `max(3px, calc(${at(span.toMs)} - ${at(span.fromMs)}))`;
      bar.style.top = `${2 + 22 * row}px`;
      return bar;
    });
    // A deadline beyond the drawing is said at its edge, never drawn there: the edge is not where it falls.
    const line = deadlineDrawn ? [element('div', { class: 'deadline-line' })] : [];
    for (const mark of line) mark.style.left = at(deadlineMs);
    // An earlier run's attempts are drawn before the latest run's start: its start is marked.
    const runStart = element('div', { class: 'run-start-line' });
    runStart.style.left = at(0);
    const track = element('div', { class: 'track' }, ...bars, ...line, ...(first < 0 ? [runStart] : []));
    track.style.height = `${4 + 22 * own.length}px`;
    return [element('div', { class: 'thread-name' }, name), track];
  });
  const deadline = element(
    'span',
    {
      class: `deadline ${deadlineDrawn ? 'inside' : 'beyond'}`,
      'data-deadline-ms': String(deadlineMs),
      'data-drawn': deadlineDrawn ? 'inside' : 'beyond',
    },
    deadlineDrawn ? 'deadline' : `deadline at ${money(deadlineMs)} ms →`,
  );
  if (deadlineDrawn) {
    deadline.style.left = at(deadlineMs);
    // Near an edge of the axis, the label ends (or begins) at its line, inside the drawing.
    const share = (deadlineMs - first) / (end - first);
    deadline.style.transform = share > 0.9 ? 'translateX(-100%)' : share < 0.1 ? 'none' : 'translateX(-50%)';
  }
  const scale = element(
    'div',
    { class: 'scale' },
    element('span', {}, `${money(Math.round(first))} ms`),
    element('span', {}, `${money(Math.round(end))} ms`),
  );
  const runStart = element('span', { class: 'run-start' }, 'latest run began');
  runStart.style.left = at(0);
  // Late on the axis, its label ends at its line: clear of the deadline said at the edge.
  if (-first / (end - first) > 0.5) runStart.style.transform = 'translateX(-100%)';
  const axis = element(
    'div',
    {},
    scale,
    element('div', { class: 'deadline-row' }, deadline, ...(first < 0 ? [runStart] : [])),
  );
  return element(
    'div',
    {},
    element('div', { class: 'threads' }, ...drawn, element('span', {}), axis),
    element('p', { class: 'key' }, key),
  );
}

/**
 * Each bar's label where it can be read whole: inside its bar if it fits, else beside it — after it, or before it — on
 * its own row; else inside, cut, its title saying it all. Run once the drawing is laid out, and as the window changes.
 */
function placeLabels(root: ParentNode): void {
  for (const bar of root.querySelectorAll<HTMLElement>('.bar')) {
    bar.classList.remove('label-after', 'label-before');
    const label = bar.querySelector<HTMLElement>('.label');
    const track = bar.parentElement;
    if (!label || !track || label.offsetWidth <= bar.clientWidth - 8) continue;
    const after = track.clientWidth - (bar.offsetLeft + bar.offsetWidth);
    if (label.offsetWidth + 6 <= after) bar.classList.add('label-after');
    else if (label.offsetWidth + 6 <= bar.offsetLeft) bar.classList.add('label-before');
  }
}
addEventListener('resize', () => placeLabels($('#order')));

const STEPS_KEY =
  'Each lane is a worker thread; each bar a step, from when the order sent it (all three at once) to its end. Green: done; red: failed; dashed grey: canceled when another failed or the deadline passed. ↻: run again on another thread after its thread died under it. The red line: the deadline.';
const ATTEMPTS_KEY =
  "Each lane is a worker thread of one instance; each bar a step's attempt, timed from the start of the latest run (0 ms; an earlier run's are before it). Green: done; red: failed; dashed grey: canceled; orange, struck through: its thread died or was terminated under it, and it ran again; hatched purple, on its instance's lane of unknown thread: lost with its instance, from the run's start to the takeover. ↻: run again after its run was taken over from a lost instance; a step of a later run ran again, on whichever instance ran that run. The red line: the deadline.";

/** The order's steps on the threads that ran them: each recorded attempt where there are some, else each step. */
function stepsDrawing(timeline: Timeline): HTMLElement[] {
  const attempts = timeline.step_attempts ?? [];
  if (attempts.length > 0 && timeline.run_started_at !== undefined)
    return [
      element('h3', {}, 'Its steps, attempt by attempt, on the threads and instances that ran them'),
      timeDrawing(attemptSpans(attempts, Date.parse(timeline.run_started_at)), timeline.deadline_ms, ATTEMPTS_KEY),
    ];
  if (timeline.steps.length > 0)
    return [
      element('h3', {}, 'Its steps, on their threads'),
      timeDrawing(stepSpans(timeline.steps), timeline.deadline_ms, STEPS_KEY),
    ];
  // Running, its steps are said as they run (LiveSteps); ended, as its answer listed them.
  if (timeline.state === 'running') return [];
  return [element('p', { class: 'note' }, 'No step is on record: nothing of its answer was kept.')];
}

// ---- one order: its steps as they run ----

/** What a step on a thread is doing, in words (the live view's phases). */
const DOING: Readonly<Record<ViewedStep['activity'], string>> = {
  running: 'running its own code',
  sleeping: 'waiting for its remote service',
  computing: 'computing, holding its thread',
  awaiting_courier: 'waiting for a courier',
  queued: 'waiting for a thread',
  posted: 'given to its thread, not started yet',
  finishing: 'ended, its report on its way',
};

/**
 * An order's steps as they run, from the frames of the live view's stream (GET /threads/events, five a second), while
 * it runs: each step on its thread and what it is doing. Once they have been seen and are seen no more, they have
 * ended, and so has the order, or nearly: `ended` is told, once. The stream is this instance's: an order run by
 * another instance is not on it, nor is a step a lane only counts (a lane lists its oldest 60). A frame names orders by
 * their id alone: another client's order of the same id, running at once, would be shown with it.
 */
class LiveSteps {
  private source: EventSource | undefined;
  private seen = false;
  readonly shown = element(
    'div',
    { class: 'live' },
    element('p', { class: 'note' }, 'Looking for its steps on the threads…'),
  );

  constructor(
    private readonly orderId: string,
    private readonly ended: () => void,
  ) {}

  start(): void {
    if (this.source) return;
    this.source = new EventSource(onServer('/threads/events'));
    this.source.addEventListener('message', (event) => this.frame(JSON.parse(String(event.data)) as ThreadSnapshot));
  }

  stop(): void {
    this.source?.close();
    this.source = undefined;
  }

  private frame(frame: ThreadSnapshot): void {
    const mine: Array<{ readonly step: ViewedStep; readonly thread: number | undefined }> = [];
    for (const lane of frame.lanes)
      for (const step of lane.steps) if (step.order_id === this.orderId) mine.push({ step, thread: lane.thread_id });
    for (const step of frame.queue.steps) if (step.order_id === this.orderId) mine.push({ step, thread: undefined });
    const gone = mine.length === 0 && this.seen;
    this.seen = mine.length > 0;
    this.shown.replaceChildren(
      mine.length === 0
        ? element(
            'p',
            { class: 'note' },
            gone
              ? 'Its steps have ended: how it ended is read now.'
              : 'None of its steps is on this instance’s threads now: they have ended (how, its end will say), are among those a busy lane only counts, or another instance runs it.',
          )
        : element(
            'table',
            { class: 'live-steps' },
            element(
              'thead',
              {},
              element('tr', {}, ...['step', 'thread', 'doing', 'for', ''].map((name) => element('th', {}, name))),
            ),
            element('tbody', {}, ...mine.map(({ step, thread }) => liveRow(step, thread))),
          ),
    );
    if (gone) this.ended();
  }
}

function liveRow(step: ViewedStep, thread: number | undefined): HTMLElement {
  const notes = [
    step.canceled ? 'canceled: stopping' : '',
    step.attempt ? `↻ attempt ${step.attempt}: its thread died under it` : '',
    step.courier !== undefined ? `holds courier ${step.courier}` : '',
    step.retries ? `${step.retries} retr${step.retries === 1 ? 'y' : 'ies'}` : '',
    step.on_cpu ? 'on the CPU now' : '',
  ].filter(Boolean);
  return element(
    'tr',
    { 'data-live-step': step.step, 'data-thread-id': String(thread ?? 0), 'data-activity': step.activity },
    element('td', {}, `${step.step} — ${STEP_MEANING[step.step] ?? ''}`),
    element('td', {}, thread === undefined ? '—' : `thread ${thread}`),
    element('td', {}, DOING[step.activity]),
    element('td', {}, seconds(step.age_ms)),
    element('td', {}, notes.join(', ')),
  );
}

// ---- one order: its tables, and the actions on it ----

function stepTable(title: string, steps: readonly Step[]): HTMLElement[] {
  if (steps.length === 0) return [];
  const rows = steps.map((step) =>
    element(
      'tr',
      { 'data-step': step.name },
      element('td', {}, `${step.name} — ${STEP_MEANING[step.name] ?? ''}`),
      element('td', {}, step.status === 'ok' ? 'ok' : (step.detail ?? step.status)),
      element('td', {}, step.thread_id ? `thread ${step.thread_id}` : '—'),
      element('td', {}, `${step.duration_ms} ms`),
      element(
        'td',
        {},
        [step.attempts ? `${step.attempts} attempts` : '', step.retries ? `${step.retries} retries` : '']
          .filter(Boolean)
          .join(', ') || '—',
      ),
    ),
  );
  const head = element(
    'tr',
    {},
    ...['step', 'result', 'thread', 'took', 'again'].map((name) => element('th', {}, name)),
  );
  return [element('h3', {}, title), element('table', {}, element('thead', {}, head), element('tbody', {}, ...rows))];
}

/** An action on an event or an order: asked first, then sent, its answer said beside it. */
interface Action<T> {
  readonly label: string;
  /** Whether it is offered for this target; always, if not said. */
  readonly offered?: (target: T) => boolean;
  readonly question: (target: T) => string;
  readonly request: (target: T) => { readonly method: string; readonly path: string };
  readonly said: (status: number, body: unknown) => string;
}

const EVENT_ACTIONS: ReadonlyArray<Action<TimelineEvent>> = [
  {
    label: 'Redeliver',
    question: (event) => `Send ${event.type} (${event.id}) again to every webhook of its client?`,
    request: (event) => ({ method: 'POST', path: `/admin/events/${encodeURIComponent(event.id)}/redeliver` }),
    said: (status, body) =>
      status === 202
        ? `Sent again: ${(body as { deliveries: number }).deliveries} deliver${(body as { deliveries: number }).deliveries === 1 ? 'y' : 'ies'} queued.`
        : `Not sent (${status}): ${(body as { error?: { message: string } }).error?.message ?? ''}`,
  },
];

/** What POST /orders/{order_id}/cancel answers once the order has ended, as far as the page says it. */
interface CancelAnswer {
  readonly lifecycle?: string;
  readonly payment?: Money;
  readonly error?: { readonly message: string };
}

/** Order actions, drawn above the steps. */
const ORDER_ACTIONS: ReadonlyArray<Action<Timeline>> = [
  {
    label: 'Cancel',
    offered: (order) => order.state === 'running',
    question: (order) =>
      `Cancel order ${order.order_id} of ${order.client}? Its steps still running stop, on whatever thread, and what it was charged is refunded.`,
    request: (order) => ({
      method: 'POST',
      path: `/orders/${encodeURIComponent(order.order_id)}/cancel?${new URLSearchParams({ client: order.client }).toString()}`,
    }),
    said: (status, body) => {
      const answer = body as CancelAnswer;
      if (status === 200 && answer.payment)
        return `Ended ${answer.lifecycle ?? ''}: charged ${answer.payment.charged.toLocaleString('en-US')}, refunded ${answer.payment.refunded.toLocaleString('en-US')}.`;
      if (status === 202)
        return 'Canceled: its steps are stopping and its refund is under way; the order below is followed to its end.';
      return `Not canceled (${status}): ${answer.error?.message ?? ''}`;
    },
  },
  {
    label: 'Redrive',
    offered: (order) => order.redrivable,
    question: (order) =>
      `Send order ${order.order_id} of ${order.client} on again, as a new run? Its steps recorded done that moved no money stand; the payment, refunded with the run before, is charged again under the new run.`,
    request: (order) => ({
      method: 'POST',
      path: `/admin/orders/${encodeURIComponent(order.order_id)}/redrive?${new URLSearchParams({ client: order.client }).toString()}`,
    }),
    said: (status, body) => {
      const answer = body as CancelAnswer & { readonly error?: { readonly kind: string } };
      if (status === 202) return 'Redriven (202): a new run is under way; the order below is followed as it runs.';
      return `Not redriven (${status} ${answer.error?.kind ?? ''}): ${answer.error?.message ?? ''}`;
    },
  },
];

/** `answered`: told once the action's answer has been said (an order's page reads the order again). */
function actionButton<T>(action: Action<T>, target: T, answered?: () => Promise<void>): HTMLElement {
  const result = element('span', { class: 'result', role: 'status' });
  const button = element('button', { type: 'button', 'data-action': action.label }, action.label);
  const holder = element('span', { class: 'action', 'data-offered': 'true' }, button, result);
  button.addEventListener('click', () => {
    const yes = element('button', { type: 'button', 'data-confirm': 'yes' }, `Yes, ${action.label.toLowerCase()}`);
    const no = element('button', { type: 'button', 'data-confirm': 'no' }, 'No');
    const asking = element('span', { class: 'confirm' }, action.question(target), yes, no);
    button.hidden = true;
    result.replaceChildren(asking);
    no.addEventListener('click', () => {
      button.hidden = false;
      result.replaceChildren();
    });
    const send = async (): Promise<void> => {
      result.replaceChildren('sending…');
      const { method, path } = action.request(target);
      try {
        const response = await fetch(onServer(path), { method, headers: { accept: 'application/json' } });
        const body: unknown = await response.json();
        result.className = `result ${response.ok ? '' : 'failed'}`;
        result.replaceChildren(action.said(response.status, body));
      } catch (error) {
        result.className = 'result failed';
        result.replaceChildren(`Not sent: ${(error as Error).message}`);
        button.hidden = false;
        return;
      }
      button.hidden = false;
      // Outside the send's failure: what comes after its answer never unsays it.
      await answered?.();
    };
    yes.addEventListener('click', () => void send());
  });
  return holder;
}

/** What became of an event's deliveries, one line per webhook endpoint. */
function deliveriesSaid(deliveries: readonly Delivery[] | null): string {
  if (deliveries === null) return 'not kept in memory';
  if (deliveries.length === 0) return 'no webhook registered';
  return deliveries
    .map(({ endpoint_id, failures, done_at, outcome }) => {
      const failed = failures > 0 ? ` after ${failures} failed attempt${failures === 1 ? '' : 's'}` : '';
      const end = outcome === null || done_at === null ? 'still owed' : `${outcome} at ${when(done_at)}`;
      return `${endpoint_id}: ${end}${failed}`;
    })
    .join('; ');
}

function eventTable(events: readonly TimelineEvent[]): HTMLElement[] {
  const title = element('h3', {}, 'Events sent to its client (webhooks and GET /events)');
  if (events.length === 0) return [title, element('p', { class: 'note' }, 'None kept for this order.')];
  const rows = events.map((event) =>
    element(
      'tr',
      { 'data-event-id': event.id },
      element('td', {}, event.type),
      element('td', {}, when(event.timestamp)),
      element('td', {}, `run ${event.run}`),
      element('td', {}, `charged ${money(event.data.payment.charged)}, refunded ${money(event.data.payment.refunded)}`),
      element('td', { 'data-deliveries': '' }, deliveriesSaid(event.deliveries)),
      element('td', {}, event.trace_id ? `trace ${event.trace_id.slice(0, 12)}…` : '—'),
      element('td', {}, ...EVENT_ACTIONS.map((action) => actionButton(action, event))),
    ),
  );
  const head = element(
    'tr',
    {},
    ...['event', 'when', 'run', 'money then', 'webhook deliveries', 'trace', ''].map((name) => element('th', {}, name)),
  );
  return [title, element('table', {}, element('thead', {}, head), element('tbody', {}, ...rows))];
}

// ---- one order, open: shown, and followed while it runs ----

/** While an order runs it is read again this often: its end is seen within it, or at once when its steps are gone. */
const FOLLOW_MS = 1000;

/** The order open in the panel, and its following. */
interface OpenOrder {
  readonly client: string;
  readonly orderId: string;
  readonly path: string;
  /** Its timeline as last shown, as read (what a read again is compared with). */
  shownText: string;
  live: LiveSteps | undefined;
  /** Cuts the follower's wait short: read it now. */
  wake: (() => void) | undefined;
  following: boolean;
}

let open: OpenOrder | undefined;

const isOpen = (order: OpenOrder): boolean => open === order;

/** Open an order in the panel (and say so in the address), and follow it while it runs. */
async function openOrder(client: string, orderId: string): Promise<void> {
  open?.live?.stop();
  const order: OpenOrder = {
    client,
    orderId,
    path: `/orders/${encodeURIComponent(orderId)}/timeline?${new URLSearchParams({ client }).toString()}`,
    shownText: '',
    live: undefined,
    wake: undefined,
    following: false,
  };
  open = order;
  setAddress({ order: orderId, client });
  markOpenRow();
  const panel = $('#order');
  panel.dataset['orderId'] = orderId;
  panel.replaceChildren(element('p', { class: 'placeholder' }, 'loading…'));
  let text: string;
  try {
    text = await readText(order.path);
  } catch (error) {
    if (isOpen(order))
      panel.replaceChildren(element('p', { class: 'why' }, `It could not be read: ${(error as Error).message}`));
    return;
  }
  if (!isOpen(order)) return;
  const summary = element('div', { class: 'summary' });
  const actions = element('div', { class: 'actions' });
  const live = element('div', {});
  const details = element('div', { class: 'details' });
  panel.replaceChildren(summary, actions, live, details);
  const afterAction = async (): Promise<void> => {
    await follow(order, show, true);
    void showList(true);
  };
  const holders = new Map<string, HTMLElement>();
  function show(now: Timeline): void {
    panel.dataset['state'] = now.state;
    summary.replaceChildren(
      element('h2', {}, `Order ${orderId} `, outcomeBadge(now.outcome)),
      explanation(now),
      facts(now),
    );
    // An action offered once keeps its place and what it was answered; while not offered, its button is not shown.
    for (const action of ORDER_ACTIONS) {
      const offered = action.offered?.(now) ?? true;
      let holder = holders.get(action.label);
      if (!holder && offered) {
        holder = actionButton(action, now, afterAction);
        holders.set(action.label, holder);
        actions.append(holder);
      }
      holder?.setAttribute('data-offered', String(offered));
    }
    if (now.state === 'running') {
      order.live ??= new LiveSteps(orderId, () => order.wake?.());
      order.live.start();
      live.replaceChildren(element('h3', {}, 'Its steps now, on the threads'), order.live.shown);
    } else {
      order.live?.stop();
      order.live = undefined;
      live.replaceChildren();
    }
    details.replaceChildren(
      ...stepsDrawing(now),
      ...stepTable('Steps', now.steps),
      ...stepTable('Undone (compensations)', now.compensations),
      ...eventTable(now.events),
    );
    placeLabels(details);
    updateRow(now);
  }
  const first = JSON.parse(text) as Timeline;
  order.shownText = text;
  show(first);
  if (first.state === 'running') void follow(order, show);
}

async function readText(path: string): Promise<string> {
  const response = await readFollowingRetryAfter(path);
  const text = await response.text();
  if (!response.ok)
    throw new Error((JSON.parse(text) as { error?: { message: string } }).error?.message ?? `${response.status}`);
  return text;
}

/**
 * Read the open order again every FOLLOW_MS (at once when woken, or `now`) while it runs, showing it when it has
 * changed, until it has ended or another order is opened. A read turned away (a busy instance's 503) is read again at
 * the next turn: one refusal must not leave the page showing the order as it was. One follower an order: a second call
 * wakes the first.
 */
async function follow(order: OpenOrder, show: (timeline: Timeline) => void, now = false): Promise<void> {
  if (order.following) {
    order.wake?.();
    return;
  }
  order.following = true;
  try {
    for (let waitFirst = !now; isOpen(order); waitFirst = true) {
      if (waitFirst)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, FOLLOW_MS);
          order.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      order.wake = undefined;
      if (!isOpen(order)) return;
      const text = await readText(order.path).catch(() => undefined);
      if (!isOpen(order) || text === undefined) continue;
      const timeline = JSON.parse(text) as Timeline;
      if (text !== order.shownText) {
        order.shownText = text;
        show(timeline);
      }
      if (timeline.state === 'done') return;
    }
  } finally {
    order.following = false;
    order.wake = undefined;
  }
}

// ---- the address, applied: on arrival, and when it is changed by hand ----

async function applyAddress(): Promise<void> {
  const address = addressNow();
  const form = $<HTMLFormElement>('#filters');
  const state = form.elements.namedItem('state');
  if (state instanceof HTMLSelectElement) state.value = address.state ?? '';
  const id = form.elements.namedItem('id');
  if (id instanceof HTMLInputElement) id.value = address.id ?? '';
  filter = listFilter();
  pages.length = 1;
  pageIndex = 0;
  if (address.order !== undefined && address.client !== undefined) {
    await Promise.all([showList(), openOrder(address.client, address.order)]);
    return;
  }
  // An order named without its client: found by its id among the orders listed.
  if (address.order !== undefined && id instanceof HTMLInputElement) id.value = address.order;
  if (address.order !== undefined) await listAgain();
  else await showList();
}

addEventListener('hashchange', () => {
  const address = addressNow();
  if (open && address.order === open.orderId && address.client === open.client) return;
  void applyAddress();
});
void applyAddress();
