// Sequence numbers, `join` with `since`, catch-up after reconnecting, and
// consistency between snapshots and updates.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, signupMany, join, place, assertAckOk, assertUpdateShape,
  assertPlacementShape, assertDecayShape, assertMainMeta, freshCell, randomColor, joinedClient, pixelLog,
  waitFor, snapshot, pixelMap, applyUpdates, isInt, DECAY_SLACK_MS,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

/** Asserts `updates` are exactly the updates with seq since+1 ..= upto, in seq order. */
function assertContiguous(updates, since, upto, ctx) {
  assert.ok(Array.isArray(updates), `${ctx}: updates must be an array, got ${JSON.stringify(updates)}`);
  const seqs = updates.map((u) => u.seq);
  const expected = Array.from({ length: Math.max(0, upto - since) }, (_, i) => since + 1 + i);
  assert.deepEqual(seqs, expected, `${ctx}: expected every seq in (${since}, ${upto}] once, in order`);
  for (const u of updates) assertUpdateShape(u, `${ctx} update`);
}

/** Places on a fresh cell, retrying while the user's cooldown runs; resolves with the ok ack. */
async function placeWhenAllowed(socket, cell = freshCell(), color = randomColor()) {
  return waitFor(async () => {
    const res = await place(socket, cell.x, cell.y, color);
    if (res?.ok === false && res.error === 'cooldown') return false;
    return assertAckOk(res, 'place');
  }, cfg.cooldownMs + 5_000, 'the cooldown to pass', 100);
}

describe('join with since', () => {
  test('a join with since equal to the current seq acks no updates (empty or absent) and no resync', T(30_000), async () => {
    await waitFor(async () => {
      const probe = await connect();
      const s = await connect();
      const current = assertAckOk(await join(probe), 'probe join');
      const res = assertAckOk(await join(s, { board: cfg.board, since: current.seq }), 'join with since');
      assertMainMeta(res.board, 'join ack board');
      assert.ok(!res.resync, `unexpected resync: ${JSON.stringify(res)}`);
      assert.ok(isInt(res.seq) && res.seq >= current.seq, `ack seq ${res.seq} < ${current.seq}`);
      probe.disconnect();
      s.disconnect();
      if (res.seq === current.seq) {
        assert.ok(res.updates === undefined || (Array.isArray(res.updates) && res.updates.length === 0), `updates must be empty or absent: ${JSON.stringify(res.updates)}`);
        return true;
      }
      // The board moved on in between (a decay): then the updates are exactly the gap.
      assertContiguous(res.updates, current.seq, res.seq, 'join with a slightly old since');
      return false;
    }, 20_000, 'a join while the board is idle', 50);
  });

  test('a join with since greater than the current seq acks resync true', T(30_000), async () => {
    const s = await connect();
    const current = assertAckOk(await join(s));
    const s2 = await connect();
    const res = assertAckOk(await join(s2, { board: cfg.board, since: current.seq + 1_000_000 }));
    assert.equal(res.resync, true, `expected resync: ${JSON.stringify(res)}`);
    assertMainMeta(res.board, 'join ack board');
    assert.ok(isInt(res.seq) && res.seq >= current.seq);
  });

  test('a join with since 0 acks either resync or every update from seq 1 in order', T(60_000), async () => {
    const s = await connect();
    const res = assertAckOk(await join(s, { board: cfg.board, since: 0 }));
    if (res.resync === true) return;
    assertContiguous(res.updates ?? [], 0, res.seq, 'join since 0');
  });

  test('a join with since returns exactly the updates made since, in seq order', T(60_000), async () => {
    const users = await signupMany(3);
    const placers = [];
    for (const u of users) placers.push(await joinedClient(u));
    const watcher = await connect();
    const start = assertAckOk(await join(watcher));
    const placed = [];
    for (const p of placers) {
      const c = freshCell();
      placed.push(assertAckOk(await place(p.socket, c.x, c.y, randomColor())).update);
    }
    const late = await connect();
    const res = assertAckOk(await join(late, { board: cfg.board, since: start.seq }));
    assert.ok(!res.resync, 'recent history must be held');
    assertContiguous(res.updates, start.seq, res.seq, 'catch-up');
    assert.deepEqual(res.updates.filter((u) => u.color !== 0), placed, 'the placements in the catch-up must be exactly the acked updates');
  });
});

