// The decay of a placement that front-door.test.mjs made on a deployment
// that kept running, with the deployment's own TTL (compose ships 10
// minutes), checked through its front door once that time has come:
//
// - before its expires_at (when this runs that early) the snapshot still
//   lists the pixel as placed;
// - a watcher joining with `since` = the placement's seq sees the pixel's
//   removal (`color: 0`, a later seq): live, no earlier than expires_at and
//   within DECAY_MARGIN_MS after it, or in its join ack when this runs
//   after expires_at;
// - then the snapshot no longer lists it and the board's updates feed
//   holds the removal.
//
//   PIXEL_URL        the front door
//   PLACEMENT_FILE   what front-door.test.mjs wrote: {"board", "update"}
//   DECAY_MARGIN_MS  how long after expires_at the removal may come
//                    (default 30000; the worker sweeps every 250 ms)
//
// The wait is bounded by expires_at + the margin, never by a fixed sleep.
// Run by scripts/test-ops.sh compose-decay.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openSocket, closeAll, http, waitFor } from '../helpers.mjs';

const FRONT = (process.env.PIXEL_URL ?? '').replace(/\/+$/, '');
assert.ok(FRONT, 'PIXEL_URL must name the deployment\'s front door');
assert.ok(process.env.PLACEMENT_FILE, 'PLACEMENT_FILE must name the placement front-door.test.mjs wrote');
const { board, update: placed } = JSON.parse(readFileSync(process.env.PLACEMENT_FILE, 'utf8'));
const MARGIN_MS = Number(process.env.DECAY_MARGIN_MS ?? 30_000);
assert.ok(Number.isFinite(MARGIN_MS) && MARGIN_MS >= 0, 'DECAY_MARGIN_MS must be a number of milliseconds');
// One clock for the deployment and this client (the same host); the
// worker removes a pixel once its expires_at has passed, and a `pixels`
// event reaches a watcher a few milliseconds after that.
const CLOCK_SLACK_MS = 1_000;

after(closeAll);

const isRemoval = (u) => u.x === placed.x && u.y === placed.y && u.color === 0 && u.seq > placed.seq;

async function listed() {
  const snap = await http('GET', `/api/boards/${board}/pixels`, { base: FRONT });
  assert.equal(snap.status, 200, `snapshot: ${snap.status} ${snap.text.slice(0, 200)}`);
  return snap.json.pixels.find(([x, y]) => x === placed.x && y === placed.y);
}

test(`the placement at (${placed.x}, ${placed.y}) decays at its expires_at, seen by a watcher and in the snapshot and the feed`, async () => {
  assert.equal(placed.expires_at - placed.placed_at > 0, true, `the placement has an expiry: ${JSON.stringify(placed)}`);
  if (Date.now() < placed.expires_at - CLOCK_SLACK_MS) {
    const cell = await listed();
    assert.deepEqual(cell, [placed.x, placed.y, placed.color, placed.placed_at, placed.expires_at],
      `before its expires_at (${new Date(placed.expires_at).toISOString()}) the pixel is listed as placed`);
  }

  const watcher = openSocket({ url: FRONT, transports: ['websocket'], timeoutMs: 20_000 });
  const live = [];
  watcher.on('pixels', (ev) => {
    const at = Date.now();
    for (const u of ev?.updates ?? []) live.push({ u, at });
  });
  const joinedAt = Date.now();
  const joined = await watcher.timeout(20_000).emitWithAck('join', { board, since: placed.seq });
  assert.equal(joined.ok, true, `join: ${JSON.stringify(joined)}`);
  assert.notEqual(joined.resync, true,
    `the board's history no longer reaches seq ${placed.seq}: the check came too long after the decay`);

  const inAck = (joined.updates ?? []).find(isRemoval);
  let removal;
  if (inAck) {
    assert.ok(joinedAt >= placed.expires_at - CLOCK_SLACK_MS,
      `the pixel was removed before its expires_at ${placed.expires_at} (joined at ${joinedAt}): ${JSON.stringify(inAck)}`);
    removal = inAck;
  } else {
    const bound = Math.max(0, placed.expires_at + MARGIN_MS - Date.now());
    const seen = await waitFor(() => live.find(({ u }) => isRemoval(u)), bound,
      `the removal of (${placed.x}, ${placed.y}) by ${new Date(placed.expires_at + MARGIN_MS).toISOString()}`, 100);
    assert.ok(seen.at >= placed.expires_at - CLOCK_SLACK_MS,
      `the removal arrived at ${seen.at}, before the pixel's expires_at ${placed.expires_at}`);
    removal = seen.u;
  }
  assert.deepEqual(removal, { seq: removal.seq, x: placed.x, y: placed.y, color: 0 }, 'a decay update');
  watcher.disconnect();

  assert.equal(await listed(), undefined, 'after its removal the snapshot no longer lists the pixel');
  const feed = await http('GET', `/api/boards/${board}/updates?since=${placed.seq}&limit=10000`, { base: FRONT });
  assert.equal(feed.status, 200, `updates: ${feed.status} ${feed.text.slice(0, 200)}`);
  assert.deepEqual(feed.json.updates.find(isRemoval), removal, 'the board\'s updates feed holds the removal');
});
