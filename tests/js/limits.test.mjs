// Per-socket event rate limiting and the websocket frame size limit.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, join, place, rawAck, ack, assertAckOk, assertAckError, freshCell,
  randomColor, joinedClient, waitFor, disconnected,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

describe('rate limiting', () => {
  test('flooding one socket with events yields rate_limited acks, every event is still acked, and another client is served meanwhile', T(90_000), async () => {
    const N = Math.max(300, cfg.eventBurst * 3);
    const u = await signup();
    const flooder = await connect();
    const other = await joinedClient(u);

    const t0 = Date.now();
    const flood = Promise.all(Array.from({ length: N }, () => rawAck(flooder, 'join', { board: cfg.board })));
    const served = (async () => {
      const c = freshCell();
      const res = await place(other.socket, c.x, c.y, randomColor());
      const j = await ack(other.socket, 'join', { board: cfg.board });
      return { res, j };
    })();
    const [acks, otherResult] = await Promise.all([flood, served]);
    const elapsedS = (Date.now() - t0) / 1000;

    assert.equal(acks.length, N);
    let ok = 0;
    let limited = 0;
    for (const [i, a] of acks.entries()) {
      if (a?.ok === true) ok++;
      else {
        assertAckError(a, 'rate_limited', `flood event ${i}`);
        limited++;
      }
    }
    assert.ok(limited >= 1, `no rate_limited ack among ${N} events sent at once`);
    const allowance = cfg.eventBurst + cfg.eventRate * (elapsedS + 1);
    assert.ok(ok <= allowance, `${ok} of ${N} events were served in ${elapsedS.toFixed(2)} s, more than burst + rate allows (~${Math.floor(allowance)})`);

    assertAckOk(otherResult.res, 'the other client\'s place during the flood');
    assertAckOk(otherResult.j, 'the other client\'s join during the flood');
  });

  test('a rate-limited socket is served again once its bucket refills', T(60_000), async () => {
    const flooder = await connect();
    const N = Math.max(200, cfg.eventBurst * 3);
    const acks = await Promise.all(Array.from({ length: N }, () => rawAck(flooder, 'join', { board: cfg.board })));
    assert.ok(acks.some((a) => a?.ok === false && a.error === 'rate_limited'), 'the flood must be rate limited');
    assert.ok(flooder.connected, 'rate limiting must not disconnect the socket');
    const res = await waitFor(async () => {
      const a = await rawAck(flooder, 'join', { board: cfg.board });
      if (a?.ok === false && a.error === 'rate_limited') return false;
      return assertAckOk(a, 'join after the refill');
    }, Math.ceil(5000 + 2000 / Math.max(cfg.eventRate, 0.1)), 'the bucket to refill', 200);
    assert.ok(res.ok);
  });
});

describe('payload size', () => {
  test('a websocket frame bigger than the payload limit closes that connection and other clients keep being served', T(60_000), async () => {
    const u = await signup();
    const bystander = await joinedClient(u, { transports: ['websocket'] });
    const big = await connect({ transports: ['websocket'] });
    assertAckOk(await join(big), 'join before the oversized frame');
    const gone = disconnected(big, 10_000);
    const size = Math.max(100 * 1024, cfg.maxPayloadBytes * 4);
    big.emit('join', 'x'.repeat(size));
    const reason = await gone;
    assert.ok(['transport close', 'transport error', 'io server disconnect', 'parse error'].includes(reason), `unexpected disconnect reason ${reason}`);

    // The client that was already connected is still served.
    const c = freshCell();
    assertAckOk(await place(bystander.socket, c.x, c.y, randomColor()), 'bystander place');
    assertAckOk(await join(bystander.socket), 'bystander join');
    // So is a new client.
    const fresh = await joinedClient(null, { transports: ['websocket'] });
    assert.ok(fresh.socket.connected);
  });

  test('a payload well under the limit is answered, not dropped: an over-long board id acks invalid_input', T(30_000), async () => {
    const s = await connect({ transports: ['websocket'] });
    const size = Math.max(200, Math.floor(cfg.maxPayloadBytes / 4));
    assertAckError(await ack(s, 'join', { board: 'y'.repeat(size) }), 'invalid_input', `board id of ${size} characters`);
    assert.ok(s.connected, 'the socket stays connected');
    assertAckOk(await join(s), 'join afterwards');
  });
});
