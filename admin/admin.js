// The Switchboard admin page: polls GET /api/v1/stats once a second with the API key
// from sessionStorage (sent as X-API-Key, never in a URL) and draws what it answers.
// No build step: plain browser JavaScript, uPlot (served from node_modules) for charts.
/* global uPlot */
'use strict';

const KEY_STORAGE = 'switchboard.apiKey';
const POLL_MS = 1000;
/** Points kept per chart: five minutes at one a second. */
const HISTORY = 300;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const res = await fetch(`/api/v1${path}`, {
    ...options,
    headers: { 'x-api-key': key ?? '', accept: 'application/json', ...(options.body ? { 'content-type': 'application/json' } : {}) },
    cache: 'no-store',
  });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) {
    const error = body && body.error ? body.error : { code: 'HTTP_' + res.status, message: res.statusText };
    throw new ApiError(res.status, error.code, error.message);
  }
  return body;
}

// ---- formatting ----------------------------------------------------------------

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const fmtMs = (ms) => (ms < 1 ? `${decimal.format(ms * 1000)} µs` : `${decimal.format(ms)} ms`);
const fmtMiB = (bytes) => `${decimal.format(bytes / 1048576)} MiB`;
const fmtPercent = (fraction) => `${new Intl.NumberFormat('en', { maximumFractionDigits: 2 }).format(fraction * 100)} %`;

function fmtDuration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function fmtAlertValue(metric, value) {
  if (metric === 'error_rate') return fmtPercent(value);
  if (metric === 'latency_p99_ms' || metric === 'event_loop_p99_ms') return fmtMs(value);
  if (metric === 'memory_rss_mb') return `${decimal.format(value)} MiB`;
  return integer.format(value);
}

/** Replaces a table body's rows; every cell is set as text, never parsed as HTML. */
function fillTable(table, rows, emptyText, columns) {
  const body = table.tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = tr.insertCell();
    td.colSpan = columns;
    td.className = 'empty';
    td.textContent = emptyText;
    return;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const cell of cells) {
      const td = tr.insertCell();
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell;
    }
  }
}

// ---- charts -------------------------------------------------------------------

const AXIS = { stroke: '#8b98a5', grid: { stroke: '#263241', width: 1 }, ticks: { stroke: '#263241', width: 1 } };

function makeChart(el, series) {
  const data = [[], ...series.map(() => [])];
  const chart = new uPlot({
    width: Math.max(300, el.clientWidth),
    height: 200,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [AXIS, { ...AXIS, size: 60 }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.fill, points: { show: false } }))],
  }, data, el);
  return { chart, data, el };
}

const charts = {};

function setupCharts() {
  if (charts.connections) return;
  charts.connections = makeChart($('chart-connections'), [{ label: 'connections', color: '#4aa3ff', fill: 'rgba(74,163,255,.12)' }]);
  charts.messages = makeChart($('chart-messages'), [
    { label: 'in', color: '#3fb950' },
    { label: 'out', color: '#d2a8ff' },
  ]);
  charts.latency = makeChart($('chart-latency'), [
    { label: 'p50', color: '#4aa3ff' },
    { label: 'p99', color: '#f0883e' },
  ]);
  charts.memory = makeChart($('chart-memory'), [
    { label: 'rss', color: '#f85149' },
    { label: 'heap', color: '#8b98a5' },
  ]);
  window.addEventListener('resize', () => {
    for (const c of Object.values(charts)) c.chart.setSize({ width: Math.max(300, c.el.clientWidth), height: 200 });
  });
}

function push(c, t, values) {
  c.data[0].push(t);
  values.forEach((v, i) => c.data[i + 1].push(v));
  if (c.data[0].length > HISTORY) for (const column of c.data) column.shift();
  c.chart.setData(c.data);
}

// ---- the page -----------------------------------------------------------------

