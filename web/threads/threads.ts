/**
 * The thread view's page script: reads the frames of GET /threads/events and
 * draws them — a lane per thread with the steps on it, the courier slots, the
 * counters, the deaths list and a chart of the last minute. It runs in the
 * browser (type-checked against the DOM and against the frame's own types,
 * src/observability/thread-frame.ts); the server inlines its compiled form.
 *
 * Lanes are kept as nodes from frame to frame and their inner HTML is
 * replaced only when it changed: five frames a second would otherwise rebuild
 * thousands of nodes each time.
 */
import type {
  StepPhase,
  ThreadSnapshot,
  ViewedClients,
  ViewedDependency,
  ViewedLane,
  ViewedStep,
  ViewEvent,
} from '../../src/observability/thread-frame.js';
import type { TraceWaterfall, WaterfallSpan } from '../../src/domain/trace.js';

const $ = (id: string): HTMLElement => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
};

/**
 * An address on this server, from the page's origin. A person may open the page as http://admin:KEY@host/threads:
 * a path resolved against that address carries the key, and fetch refuses a URL with credentials in it. The browser
 * sends the credentials it was given for the page with every request to the server anyway.
 */
const onServer = (path: string): string => new URL(path, location.origin).href;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const esc = (text: unknown): string => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const ACTIVITY: Readonly<Record<StepPhase, string>> = {
  sleeping: 'sleeping',
  computing: 'computing',
  awaiting_courier: 'waiting for a courier',
  running: 'running',
  queued: 'queued',
  posted: 'posted to the thread, not started',
  finishing: 'done, reporting',
};
/** A lane standing still is said not to respond only with its event loop at least this busy (see laneHtml). */
const STUCK_BUSY = 0.5;
const clock = (at: number): string => new Date(at).toLocaleTimeString('en-GB', { hour12: false });
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** As many characters of an order id as a step's box shows whole (118 px of 11 px bold). */
const SHOWN_ID = 14;
/**
 * An order id as a step's box shows it: whole if it fits, else its start and its end, cut in the middle. Ids of one
 * batch share their start and differ at the end (`demo-…-crash`, `demo-…-neighbour-2`): cut at the end, they looked
 * alike. The whole id is the box's title.
 */
function shownId(id: string): string {
  if (id.length <= SHOWN_ID) return id;
  const start = 4;
  return `${id.slice(0, start)}…${id.slice(id.length - (SHOWN_ID - start - 1))}`;
}

type LostOutcome = 'culprit' | 'retried' | 'lost';
const OUTCOME: Readonly<Record<LostOutcome, string>> = {
  culprit: 'brought it down',
  retried: 'ran again on another thread',
  lost: 'lost (its order had ended)',
};
const LOST_BADGE: Readonly<Record<LostOutcome, string>> = { culprit: 'culprit', retried: '↻ elsewhere', lost: 'lost' };

function stepBox(s: ViewedStep): string {
  const classes = `step ${s.activity}${s.canceled ? ' canceled' : ''}${s.on_cpu ? ' oncpu' : ''}`;
  const title =
    `${s.order_id} · ${s.step} · ${ACTIVITY[s.activity]}${s.canceled ? ' · canceled' : ''}` +
    `${s.attempt ? ` · attempt ${s.attempt}` : ''}${s.courier !== undefined ? ` · holds courier ${s.courier}` : ''}` +
    `${s.retries ? ` · called its dependency again ${plural(s.retries, 'time', 'times')}` : ''}`;
  return (
    `<div class="${classes}" data-step="${esc(s.step)}" data-order-id="${esc(s.order_id)}" data-activity="${s.activity}" title="${esc(title)}">` +
    `<span class="order">${esc(shownId(s.order_id))}</span>${esc(s.step)}` +
    (s.attempt ? `<span class="badge retry">↻ ${s.attempt}</span>` : '') +
    (s.courier !== undefined ? `<span class="badge">courier ${s.courier}</span>` : '') +
    (s.retries ? `<span class="badge redial">retry ${s.retries}</span>` : '') +
    '</div>'
  );
}

const COUNTED: ReadonlyArray<StepPhase | 'canceled'> = [
  'computing',
  'sleeping',
  'awaiting_courier',
  'running',
  'posted',
  'finishing',
  'canceled',
];

