// Pixel decay: a placed pixel becomes empty ttl_ms after it was placed,
// unless it was overwritten first (which restarts its clock).

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, signupMany, join, place, assertAckOk, assertDecayShape, freshCell,
  randomColor, joinedClient, waitFor, snapshot, findPixel, sleepUntil, assertPlacementShape, DECAY_SLACK_MS,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

const isDecayOf = (p) => (u) => u.x === p.x && u.y === p.y && u.color === 0 && u.seq > p.seq;
const anyUpdateAfter = (p) => (u) => u.x === p.x && u.y === p.y && u.seq > p.seq;

describe('decay', () => {
  test('a placed pixel is broadcast as a colour-0 update after ttl_ms, with a higher seq, and leaves the snapshot', T(Math.max(60_000, 2 * cfg.ttlMs + 30_000)), async () => {
    const u = await signup();
    const placer = await joinedClient(u);
    const watcher = await joinedClient(null);
    const cell = freshCell();
    const p = assertAckOk(await place(placer.socket, cell.x, cell.y, randomColor())).update;
    assertPlacementShape(p);

    // Before it expires the pixel is on the board.
    const early = await snapshot();
    if (Date.now() < p.expires_at - 250) {
      const px = findPixel(early, p.x, p.y);
      assert.deepEqual(px, [p.x, p.y, p.color, p.placed_at, p.expires_at], 'the pixel must be listed before it expires');
    }

    const e = await watcher.log.waitFor(anyUpdateAfter(p), cfg.ttlMs + DECAY_SLACK_MS + 2_000, 'the decay update');
    const d = e.u;
    assertDecayShape(d);
    assert.deepEqual(d, { seq: d.seq, x: p.x, y: p.y, color: 0 });
    assert.ok(d.seq > p.seq, `decay seq ${d.seq} must be higher than the placement's ${p.seq}`);
    assert.ok(e.at >= p.expires_at - 50, `decay arrived ${p.expires_at - e.at} ms before expires_at`);
    assert.ok(e.at <= p.expires_at + DECAY_SLACK_MS, `decay arrived ${e.at - p.expires_at} ms after expires_at`);
    // Every joined client gets it, the placer included.
    assert.deepEqual(await placer.log.seq(d.seq), d);

    await waitFor(async () => {
      const snap = await snapshot();
      if (snap.seq < d.seq) return false; // a replica may lag briefly
      assert.equal(findPixel(snap, p.x, p.y), undefined, `decayed pixel ${p.x},${p.y} is still in the snapshot at seq ${snap.seq}`);
      return true;
    }, 5_000, 'a snapshot at or after the decay', 50);

    // A client catching up over the whole period gets the placement and its decay.
    const late = await connect();
    const j = assertAckOk(await join(late, { board: cfg.board, since: p.seq - 1 }));
    assert.ok(!j.resync, 'recent history must be held');
    assert.deepEqual(j.updates.find((x) => x.seq === p.seq), p);
    assert.deepEqual(j.updates.find((x) => x.seq === d.seq), d);
  });

  test('a pixel stays listed with its placement until ttl_ms has passed', T(Math.max(60_000, 2 * cfg.ttlMs + 30_000)), async () => {
    const u = await signup();
    const c = await joinedClient(u);
    const cell = freshCell();
    const p = assertAckOk(await place(c.socket, cell.x, cell.y, randomColor())).update;
    assertPlacementShape(p);
    // Poll the snapshot until shortly before expiry: the pixel must be there every time.
    let checks = 0;
    while (Date.now() < p.expires_at - 300) {
      const snap = await snapshot();
      if (Date.now() < p.expires_at - 50) {
        assert.deepEqual(findPixel(snap, p.x, p.y), [p.x, p.y, p.color, p.placed_at, p.expires_at], `pixel gone ${p.expires_at - Date.now()} ms before expiry`);
        checks++;
      }
      await sleepUntil(Math.min(Date.now() + 250, p.expires_at - 300));
    }
    assert.ok(checks > 0, 'no snapshot could be checked before expiry');
    assert.equal(c.log.find(anyUpdateAfter(p)), undefined, 'no update for the pixel before it expires');
  });

  test('overwriting a pixel restarts its clock: no removal when the first ttl ends, removal after the second', T(Math.max(60_000, 3 * cfg.ttlMs + 30_000)), async () => {
    assert.ok(cfg.ttlMs >= 1500, 'this test needs TTL_MS >= 1500 to tell the two expiries apart');
    const [u1, u2] = await signupMany(2);
    const c1 = await joinedClient(u1);
    const c2 = await joinedClient(u2);
    const watcher = await joinedClient(null);
    const cell = freshCell();
    const first = assertAckOk(await place(c1.socket, cell.x, cell.y, 2)).update;
    assertPlacementShape(first);

    await sleepUntil(first.placed_at + cfg.ttlMs / 2);
    const second = assertAckOk(await place(c2.socket, cell.x, cell.y, 3), 'overwrite after half the ttl').update;
    assertPlacementShape(second);
    assert.ok(second.seq > first.seq);
    assert.ok(second.expires_at > first.expires_at + cfg.ttlMs / 4, 'the overwrite must have a later expiry');
    const between = watcher.log.find((u) => u.x === cell.x && u.y === cell.y && u.seq > first.seq && u.seq < second.seq);
    assert.equal(between, undefined, `no update of the pixel between the placement and the overwrite: ${JSON.stringify(between?.u)}`);

    // Wait out the first pixel's ttl (plus sweep lag) but stop before the second one's.
    await sleepUntil(second.expires_at - 250);
    const premature = watcher.log.find(anyUpdateAfter(second));
    assert.equal(premature, undefined, `the overwritten pixel was removed at the first ttl: ${JSON.stringify(premature?.u)}`);
    const mid = await snapshot();
    assert.deepEqual(findPixel(mid, cell.x, cell.y), [cell.x, cell.y, 3, second.placed_at, second.expires_at], 'the snapshot shows the overwrite, not an empty pixel');

    const e = await watcher.log.waitFor(anyUpdateAfter(second), 250 + DECAY_SLACK_MS + 2_000, 'the decay after the second ttl');
    assertDecayShape(e.u);
    assert.ok(isDecayOf(second)(e.u));
    assert.ok(e.at >= second.expires_at - 50, `decay arrived ${second.expires_at - e.at} ms before the second expiry`);
    assert.ok(e.at <= second.expires_at + DECAY_SLACK_MS, `decay arrived ${e.at - second.expires_at} ms after the second expiry`);
    assert.equal(watcher.log.all((u) => u.x === cell.x && u.y === cell.y && u.color === 0).length, 1, 'exactly one decay for the pixel');
  });
});