function render(stats) {
  $('node').textContent = `node ${stats.node}`;
  $('uptime').textContent = `up ${fmtDuration(stats.uptimeSeconds)}`;
  $('connections').textContent = integer.format(stats.connections);
  $('users').textContent = integer.format(stats.users);
  $('msg-in').textContent = decimal.format(stats.messagesInPerSecond);
  $('msg-out').textContent = decimal.format(stats.messagesOutPerSecond);
  $('latency').textContent = `${fmtMs(stats.latency.p50Ms)} / ${fmtMs(stats.latency.p99Ms)}`;
  $('error-rate').textContent = fmtPercent(stats.errorRate);
  $('memory').textContent = `${fmtMiB(stats.memory.rss)} / ${fmtMiB(stats.memory.heapUsed)}`;
  $('event-loop').textContent = `${fmtMs(stats.eventLoop.p50Ms)} / ${fmtMs(stats.eventLoop.p99Ms)}`;

  const firing = stats.alerts.filter((a) => a.state === 'firing');
  $('alerts-summary').textContent = firing.length === 0 ? '— none firing' : `— ${firing.length} firing`;
  fillTable($('alerts'), stats.alerts.map((a) => {
    const badge = document.createElement('span');
    badge.className = `state ${a.state}`;
    badge.textContent = a.state;
    return [a.rule, a.metric, fmtAlertValue(a.metric, a.value), fmtAlertValue(a.metric, a.threshold), fmtDuration(a.forMs / 1000), badge];
  }), 'no alert rules configured (Alerts.Rules)', 6);

  fillTable($('groups'), stats.largestGroups.map((g) => [g.group, integer.format(g.connections)]), 'no groups joined on this node', 2);
  const nodes = stats.nodes ?? [{ node: stats.node, leaseExpiresAt: undefined }];
  fillTable($('nodes'), nodes.map((n) => [
    n.node === stats.node ? `${n.node} (this node)` : n.node,
    n.leaseExpiresAt === undefined ? 'single node (no Redis)' : new Date(n.leaseExpiresAt).toLocaleTimeString(),
  ]), 'no live nodes', 2);

  const t = Date.now() / 1000;
  push(charts.connections, t, [stats.connections]);
  push(charts.messages, t, [stats.messagesInPerSecond, stats.messagesOutPerSecond]);
  push(charts.latency, t, [stats.latency.p50Ms, stats.latency.p99Ms]);
  push(charts.memory, t, [stats.memory.rss / 1048576, stats.memory.heapUsed / 1048576]);
}

let timer;
let inFlight = false;

async function poll() {
  if (inFlight) return;
  inFlight = true;
  try {
    render(await api('/stats'));
    $('live').classList.remove('stale');
    $('live').textContent = 'live';
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut(`The key was refused: ${err.message}`);
      return;
    }
    $('live').classList.add('stale');
    $('live').textContent = `stale: ${err.message}`;
  } finally {
    inFlight = false;
  }
}

function showDashboard() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('logout').hidden = false;
  $('live').hidden = false;
  setupCharts();
  clearInterval(timer);
  timer = setInterval(poll, POLL_MS);
  return poll();
}

function signOut(message = '') {
  clearInterval(timer);
  sessionStorage.removeItem(KEY_STORAGE);
  $('dashboard').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  sessionStorage.setItem(KEY_STORAGE, $('key').value.trim());
  $('key').value = '';
  try {
    await api('/stats');
  } catch (err) {
    signOut(err instanceof ApiError && err.status === 401 ? `The key was refused: ${err.message}` : `Cannot reach the gateway: ${err.message}`);
    return;
  }
  await showDashboard();
});

$('logout').addEventListener('click', () => signOut());

// ---- user lookup --------------------------------------------------------------

let lookedUp;

$('user-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = $('user-id').value.trim();
  $('user-message').textContent = '';
  $('user-disconnect').hidden = true;
  $('user-disconnect').textContent = 'Disconnect';
  try {
    const answer = await api(`/presence?users=${encodeURIComponent(user)}`);
    const p = answer.users[user];
    lookedUp = user;
    $('user-status').textContent = p.status;
    $('user-connections').textContent = integer.format(p.connections);
    $('user-last-seen').textContent = p.lastSeen === 0 ? 'never' : new Date(p.lastSeen).toLocaleString();
    $('user-result').hidden = false;
    $('user-disconnect').hidden = p.connections === 0;
  } catch (err) {
    $('user-result').hidden = true;
    $('user-message').textContent = err.message;
  }
});

// Two clicks, no confirm() dialog: the second click within 5 s disconnects.
$('user-disconnect').addEventListener('click', async () => {
  const button = $('user-disconnect');
  if (button.dataset.armed !== 'yes') {
    button.dataset.armed = 'yes';
    button.textContent = `Click again to disconnect ${lookedUp}`;
    setTimeout(() => {
      button.dataset.armed = '';
      button.textContent = 'Disconnect';
    }, 5000);
    return;
  }
  button.dataset.armed = '';
  try {
    const answer = await api(`/users/${encodeURIComponent(lookedUp)}/disconnect`, { method: 'POST', body: '{}' });
    $('user-message').textContent = `Closed ${answer.closed} connection(s) of ${lookedUp} (code 4010).`;
    button.hidden = true;
  } catch (err) {
    $('user-message').textContent = err.message;
  }
});

if (sessionStorage.getItem(KEY_STORAGE)) showDashboard();