describe('catch-up after reconnecting', () => {
  test('a client that reconnects and joins with since gets exactly the missed updates, and snapshot plus updates equals the current snapshot', T(90_000), async () => {
    const N = 5;
    const users = await signupMany(N);
    const placers = [];
    for (const u of users) placers.push(await joinedClient(u));

    const snap0 = await snapshot();
    const a = await joinedClient(null);
    const S = a.joinAck.seq;
    assert.ok(S >= snap0.seq, `join seq ${S} is older than an earlier snapshot ${snap0.seq}`);
    a.socket.disconnect();

    const placed = [];
    for (const p of placers) {
      const c = freshCell();
      placed.push(assertAckOk(await place(p.socket, c.x, c.y, randomColor()), 'place while A is away').update);
    }
    for (let i = 1; i < placed.length; i++) assert.ok(placed[i].seq > placed[i - 1].seq, 'sequential placements get increasing seqs');
    assert.ok(placed[0].seq > S);

    const current = await snapshot();
    assert.ok(current.seq >= placed[placed.length - 1].seq, 'a snapshot taken after the placements must include them');

    // A comes back (possibly on another gateway) and catches up.
    const a2 = await connect();
    const live = pixelLog(a2);
    const back = assertAckOk(await join(a2, { board: cfg.board, since: S }), 'rejoin with since');
    assert.ok(!back.resync, 'recent history must be held, no resync');
    assert.ok(back.seq >= current.seq, `join seq ${back.seq} is older than an earlier snapshot ${current.seq}`);
    assertContiguous(back.updates, S, back.seq, 'catch-up');
    assert.deepEqual(back.updates.filter((u) => u.color !== 0), placed, 'the missed placements, exactly and in seq order');

    // snapshot at snap0.seq + updates with seq in (snap0.seq, current.seq] == snapshot at current.seq
    const b = await connect();
    const fromSnap = assertAckOk(await join(b, { board: cfg.board, since: snap0.seq }), 'join since the old snapshot');
    assert.ok(!fromSnap.resync, 'recent history must be held, no resync');
    assertContiguous(fromSnap.updates, snap0.seq, fromSnap.seq, 'updates since the old snapshot');
    const rebuilt = applyUpdates(pixelMap(snap0), fromSnap.updates.filter((u) => u.seq <= current.seq));
    assert.deepEqual(rebuilt, pixelMap(current), 'snapshot + updates must equal the current snapshot');

    // And A keeps receiving live updates after catching up, without a gap.
    const more = assertAckOk(await placeWhenAllowed(placers[0].socket), 'a placement after the catch-up');
    assert.deepEqual(await live.seq(more.update.seq), more.update);
  });
});

describe('sequence numbers', () => {
  test('seq strictly increases across placements and decays and the snapshot seq equals the latest update seq', T(Math.max(60_000, 4 * cfg.ttlMs + 30_000)), async () => {
    const [u1, u2, u3] = await signupMany(3);
    const watcher = await joinedClient(null);
    const c1 = await joinedClient(u1);
    const c2 = await joinedClient(u2);
    const c3 = await joinedClient(u3);

    // Concurrent placements by different users get distinct seqs.
    const cells = [freshCell(), freshCell(), freshCell()];
    const acks = await Promise.all([c1, c2, c3].map((c, i) => place(c.socket, cells[i].x, cells[i].y, randomColor())));
    const seqs = acks.map((r) => assertAckOk(r).update.seq);
    assert.equal(new Set(seqs).size, 3, `concurrent placements share a seq: ${seqs}`);

    // A placement, its decay, then the next placement of the same user.
    const p1 = acks[0].update;
    const d1 = (await watcher.log.waitFor((u) => u.x === p1.x && u.y === p1.y && u.seq > p1.seq, cfg.ttlMs + DECAY_SLACK_MS + 2_000, 'the first decay')).u;
    assertDecayShape(d1);
    assert.ok(d1.seq > p1.seq, 'a decay gets a later seq than its placement');
    const p2 = (await placeWhenAllowed(c1.socket)).update;
    assert.ok(p2.seq > d1.seq, `placement after a decay: ${p2.seq} <= ${d1.seq}`);
    const d2 = (await watcher.log.waitFor((u) => u.x === p2.x && u.y === p2.y && u.seq > p2.seq, cfg.ttlMs + DECAY_SLACK_MS + 2_000, 'the second decay')).u;
    assertDecayShape(d2);
    assert.ok(d2.seq > p2.seq);

    // Every seq the watcher saw is unique.
    const all = watcher.log.entries.map((e) => e.u.seq);
    assert.equal(new Set(all).size, all.length, 'a seq was delivered twice or reused');
    for (const e of watcher.log.entries) assertUpdateShape(e.u, 'watched update');

    // Once the board is quiet, the snapshot seq is the latest update seq; it is never behind an update already delivered.
    await waitFor(async () => {
      const seen = watcher.log.maxSeq();
      const snap = await snapshot();
      assert.ok(snap.seq >= seen, `snapshot seq ${snap.seq} is behind an already delivered update ${seen}`);
      return snap.seq === watcher.log.maxSeq();
    }, 2 * cfg.ttlMs + 10_000, 'the snapshot seq to equal the latest delivered seq', 100);
  });

  test('the join ack seq lies between the seqs of snapshots taken before and after it', T(30_000), async () => {
    const before = await snapshot();
    const s = await connect();
    const j = assertAckOk(await join(s));
    const after2 = await snapshot();
    assert.ok(before.seq <= j.seq && j.seq <= after2.seq, `${before.seq} <= ${j.seq} <= ${after2.seq} does not hold`);
  });

  test('a placement\'s ack and its broadcast agree and the placement appears in the next snapshot', T(60_000), async () => {
    const u = await signup();
    const c = await joinedClient(u);
    const cell = freshCell();
    const p = assertAckOk(await place(c.socket, cell.x, cell.y, randomColor())).update;
    assertPlacementShape(p);
    assert.deepEqual(await c.log.seq(p.seq), p);
    const snap = await snapshot();
    assert.ok(snap.seq >= p.seq);
    assert.deepEqual(pixelMap(snap).get(`${p.x},${p.y}`), [p.color, p.placed_at, p.expires_at]);
  });
});
