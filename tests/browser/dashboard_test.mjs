// The dashboard in a real browser (Debian's chromium, headless, driven by puppeteer-core)
// against the real `scpool serve` with traffic flowing through its http listener to a TLS
// upstream of this test (Node's HTTP/2 server, certificate from a CA made with `openssl`).
//
//   SC_SCPOOL_BINARY=build/release/apps/scpool/scpool node --test tests/browser/dashboard_test.mjs
//
// SC_CHROMIUM names the browser (default /usr/bin/chromium); SC_ARTIFACT_DIR receives the
// screenshot (default build/artifacts). Every wait is bounded; nothing asserts a time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '../..');
const scpool = process.env.SC_SCPOOL_BINARY || path.join(sourceDir, 'build/release/apps/scpool/scpool');
const chromium = process.env.SC_CHROMIUM || '/usr/bin/chromium';
const artifactDir = process.env.SC_ARTIFACT_DIR || path.join(sourceDir, 'build/artifacts');
const token = 'dashboard-test-token';
const refreshMs = 2000;  // web/dashboard.js REFRESH_MS
const pageRows = 500;    // web/dashboard.js PAGE_ROWS
// A pool held warm with more connections than one page of the table. SC_DASHBOARD_CONNECTIONS
// raises it (e.g. 10000, to see the page at that size; mind `ulimit -n`).
const wideConnections = Number(process.env.SC_DASHBOARD_CONNECTIONS || 600);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `condition` until it is truthy or `limit` ms pass; returns its last value.
async function eventually(limit, condition) {
  const deadline = Date.now() + limit;
  for (;;) {
    const value = await condition();
    if (value || Date.now() > deadline) return value;
    await sleep(50);
  }
}

// --- the upstream: TLS, HTTP/2 and HTTP/1.1, a few milliseconds per answer --------------------

function makeCertificates(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=dashboard test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1',
      '-keyout', 'upstream.key', '-out', 'upstream.csr');
  fs.writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName = IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'upstream.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-extfile', 'san.cnf', '-out', 'upstream.pem');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'upstream.pem'), key: path.join(dir, 'upstream.key') };
}

class Upstream {
  constructor(certificates) {
    this.options = { key: fs.readFileSync(certificates.key), cert: fs.readFileSync(certificates.cert), allowHTTP1: true };
    this.port = 0;
    this.sockets = new Set();
  }

