// The nginx front as an attacker meets it: an auth flood from one address,
// a connection flood on the Socket.IO path, framing the page. Runs against
// an nginx rendered from nginx/realtime-pixel.conf.template with small
// limits (HARDEN_NGINX_URL; NGINX_AUTH_BURST and NGINX_CONN_PER_ADDR as set
// there) in front of the running cluster.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { io } from 'socket.io-client';
import { T, http, uniqueEmail, waitFor } from '../helpers.mjs';

const base = process.env.HARDEN_NGINX_URL;
const burst = Number(process.env.NGINX_AUTH_BURST);
const perAddr = Number(process.env.NGINX_CONN_PER_ADDR);
assert.ok(base && burst > 0 && perAddr > 0, 'HARDEN_NGINX_URL, NGINX_AUTH_BURST and NGINX_CONN_PER_ADDR are set');

const sockets = [];
after(() => sockets.forEach((s) => s.close()));

test('an auth flood from one address gets 429 from nginx beyond the burst', T(60_000), async () => {
  const n = burst * 3;
  const replies = await Promise.all(Array.from({ length: n }, () =>
    http('POST', '/api/auth/login', { base, json: { email: uniqueEmail(), password: 'wrong-password' } })));
  const statuses = replies.map((r) => r.status);
  const limited = statuses.filter((s) => s === 429).length;
  assert.ok(limited >= n - burst - 5, `expected most of ${n} logins refused, got ${JSON.stringify(statuses)}`);
  assert.ok(statuses.every((s) => s === 429 || s === 401 || s === 503), JSON.stringify(statuses));
  assert.ok(statuses.includes(401), `the burst reaches the api: ${JSON.stringify(statuses)}`);
});

test('connections per address on the Socket.IO path are capped', T(60_000), async () => {
  const outcomes = [];
  for (let i = 0; i < perAddr + 4; i++) {
    const s = io(base, { transports: ['websocket'], reconnection: false, timeout: 5000 });
    sockets.push(s);
    s.on('connect', () => outcomes.push('ok'));
    s.on('connect_error', () => outcomes.push('refused'));
  }
  await waitFor(() => outcomes.length === perAddr + 4, 30_000, 'every connection attempt settled');
  const ok = outcomes.filter((o) => o === 'ok').length;
  assert.ok(ok >= 1 && ok <= perAddr, `1..${perAddr} connections per address, got ${ok}`);
  assert.ok(outcomes.includes('refused'), 'connections beyond the cap are refused');
});

test('the page and the api carry framing and sniffing protection', T(30_000), async () => {
  for (const path of ['/', '/app.js', '/api/boards']) {
    const res = await fetch(base + path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, path);
  }
});
