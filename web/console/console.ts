/**
 * The console's script (GET /console): lists orders from GET /orders, a page
 * at a time, and shows one from GET /orders/{id}/timeline — why it failed,
 * its steps drawn on the threads that ran them, its money, its events — with
 * the actions on it, each confirmed before it is sent and its answer shown.
 * An action is one entry of EVENT_ACTIONS (or of ORDER_ACTIONS, for one on
 * the whole order): a label, a question, a request, and how to say its answer.
 *
 * Hooks for tests: each row has data-order-id, data-client and data-outcome;
 * the order's panel has data-order-id, its explanation data-failure-kind,
 * each bar data-step and data-thread-id (a recorded attempt's also
 * data-instance-id, data-run, data-takeovers and data-outcome), the deadline's mark
 * data-deadline-ms and data-drawn (inside, or beyond the drawn runs), each
 * event row data-event-id.
 */

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
interface Timeline extends OrderHead {
  readonly step_attempts?: StepAttempt[];
  readonly deadline_ms: number;
  readonly run_started_at?: string;
  readonly redrivable: boolean;
  readonly payment: Money;
  readonly failure: { readonly kind: string; readonly step: string | null; readonly thread_id: number | null } | null;
  readonly steps: Step[];
  readonly compensations: Step[];
  readonly events: TimelineEvent[];
}

/** What each failure means, for someone who has never seen the service. */
const MEANING: Readonly<Record<string, string>> = {
  payment_declined: 'the payment provider declined the card',
  payment_unavailable: 'the payment provider could not be reached, even after retries',
  vendor_unavailable: 'the shop (vendor) could not be told of the order',
  no_courier: 'no courier could be booked',
  timeout:
    'the order ran past its deadline (its own deadline_ms, or the service’s ORDER_TIMEOUT_MS), and every step still running was canceled',
  thread_lost: 'the worker thread running a step died again and again',
  interrupted: 'the instance running it was lost; its payment was voided',
  compensation_failed: 'a refund was refused by the payment provider: the money is still taken — follow it up',
  client_closed_request: 'every caller went away before it ended',
  outcome_unknown: 'the database went away while its outcome was recorded',
  canceled: 'it was canceled',
  dead_lettered:
    'the instances running it were lost more often than ORDER_RECOVERIES_MAX allows: it was parked, its payment refunded, for the admin to redrive',
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

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(onServer(path), { headers: { accept: 'application/json' } });
  const body = (await response.json()) as T & { error?: { message: string } };
  if (!response.ok) throw new Error(body.error?.message ?? `${response.status}`);
  return body;
}

function outcomeBadge(outcome: Outcome | null): HTMLElement {
  if (!outcome) return element('span', { class: 'outcome running' }, 'running');
  // Stopped as someone asked, not failed.
  if (outcome.kind === 'canceled') return element('span', { class: 'outcome canceled' }, 'canceled');
  const ok = outcome.kind === 'ok';
  return element('span', { class: `outcome ${ok ? 'ok' : 'failed'}` }, ok ? 'succeeded' : `failed: ${outcome.kind}`);
}

/** A time as a clock reads it; with its day when it is not today. */
function when(iso: string): string {
  const at = new Date(iso);
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return at.toDateString() === new Date().toDateString() ? time : `${at.toLocaleDateString()} ${time}`;
}
const money = (amount: number): string => amount.toLocaleString();

// ---- the list ----

/** The cursors of the pages seen, the first page's null: "newer" goes back one. */
const pages: Array<string | null> = [null];
let pageIndex = 0;
let nextCursor: string | null = null;

const formText = (form: FormData, name: string): string => {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
};

function listQuery(): URLSearchParams {
  const form = new FormData($<HTMLFormElement>('#filters'));
  const query = new URLSearchParams();
  for (const name of ['state', 'client', 'limit'] as const) {
    const value = formText(form, name).trim();
    if (value) query.set(name, value);
  }
  for (const name of ['since', 'until'] as const) {
    const value = formText(form, name);
    if (value) query.set(name, new Date(value).toISOString());
  }
  const cursor = pages[pageIndex];
  if (cursor) query.set('cursor', cursor);
  return query;
}

