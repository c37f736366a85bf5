// A deployment as an operator ships it (docker/compose.yaml, or the Helm
// chart's workloads behind an nginx that does what its Ingress says),
// checked only through its public front door, as its users reach it:
//
// - the page and every file it loads (index.html's references and the
//   modules' imports, followed from what is served) answer 200 with the
//   bytes of web/, and they are exactly web/files.txt;
// - a placement is acked and seen live by another client, with the
//   deployment's own TTL in its expiry, and the decay worker is sweeping
//   (with PLACEMENT_FILE, the placement is written there: decay.test.mjs
//   comes back for its decay once the TTL has passed);
// - 120 Socket.IO clients, each from its own loopback address, all
//   connect; 30 sign-ups from 30 addresses all succeed (per-address limits
//   count clients, not the proxy);
// - the deployment's Prometheus has every service's target up.
//
//   PIXEL_URL        the front door (e.g. http://127.0.0.1:8080)
//   PROMETHEUS_URL   the deployment's Prometheus
//   PROMETHEUS_JOBS  targets expected per job, e.g. api=1,gateway=3,worker=1
//   CLIENT_NET       the clients' addresses: A.B.C names the first of three
//                    /24 blocks they bind to (default 127.0.1, loopback)
//   PLACEMENT_FILE   optional: where to write the placement (JSON: the
//                    board and the acked update)
//
// Runs from scripts/test-ops.sh compose and chart. Settings (TTL, board
// size, cooldown) are read from the deployment, never set by the test.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openSocket, closeAll, waitFor, PASSWORD, uniqueEmail, uniqueName } from '../helpers.mjs';

const FRONT = (process.env.PIXEL_URL ?? '').replace(/\/+$/, '');
const PROMETHEUS = (process.env.PROMETHEUS_URL ?? '').replace(/\/+$/, '');
const JOBS = Object.fromEntries((process.env.PROMETHEUS_JOBS ?? '').split(',').filter(Boolean).map((j) => {
  const [name, n] = j.split('=');
  return [name, Number(n)];
}));
assert.ok(FRONT, 'PIXEL_URL must name the deployment\'s front door');
assert.ok(PROMETHEUS, 'PROMETHEUS_URL must name the deployment\'s Prometheus');
assert.ok(Object.keys(JOBS).length > 0, 'PROMETHEUS_JOBS must say which targets to expect');

const WEB = path.resolve(import.meta.dirname, '../../../web');
const SOCKETS = 120;
const SIGNUPS = 30;

after(closeAll);

/**
 * Client source addresses, a /24 of its own per use: CLIENT_NET names the
 * first (A.B.C, default 127.0.1: loopback), uses take C, C+1, C+2.
 */
const [NET_A, NET_B, NET_C] = (process.env.CLIENT_NET ?? '127.0.1').split('.').map(Number);
assert.ok([NET_A, NET_B, NET_C].every((n) => Number.isInteger(n) && n >= 0 && n <= 253), 'CLIENT_NET must be A.B.C');
function addresses(block, n) {
  assert.ok(n <= 250, 'at most 250 addresses a block');
  return Array.from({ length: n }, (_, i) => `${NET_A}.${NET_B}.${NET_C + block}.${2 + i}`);
}

/**
 * One HTTP request from `localAddress` (fetch cannot choose its source
 * address). Resolves with { status, headers, body (Buffer), json }.
 */
