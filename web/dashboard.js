// The dashboard: polls /api/v1/secure-channel/dashboard every two seconds and draws each pool
// from it; each pool's connection table asks /api/v1/secure-channel/connections for the page of
// rows it shows. Data goes into the page as text only (textContent), never as markup.
'use strict';

const API = '/api/v1/secure-channel/';
const REFRESH_MS = 2000;
const PAGE_ROWS = 500;
const TOKEN_KEY = 'securechannel.monitor-token';
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  lastAnswer: 0,       // Date.now() of the last good refresh
  lastProblem: '',
  refreshes: 0,
  pools: new Map(),    // key -> {element, previous: {time, requests, errors}, table: {sort, order, offset}}
  poolsMade: 0,        // for element ids never used twice
  tokenNeeded: false,
  stale: null,         // what the live region last announced: true, false, or null (nothing yet)
  timer: 0,
};

class TokenRefused extends Error {}

async function getJson(path) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers['X-Auth-Token'] = state.token;
  const response = await fetch(API + path, { headers, cache: 'no-store' });
  if (response.status === 401) throw new TokenRefused(state.token ? 'the token was refused' : 'a token is needed');
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).message || detail; } catch (ignored) { /* not JSON */ }
    throw new Error(`${path}: HTTP ${response.status} ${detail}`);
  }
  return response.json();
}