async function showList(): Promise<void> {
  const note = $('#list-note');
  note.textContent = 'loading…';
  let list: OrderList;
  try {
    list = await getJson<OrderList>(`/orders?${listQuery().toString()}`);
  } catch (error) {
    note.textContent = `The list could not be read: ${(error as Error).message}`;
    return;
  }
  nextCursor = list.next;
  const rows = list.orders.map((order) => {
    const row = element(
      'tr',
      { tabindex: '0', 'data-order-id': order.order_id, 'data-client': order.client },
      element('td', {}, order.order_id),
      element('td', {}, order.client),
      element('td', {}, outcomeBadge(order.outcome)),
      element('td', {}, String(order.runs)),
      element('td', {}, when(order.at)),
    );
    row.dataset['outcome'] = order.outcome?.kind ?? 'running';
    const open = (): void => void showOrder(order.client, order.order_id, row);
    row.addEventListener('click', open);
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') open();
    });
    return row;
  });
  $('#orders').replaceChildren(...rows);
  note.textContent =
    rows.length === 0
      ? 'No order matches.'
      : `${rows.length} order${rows.length === 1 ? '' : 's'}${list.next ? ' — more are older' : ''}. Click one to open it.`;
  $<HTMLButtonElement>('#newer').disabled = pageIndex === 0;
  $<HTMLButtonElement>('#older').disabled = list.next === null;
  $('#page-number').textContent = `page ${pageIndex + 1}`;
}

$<HTMLFormElement>('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  pages.length = 1;
  pageIndex = 0;
  void showList();
});
$('#older').addEventListener('click', () => {
  if (!nextCursor) return;
  pages[++pageIndex] = nextCursor;
  pages.length = pageIndex + 1;
  void showList();
});
$('#newer').addEventListener('click', () => {
  if (pageIndex === 0) return;
  pageIndex--;
  void showList();
});

// ---- one order ----

/** Why the order ended as it did, in a sentence. */
function explanation(timeline: Timeline): HTMLElement {
  if (!timeline.outcome) return element('p', { class: 'why ok' }, 'Still running.');
  if (!timeline.failure)
    return element('p', { class: 'why ok', 'data-failure-kind': 'none' }, 'Succeeded: every step did its part.');
  const { kind, step, thread_id } = timeline.failure;
  if (kind === 'canceled')
    return element(
      'p',
      { class: 'why', 'data-failure-kind': kind },
      element('b', {}, 'Canceled.'),
      ' Its client or the admin asked it to stop: its steps still running were canceled, and what it was charged refunded.',
    );
  const where = step
    ? ` The ${step} step (${STEP_MEANING[step] ?? step}) failed${thread_id ? ` on thread ${thread_id}` : ''}; the steps still running were canceled.`
    : '';
  return element(
    'p',
    { class: 'why', 'data-failure-kind': kind },
    element('b', {}, `Failed: ${kind}.`),
    ` It failed because ${MEANING[kind] ?? kind}.${where}`,
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
  );
}

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