function request(method, urlPath, { json, localAddress, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = http.request(FRONT + urlPath, {
      method,
      localAddress,
      agent: false,
      timeout: timeoutMs,
      headers: body ? { 'content-type': 'application/json', 'content-length': body.length } : {},
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let parsed;
        try {
          parsed = JSON.parse(buf.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, body: buf, json: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function signupFrom(localAddress) {
  return request('POST', '/api/auth/signup', { json: { email: uniqueEmail('door'), password: PASSWORD, name: uniqueName('door') }, localAddress });
}

/** Connects one socket from `localAddress`; resolves { socket } or { error }. */
function connectFrom(localAddress, token) {
  const socket = openSocket({ url: FRONT, token, transports: ['websocket'], localAddress, timeoutMs: 20_000 });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => resolve({ socket, error }));
  });
}

async function prometheus(query) {
  const res = await fetch(`${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json();
  assert.equal(body.status, 'success', `${query}: ${JSON.stringify(body)}`);
  return body.data.result;
}

const listed = readFileSync(path.join(WEB, 'files.txt'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

test('the page and every file it loads are served, with the bytes of web/files.txt\'s files', async () => {
  const root = await request('GET', '/');
  assert.equal(root.status, 200, `GET /: ${root.status}`);
  assert.match(String(root.headers['content-type']), /^text\/html/);
  assert.ok(root.headers['content-security-policy'], 'the page has a Content-Security-Policy');
  const html = root.body.toString('utf8');
  const queue = [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((r) => !/^(data:|https?:|#|\/\/)/.test(r)).map((r) => r.replace(/^\.?\//, ''));
  const loaded = new Set(['index.html']);
  while (queue.length) {
    const f = queue.shift();
    if (loaded.has(f)) continue;
    loaded.add(f);
    const res = await request('GET', `/${f}`);
    assert.equal(res.status, 200, `GET /${f}: ${res.status}`);
    const type = String(res.headers['content-type']);
    if (f.endsWith('.js')) assert.match(type, /javascript/, `/${f} is served as ${type}: modules load only as JavaScript`);
    if (f.endsWith('.css')) assert.match(type, /^text\/css/, `/${f}: ${type}`);
    assert.ok(res.body.equals(readFileSync(path.join(WEB, f))), `/${f} is not web/${f}`);
    if (f.startsWith('js/')) {
      for (const m of res.body.toString('utf8').matchAll(/^\s*(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/gm)) {
        queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1])));
      }
    }
  }
  assert.deepEqual([...loaded].sort(), [...listed].sort(), 'what the served page loads is web/files.txt');
  for (const f of ['package.json', 'files.txt', 'js/globals.d.ts', 'test/served.test.mjs', 'metrics']) {
    const res = await request('GET', `/${f}`);
    assert.equal(res.status, 404, `/${f} is not part of the page: ${res.status}`);
  }
});

test('a placement is acked, seen live by a watcher, and set to decay after the deployment\'s TTL; the worker sweeps', async () => {
  const meta = await request('GET', '/api/boards/main');
  assert.equal(meta.status, 200, `board meta: ${meta.status} ${meta.body}`);
  const { width, height, ttl_ms: ttlMs } = meta.json;
  const [playerAddr, watcherAddr] = addresses(2, 2);
  const user = await signupFrom(playerAddr);
  assert.equal(user.status, 201, `sign-up: ${user.status} ${user.body}`);

  const watcher = await connectFrom(watcherAddr);
  assert.ifError(watcher.error);
  const seen = [];
  watcher.socket.on('pixels', (ev) => seen.push(...(ev?.updates ?? [])));
  const watcherJoin = await watcher.socket.timeout(10_000).emitWithAck('join', { board: 'main' });
  assert.equal(watcherJoin.ok, true, `watcher join: ${JSON.stringify(watcherJoin)}`);

  const player = await connectFrom(playerAddr, user.json.access_token);
  assert.ifError(player.error);
  const playerJoin = await player.socket.timeout(10_000).emitWithAck('join', { board: 'main' });
  assert.equal(playerJoin.ok, true, `player join: ${JSON.stringify(playerJoin)}`);
  const x = crypto.randomInt(width);
  const y = crypto.randomInt(height);
  const color = 1 + crypto.randomInt(15);
  const t0 = Date.now();
  const placed = await player.socket.timeout(10_000).emitWithAck('place', { board: 'main', x, y, color });
  assert.equal(placed.ok, true, `place: ${JSON.stringify(placed)}`);
  const u = placed.update;
  assert.deepEqual(Object.keys(u).sort(), ['by', 'color', 'expires_at', 'placed_at', 'seq', 'x', 'y'], `the ack's update: ${JSON.stringify(u)}`);
  assert.deepEqual([u.x, u.y, u.color, u.by], [x, y, color, user.json.user.name], 'the ack\'s update is the placement');
  assert.equal(u.expires_at - u.placed_at, ttlMs, 'expires at placed_at + the board\'s ttl_ms');
  assert.ok(Math.abs(u.placed_at - t0) < 60_000, `placed_at ${u.placed_at} is the deployment's now (${t0})`);
  const live = await waitFor(() => seen.find((s) => s.seq === u.seq), 5_000, 'the watcher to see the placement');
  assert.deepEqual(live, u, 'the watcher sees the placement as acked');
  if (process.env.PLACEMENT_FILE) writeFileSync(process.env.PLACEMENT_FILE, `${JSON.stringify({ board: 'main', update: u })}\n`);

  // With the shipped TTL (10 minutes) the decay itself is not waited for
  // here (decay.test.mjs does, later): the worker must be sweeping (its
  // counter grows between two scrapes).
  const sweeps = async () => (await prometheus('sum(worker_sweeps_total{outcome="ok"})'))[0]?.value?.[1];
  const first = Number(await waitFor(sweeps, 90_000, 'a scrape of the worker\'s sweeps', 1000));
  await waitFor(async () => Number(await sweeps()) > first, 90_000, 'the worker\'s sweep counter to grow', 1000);
  const errors = await prometheus('sum(worker_sweeps_total{outcome="error"})');
  assert.ok(!errors.length || Number(errors[0].value[1]) === 0, `the worker's sweeps fail: ${JSON.stringify(errors)}`);
  watcher.socket.disconnect();
  player.socket.disconnect();
});

test(`${SOCKETS} sockets from ${SOCKETS} client addresses all connect`, async () => {
  const results = await Promise.all(addresses(0, SOCKETS).map((a) => connectFrom(a)));
  const failed = results.filter((r) => r.error);
  const reasons = [...new Set(failed.map((r) => r.error.message))];
  try {
    assert.equal(SOCKETS - failed.length, SOCKETS, `${SOCKETS - failed.length} of ${SOCKETS} sockets connected; refusals: ${JSON.stringify(reasons)}`);
  } finally {
    for (const r of results) r.socket.disconnect();
  }
});

test(`${SIGNUPS} sign-ups from ${SIGNUPS} client addresses all succeed`, async () => {
  // One after another: a burst of password hashes is shed with 503 by
  // design; what is checked here is the per-address limit.
  const results = [];
  for (const a of addresses(1, SIGNUPS)) results.push(await signupFrom(a));
  const ok = results.filter((r) => r.status === 201).length;
  const others = [...new Set(results.filter((r) => r.status !== 201).map((r) => `${r.status} ${r.body.toString('utf8').slice(0, 120)}`))];
  assert.equal(ok, SIGNUPS, `${ok} of ${SIGNUPS} sign-ups succeeded; others: ${JSON.stringify(others)}`);
});

test('Prometheus has every target of every service up', async () => {
  let last;
  await waitFor(async () => {
    const res = await fetch(`${PROMETHEUS}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    const targets = (await res.json()).data.activeTargets;
    last = {};
    for (const t of targets) (last[t.labels.job] ??= []).push(`${t.labels.instance}=${t.health}`);
    return Object.entries(JOBS).every(([job, n]) => (last[job] ?? []).filter((s) => s.endsWith('=up')).length === n && last[job].length === n);
  }, 90_000, `targets up per job ${JSON.stringify(JOBS)}`, 1000).catch((err) => {
    throw new Error(`${err.message}; targets: ${JSON.stringify(last)}`);
  });
});