  async start() {
    this.server = http2.createSecureServer(this.options, (request, response) => {
      setTimeout(() => response.end('hello\n'), 1 + Math.floor(Math.random() * 4));
    });
    this.server.on('secureConnection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
  }

  // Closes the listener and every connection: the daemon's connects are refused from now on.
  async stop() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

// --- the daemon ---------------------------------------------------------------------------

class Daemon {
  constructor(dir, upstream, ca) {
    fs.writeFileSync(path.join(dir, 'monitor.token'), `${token}\n`, { mode: 0o600 });
    const pool = (name, connections = 8, warm = 2, listener = true) => `[[pool]]
namespace = "${name}"
endpoints = ["127.0.0.1:${upstream.port}"]
max_connections = ${connections}
min_idle = ${warm}
max_connecting = 32
connect_timeout = "1s"
acquire_timeout = "1s"
circuit_breaker_failure_threshold = 2
circuit_breaker_cooldown = "5s"
[pool.tls]
ca_file = "${ca}"
alpn = ["h2", "http/1.1"]
${listener ? '[[pool.listener]]\nmode = "http"\nlisten = "127.0.0.1:0"\n' : ''}`;
    this.configFile = path.join(dir, 'scpool.toml');
    fs.writeFileSync(this.configFile, `[monitor]
listen = "127.0.0.1:0"
token_file = "${path.join(dir, 'monitor.token')}"
[log]
level = "warn"
${pool('relay')}${pool('backup')}${pool('wide', wideConnections, wideConnections, false)}`);
  }

  async start() {
    this.output = '';
    this.errors = '';
    this.process = spawn(scpool, ['serve', '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout.on('data', (data) => { this.output += data; });
    this.process.stderr.on('data', (data) => { this.errors += data; });
    this.exited = new Promise((resolve) => this.process.on('exit', resolve));
    const started = await eventually(20000, () => {
      const monitor = /  (https?:\/\/[^ \n]+)\/metrics\n/.exec(this.output);
      const listeners = [...this.output.matchAll(/  http listener (http:\/\/[0-9.:]+) /g)].map((match) => match[1]);
      if (monitor && listeners.length === 2 && this.output.includes('/api/v1/secure-channel/stats\n')) {
        this.monitorUrl = monitor[1];
        this.listenerUrls = listeners;
        return true;
      }
      return this.process.exitCode !== null ? 'exited' : false;
    });
    assert.equal(started, true, `scpool serve did not start:\n${this.output}\n${this.errors}`);
  }

  async stop() {
    if (!this.process || this.process.exitCode !== null) return;
    this.process.kill('SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(15000).then(() => false)]);
    if (!stopped) this.process.kill('SIGKILL');
  }

  async api(pathAndQuery) {
    const response = await fetch(`${this.monitorUrl}/api/v1/secure-channel/${pathAndQuery}`,
                                 { headers: { 'X-Auth-Token': token } });
    return response.json();
  }
}

// --- traffic: a few keep-alive clients per listener, until told to stop -----------------------

class Traffic {
  constructor(urls) {
    this.urls = urls;
    this.running = true;
    this.answered = 0;
    this.failed = 0;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    // Bounded: however the test goes, the load stops by itself after ten minutes.
    this.limit = setTimeout(() => { this.running = false; }, 10 * 60 * 1000);
    this.workers = urls.flatMap((url) => Array.from({ length: 4 }, () => this.work(url)));
  }

  async work(url) {
    while (this.running) {
      const ok = await new Promise((resolve) => {
        const request = http.get(`${url}/item`, { agent: this.agent, timeout: 5000 }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode === 200));
        });
        request.on('timeout', () => request.destroy(new Error('timeout')));
        request.on('error', () => resolve(false));
      });
      if (ok) this.answered += 1;
      else {
        this.failed += 1;
        await sleep(50);
      }
    }
  }

  async stop() {
    this.running = false;
    clearTimeout(this.limit);
    await Promise.all(this.workers);
    this.agent.destroy();
  }
}

// --- the page -----------------------------------------------------------------------------

// Records what the page did wrong: console errors, uncaught exceptions, failed requests, and
// responses with an error status.
function watchProblems(page) {
  const problems = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => { if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`); });
  return problems;
}

const refreshes = (page) => page.evaluate(() => Number(document.body.dataset.refreshes || 0));
async function waitForRefreshes(page, count) {
  const reached = await eventually(5 * refreshMs + 10000, async () => (await refreshes(page)) >= count);
  assert.ok(reached, `the page did not refresh ${count} times`);
}
const pageField = (page, pool, name, attribute = null) => page.$eval(
  `section[data-pool="${pool}"] [data-field="${name}"]`,
  (element, attribute) => (attribute ? element.dataset[attribute] : element.textContent), attribute);

describe('dashboard', () => {
  let dir, upstream, daemon, traffic, browser, page, problems;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scpool-dashboard-'));
    fs.mkdirSync(artifactDir, { recursive: true });
    const certificates = makeCertificates(dir);
    upstream = new Upstream(certificates);
    await upstream.start();
    daemon = new Daemon(dir, upstream, certificates.ca);
    await daemon.start();
    traffic = new Traffic(daemon.listenerUrls);
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    problems = watchProblems(page);
    // The token as a user who already gave it in this tab: the page's first request carries it.
    await page.evaluateOnNewDocument((value) => sessionStorage.setItem('securechannel.monitor-token', value), token);
    // The main thread's long tasks (over 50 ms), to report how busy a refresh keeps the tab.
    await page.evaluateOnNewDocument(() => {
      window.longTasks = [];
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.longTasks.push(entry.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
  });

  after(async () => {
    if (browser) await browser.close();
    if (traffic) await traffic.stop();
    if (daemon) await daemon.stop();
    if (upstream) await upstream.stop().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no console error and no failed request, and shows every pool by name', async () => {
    await page.goto(`${daemon.monitorUrl}/`, { waitUntil: 'load' });
    await waitForRefreshes(page, 2);
    const pools = await page.$$eval('section[data-pool]', (sections) => sections.map((section) => section.dataset.pool));
    assert.deepEqual(pools.sort(), ['backup', 'relay', 'wide']);
    for (const name of pools) {
      assert.equal(await pageField(page, name, 'namespace'), name);
      assert.equal(await pageField(page, name, 'endpoint'), `https://127.0.0.1:${upstream.port}`);
    }
    assert.deepEqual(problems, []);
  });