/** Each span's row in its lane: the first whose last bar has ended before it begins. */
function rowsOf(spans: readonly Span[]): number[] {
  const ends: number[] = [];
  return spans.map((span) => {
    let row = ends.findIndex((end) => end <= span.fromMs);
    if (row === -1) row = ends.push(span.toMs) - 1;
    else ends[row] = span.toMs;
    return row;
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
    const rows = rowsOf(own);
    const bars = own.map((span, i) => {
      const bar = element('div', { class: `bar ${span.status}`, title: span.title, ...span.hooks }, span.label);
      bar.style.left = at(span.fromMs);
      bar.style.width = `max(3px, calc(${at(span.toMs)} - ${at(span.fromMs)}))`;
      bar.style.top = `${2 + 22 * rows[i]!}px`;
      return bar;
    });
    const line = element('div', { class: 'deadline-line' });
    line.style.left = deadlineDrawn ? at(deadlineMs) : '100%';
    // An earlier run's attempts are drawn before the latest run's start: its start is marked.
    const runStart = element('div', { class: 'run-start-line' });
    runStart.style.left = at(0);
    const track = element('div', { class: 'track' }, ...bars, line, ...(first < 0 ? [runStart] : []));
    track.style.height = `${4 + 22 * (Math.max(...rows) + 1)}px`;
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
  return [element('p', { class: 'note' }, 'No step is on record: it runs, or its outcome kept no answer.')];
}

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
        return 'Canceled: its steps are stopping and its refund is under way. Open it again in a moment.';
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
      if (status === 202) return 'Redriven (202): a new run is under way; the order below is read again as it runs.';
      return `Not redriven (${status} ${answer.error?.kind ?? ''}): ${answer.error?.message ?? ''}`;
    },
  },
];

/** `answered`: told once the action's answer has been said (an order's page reads the order again). */
function actionButton<T>(action: Action<T>, target: T, answered?: () => Promise<void>): HTMLElement {
  const result = element('span', { class: 'result', role: 'status' });
  const button = element('button', { type: 'button', 'data-action': action.label }, action.label);
  const holder = element('span', {}, button, result);
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

/** How often, and how long at most, an order's page reads it again after an action while it runs: a minute. */
const READ_AGAIN_MS = 500;
const READS_AFTER_ACTION = 120;
/** Orders opened so far: the page reads an order again only while it is the one open. */
let opened = 0;

async function showOrder(client: string, orderId: string, row: HTMLElement): Promise<void> {
  for (const other of document.querySelectorAll('#orders tr[aria-selected]')) other.removeAttribute('aria-selected');
  row.setAttribute('aria-selected', 'true');
  const panel = $('#order');
  panel.replaceChildren(element('p', { class: 'placeholder' }, 'loading…'));
  const timelinePath = `/orders/${encodeURIComponent(orderId)}/timeline?${new URLSearchParams({ client }).toString()}`;
  let timeline: Timeline;
  try {
    timeline = await getJson<Timeline>(timelinePath);
  } catch (error) {
    panel.replaceChildren(element('p', { class: 'why' }, `It could not be read: ${(error as Error).message}`));
    return;
  }
  panel.dataset['orderId'] = orderId;
  const mine = ++opened;
  const summary = element('div', { class: 'summary' });
  const details = element('div', { class: 'details' });
  const show = (now: Timeline): void => {
    summary.replaceChildren(
      element('h2', {}, `Order ${orderId} `, outcomeBadge(now.outcome)),
      explanation(now),
      facts(now),
    );
    details.replaceChildren(
      ...stepsDrawing(now),
      ...stepTable('Steps', now.steps),
      ...stepTable('Undone (compensations)', now.compensations),
      ...eventTable(now.events),
    );
  };
  show(timeline);
  // After an action, the order as it is now, in the panel and the list, read again while it runs (a redrive's new
  // run, a cancel still winding down) as long as the panel shows it; the action's answer stays said.
  const readAgain = async (): Promise<void> => {
    for (let reads = 0; reads < READS_AFTER_ACTION && opened === mine; reads++) {
      // A read turned away (503 from an instance whose reads are busy) is read again at the next turn: one refusal must
      // not leave the page showing the order as it was before the action, for good.
      const now = await getJson<Timeline>(timelinePath).catch(() => undefined);
      if (opened !== mine) return;
      if (now) {
        show(now);
        if (now.state === 'done') break;
      }
      await new Promise((resolve) => setTimeout(resolve, READ_AGAIN_MS));
    }
    await showList();
  };
  panel.replaceChildren(
    summary,
    ...ORDER_ACTIONS.filter((action) => action.offered?.(timeline) ?? true).map((action) =>
      actionButton(action, timeline, readAgain),
    ),
    details,
  );
}

void showList();
