/**
 * GET /threads: one self-contained HTML page (no CDN, nothing to build; uPlot
 * inlined for the chart) that shows the worker threads live, from the
 * snapshots of GET /threads/events: a lane per thread with the steps on it
 * and what each is doing, the courier slots and who holds them, the tracker,
 * and a running list of thread deaths and of the steps they took with them.
 * With FAULT_INJECTION=on it can send an order that gets its thread killed.
 *
 * Hooks for tests and scripts: each lane has data-thread-id (and data-state),
 * each step on it data-step, data-order-id and data-activity; each counter
 * data-total.
 */
import { guardClosingTag, uplotAsset } from './inline-assets.js';

export interface ThreadsPageOptions {
  /** Show the button that sends an order whose thread is killed (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
}

const CSS = `
:root { color-scheme: light; --sleeping: #cfe2ff; --sleeping-edge: #3d8bfd; --computing: #ffd8a8; --computing-edge: #e8590c;
  --courier: #e5dbff; --courier-edge: #7048e8; --running: #d3f9d8; --running-edge: #2f9e44; --waiting: #f1f3f5; --waiting-edge: #868e96; }
body { margin: 16px auto; max-width: 1280px; padding: 0 16px; color: #1f2328; background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0; display: inline-block; }
h2 { font-size: 15px; margin: 18px 0 6px; }
#status { display: inline-block; margin-left: 12px; color: #57606a; font-size: 13px; }
#status.live::before { content: "\\25CF "; color: #2f9e44; }
#status.down::before { content: "\\25CF "; color: #cf222e; }
.contrast { margin: 6px 0 10px; max-width: 980px; }
.counters { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.counter { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 12px; min-width: 110px; }
.counter b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.counter span { color: #57606a; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center; font-size: 12px; color: #57606a; margin: 6px 0; }
.legend > span { display: inline-flex; gap: 6px; align-items: center; }
.legend .step { width: auto; min-width: 0; cursor: default; }
.key { font-size: 12px; color: #57606a; max-width: 980px; margin: 4px 0 0; }
#couriers { display: flex; flex-wrap: wrap; gap: 6px; }
.slot { border: 1px solid #d0d7de; border-radius: 4px; padding: 2px 8px; font-size: 12px; min-width: 120px; background: #f6f8fa; color: #57606a; }
.slot.held { background: var(--courier); border-color: var(--courier-edge); color: #1f2328; }
/* A large pool (COURIERS up to 1024): a square per slot, the holder in its tooltip. */
#couriers.many { gap: 2px; }
#couriers.many .slot { min-width: 0; width: 10px; height: 10px; padding: 0; font-size: 0; }
#lanes { display: flex; flex-direction: column; gap: 6px; }
.lane { display: grid; grid-template-columns: 210px 1fr; border: 1px solid #d0d7de; border-radius: 6px; min-height: 52px; }
.lane-head { padding: 6px 10px; border-right: 1px solid #d0d7de; background: #f6f8fa; font-size: 12px; color: #57606a; }
.lane-head strong { font-size: 15px; color: #1f2328; }
.bar { height: 6px; background: #e9ecef; border-radius: 3px; margin: 4px 0; overflow: hidden; }
.bar i { display: block; height: 100%; background: #495057; }
.lane-steps { display: flex; flex-wrap: wrap; gap: 4px; padding: 6px; align-content: flex-start; }
.lane-note { flex-basis: 100%; font-size: 12px; color: #57606a; }
.lane.doomed { border-color: #cf222e; }
.lane.doomed .lane-steps { opacity: 0.45; }
.lane.stalled { border-color: #e8590c; }
.lane.stalled .lane-steps .step { opacity: 0.5; }
.lane.dead { background: repeating-linear-gradient(135deg, #f6f8fa, #f6f8fa 10px, #eaeef2 10px, #eaeef2 20px); color: #57606a; }
.lane.dead .lane-head strong::before { content: "\\2715 "; color: #cf222e; }
.warn { color: #cf222e; }
.step.lost { background: #fff; border-color: #adb5bd; color: #57606a; }
.step.lost.culprit { background: #ffe3e3; border: 2px solid #cf222e; color: #1f2328; }
.step { box-sizing: border-box; min-width: 118px; max-width: 200px; padding: 2px 5px; border-radius: 4px; border: 1px solid; font-size: 11px; line-height: 1.3;
  overflow: hidden; white-space: nowrap; text-overflow: ellipsis; position: relative; }
.step .order { font-weight: 600; display: block; max-width: 118px; overflow: hidden; text-overflow: ellipsis; }
.step.sleeping { background: var(--sleeping); border-color: var(--sleeping-edge); }
.step.computing { background: var(--computing); border-color: var(--computing-edge); }
.step.awaiting_courier { background: var(--courier); border-color: var(--courier-edge); }
.step.running { background: var(--running); border-color: var(--running-edge); }
.step.finishing { background: #fff; border: 1px dashed var(--running-edge); }
.step.queued, .step.posted { background: var(--waiting); border: 1px dashed var(--waiting-edge); }
.step.canceled { background-image: repeating-linear-gradient(135deg, transparent, transparent 5px, rgba(207,34,46,.28) 5px, rgba(207,34,46,.28) 8px);
  border-color: #cf222e; }
.step.oncpu { box-shadow: 0 0 0 2px #1f2328; }
.badge { font-size: 10px; padding: 0 3px; border-radius: 3px; background: rgba(0,0,0,.08); margin-left: 2px; }
.badge.retry { background: #cf222e; color: #fff; }
.more { font-size: 12px; color: #57606a; align-self: center; }
.lower { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
@media (max-width: 900px) { .lower { grid-template-columns: 1fr; } }
#events { list-style: none; padding: 0; margin: 0; max-height: 260px; overflow-y: auto; font-size: 12px; }
#events li { padding: 3px 6px; border-bottom: 1px solid #eaeef2; }
#events li.died, #events li.terminated { background: #fff5f5; }
#events time { color: #57606a; font-variant-numeric: tabular-nums; margin-right: 6px; }
.fault { border: 1px solid #cf222e; border-radius: 6px; padding: 8px 12px; margin-top: 16px; }
.fault button { font: inherit; padding: 3px 12px; }
#fault-results { font-size: 12px; margin: 6px 0 0; padding-left: 18px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 3px; }
.u-legend { font-size: 12px; }
`;

const body = (faultInjection: boolean): string => `
<header>
  <h1>Threads, live</h1><span id="status">connecting…</span>
  <p class="contrast"><strong>A goroutine cannot be killed; a thread can — and everything on it dies with it.</strong>
  Each order runs three steps at once (payment, vendor, courier), each a task on one of a few worker threads. A step that waits
  holds no thread, so one thread carries many steps, the way Go runs many goroutines on a few OS threads. When a thread dies,
  the steps that shared it are run again on another.</p>
</header>

<div class="counters">
  <div class="counter"><b data-total="running_steps">–</b><span>steps running (the tracker)</span></div>
  <div class="counter"><b data-total="queued">–</b><span>steps waiting for a thread</span></div>
  <div class="counter"><b data-total="orders_in_flight">–</b><span>orders in flight</span></div>
  <div class="counter"><b data-total="couriers_busy">–</b><span>couriers busy</span></div>
  <div class="counter"><b data-total="threads">–</b><span>worker threads</span></div>
  <div class="counter"><b data-total="threads_replaced">–</b><span>threads replaced</span></div>
</div>

<div class="legend" aria-label="legend">
  <span><span class="step sleeping">sleeping</span> waiting for its remote service (holds no thread)</span>
  <span><span class="step computing">computing</span> CPU work: holds the thread</span>
  <span><span class="step awaiting_courier">waiting for a courier</span> every courier slot is taken</span>
  <span><span class="step running">running</span> its own code</span>
  <span><span class="step finishing">done</span> reports with its order's other steps on the thread</span>
  <span><span class="step queued">queued</span> not on a thread yet</span>
  <span><span class="step sleeping canceled">canceled</span> its order was canceled; it is stopping</span>
</div>
<p class="key">A <b>lane</b> is a worker thread — an OS thread of this process, numbered by Node's <code>threadId</code>. Each <b>box</b> is a step of an
order, on the thread running it. A black outline: its code is on the CPU this instant. <span class="badge retry">↻ 2</span> running again after
its thread died under it. <span class="badge">courier 2</span> holds courier slot 2. A lane turns grey with a ✕ when its thread died or was
terminated; a lane whose thread stopped answering says so — what its steps are doing then cannot be known.</p>

<h2>Courier slots <small id="courier-waiters"></small></h2>
<div id="couriers"></div>

<h2>Worker threads</h2>
<div id="lanes"></div>
<h2>Waiting for a thread</h2>
<div id="queue" class="lane-steps"></div>
${
  faultInjection
    ? `
<section class="fault">
  <strong>See a thread killed.</strong> Sends four ordinary orders (1.5 s each), then one whose payment
  <select id="fault-kind">
    <option value="crash">crashes its thread (an uncaught error)</option>
    <option value="hang">hangs its thread (a loop that never yields)</option>
  </select>
  <button id="fault-send" type="button">Send</button>
  <p class="key">crash: the thread dies at once; its other steps run again on another thread. hang: nothing can preempt the loop, so the
  thread is judged stuck and terminated once an order on it is canceled (by its deadline, <code>ORDER_TIMEOUT_MS</code>) — the deadlines of
  the orders that share it pass meanwhile.</p>
  <ul id="fault-results"></ul>
</section>`
    : ''
}
<div class="lower">
  <section><h2>The last minute</h2><div id="chart"></div></section>
  <section><h2>Thread deaths, terminations, and the steps they took</h2><ul id="events"><li>none yet</li></ul></section>
</div>
`;

/** Runs in the page: plain ES2017, no template literals (this file is one). */
const SCRIPT = `
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(text) { return String(text).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  var ACTIVITY = { sleeping: 'sleeping', computing: 'computing', awaiting_courier: 'waiting for a courier', running: 'running',
    queued: 'queued', posted: 'posted to the thread, not started', finishing: 'done, reporting' };
  function clock(at) { return new Date(at).toLocaleTimeString('en-GB', { hour12: false }); }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function stepBox(s) {
    var classes = 'step ' + s.activity + (s.canceled ? ' canceled' : '') + (s.on_cpu ? ' oncpu' : '');
    var title = s.order_id + ' · ' + s.step + ' · ' + ACTIVITY[s.activity] + (s.canceled ? ' · canceled' : '') +
      (s.attempt ? ' · attempt ' + s.attempt : '') + (s.courier !== undefined ? ' · holds courier ' + s.courier : '');
    return '<div class="' + classes + '" data-step="' + esc(s.step) + '" data-order-id="' + esc(s.order_id) + '" data-activity="' + s.activity +
      '" title="' + esc(title) + '"><span class="order">' + esc(s.order_id) + '</span>' + esc(s.step) +
      (s.attempt ? '<span class="badge retry">↻ ' + s.attempt + '</span>' : '') +
      (s.courier !== undefined ? '<span class="badge">courier ' + s.courier + '</span>' : '') + '</div>';
  }

  function countsLine(counts) {
    var parts = [];
    ['computing', 'sleeping', 'awaiting_courier', 'running', 'posted', 'finishing', 'canceled'].forEach(function (k) {
      if (counts[k]) parts.push(counts[k] + ' ' + (ACTIVITY[k] || k));
    });
    return parts.join(' · ');
  }

  var OUTCOME = { culprit: 'brought it down', retried: 'ran again on another thread', lost: 'lost (its order had ended)' };
  var LOST_BADGE = { culprit: 'culprit', retried: '↻ elsewhere', lost: 'lost' };

  function laneHtml(lane) {
    var head, steps;
    if (lane.state === 'dead') {
      var lost = lane.fate.lost || [];
      head = '<strong>thread ' + lane.thread_id + '</strong><br>' + (lane.fate.cause === 'terminated' ? 'terminated' : 'died') +
        ' at ' + clock(lane.fate.at) + (lane.fate.reason ? ': ' + esc(lane.fate.reason) : '');
      steps = '<span class="lane-note">' + (lost.length === 0 ? 'No step was on it.' : 'It took ' + plural(lost.length, 'step', 'steps') +
        ' with it: the one that brought it down, steps run again on another thread, steps whose order had already ended.') + '</span>' +
        lost.map(function (l) {
          return '<div class="step lost ' + l.outcome + '" data-step="' + esc(l.step) + '" data-order-id="' + esc(l.order_id) + '" data-outcome="' +
            l.outcome + '" title="' + esc(l.order_id + ' · ' + l.step + ' · ' + OUTCOME[l.outcome]) + '"><span class="order">' + esc(l.order_id) +
            '</span>' + esc(l.step) + ' <span class="badge' + (l.outcome === 'retried' ? ' retry' : '') + '">' + LOST_BADGE[l.outcome] + '</span></div>';
        }).join('');
      return { cls: 'lane dead', head: head, steps: steps };
    }
    var pct = Math.round((lane.utilization || 0) * 100);
    head = '<strong>thread ' + lane.thread_id + '</strong> · ' + plural(lane.steps_running, 'step', 'steps') +
      '<div class="bar" title="event loop busy ' + pct + '%"><i style="width:' + pct + '%"></i></div>event loop ' + pct + '% busy' +
      '<br>' + countsLine(lane.counts);
    var note = '';
    if (lane.state === 'doomed') note = '<span class="lane-note warn">' + (lane.fate.cause === 'terminated' ? 'being terminated' : 'dying') +
      (lane.fate.reason ? ': ' + esc(lane.fate.reason) : '') + ' — every step on it is lost with it</span>';
    else if (lane.stalled_ms >= 500) note = '<span class="lane-note warn">not responding for ' + (lane.stalled_ms / 1000).toFixed(1) +
      ' s: its event loop has not turned, so what its steps are doing is not known</span>';
    steps = note + lane.steps.map(stepBox).join('') + (lane.more ? '<span class="more">+ ' + lane.more + ' more</span>' : '');
    var cls = 'lane ' + lane.state + (lane.state === 'alive' && lane.stalled_ms >= 500 ? ' stalled' : '');
    return { cls: cls, head: head, steps: steps };
  }

  var laneNodes = {};
  function renderLanes(lanes) {
    var container = $('lanes');
    var seen = {};
    lanes.forEach(function (lane, index) {
      var key = lane.state === 'dead' ? 'dead-' + lane.thread_id : 'live-' + lane.thread_id;
      seen[key] = true;
      var node = laneNodes[key];
      if (!node) {
        node = document.createElement('div');
        node.setAttribute('data-thread-id', lane.thread_id);
        node.innerHTML = '<div class="lane-head"></div><div class="lane-steps"></div>';
        laneNodes[key] = node;
      }
      var html = laneHtml(lane);
      node.className = html.cls;
      node.setAttribute('data-state', lane.state);
      if (node.firstChild.innerHTML !== html.head) node.firstChild.innerHTML = html.head;
      if (node._steps !== html.steps) { node.lastChild.innerHTML = html.steps; node._steps = html.steps; }
      if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null);
    });
    Object.keys(laneNodes).forEach(function (key) {
      if (!seen[key]) { laneNodes[key].remove(); delete laneNodes[key]; }
    });
  }

  function renderEvents(events) {
    if (events.length === 0) return;
    $('events').innerHTML = events.map(function (e) {
      var text;
      if (e.kind === 'died' || e.kind === 'terminated') text = '<b>thread ' + e.thread_id + ' ' + e.kind + '</b>' + (e.detail ? ': ' + esc(e.detail) : '');
      else text = esc(e.order_id) + ' ' + esc(e.step) + ' was on thread ' + e.thread_id + ': ' + OUTCOME[e.kind];
      return '<li class="' + e.kind + '" data-kind="' + e.kind + '"><time>' + clock(e.at) + '</time>' + text + '</li>';
    }).join('');
  }

  function render(s) {
    var t = s.totals;
    document.querySelectorAll('[data-total]').forEach(function (el) {
      var key = el.getAttribute('data-total');
      el.textContent = key === 'couriers_busy' ? t.couriers_busy + ' / ' + t.couriers : String(t[key]);
    });
    $('courier-waiters').textContent = t.courier_waiters ? '(' + plural(t.courier_waiters, 'step', 'steps') + ' waiting)' : '';
    $('couriers').className = s.couriers.length > 24 ? 'many' : '';
    $('couriers').innerHTML = s.couriers.map(function (holder, slot) {
      if (!holder) return '<div class="slot" title="slot ' + slot + ': free">' + slot + ' · free</div>';
      var text = slot + ' · thread ' + holder.thread_id + (holder.order_id ? ' · ' + holder.order_id : '');
      return '<div class="slot held" data-slot="' + slot + '" title="' + esc(text) + '">' + esc(text) + '</div>';
    }).join('');
    renderLanes(s.lanes);
    $('queue').innerHTML = s.queue.steps.length === 0 ? '<span class="more">none</span>' :
      s.queue.steps.map(stepBox).join('') + (s.queue.more ? '<span class="more">+ ' + s.queue.more + ' more</span>' : '');
    renderEvents(s.events);
    plot(s);
  }

  // The last minute, from the frames themselves.
  var HISTORY = 300;
  var series = [[], [], [], [], [], []];
  var chart = null;
  function plot(s) {
    var live = s.lanes.filter(function (l) { return l.state !== 'dead'; });
    var busiest = live.reduce(function (m, l) { return Math.max(m, (l.utilization || 0) * 100); }, 0);
    var values = [s.at / 1000, s.totals.running_steps, s.totals.orders_in_flight, s.totals.queued, s.totals.couriers_busy, Math.round(busiest)];
    values.forEach(function (v, i) { series[i].push(v); if (series[i].length > HISTORY) series[i].shift(); });
    if (typeof uPlot === 'undefined') return;
    var width = Math.max(300, $('chart').clientWidth);
    if (!chart) {
      chart = new uPlot({
        width: width, height: 220,
        legend: { live: false },
        scales: { x: { time: true }, pct: { range: [0, 100] } },
        series: [{}, { label: 'steps running', stroke: '#3d8bfd', width: 2 }, { label: 'orders in flight', stroke: '#2f9e44' },
          { label: 'queued', stroke: '#868e96' }, { label: 'couriers busy', stroke: '#7048e8' },
          { label: 'busiest thread %', stroke: '#e8590c', scale: 'pct', dash: [4, 3] }],
        axes: [{}, { size: 50 }, { scale: 'pct', side: 1, grid: { show: false }, values: function (u, v) { return v.map(function (x) { return x + '%'; }); } }],
      }, series, $('chart'));
    } else {
      if (Math.abs(chart.width - width) > 4) chart.setSize({ width: width, height: 220 });
      chart.setData(series);
    }
  }

  var source = null;
  function connect() {
    source = new EventSource('/threads/events');
    source.onopen = function () { $('status').className = 'live'; $('status').textContent = 'live'; };
    source.onmessage = function (event) {
      render(JSON.parse(event.data));
      $('status').className = 'live';
      $('status').textContent = 'live · ' + clock(Date.now());
    };
    source.onerror = function () {
      $('status').className = 'down';
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (shutting down, too many viewers): try again later.
        $('status').textContent = 'disconnected; trying again in 2 s';
        setTimeout(connect, 2000);
      } else $('status').textContent = 'reconnecting…';
      markLanesUnknown();
    };
  }
  // Nothing is known while disconnected: say so rather than show the last frame as if it were now.
  function markLanesUnknown() {
    Object.keys(laneNodes).forEach(function (key) { laneNodes[key].classList.add('stalled'); });
  }
  connect();

  var send = $('fault-send');
  if (send) send.addEventListener('click', function () {
    var fault = $('fault-kind').value;
    var tag = 'demo-' + Date.now().toString(36);
    var slow = { payment: 1500, vendor: 1500, courier: 1500 };
    var results = $('fault-results');
    send.disabled = true;
    results.innerHTML = '<li>sent; watch the lanes…</li>';
    function post(body) {
      return fetch('/order', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(function (r) { return r.json().then(function (json) { return { status: r.status, body: json, id: body.order_id }; }); })
        .catch(function (error) { return { status: 0, body: { error: { kind: String(error) } }, id: body.order_id }; });
    }
    var orders = [1, 2, 3, 4].map(function (i) { return post({ order_id: tag + '-neighbour-' + i, amount: 100, delay_ms: slow }); });
    var culprit = new Promise(function (resolve) { setTimeout(resolve, 300); }).then(function () {
      var faults = { payment: fault };
      return post({ order_id: tag + '-' + fault, amount: 100, delay_ms: { payment: 400, vendor: 1500, courier: 1500 }, faults: faults });
    });
    Promise.all([culprit].concat(orders)).then(function (answers) {
      results.innerHTML = answers.map(function (a) {
        var steps = (a.body.steps || []).map(function (s) {
          return s.name + ' ' + s.status + (s.thread_id ? ' on thread ' + s.thread_id : '') +
            (s.thread_fate ? ' (its thread ' + s.thread_fate + (s.attempts === 2 ? '; ran again' : '') + ')' : '');
        }).join(', ');
        return '<li><b>' + esc(a.id) + '</b>: ' + a.status + ' ' + esc(a.body.error ? a.body.error.kind : 'ok') + (steps ? ' — ' + esc(steps) : '') + '</li>';
      }).join('');
      send.disabled = false;
    });
  });
})();
`;

export function threadsPage({ faultInjection }: ThreadsPageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Threads, live — order-threads</title>
<link rel="icon" href="data:,">
<style>${guardClosingTag(uplotAsset('uPlot.min.css'), 'style')}</style>
<style>${CSS}</style>
</head>
<body>
${body(faultInjection)}
<script>${guardClosingTag(uplotAsset('uPlot.iife.min.js'), 'script')}</script>
<script>${guardClosingTag(SCRIPT, 'script')}</script>
</body>
</html>
`;
}