  it('shows the numbers of the stats endpoint at the same moment', async () => {
    await eventually(20000, () => traffic.answered > 400);
    for (const name of ['relay', 'backup']) {
      // The daemon's http listener carries HTTP requests over the pool: the page counts them (an
      // HTTP/2 session holds one lease of the pool for all its streams).
      const before = await daemon.api(`stats?pool=${name}`);
      assert.ok(before.http, `${name}: the stats carry the http listener's client`);
      // Two refreshes: the second one's request was sent after `before` was read.
      await waitForRefreshes(page, (await refreshes(page)) + 2);
      const shown = Number(await pageField(page, name, 'requests_total', 'value'));
      assert.equal(await pageField(page, name, 'requests_total', 'source'), 'http');
      const max = Number(await pageField(page, name, 'max'));
      const reuse = Number(await pageField(page, name, 'reuse_ratio', 'value'));
      const after = await daemon.api(`stats?pool=${name}`);
      assert.ok(before.http.requests <= shown && shown <= after.http.requests,
                `${name}: requests ${before.http.requests} <= ${shown} <= ${after.http.requests}`);
      assert.ok(shown > 50, `${name}: ${shown} requests shown; the traffic reached the pool`);
      assert.equal(max, after.max_connections);
      const reuseAfter = after.http.requests_on_reused_connections / after.http.requests;
      assert.ok(Math.abs(reuse - reuseAfter) < 0.05, `${name}: reuse ${reuse} against ${reuseAfter}`);
      const connections = await daemon.api(`connections?pool=${name}`);
      const rows = await page.$$eval(`section[data-pool="${name}"] tbody tr`, (list) => list.length);
      assert.ok(rows > 0 && Math.abs(rows - connections.count) <= 2, `${name}: ${rows} rows, ${connections.count} connections`);
      // The listener's HTTP/2 session: its row says how many of its streams run.
      const session = connections.connections.find((connection) => connection.max_concurrent_streams > 0);
      assert.ok(session, `${name}: no connection shows streams: ${JSON.stringify(connections.connections)}`);
      const stateCell = `section[data-pool="${name}"] tbody tr[data-connection="${session.connection_id}"] td:nth-child(2)`;
      const state = await eventually(10000, () => page.$eval(stateCell, (cell) => cell.textContent).catch(() => ''));
      // The test's upstream (node:http2) sets no SETTINGS_MAX_CONCURRENT_STREAMS limit.
      assert.match(state, /^leased · \d+ streams, no limit$/, `${name}: connection ${session.connection_id}`);
    }
    assert.deepEqual(problems, []);
  });

  it('sorts the connection table from the keyboard', async () => {
    const button = await page.$('section[data-pool="relay"] th[data-sort="leases"] button');
    await button.focus();
    await page.keyboard.press('Enter');
    const sorted = await eventually(10000, () => page.$eval('section[data-pool="relay"] th[data-sort="leases"]',
      (header) => header.getAttribute('aria-sort')));
    assert.equal(sorted, 'ascending');
    await waitForRefreshes(page, (await refreshes(page)) + 1);
    const counts = await page.$$eval('section[data-pool="relay"] tbody tr td:nth-child(4)',
      (cells) => cells.map((cell) => Number(cell.textContent.replace(/,/g, ''))));
    assert.ok(counts.length > 0);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
  });

  it('pages a pool of more connections than one page holds', async (t) => {
    const warm = await eventually(60000 + wideConnections * 20, async () =>
      (await daemon.api('stats?pool=wide')).active_connections === wideConnections);
    assert.ok(warm, `the wide pool opened its ${wideConnections} connections`);
    const section = 'section[data-pool="wide"]';
    const rowCount = () => page.$$eval(`${section} tbody tr`, (rows) => rows.length);
    const range = () => pageField(page, 'wide', 'table_range');
    const full = `(1–${pageRows} of ${wideConnections})`;
    assert.equal(await eventually(5 * refreshMs, async () => (await range()) === full), true, await range());
    assert.equal(await rowCount(), pageRows);
    await page.click(`${section} [data-page="next"]`);
    const secondEnd = Math.min(2 * pageRows, wideConnections);
    const rest = `(${pageRows + 1}–${secondEnd} of ${wideConnections})`;
    assert.equal(await eventually(5 * refreshMs, async () => (await range()) === rest), true, await range());
    assert.equal(await rowCount(), secondEnd - pageRows);
    assert.equal(await page.$eval(`${section} [data-page="next"]`, (button) => button.disabled),
                 secondEnd === wideConnections);
    // The page stays put across refreshes.
    await waitForRefreshes(page, (await refreshes(page)) + 1);
    assert.equal(await range(), rest);
    await page.click(`${section} [data-page="previous"]`);
    assert.equal(await eventually(5 * refreshMs, async () => (await range()) === full), true, await range());
    assert.deepEqual(problems, []);
    // Reported, not asserted: how long the page's main thread was busy at a time, and what one
    // refresh's requests cost at this pool size.
    const cost = await page.evaluate(async () => {
      const time = async (url) => {
        const began = performance.now();
        const response = await fetch(url, { headers: { 'X-Auth-Token': sessionStorage.getItem('securechannel.monitor-token') } });
        const bytes = (await response.text()).length;
        return { ms: Math.round(performance.now() - began), bytes };
      };
      return {
        longestTaskMs: Math.round(Math.max(0, ...window.longTasks)),
        dashboard: await time('/api/v1/secure-channel/dashboard'),
        page: await time('/api/v1/secure-channel/connections?pool=wide&sort=p95_latency_ms&order=desc&limit=500'),
      };
    });
    t.diagnostic(`${wideConnections} connections: ${JSON.stringify(cost)}`);
  });