function countsLine(counts: ViewedLane['counts']): string {
  return COUNTED.filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${k === 'canceled' ? 'canceled' : ACTIVITY[k]}`)
    .join(' · ');
}

interface LaneHtml {
  readonly cls: string;
  readonly head: string;
  readonly steps: string;
}

function deadLaneHtml(lane: ViewedLane): LaneHtml {
  const fate = lane.fate;
  const lost = fate?.lost ?? [];
  const head =
    `<strong>thread ${lane.thread_id}</strong><br>${fate?.cause === 'terminated' ? 'terminated' : 'died'}` +
    `${fate?.at !== undefined ? ` at ${clock(fate.at)}` : ''}${fate?.reason ? `: ${esc(fate.reason)}` : ''}`;
  const more = fate?.lost_more ?? 0;
  const note =
    lost.length === 0
      ? 'No step was on it.'
      : `It took ${plural(lost.length + more, 'step', 'steps')} with it: the one that brought it down, steps run again on another thread, steps whose order had already ended.`;
  const steps =
    `<span class="lane-note">${note}</span>` +
    lost
      .map(
        (l) =>
          `<div class="step lost ${l.outcome}" data-step="${esc(l.step)}" data-order-id="${esc(l.order_id)}" data-outcome="${l.outcome}" ` +
          `title="${esc(`${l.order_id} · ${l.step} · ${OUTCOME[l.outcome]}`)}"><span class="order">${esc(shownId(l.order_id))}</span>${esc(l.step)} ` +
          `<span class="badge${l.outcome === 'retried' ? ' retry' : ''}">${LOST_BADGE[l.outcome]}</span></div>`,
      )
      .join('') +
    (more ? `<span class="more" data-lost-more="${more}">+ ${more} more</span>` : '');
  return { cls: 'lane dead', head, steps };
}

function laneHtml(lane: ViewedLane): LaneHtml {
  if (lane.state === 'dead') return deadLaneHtml(lane);
  const pct = Math.round((lane.utilization ?? 0) * 100);
  const head =
    `<strong>thread ${lane.thread_id}</strong> · ${plural(lane.steps_running, 'step', 'steps')}` +
    `<div class="bar" title="event loop busy ${pct}%"><i data-width="${pct}"></i></div>event loop ${pct}% busy<br>${countsLine(lane.counts)}`;
  // A thread whose steps all wait moves its progress count only as one wakes: standing still on an idle event loop is
  // waiting, not being stuck. A stuck thread's loop is busy the whole time: the code that blocks it runs.
  const stalled = lane.state === 'alive' && lane.stalled_ms >= 500 && (lane.utilization ?? 1) >= STUCK_BUSY;
  let note = '';
  if (lane.state === 'doomed') {
    note =
      `<span class="lane-note warn">${lane.fate?.cause === 'terminated' ? 'being terminated' : 'dying'}` +
      `${lane.fate?.reason ? `: ${esc(lane.fate.reason)}` : ''} — every step on it is lost with it</span>`;
  } else if (stalled) {
    note = `<span class="lane-note warn">not responding for ${(lane.stalled_ms / 1000).toFixed(1)} s: its event loop has not turned, so what its steps are doing is not known</span>`;
  }
  const steps =
    note + lane.steps.map(stepBox).join('') + (lane.more ? `<span class="more">+ ${lane.more} more</span>` : '');
  return { cls: `lane ${lane.state}${stalled ? ' stalled' : ''}`, head, steps };
}

/** Widths of bars are set through the CSSOM: the page's policy allows no inline style attributes. */
function applyWidths(root: Element): void {
  root.querySelectorAll<HTMLElement>('[data-width]').forEach((bar) => {
    bar.style.width = `${bar.dataset['width'] ?? '0'}%`;
    if (bar.dataset['left'] !== undefined) bar.style.left = `${bar.dataset['left']}%`;
  });
}

interface LaneNode {
  readonly element: HTMLDivElement;
  steps: string;
}
const laneNodes = new Map<string, LaneNode>();

function renderLanes(lanes: readonly ViewedLane[]): void {
  const container = $('lanes');
  const seen = new Set<string>();
  lanes.forEach((lane, index) => {
    const key = `${lane.state === 'dead' ? 'dead' : 'live'}-${lane.thread_id}`;
    seen.add(key);
    let node = laneNodes.get(key);
    if (!node) {
      const element = document.createElement('div');
      element.setAttribute('data-thread-id', String(lane.thread_id));
      element.innerHTML = '<div class="lane-head"></div><div class="lane-steps"></div>';
      node = { element, steps: '' };
      laneNodes.set(key, node);
    }
    const html = laneHtml(lane);
    const { element } = node;
    element.className = html.cls;
    element.setAttribute('data-state', lane.state);
    const head = element.firstElementChild!;
    if (head.innerHTML !== html.head) {
      head.innerHTML = html.head;
      applyWidths(head);
    }
    if (node.steps !== html.steps) {
      element.lastElementChild!.innerHTML = html.steps;
      node.steps = html.steps;
    }
    if (container.children[index] !== element) container.insertBefore(element, container.children[index] ?? null);
  });
  for (const [key, node] of laneNodes) {
    if (seen.has(key)) continue;
    node.element.remove();
    laneNodes.delete(key);
  }
}

function renderEvents(events: readonly ViewEvent[]): void {
  if (events.length === 0) return;
  $('events').innerHTML = events
    .map((e) => {
      const text =
        e.kind === 'died' || e.kind === 'terminated'
          ? `<b>thread ${e.thread_id} ${e.kind}</b>${e.detail ? `: ${esc(e.detail)}` : ''}`
          : `${esc(e.order_id)} ${esc(e.step)} was on thread ${e.thread_id}: ${OUTCOME[e.kind]}`;
      return `<li class="${e.kind}" data-kind="${e.kind}"><time>${clock(e.at)}</time>${text}</li>`;
    })
    .join('');
}

const BREAKER: Readonly<Record<NonNullable<ViewedDependency['breaker']>['state'], string>> = {
  closed: 'closed',
  open: 'open',
  half_open: 'half-open: one probe order',
};

function dependencyBox(d: ViewedDependency): string {
  const outage = d.outage
    ? `outage: ${Math.round(d.outage.failure_ratio * 100)}% of calls fail${d.outage.latency_ms ? `, +${d.outage.latency_ms} ms` : ''}`
    : 'no outage';
  const breaker = d.breaker
    ? `breaker ${BREAKER[d.breaker.state]}${d.breaker.state === 'open' ? ` for ${(d.breaker.open_for_ms / 1000).toFixed(1)} s` : ''}` +
      `${d.breaker.consecutive_failures ? ` · ${plural(d.breaker.consecutive_failures, 'failure', 'failures')} in a row` : ''}`
    : 'no breaker';
  const classes = `dependency${d.outage ? ' outage' : ''}${d.breaker ? ` ${d.breaker.state}` : ''}`;
  return `<div class="${classes}" data-dependency="${esc(d.name)}" data-breaker="${d.breaker?.state ?? 'none'}"><b>${esc(d.title)}</b><br>${esc(outage)}<br>${esc(breaker)}</div>`;
}

const KIB = 1024;
const bytes = (n: number | null): string =>
  n === null ? '–' : n < KIB * KIB ? `${(n / KIB).toFixed(0)} KiB` : `${(n / KIB / KIB).toFixed(1)} MiB`;

/** One row per client: what it holds and waits for now, and what it was refused since start. */
function renderClients(c: ViewedClients): void {
  $('clients-note').textContent = c.capped
    ? `several clients: each holds at most ${Math.round(c.max_share * 100)}% of the couriers, the orders in flight and the records' memory, and its computing steps leave a thread free`
    : 'one client: nothing is capped';
  $('clients').innerHTML =
    c.listed
      .map(
        (r) =>
          `<tr data-client="${esc(r.client)}"><th>${esc(r.client)}${r.weight !== 1 ? ` <small>×${r.weight}</small>` : ''}</th><td class="tier-${r.tier}">${r.tier}</td><td>${r.orders_in_flight}</td>` +
          `<td>${r.couriers_held}${r.couriers_waiting ? ` <small>+${r.couriers_waiting} waiting</small>` : ''}</td>` +
          `<td>${r.cpu_steps_running}${r.cpu_steps_waiting ? ` <small>+${r.cpu_steps_waiting} waiting</small>` : ''}</td><td>${bytes(r.record_bytes)}</td>` +
          `<td>${r.shed_orders_in_flight + r.shed_records}</td><td>${r.rate_limited}</td></tr>`,
      )
      .join('') +
    (c.more ? `<tr><td colspan="8" class="more">+ ${plural(c.more, 'client', 'clients')} more</td></tr>` : '');
}

