// A deployment on Redis Sentinel loses its primary: placements through the
// public front door stop, then resume once the sentinels have promoted the
// replica and the services have found it, and are seen live again.
//
//   PIXEL_URL         the front door (e.g. http://127.0.0.1:8080)
//   FAILOVER_CMD      a shell command that kills the Redis primary (e.g.
//                     `podman kill realtime-pixel_redis_1`)
//   RESUME_WITHIN_MS  the bound on placing again after the kill (default
//                     60000: sentinel's down-after, its election and the
//                     services' re-resolution, with a wide margin)
//
// Runs from scripts/test-ops.sh (compose-sentinel, and the chart's Sentinel
// run). Prints how long placements were refused; the bound only stops a
// deployment that never heals. The deployment's settings (cooldown, board
// size) are its own: every placement is a fresh player's.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import {
  cfg, signup, connect, join, pixelLog, assertAckOk, freshCell, randomColor, closeAll, sleep,
} from '../helpers.mjs';

const FAILOVER_CMD = process.env.FAILOVER_CMD ?? '';
const RESUME_WITHIN_MS = Number(process.env.RESUME_WITHIN_MS ?? 60_000);
assert.ok(FAILOVER_CMD, 'FAILOVER_CMD must say how to kill the Redis primary');
assert.ok(Number.isFinite(RESUME_WITHIN_MS) && RESUME_WITHIN_MS > 0, 'RESUME_WITHIN_MS must be a positive number');

after(closeAll);

// WebSocket only: a long-polling session needs the ingress's affinity
// cookie on every request, which a browser keeps and this client does not.
const WS = { transports: ['websocket'] };

/** One placement attempt with a short ack timeout: the ack, or the reason there was none. */
async function tryPlace(socket) {
  const { x, y } = freshCell();
  try {
    return await socket.timeout(3_000).emitWithAck('place', { board: cfg.board, x, y, color: randomColor() });
  } catch (err) {
    return { ok: false, error: `no ack (${err.message})` };
  }
}

/** A signed-in socket joined to the board, or null while that fails. */
async function joinedPlayer(user) {
  try {
    const socket = await connect({ token: user.access, timeoutMs: 3_000, ...WS });
    const res = await socket.timeout(3_000).emitWithAck('join', { board: cfg.board });
    if (res?.ok) return socket;
    socket.disconnect();
  } catch {
    // the gateway is not ready yet: try again
  }
  return null;
}

test('placements resume through the front door after the Redis primary is killed', { timeout: RESUME_WITHIN_MS + 60_000 }, async () => {
  // Every player signs up before the kill: each placement is a fresh
  // player's, so no cooldown is ever in the way.
  const players = [];
  for (let i = 0; i < 6; i++) players.push(await signup());
  const watcher = await connect(WS);
  const seen = pixelLog(watcher);
  assertAckOk(await join(watcher), 'watcher join');

  const first = await connect({ token: players[0].access, ...WS });
  assertAckOk(await join(first), 'player join');
  const before = assertAckOk(await tryPlace(first), 'placement before the kill');
  await seen.seq(before.update.seq);
  first.disconnect();

  execSync(FAILOVER_CMD, { stdio: 'inherit' });
  const killedAt = Date.now();
  console.log(`failover: primary killed at ${new Date(killedAt).toISOString()}`);

  let next = 1;
  let socket = null;
  let resumed = null;
  let last = null;
  let refused = 0;
  while (Date.now() - killedAt < RESUME_WITHIN_MS) {
    socket ??= await joinedPlayer(players[next]);
    if (socket) {
      last = await tryPlace(socket);
      if (last?.ok === true) {
        resumed = last;
        break;
      }
      refused++;
      if (last?.error === 'cooldown') {
        // A placement that timed out may still have been written: the next
        // player.
        socket.disconnect();
        socket = null;
        next++;
        assert.ok(next < players.length - 1, `players used up by cooldowns: ${JSON.stringify(last)}`);
      } else if (!socket.connected) {
        socket = null;
      }
    }
    await sleep(200);
  }
  const downMs = Date.now() - killedAt;
  assert.ok(resumed, `no placement acked within ${RESUME_WITHIN_MS} ms of the kill (${refused} refused, last: ${JSON.stringify(last)})`);
  assert.ok(resumed.update.seq > before.update.seq, `the placement acked before the kill (seq ${before.update.seq}) is gone: the new primary gave seq ${resumed.update.seq}`);
  console.log(`failover: placements resumed ${downMs} ms after the kill (${refused} attempts refused meanwhile)`);

  // Seen live again: by the watcher that stayed connected, or by one that
  // reconnected after a gateway lost its Redis connection, then placed anew.
  let live = seen;
  let watch = watcher;
  if (!watcher.connected) {
    watch = await connect(WS);
    live = pixelLog(watch);
    assertAckOk(await join(watch), 'watcher rejoin');
  }
  let update = resumed.update;
  if (live !== seen) {
    const again = await joinedPlayer(players[players.length - 1]);
    assert.ok(again, 'a player could not join after the failover');
    update = assertAckOk(await tryPlace(again), 'placement after the watcher rejoined').update;
  }
  await live.seq(update.seq);
  console.log(`failover: seq ${update.seq} seen live ${Date.now() - killedAt} ms after the kill, by ${live === seen ? 'the watcher that stayed connected' : 'a watcher that reconnected'}`);
});