  it('saves a screenshot under load', async () => {
    // The chart needs two samples of the history (one per five seconds) to draw a line.
    const drawn = await eventually(15000, async () => (await page.$$eval('section[data-pool="relay"] polyline.p95',
      (lines) => lines.map((line) => line.getAttribute('points').split(' ').filter(Boolean).length)))
      .some((points) => points >= 2));
    assert.ok(drawn, 'the latency chart draws a line');
    const file = path.join(artifactDir, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(fs.statSync(file).size > 10000);

    // The reader's dark scheme: the page follows it.
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await background();
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    const dark = await background();
    assert.notEqual(dark, light);
    await page.screenshot({ path: path.join(artifactDir, 'dashboard-dark.png') });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    assert.deepEqual(problems, []);
  });

  it('turns the breaker badge open when the upstream stops, and closed when it is back', async () => {
    await upstream.stop();
    const opened = await eventually(30000, async () => (await daemon.api('health?pool=relay')).circuit_breaker === 'open');
    assert.ok(opened, 'the pool\'s breaker opened');
    // Within one refresh after the breaker opened (the next refresh that starts after it).
    await waitForRefreshes(page, (await refreshes(page)) + 2);
    const shown = await pageField(page, 'relay', 'breaker', 'state');
    assert.ok(shown === 'open' || shown === 'half_open', `badge says ${shown}`);
    assert.match(await pageField(page, 'relay', 'health'), /unhealthy/);

    await upstream.start();
    const closed = await eventually(30000, async () => (await pageField(page, 'relay', 'breaker', 'state')) === 'closed');
    assert.ok(closed, 'the badge turned back to closed');
    assert.equal((await daemon.api('health?pool=relay')).circuit_breaker, 'closed');
    assert.match(await pageField(page, 'relay', 'breaker_since'), /^since \d/, 'the time of the change, not "since start"');
  });

  it('asks for the token before showing any data, and says when it is wrong', async () => {
    const context = await browser.createBrowserContext();
    try {
      const fresh = await context.newPage();
      const urls = [];
      fresh.on('request', (request) => urls.push(request.url()));
      await fresh.goto(`${daemon.monitorUrl}/dashboard`, { waitUntil: 'load' });
      await fresh.waitForSelector('#token-form:not([hidden])', { timeout: 10000 });
      assert.equal(await fresh.$$eval('section[data-pool]', (sections) => sections.length), 0);
      assert.doesNotMatch(await fresh.$eval('main', (main) => main.innerText), /relay|backup|127\.0\.0\.1/);

      await fresh.type('#token-input', 'wrong-token');
      await fresh.keyboard.press('Enter');
      await fresh.waitForFunction(() => /refused/.test(document.getElementById('token-error').textContent),
                                  { timeout: 10000 });
      assert.equal(await fresh.$$eval('section[data-pool]', (sections) => sections.length), 0);
      assert.equal(await fresh.$eval('#service', (element) => element.textContent), '', 'not even the service name');

      await fresh.type('#token-input', token);
      await fresh.keyboard.press('Enter');
      await fresh.waitForSelector('section[data-pool="relay"]', { timeout: 10000 });
      assert.equal(await fresh.$eval('#token-form', (form) => form.hidden), true, 'the form goes once the token is taken');
      assert.ok(urls.length > 3, `the page made its requests: ${urls.length}`);
      for (const url of urls) {
        assert.ok(!url.includes(token) && !url.includes('wrong-token'), `a token in a URL: ${url}`);
      }
    } finally {
      await context.close();
    }
  });

  it('says the data is stale, with its age, when the daemon stops answering', async () => {
    await daemon.stop();
    const stale = await eventually(5 * refreshMs + 5000, () => page.$eval('#freshness', (element) =>
      element.classList.contains('stale') ? element.textContent : ''));
    assert.match(stale, /^stale: last answer \d+ s ago/);
    assert.ok(await page.$('section[data-pool="relay"]'), 'the last figures stay on screen');
  });
});