function render(s: ThreadSnapshot): void {
  const t = s.totals;
  document.querySelectorAll<HTMLElement>('[data-total]').forEach((element) => {
    const key = element.getAttribute('data-total') as keyof ThreadSnapshot['totals'];
    element.textContent = key === 'couriers_busy' ? `${t.couriers_busy} / ${t.couriers}` : String(t[key]);
  });
  $('courier-waiters').textContent = t.courier_waiters ? `(${plural(t.courier_waiters, 'step', 'steps')} waiting)` : '';
  const couriers = $('couriers');
  couriers.className = s.couriers.length > 24 ? 'many' : '';
  couriers.innerHTML = s.couriers
    .map((holder, slot) => {
      if (!holder) return `<div class="slot" title="slot ${slot}: free">${slot} · free</div>`;
      const text = `${slot} · thread ${holder.thread_id}${holder.client ? ` · ${holder.client}` : ''}${holder.order_id ? ` · ${holder.order_id}` : ''}`;
      return `<div class="slot held" data-slot="${slot}" title="${esc(text)}">${esc(text)}</div>`;
    })
    .join('');
  $('dependencies').innerHTML = s.dependencies.map(dependencyBox).join('');
  renderClients(s.clients);
  renderLanes(s.lanes);
  $('queue').innerHTML =
    s.queue.steps.length === 0
      ? '<span class="more">none</span>'
      : s.queue.steps.map(stepBox).join('') + (s.queue.more ? `<span class="more">+ ${s.queue.more} more</span>` : '');
  renderEvents(s.events);
  plot(s);
}

