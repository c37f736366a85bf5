// Placing pixels, the cooldown, and `pixels` broadcasts to joined clients.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, signupMany, join, leave, place, assertAckOk, assertAckError,
  assertMainMeta, assertPlacementShape, freshCell, randomColor, pixelLog, joinedClient, waitFor,
  DELIVERY_TIMEOUT_MS, isInt,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

/**
 * Waits until every update broadcast so far has reached `log`'s socket,
 * which must have joined the board: another user places a marker pixel and
 * the socket sees it. A socket's deliveries keep their emit order (one
 * gateway's queue, or one Redis pub/sub channel between two gateways), so
 * anything emitted to it before the marker has arrived by then.
 */
async function barrier(log) {
  const marker = await joinedClient(await signup());
  const c = freshCell();
  const m = assertAckOk(await place(marker.socket, c.x, c.y, 1), 'marker placement');
  await log.seq(m.update.seq);
}

/** Asserts that `socket` never got update `seq`: (re)joins it, then waits on a barrier. */
async function assertNotDelivered(socket, log, seq, ctx) {
  assertAckOk(await join(socket), `${ctx}: join for the barrier`);
  await barrier(log);
  assert.equal(log.find((u) => u.seq === seq), undefined, `${ctx}: update ${seq} must not be delivered`);
}

describe('join', () => {
  test('a join without since acks ok with the board meta and seq and no updates', T(30_000), async () => {
    const s = await connect();
    const res = assertAckOk(await join(s));
    assertMainMeta(res.board, 'join ack board');
    assert.ok(isInt(res.seq) && res.seq >= 0, `seq: ${JSON.stringify(res.seq)}`);
    assert.ok(!('updates' in res), `a join without since must not carry updates: ${JSON.stringify(Object.keys(res))}`);
    assert.ok(!res.resync, 'a join without since must not ask for a resync');
  });

  test('joining the same board twice is accepted and each update is still delivered once', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    const log = pixelLog(s);
    assertAckOk(await join(s), 'first join');
    assertAckOk(await join(s), 'second join');
    const { x, y } = freshCell();
    const res = assertAckOk(await place(s, x, y, randomColor()));
    await log.seq(res.update.seq);
    await barrier(log); // a duplicate would have arrived before the marker
    assert.equal(log.all((upd) => upd.seq === res.update.seq).length, 1, 'update delivered more than once');
  });
});

