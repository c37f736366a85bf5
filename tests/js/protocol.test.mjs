// Wire-level checks with a raw Engine.IO v4 / Socket.IO v5 websocket client
// (as load tools and non-JS clients speak it), without the official
// client's buffering and timing.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { cfg, T, signup, closeAll } from './helpers.mjs';

const rawSockets = new Set();
function closeRaw() {
  for (const ws of rawSockets) ws.terminate();
  rawSockets.clear();
}
afterEach(() => {
  closeRaw();
  closeAll();
});
after(closeRaw);

const wsUrl = () => `${cfg.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;

/**
 * One raw session: Engine.IO open → Socket.IO CONNECT (with `auth`) → on the
 * CONNECT ack, emit `["join", {board}]` with ack id 0 at once. Resolves with
 * { open, connect, ack } (the parsed packets) or { timeout: stage } after
 * `timeoutMs`.
 */
function rawJoinSession(auth, timeoutMs) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl());
    rawSockets.add(ws);
    const got = { stage: 'open' };
    const done = (v) => {
      clearTimeout(timer);
      ws.terminate();
      rawSockets.delete(ws);
      resolve(v);
    };
    const timer = setTimeout(() => done({ timeout: got.stage, ...got }), timeoutMs);
    ws.on('error', (err) => done({ error: err.message, ...got }));
    ws.on('close', () => done({ closed: got.stage, ...got }));
    ws.on('message', (data) => {
      const m = data.toString();
      if (m === '2') return ws.send('3'); // ping → pong
      if (got.stage === 'open' && m.startsWith('0')) {
        got.open = JSON.parse(m.slice(1));
        got.stage = 'connect';
        ws.send(auth ? `40${JSON.stringify(auth)}` : '40');
      } else if (got.stage === 'connect' && m.startsWith('40')) {
        got.connect = m.length > 2 ? JSON.parse(m.slice(2)) : {};
        got.stage = 'ack';
        ws.send(`420${JSON.stringify(['join', { board: cfg.board }])}`);
      } else if (got.stage === 'connect' && m.startsWith('44')) {
        done({ connectError: JSON.parse(m.slice(2)), ...got });
      } else if (got.stage === 'ack' && m.startsWith('430')) {
        got.ack = JSON.parse(m.slice(3));
        done(got);
      }
      // Anything else (e.g. a pixels broadcast) is ignored.
    });
  });
}

describe('raw Socket.IO v5 over websocket', () => {
  test('the Engine.IO open packet carries sid, pingInterval and pingTimeout and the CONNECT ack carries a sid', T(30_000), async () => {
    const r = await rawJoinSession(null, 5_000);
    assert.ok(r.open, `no open packet: ${JSON.stringify(r)}`);
    assert.equal(typeof r.open.sid, 'string');
    assert.ok(Number.isSafeInteger(r.open.pingInterval) && r.open.pingInterval > 0);
    assert.ok(Number.isSafeInteger(r.open.pingTimeout) && r.open.pingTimeout > 0);
    assert.ok(r.connect && typeof r.connect.sid === 'string', `no CONNECT ack with a sid: ${JSON.stringify(r)}`);
    assert.ok(Array.isArray(r.ack) && r.ack[0]?.ok === true, `join not acked ok: ${JSON.stringify(r)}`);
  });

  test('a raw CONNECT with a garbage token gets a CONNECT_ERROR packet with message unauthorized', T(30_000), async () => {
    const r = await rawJoinSession({ token: 'garbage' }, 5_000);
    assert.deepEqual(r.connectError, { message: 'unauthorized' }, JSON.stringify(r));
  });

  test('an event emitted immediately after the CONNECT ack is always acked (no event lost while the connection is being set up)', T(120_000), async () => {
    const u = await signup();
    const N = 150;
    for (let i = 0; i < N; i++) {
      const r = await rawJoinSession(i % 2 ? { token: u.access } : null, 3_000);
      assert.ok(r.ack, `session ${i + 1}/${N}: join emitted right after the CONNECT ack got no ack (${JSON.stringify(r)})`);
      assert.equal(r.ack[0]?.ok, true, `session ${i + 1}/${N}: ${JSON.stringify(r.ack)}`);
    }
  });
});