// --- formatting ---------------------------------------------------------------------------

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
function decimal(value, digits) {
  return Number(value).toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

function field(root, name) { return root.querySelector(`[data-field="${name}"]`); }
function setText(root, name, text) { field(root, name).textContent = text; }

// --- one pool -------------------------------------------------------------------------------

function poolKey(pool) { return `${pool.namespace}|${pool.endpoint}`; }

function poolView(pool) {
  const key = poolKey(pool);
  let view = state.pools.get(key);
  if (view) return view;
  const element = document.getElementById('pool-template').content.firstElementChild.cloneNode(true);
  element.dataset.pool = pool.namespace;
  element.dataset.endpoint = pool.endpoint;
  const heading = element.querySelector('h2');
  state.poolsMade += 1;
  heading.id = `pool-${state.poolsMade}`;
  element.setAttribute('aria-labelledby', heading.id);
  // table.sort and order are what the reader chose (a reversed column sorts its field the other
  // way: "age" ascending is "created" descending); asked counts the table's requests, so that
  // only the answer to the latest one is drawn.
  view = { element, previous: null,
           table: { sort: 'connection_id', order: 'asc', offset: 0, total: 0, asked: 0 } };
  wireTable(view, pool);
  state.pools.set(key, view);
  document.getElementById('pools').append(element);
  return view;
}

function renderPool(pool, now) {
  const view = poolView(pool);
  const root = view.element;
  setText(root, 'namespace', pool.namespace);
  // The scheme in front: a plain (http://) upstream must not pass for a verified one at a glance.
  setText(root, 'endpoint', `${pool.scheme}://${pool.endpoint}`);

  const health = field(root, 'health');
  health.textContent = pool.pool_healthy ? (pool.ready ? 'healthy' : 'healthy, warming') : 'unhealthy';
  health.className = `badge ${pool.pool_healthy ? 'good' : 'bad'}`;
  const breaker = field(root, 'breaker');
  breaker.textContent = `breaker ${pool.circuit_breaker.replace('_', '-')}`;
  breaker.dataset.state = pool.circuit_breaker;
  breaker.className = `badge ${{ closed: 'good', half_open: 'warn', open: 'bad' }[pool.circuit_breaker] || 'bad'}`;
  setText(root, 'breaker_since', pool.circuit_breaker_since_unix_ms === null ? 'since start'
    : `since ${new Date(pool.circuit_breaker_since_unix_ms).toLocaleTimeString()}` +
      ` (${duration(now - pool.circuit_breaker_since_unix_ms)} ago)`);

  const c = pool.connections;
  setText(root, 'active', c.active);
  setText(root, 'max', c.max);
  setText(root, 'idle', c.idle);
  setText(root, 'in_use', c.in_use);
  setText(root, 'connecting', c.connecting);
  setText(root, 'pending', c.pending_acquires);
  field(root, 'usage').value = c.max ? c.active / c.max : 0;

  // Requests: a pool that carries an HTTP client (the daemon's http listeners) counts the HTTP
  // requests; an HTTP/2 session holds one lease of the pool for many of them.
  const http = pool.http || null;
  const requests = http ? http.requests : pool.requests_total;
  const reuse = http ? (http.requests ? http.requests_on_reused_connections / http.requests : 0) : pool.reuse_ratio;
  // A total that went down (the daemon restarted, the pool was rebuilt) gives no rate this time.
  const previous = view.previous && requests >= view.previous.requests && pool.total_errors >= view.previous.errors
    ? view.previous : null;
  const seconds = previous ? (pool.timestamp_unix_ms - previous.time) / 1000 : 0;
  const rate = (total, before) => (seconds > 0 ? Math.max(0, total - before) / seconds : null);
  const requestsRate = previous ? rate(requests, previous.requests) : null;
  const errorsRate = previous ? rate(pool.total_errors, previous.errors) : null;
  setText(root, 'requests_title', http ? 'HTTP requests' : 'Leases (requests)');
  setText(root, 'requests_per_second', requestsRate === null ? '–' : decimal(requestsRate, 1));
  setText(root, 'requests_total', integer.format(requests));
  field(root, 'requests_total').dataset.value = requests;
  field(root, 'requests_total').dataset.source = http ? 'http' : 'pool';
  const leases = pool.requests_total === 1 ? '1 lease' : `${integer.format(pool.requests_total)} leases`;
  setText(root, 'leases', http ? `${leases} of the pool's connections` : '');
  setText(root, 'reuse_ratio', `${decimal(reuse * 100, 1)} %`);
  field(root, 'reuse_ratio').dataset.value = reuse;
  // Now: the latest history sample's interval (about 5 s); the pool's recent window beside it.
  const latest = pool.history[pool.history.length - 1];
  const shown = (value) => (latest && latest.round_trips > 0 ? decimal(value, 2) : '–');
  setText(root, 'p50', shown(latest && latest.p50_ms));
  setText(root, 'p95', shown(latest && latest.p95_ms));
  setText(root, 'p99', shown(latest && latest.p99_ms));
  setText(root, 'recent_latency', pool.latency_ms.samples > 0
    ? `p99 ${decimal(pool.latency_ms.p99, 2)} ms over the pool's recent window (${integer.format(pool.latency_ms.samples)} round trips)`
    : 'no round trip in the pool\'s recent window');
  setText(root, 'errors_per_second', errorsRate === null ? '–' : decimal(errorsRate, 2));
  setText(root, 'total_errors', integer.format(pool.total_errors));
  setText(root, 'failed_requests', http ? `${integer.format(http.failed_requests)} HTTP requests failed` : '');
  renderErrorKinds(field(root, 'errors_by_kind'), pool.errors_by_kind, previous ? previous.kinds : null, seconds);
  view.previous = { time: pool.timestamp_unix_ms, requests, errors: pool.total_errors, kinds: pool.errors_by_kind };

  if (pool.http && pool.http.http2_sessions > 0) {
    const sessions = pool.http.http2_sessions === 1 ? '1 session' : `${pool.http.http2_sessions} sessions`;
    // 2^31 and more: the peer set no limit (SETTINGS_MAX_CONCURRENT_STREAMS absent).
    const capacity = pool.http.http2_stream_capacity >= 2 ** 31 ? 'no stream limit' : `of ${pool.http.http2_stream_capacity}`;
    setText(root, 'streams', pool.http.http2_streams_in_flight);
    setText(root, 'streams_detail', `${capacity} on ${sessions}`);
  } else {
    setText(root, 'streams', pool.http ? '0' : '–');
    setText(root, 'streams_detail', pool.http ? `no HTTP/2 session (${pool.http.protocol})` : 'no HTTP client');
  }
  renderCertificate(field(root, 'certificate'), pool, now);
  renderChart(field(root, 'chart'), pool.history, now);
}

function renderErrorKinds(list, kinds, before, seconds) {
  const items = Object.entries(kinds).sort((a, b) => b[1] - a[1]).map(([kind, count]) => {
    const item = document.createElement('li');
    const recent = before && seconds > 0 ? Math.max(0, count - (before[kind] || 0)) / seconds : 0;
    item.textContent = `${kind}: ${integer.format(count)}` + (recent > 0 ? ` (${decimal(recent, 2)}/s)` : '');
    return item;
  });
  list.replaceChildren(...items);
}

function renderCertificate(element, pool, now) {
  const notAfter = pool.upstream_certificate_not_after_unix_ms;
  if (notAfter === null) {
    element.textContent = 'not seen yet';
    element.className = '';
    return;
  }
  const left = notAfter - now;
  const when = new Date(notAfter).toISOString().slice(0, 10);
  if (left <= 0) {
    element.textContent = `expired ${when}`;
    element.className = 'expired';
  } else {
    element.textContent = `expires ${when}, in ${duration(left)}`;
    element.className = left < pool.certificate_expiry_warning_ms ? 'warning' : '';
  }
  element.dataset.warning = String(left < pool.certificate_expiry_warning_ms);
}

// --- the latency chart ----------------------------------------------------------------------

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function renderChart(svg, history, now) {
  const width = 640, height = 180, left = 44, top = 8, bottom = 20;
  const span = 15 * 60 * 1000;
  const samples = history.filter((sample) => now - sample.time_unix_ms <= span);
  const highest = Math.max(1, ...samples.filter((sample) => sample.round_trips > 0).map((sample) => sample.p99_ms));
  const ceiling = niceCeiling(highest);
  const x = (time) => left + ((time - (now - span)) / span) * (width - left - 4);
  const y = (ms) => top + (1 - ms / ceiling) * (height - top - bottom);
  const parts = [];
  for (const fraction of [0, 0.5, 1]) {
    parts.push(svgElement('line', { class: 'grid', x1: left, x2: width - 4, y1: y(ceiling * fraction), y2: y(ceiling * fraction) }));
    const label = svgElement('text', { class: 'label', x: 4, y: y(ceiling * fraction) + 4 });
    label.textContent = decimal(ceiling * fraction, ceiling < 10 ? 1 : 0);
    parts.push(label);
  }
  for (const [text, at, anchor] of [['15 min ago', left, 'start'], ['now', width - 4, 'end']]) {
    const label = svgElement('text', { class: 'label', x: at, y: height - 5, 'text-anchor': anchor });
    label.textContent = text;
    parts.push(label);
  }
  for (const quantile of ['p50', 'p95', 'p99']) {
    // An interval without a round trip has no latency: the line breaks there.
    let points = [];
    const flush = () => {
      if (points.length > 0) parts.push(svgElement('polyline', { class: quantile, points: points.join(' ') }));
      points = [];
    };
    for (const sample of samples) {
      const value = sample[`${quantile}_ms`];
      if (value === null) flush();
      else points.push(`${x(sample.time_unix_ms).toFixed(1)},${y(value).toFixed(1)}`);
    }
    flush();
  }
  svg.replaceChildren(...parts);
  const measured = samples.filter((sample) => sample.round_trips > 0);
  const last = measured[measured.length - 1];
  svg.setAttribute('aria-label', last
    ? `Latency over ${measured.length} samples; latest p50 ${decimal(last.p50_ms, 2)} ms, p95 ${decimal(last.p95_ms, 2)} ms, p99 ${decimal(last.p99_ms, 2)} ms`
    : 'No latency samples yet');
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// --- the connection table -------------------------------------------------------------------

function wireTable(view, pool) {
  const root = view.element;
  for (const header of root.querySelectorAll('th[data-sort]')) {
    header.querySelector('button').addEventListener('click', () => {
      const table = view.table;
      table.order = table.sort === header.dataset.sort && table.order === 'asc' ? 'desc' : 'asc';
      table.sort = header.dataset.sort;
      table.offset = 0;
      loadTable(view, pool).catch(showProblem);
    });
  }
  root.querySelector('[data-page="previous"]').addEventListener('click', () => {
    view.table.offset = Math.max(0, view.table.offset - PAGE_ROWS);
    loadTable(view, pool).catch(showProblem);
  });
  root.querySelector('[data-page="next"]').addEventListener('click', () => {
    if (view.table.offset + PAGE_ROWS < view.table.total) view.table.offset += PAGE_ROWS;
    loadTable(view, pool).catch(showProblem);
  });
}

// The server's order for what the reader chose: a reversed column (age, last activity) shows the
// opposite of its field's order (the youngest connection has the latest `created`).
function serverOrder(view) {
  const header = view.element.querySelector(`th[data-sort="${view.table.sort}"]`);
  const reversed = header !== null && header.hasAttribute('data-reversed');
  if (!reversed) return view.table.order;
  return view.table.order === 'asc' ? 'desc' : 'asc';
}

async function loadTable(view, pool) {
  const table = view.table;
  table.asked += 1;
  const asked = table.asked;
  const query = new URLSearchParams({ pool: pool.namespace, endpoint: pool.endpoint, sort: table.sort,
                                      order: serverOrder(view), offset: table.offset, limit: PAGE_ROWS });
  const page = await getJson(`connections?${query}`);
  // A refresh and a click may both be waiting: only the latest request's answer is drawn.
  if (asked !== table.asked) return;
  table.total = page.count;
  if (page.count === 0) {
    table.offset = 0;
  } else if (page.offset >= page.count) {
    // The pool shrank below this page: show its last page instead.
    table.offset = Math.floor((page.count - 1) / PAGE_ROWS) * PAGE_ROWS;
    return loadTable(view, pool);
  }
  // Ages from the server's clock, as every other figure: the browser's may differ.
  renderTable(view, page.connections, page.count === 0 ? 0 : page.offset, Date.parse(page.last_updated));
}

// "3/128 streams", or "3 streams, no limit" when the peer set none (2^31 and more).
function streams(connection) {
  const limit = connection.max_concurrent_streams >= 2 ** 31 ? ' streams, no limit' : `/${connection.max_concurrent_streams} streams`;
  return `${connection.streams_in_flight}${limit}`;
}

function renderTable(view, connections, offset, now) {
  const root = view.element;
  const table = view.table;
  const rows = connections.map((connection) => {
    const row = document.createElement('tr');
    row.dataset.connection = connection.connection_id;
    const cells = [
      connection.connection_id,
      // An HTTP/2 session holds its connection for life: how busy it is shows in its streams.
      connection.max_concurrent_streams > 0 ? `${connection.state} · ${streams(connection)}` : connection.state,
      duration(now - Date.parse(connection.created)),
      integer.format(connection.leases),
      integer.format(connection.round_trips),
      decimal(connection.latency_ms.p95, 2),
      connection.health ? String(connection.health.score) : '',
      integer.format(connection.affinity_keys ?? 0),
      `${duration(now - Date.parse(connection.last_activity))} ago`,
    ];
    for (const text of cells) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  field(root, 'rows').replaceChildren(...rows);
  for (const header of root.querySelectorAll('th[data-sort]')) {
    if (header.dataset.sort === table.sort) header.setAttribute('aria-sort', table.order === 'asc' ? 'ascending' : 'descending');
    else header.removeAttribute('aria-sort');
  }
  const first = table.total === 0 ? 0 : offset + 1;
  setText(root, 'table_range', `(${first}–${offset + connections.length} of ${table.total})`);
  root.querySelector('[data-page="previous"]').disabled = offset === 0;
  root.querySelector('[data-page="next"]').disabled = offset + PAGE_ROWS >= table.total;
}

// --- refresh, freshness, token --------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  try {
    const data = await getJson('dashboard');
    // The token (if any) was accepted: the form goes before anything is drawn.
    state.tokenNeeded = false;
    document.getElementById('token-form').hidden = true;
    document.getElementById('token-error').textContent = '';
    const now = data.timestamp_unix_ms;
    document.getElementById('service').textContent = `${data.service} · up ${duration(now - data.started_unix_ms)}`;
    const seen = new Set();
    for (const pool of data.pools) {
      renderPool(pool, now);
      seen.add(poolKey(pool));
    }
    for (const [key, view] of state.pools) {
      if (!seen.has(key)) {
        view.element.remove();
        state.pools.delete(key);
      }
    }
    document.getElementById('no-pools').hidden = data.pools.length > 0;
    await Promise.all(data.pools.map((pool) => loadTable(state.pools.get(poolKey(pool)), pool)));
    state.lastAnswer = Date.now();
    state.lastProblem = '';
    state.refreshes += 1;
    document.body.dataset.refreshes = state.refreshes;
  } catch (problem) {
    showProblem(problem);
    if (problem instanceof TokenRefused) return;  // waits for the form
  } finally {
    showFreshness();
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

function showProblem(problem) {
  if (problem instanceof TokenRefused) {
    askForToken(problem.message);
    return;
  }
  state.lastProblem = problem instanceof TypeError ? 'the server does not answer' : problem.message;
  showFreshness();
}

function showFreshness() {
  const element = document.getElementById('freshness');
  if (!state.lastAnswer) {
    element.textContent = state.tokenNeeded ? 'a token is needed'
      : (state.lastProblem ? `no data: ${state.lastProblem}` : 'loading…');
    element.classList.toggle('stale', Boolean(state.lastProblem));
    return;
  }
  const age = Date.now() - state.lastAnswer;
  const stale = Boolean(state.lastProblem) || age > 3 * REFRESH_MS;
  element.textContent = stale
    ? `stale: last answer ${duration(age)} ago${state.lastProblem ? ` (${state.lastProblem})` : ''}`
    : `live · updated ${duration(age)} ago`;
  element.classList.toggle('stale', stale);
  document.body.dataset.stale = String(stale);
  // The live region speaks when the data turns stale or live again, not at every second's tick.
  if (state.stale !== stale) {
    state.stale = stale;
    document.getElementById('freshness-change').textContent =
      stale ? 'The data is stale: the server does not answer.' : 'The data is live.';
  }
}

function askForToken(reason) {
  // No data stays on screen for a client that has no (or a wrong) token: not the pools, not the
  // service's name.
  for (const view of state.pools.values()) view.element.remove();
  state.pools.clear();
  state.lastAnswer = 0;
  state.tokenNeeded = true;
  document.getElementById('service').textContent = '';
  document.getElementById('no-pools').hidden = true;
  const form = document.getElementById('token-form');
  form.hidden = false;
  document.getElementById('token-error').textContent = state.token ? `${reason}: try again` : '';
  document.getElementById('token-input').focus();
}

document.getElementById('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('token-input');
  state.token = input.value.trim();
  input.value = '';
  sessionStorage.setItem(TOKEN_KEY, state.token);
  refresh();
});

setInterval(showFreshness, 1000);
refresh();