describe('place', () => {
  test('a placement acks ok with the full update and cooldown_until', T(60_000), async () => {
    const u = await signup();
    const { socket } = await joinedClient(u);
    const { x, y } = freshCell();
    const color = randomColor();
    const sentAt = Date.now();
    const res = assertAckOk(await place(socket, x, y, color));
    const ackedAt = Date.now();
    assertPlacementShape(res.update, 'ack update');
    assert.equal(res.update.x, x);
    assert.equal(res.update.y, y);
    assert.equal(res.update.color, color);
    assert.equal(res.update.by, u.name, 'by must be the placer\'s name');
    assert.ok(res.update.placed_at >= sentAt - 1000 && res.update.placed_at <= ackedAt + 1000, `placed_at ${res.update.placed_at} is not the time of placement (${sentAt}..${ackedAt})`);
    assert.ok(isInt(res.cooldown_until), 'cooldown_until must be an integer (epoch ms)');
    const cd = res.cooldown_until - res.update.placed_at;
    assert.ok(cd >= cfg.cooldownMs - 5 && cd <= cfg.cooldownMs + 1000, `cooldown_until - placed_at = ${cd}, expected about ${cfg.cooldownMs}`);
  });

  test('a second placement within the cooldown acks cooldown with retry_after_ms, and succeeds once the cooldown has passed', T(60_000), async () => {
    const u = await signup();
    const { socket } = await joinedClient(u);
    const a = freshCell();
    const first = assertAckOk(await place(socket, a.x, a.y, 1));
    const b = freshCell();
    const sentAt = Date.now();
    const cd = await place(socket, b.x, b.y, 2);
    assert.ok(sentAt < first.cooldown_until - 20, 'test too slow: the cooldown already ended');
    assertAckError(cd, 'cooldown', 'immediate second placement');
    assert.ok(isInt(cd.retry_after_ms), `retry_after_ms must be an integer: ${JSON.stringify(cd)}`);
    assert.ok(cd.retry_after_ms > 0 && cd.retry_after_ms <= cfg.cooldownMs, `retry_after_ms ${cd.retry_after_ms} not in (0, ${cfg.cooldownMs}]`);
    const expectedRetry = first.cooldown_until - sentAt;
    assert.ok(Math.abs(cd.retry_after_ms - expectedRetry) <= 250, `retry_after_ms ${cd.retry_after_ms} does not match cooldown_until (expected ~${expectedRetry})`);

    // Keep trying: every attempt before cooldown_until is refused, the first
    // one after it is accepted.
    const ok = await waitFor(async () => {
      const at = Date.now();
      const res = await place(socket, b.x, b.y, 2);
      if (res?.ok) {
        assert.ok(Date.now() >= first.cooldown_until - 5, `placement accepted at ${at}, before cooldown_until ${first.cooldown_until}`);
        return res;
      }
      assertAckError(res, 'cooldown', 'retry during cooldown');
      assert.ok(at < first.cooldown_until + 250, `still in cooldown ${at - first.cooldown_until} ms after cooldown_until`);
      return false;
    }, cfg.cooldownMs + 5_000, 'the cooldown to end', 100);
    assert.ok(ok.update.seq > first.update.seq);
  });

  test('the cooldown is per user across sockets', T(60_000), async () => {
    const u = await signup();
    const one = await joinedClient(u);
    const two = await joinedClient(u);
    const a = freshCell();
    const first = assertAckOk(await place(one.socket, a.x, a.y, 1));
    const b = freshCell();
    const sentAt = Date.now();
    const res = await place(two.socket, b.x, b.y, 1);
    assert.ok(sentAt < first.cooldown_until - 20, 'test too slow: the cooldown already ended');
    assertAckError(res, 'cooldown', 'placement from a second socket of the same user');
    assert.ok(res.retry_after_ms > 0);
  });

  test('the cooldown of one user does not hold back another user', T(60_000), async () => {
    const [u1, u2] = await signupMany(2);
    const c1 = await joinedClient(u1);
    const c2 = await joinedClient(u2);
    const a = freshCell();
    const b = freshCell();
    assertAckOk(await place(c1.socket, a.x, a.y, 1));
    assertAckOk(await place(c2.socket, b.x, b.y, 1), 'another user is not in cooldown');
  });

  test('the cooldown is not reset by reconnecting', T(60_000), async () => {
    const u = await signup();
    const c1 = await joinedClient(u);
    const a = freshCell();
    const first = assertAckOk(await place(c1.socket, a.x, a.y, 1));
    c1.socket.disconnect();
    const c2 = await joinedClient(u);
    const b = freshCell();
    const sentAt = Date.now();
    const res = await place(c2.socket, b.x, b.y, 1);
    assert.ok(sentAt < first.cooldown_until - 20, 'test too slow: the cooldown already ended');
    assertAckError(res, 'cooldown', 'placement right after reconnecting');
  });

  test('overwriting a pixel placed by someone else is allowed', T(60_000), async () => {
    const [u1, u2] = await signupMany(2);
    const c1 = await joinedClient(u1);
    const c2 = await joinedClient(u2);
    const { x, y } = freshCell();
    const a = assertAckOk(await place(c1.socket, x, y, 1));
    const b = assertAckOk(await place(c2.socket, x, y, 2));
    assert.ok(b.update.seq > a.update.seq);
    assert.equal(b.update.by, u2.name);
  });
});