/** The last minute, from the frames themselves (five a second). */
const HISTORY = 300;
/** The time axis's steps between ticks, in seconds. */
const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60];
const series: number[][] = [[], [], [], [], [], []];
let chart: uPlot | undefined;

function plot(s: ThreadSnapshot): void {
  const busiest = s.lanes
    .filter((lane) => lane.state !== 'dead')
    .reduce((most, lane) => Math.max(most, (lane.utilization ?? 0) * 100), 0);
  const values = [
    s.at / 1000,
    s.totals.running_steps,
    s.totals.orders_in_flight,
    s.totals.queued,
    s.totals.couriers_busy,
    Math.round(busiest),
  ];
  values.forEach((value, i) => {
    const line = series[i]!;
    line.push(value);
    if (line.length > HISTORY) line.shift();
  });
  // uPlot is inlined before this script; without it the page still shows everything but the chart.
  if (typeof uPlot === 'undefined') return;
  const holder = $('chart');
  const width = Math.max(300, holder.clientWidth);
  if (!chart) {
    chart = new uPlot(
      {
        width,
        height: 220,
        legend: { live: false },
        scales: { x: { time: true }, pct: { range: [0, 100] } },
        series: [
          {},
          { label: 'steps running', stroke: '#3d8bfd', width: 2 },
          { label: 'orders in flight', stroke: '#2f9e44' },
          { label: 'queued', stroke: '#868e96' },
          { label: 'couriers busy', stroke: '#7048e8' },
          { label: 'busiest thread %', stroke: '#e8590c', scale: 'pct', dash: [4, 3] },
        ],
        axes: [
          // Whole seconds, as the clock reads (the frames come five a second: uPlot's own ticks were ":41.500").
          { incrs: TICK_SECONDS, values: (_u, ticks) => ticks.map((tick) => clock(tick * 1000)), space: 70 },
          { size: 50 },
          { scale: 'pct', side: 1, grid: { show: false }, values: (_u, ticks) => ticks.map((tick) => `${tick}%`) },
        ],
      },
      series as uPlot.AlignedData,
      holder,
    );
  } else {
    if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 220 });
    chart.setData(series as uPlot.AlignedData);
  }
}

/** Nothing is known while disconnected: say so rather than show the last frame as if it were now. */
function markLanesUnknown(): void {
  for (const node of laneNodes.values()) node.element.classList.add('stalled');
}