describe('broadcast', () => {
  test('two joined clients each see the other\'s placement in a pixels event with by = the placer\'s name', T(60_000), async () => {
    const [ua, ub] = await signupMany(2);
    const a = await joinedClient(ua);
    const b = await joinedClient(ub);
    const ca = freshCell();
    const cb = freshCell();
    const pa = assertAckOk(await place(a.socket, ca.x, ca.y, 5));
    const pb = assertAckOk(await place(b.socket, cb.x, cb.y, 9));

    const seenByB = await b.log.seq(pa.update.seq);
    assert.deepEqual(seenByB, pa.update, 'B must receive exactly A\'s update');
    assert.equal(seenByB.by, ua.name);
    const seenByA = await a.log.seq(pb.update.seq);
    assert.deepEqual(seenByA, pb.update, 'A must receive exactly B\'s update');
    assert.equal(seenByA.by, ub.name);
    // Everyone who joined gets the event, the placer included.
    assert.deepEqual(await a.log.seq(pa.update.seq), pa.update, 'A receives its own placement');
    assert.deepEqual(await b.log.seq(pb.update.seq), pb.update, 'B receives its own placement');
  });

  test('pixels events carry the board id and an array of well-formed updates', T(60_000), async () => {
    const [ua, ub] = await signupMany(2);
    const watcher = await joinedClient(null);
    const a = await joinedClient(ua);
    const ca = freshCell();
    const pa = assertAckOk(await place(a.socket, ca.x, ca.y, 3));
    await watcher.log.seq(pa.update.seq);
    const b = await joinedClient(ub);
    const cb = freshCell();
    const pb = assertAckOk(await place(b.socket, cb.x, cb.y, 4));
    await watcher.log.seq(pb.update.seq);
    assert.ok(watcher.log.events.length > 0);
    for (const { ev } of watcher.log.events) {
      assert.equal(ev.board, cfg.board, `pixels event board: ${JSON.stringify(ev)}`);
      assert.ok(Array.isArray(ev.updates) && ev.updates.length > 0, `pixels event updates must be a non-empty array: ${JSON.stringify(ev)}`);
      for (const upd of ev.updates) {
        if (upd.color === 0) {
          assert.deepEqual(Object.keys(upd).sort(), ['color', 'seq', 'x', 'y'], `decay update shape: ${JSON.stringify(upd)}`);
        } else {
          assertPlacementShape(upd, 'broadcast placement');
        }
      }
    }
  });

  test('a spectator that joined receives placements', T(60_000), async () => {
    const u = await signup();
    const spectator = await joinedClient(null);
    const placer = await joinedClient(u);
    const c = freshCell();
    const p = assertAckOk(await place(placer.socket, c.x, c.y, 11));
    assert.deepEqual(await spectator.log.seq(p.update.seq), p.update);
  });

  test('a socket that has not joined the board receives no pixels events', T(60_000), async () => {
    const u = await signup();
    const outsider = await connect();
    const outsiderLog = pixelLog(outsider);
    const placer = await joinedClient(u);
    const c = freshCell();
    const p = assertAckOk(await place(placer.socket, c.x, c.y, 12));
    await placer.log.seq(p.update.seq);
    // Whatever its gateway sent the outsider before it joined arrives before
    // the join ack; the barrier then covers deliveries from other gateways.
    assertAckOk(await join(outsider), 'join after the placement');
    const early = outsiderLog.events.map((e) => e.ev);
    assert.deepEqual(early, [], `a socket that never joined got pixels events: ${JSON.stringify(early)}`);
    await barrier(outsiderLog);
    assert.equal(outsiderLog.find((u) => u.seq === p.update.seq), undefined, 'the placement must not reach a socket that had not joined');
  });

  test('after leave a socket no longer receives the board\'s updates', T(60_000), async () => {
    const u = await signup();
    const leaver = await joinedClient(null);
    const placer = await joinedClient(u);
    assertAckOk(await leave(leaver.socket), 'leave');
    const c = freshCell();
    const p = assertAckOk(await place(placer.socket, c.x, c.y, 13));
    await placer.log.seq(p.update.seq);
    await assertNotDelivered(leaver.socket, leaver.log, p.update.seq, 'socket that left');
  });

  test('a socket that re-joins after leave receives updates again', T(60_000), async () => {
    const u = await signup();
    const watcher = await joinedClient(null);
    const placer = await joinedClient(u);
    assertAckOk(await leave(watcher.socket));
    assertAckOk(await join(watcher.socket), 're-join');
    const c = freshCell();
    const p = assertAckOk(await place(placer.socket, c.x, c.y, 14));
    assert.deepEqual(await watcher.log.seq(p.update.seq, DELIVERY_TIMEOUT_MS), p.update);
  });
});