function connect(): void {
  const status = $('status');
  const source = new EventSource(onServer('/threads/events'));
  source.onopen = () => {
    status.className = 'live';
    status.textContent = 'live';
  };
  source.onmessage = (event: MessageEvent<string>) => {
    render(JSON.parse(event.data) as ThreadSnapshot);
    status.className = 'live';
    status.textContent = `live · ${clock(Date.now())}`;
  };
  source.onerror = () => {
    status.className = 'down';
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (shutting down, too many viewers): try again later.
      status.textContent = 'disconnected; trying again in 2 s';
      setTimeout(connect, 2000);
    } else status.textContent = 'reconnecting…';
    markLanesUnknown();
  };
}

interface Answer {
  readonly id: string;
  readonly status: number;
  readonly body: {
    readonly error?: { readonly kind: string };
    readonly steps?: ReadonlyArray<{
      name: string;
      status: string;
      thread_id?: number;
      thread_fate?: string;
      attempts?: number;
    }>;
  };
}

async function post(body: { readonly order_id: string } & Record<string, unknown>): Promise<Answer> {
  try {
    const response = await fetch(onServer('/order'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { id: body.order_id, status: response.status, body: (await response.json()) as Answer['body'] };
  } catch (error) {
    return { id: body.order_id, status: 0, body: { error: { kind: String(error) } } };
  }
}

/**
 * "See a thread killed": four ordinary orders, then one whose payment kills
 * its thread. The neighbours' steps are short enough (0.6 s) that those run
 * again after the kill (at about 0.5 s) still end well inside the default
 * 2 s deadline: the page shows what it promises, all four answered 200.
 */
const NEIGHBOUR_MS = 600;
const CULPRIT_AFTER_MS = 200;
const CULPRIT_PAYMENT_MS = 300;

function showFaultDemo(): void {
  const section = $('fault');
  section.hidden = false;
  const send = $('fault-send') as HTMLButtonElement;
  const results = $('fault-results');
  send.addEventListener('click', () => {
    const fault = ($('fault-kind') as HTMLSelectElement).value;
    const tag = `demo-${Date.now().toString(36)}`;
    const neighbourDelays = { payment: NEIGHBOUR_MS, vendor: NEIGHBOUR_MS, courier: NEIGHBOUR_MS };
    send.disabled = true;
    results.innerHTML = '<li>sent; watch the lanes…</li>';
    const neighbours = [1, 2, 3, 4].map((i) =>
      post({ order_id: `${tag}-neighbour-${i}`, amount: 100, delay_ms: neighbourDelays }),
    );
    const culprit = new Promise((resolve) => setTimeout(resolve, CULPRIT_AFTER_MS)).then(() =>
      post({
        order_id: `${tag}-${fault}`,
        amount: 100,
        delay_ms: { payment: CULPRIT_PAYMENT_MS, vendor: NEIGHBOUR_MS, courier: NEIGHBOUR_MS },
        faults: { payment: fault },
      }),
    );
    void Promise.all([culprit, ...neighbours]).then((answers) => {
      results.innerHTML = answers
        .map((a) => {
          const steps = (a.body.steps ?? [])
            .map(
              (s) =>
                `${s.name} ${s.status}${s.thread_id ? ` on thread ${s.thread_id}` : ''}` +
                (s.thread_fate ? ` (its thread ${s.thread_fate}${s.attempts === 2 ? '; ran again' : ''})` : ''),
            )
            .join(', ');
          return `<li data-order-id="${esc(a.id)}" data-status="${a.status}"><b>${esc(a.id)}</b>: ${a.status} ${esc(a.body.error ? a.body.error.kind : 'ok')}${steps ? ` — ${esc(steps)}` : ''}</li>`;
        })
        .join('');
      send.disabled = false;
    });
  });
}

/**
 * One order's trace as a waterfall: the request on the main thread, then a row per step on the thread it ran on
 * (its wait for a thread and for a courier, its attempts, drawn inside it), then its Postgres statements. The same
 * order on threads, side by side, is what a goroutine trace cannot show: which thread carried which step, and what
 * happened to the thread.
 */
function waterfallHtml(trace: TraceWaterfall): string {
  const total = Math.max(trace.duration_ms, 0.01);
  const byId = new Map(trace.spans.map((span) => [span.span_id, span]));
  /** The thread a span ran on: its own, or its parent's (a wait for a courier is inside its step). */
  const threadOf = (span: WaterfallSpan): number | undefined => {
    for (let at: WaterfallSpan | undefined = span; at; at = at.parent_span_id ? byId.get(at.parent_span_id) : undefined)
      if (at.thread_id !== undefined) return at.thread_id;
    return undefined;
  };
  const rootOf = (span: WaterfallSpan): WaterfallSpan => {
    let at = span;
    for (
      let up = at.parent_span_id && byId.get(at.parent_span_id);
      up && up.parent_span_id;
      up = up.parent_span_id ? byId.get(up.parent_span_id) : undefined
    )
      at = up;
    return at;
  };
  const bar = (span: WaterfallSpan, kind: string): string => {
    const left = ((span.start_ms / total) * 100).toFixed(2);
    const width = Math.max(0.3, (span.duration_ms / total) * 100).toFixed(2);
    const title = `${span.name}: ${span.duration_ms} ms from ${span.start_ms} ms${span.detail ? ` — ${span.detail}` : ''}`;
    return `<span class="wf-bar ${kind} ${span.status}" data-span="${esc(span.name)}" data-left="${left}" data-width="${width}" title="${esc(title)}">${span.parent_span_id === undefined ? esc(span.name) : ''}</span>`;
  };
  const request = trace.spans.find((span) => span.parent_span_id === undefined);
  const rows: string[] = [];
  if (request)
    rows.push(
      `<div class="wf-row" data-thread="main"><span class="wf-label">main thread · request</span><span class="wf-track">${bar(request, 'wf-main')}</span></div>`,
    );
  const tops = trace.spans.filter((span) => /^(step|compensation) /.test(span.name));
  tops.sort((a, b) => (threadOf(a) ?? 0) - (threadOf(b) ?? 0) || a.start_ms - b.start_ms);
  for (const top of tops) {
    const thread = threadOf(top);
    const inside = trace.spans.filter((span) => span !== top && rootOf(span) === top);
    const parts = inside.map((span) => bar(span, /^attempt/.test(span.name) ? 'wf-attempt' : 'wf-wait')).join('');
    rows.push(
      `<div class="wf-row" data-thread-id="${thread ?? ''}" data-step="${esc(top.name.replace(/^\S+ /, ''))}">` +
        `<span class="wf-label">${thread === undefined ? 'no thread' : `thread ${thread}`} · ${esc(top.name)}${top.detail ? ` <small>${esc(top.detail)}</small>` : ''}</span>` +
        `<span class="wf-track">${bar(top, 'wf-main')}${parts}</span></div>`,
    );
  }
  const statements = trace.spans.filter((span) => span.name.startsWith('postgres '));
  if (statements.length > 0)
    rows.push(
      `<div class="wf-row" data-thread="postgres"><span class="wf-label">Postgres</span><span class="wf-track">${statements.map((span) => bar(span, 'wf-main')).join('')}</span></div>`,
    );
  return rows.join('');
}

const TRACE_POLL_MS = 1000;
const TRACE_POLLS = 30;

function showTraces(): void {
  const show = $('trace-show') as HTMLButtonElement;
  const note = $('trace-note');
  const waterfall = $('waterfall');
  const ask = async (pollsLeft: number): Promise<void> => {
    const response = await fetch(onServer('/threads/trace'), { headers: { accept: 'application/json' } });
    if (response.ok) {
      const trace = (await response.json()) as TraceWaterfall;
      note.textContent = `order ${trace.order_id}, trace ${trace.trace_id}: ${trace.duration_ms} ms`;
      waterfall.innerHTML = waterfallHtml(trace);
      waterfall.dataset['traceId'] = trace.trace_id;
      applyWidths(waterfall);
      show.disabled = false;
      return;
    }
    const { error } = (await response.json()) as { error?: { message?: string } };
    note.textContent = error?.message ?? `${response.status}`;
    if (response.status === 404 && pollsLeft > 0 && !/tracing is off/.test(note.textContent))
      setTimeout(() => void ask(pollsLeft - 1), TRACE_POLL_MS);
    else show.disabled = false;
  };
  show.addEventListener('click', () => {
    show.disabled = true;
    void ask(TRACE_POLLS);
  });
}

connect();
showTraces();
if (document.body.dataset['faultInjection'] === 'on') showFaultDemo();
