// Fault drills: processes of the cluster are stopped, restarted,
// frozen or killed while players place pixels through nginx, as an
// operator (or bad luck) would do it. Each drill proves:
//
// - zero loss: every placement acked `ok` is in the board's feed exactly as
//   acked, and the final snapshot is the drill's first snapshot plus the
//   feed (so an acked pixel is on the board unless a later seq overwrote it
//   or decayed it);
// - truthful acks: a placement refused with "nothing was changed"
//   (`unavailable`, `busy`, `cooldown`, `not_joined`) is not in the feed;
//   one whose ack said the outcome is unknown, or that got no ack (its
//   socket closed), is looked up in the feed, never assumed undone;
// - no client stranded: every client ends connected through nginx, joined,
//   with each connection's updates gap-free and in order, and a board equal
//   to the server's at the same seq.
//
// Players are distinct users (tokens signed with JWT_SECRET, no sign-up
// cost) on distinct loopback source addresses, so nginx's hash by address
// spreads them over the gateways. Runs against the cluster of
// scripts/test.sh's "cluster drills" step (COOLDOWN_MS, TTL_MS as set
// there; SHUTDOWN_READY_DELAY_MS > 0 so that a draining process's 503 can
// be seen).

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { cfg, T, closeAll, snapshot, waitFor, sleep } from '../helpers.mjs';
import { clusterOf, httpStatus, socketsOn, alive } from '../cluster-helpers.mjs';
import {
  PLACE_ACK_TIMEOUT_MS, player, Client, feedSince, describe, checkOutcomes, checkBoards, okSince,
} from '../players.mjs';

const C = clusterOf();
assert.ok(C, 'CLUSTER_DIR must point at a running cluster');
assert.ok(cfg.jwtSecret, 'JWT_SECRET must be the cluster\'s key');

const envMs = (name, def) => Number(process.env[name] ?? C.env[name] ?? def);
const READY_DELAY_MS = envMs('SHUTDOWN_READY_DELAY_MS', 0);
const DRAIN_MS = envMs('SHUTDOWN_DRAIN_MS', 10_000);
/** Redis' response timeout in the services (pixel-core RedisSettings). */
const REDIS_TIMEOUT_MS = 2_000;

afterEach(closeAll);
after(closeAll);

// ------------------------------------------------------------------- drill --

const everyService = () => [C.apiUrl, C.workerUrl, ...C.gatewayUrls];

async function allReady(timeoutMs, urls = everyService()) {
  for (const url of urls) {
    await waitFor(async () => (await httpStatus(`${url}/readyz`, 1000)) === 200, timeoutMs, `${url}/readyz = 200`, 100);
  }
}

/** Starts process `name` again unless it still runs (a drill that failed half-way). */
function restart(name) {
  if (!alive(C.pidOf(name))) C.run('start', name);
}


/**
 * Runs `fault` while `players` players (a third of them hurried) and a few
 * spectators place and watch through nginx, then checks zero loss, truthful acks and every
 * client's board. `fault` gets { clients, attempts, progress } where
 * `progress(what)` waits until placements sent from now on are acked ok.
 */
async function drill(t, tag, fault, { players = 24, spectators = 3 } = {}) {
  await allReady(30_000);
  const base = await snapshot();
  const users = Array.from({ length: players }, (_, i) => player(tag, i));
  const clients = [...users.map((u) => new Client(base, u)), ...Array.from({ length: spectators }, () => new Client(base, null))];
  await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client connected and joined');
  const attempts = [];
  let stopped = false;
  const loops = clients.filter((c) => c.user).map((c, i) => c.placeLoop(() => stopped, attempts, { hurried: i % 3 === 0 }));
  const progress = async (what) => {
    const from = Date.now();
    await waitFor(() => okSince(attempts, from) >= players, 60_000, `placements acked ok ${what}`, 50);
  };
  let result;
  try {
    await progress('before the fault');
    result = await fault({ clients, attempts, progress });
  } finally {
    stopped = true;
    const ended = await Promise.allSettled(loops);
    for (const e of ended) if (e.status === 'rejected') throw e.reason;
  }
  // Everyone is back, joined, and up to date with the board.
  await waitFor(() => clients.every((c) => c.joined), 30_000,
    `every client connected and joined (not: ${clients.filter((c) => !c.joined).map((c) => c.name).join(', ')})`);
  const fin = await snapshot();
  await waitFor(() => clients.every((c) => c.seq >= fin.seq), 30_000,
    `every client to reach seq ${fin.seq} (at: ${clients.map((c) => c.seq).join(',')})`);
  await Promise.all(clients.map((c) => c.queue));
  for (const c of clients) assert.deepEqual(c.errors, [], `${c.name}: updates in order without holes`);
  // Each client's board as it is now (decay goes on meanwhile).
  const views = clients.map((c) => ({ name: c.name, seq: c.seq, map: new Map(c.map), source: new Map(c.source), c }));
  const feed = await feedSince(base.seq, Math.max(fin.seq, ...views.map((v) => v.seq)));
  const tally = checkOutcomes(attempts, feed, users);
  checkBoards(base, feed, fin, views, attempts);
  assert.ok(tally.ok >= 2 * players, `the drill placed under load: ${JSON.stringify(tally)}`);
  t.diagnostic(`${tag}: ${JSON.stringify(tally)}, seqs ${base.seq + 1}..${fin.seq}, ` +
    `reconnections ${clients.reduce((n, c) => n + c.disconnects.length, 0)}, resyncs ${clients.reduce((n, c) => n + c.resyncs, 0)}`);
  return { clients, attempts, tally, result };
}

/**
 * SIGTERM to process `name` (serving ops routes at `url`), as an orchestrator
 * sends it: asserts /readyz answered 503 before it stopped answering, never
 * 200 again after that, and that the process exited on its own within the
 * drain deadline without leaving requests behind.
 */
async function terminate(name, url, { readyDelayMs = READY_DELAY_MS } = {}) {
  const pid = C.pidOf(name);
  assert.ok(alive(pid), `${name} runs before the drill`);
  const statuses = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const s = await httpStatus(`${url}/readyz`, 1000);
      if (statuses.at(-1) !== s) statuses.push(s);
      await sleep(10);
    }
  })();
  await waitFor(() => statuses.length > 0, 5000, `${name}'s first readiness answer`);
  const at = Date.now();
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !alive(pid), readyDelayMs + DRAIN_MS + 5000, `${name} to exit after SIGTERM`, 20);
    await waitFor(() => statuses.at(-1) === 0, 5000, `${name}'s port to stop answering`);
  } finally {
    watching = false;
    await watcher;
  }
  const took = Date.now() - at;
  assert.equal(statuses[0], 200, `${name} was ready before SIGTERM (readiness: ${statuses.join(' → ')})`);
  const gone = statuses.indexOf(0);
  if (readyDelayMs > 0) {
    assert.deepEqual(statuses.slice(0, 3), [200, 503, 0], `${name}'s /readyz: 200, then 503 while draining, then nothing (${statuses.join(' → ')})`);
  } else {
    assert.ok(gone > 0 && statuses.slice(gone).every((s) => s === 0), `${name}'s /readyz: ${statuses.join(' → ')}`);
  }
  assert.ok(!C.logOf(name).includes('drain deadline passed'), `${name} drained before its deadline`);
  return { took, statuses };
}

/** Whether nothing listens on 127.0.0.1:`port` any more (connection refused). */
function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * Waits until the `held` clients of the stopped gateway `name` saw their
 * socket close (a disconnect since `before`) and returns them.
 */
async function movedFrom(name, clients, before, held) {
  const moved = () => clients.filter((c, k) => c.disconnects.length > before[k]);
  assert.ok(held > 0, `${name} held sockets`);
  await waitFor(() => moved().length >= held, 10_000,
    `the ${held} clients of ${name} to see their sockets close (seen: ${moved().length})`);
  assert.equal(moved().length, held, `exactly the clients of ${name} were disconnected`);
  return moved();
}

// ------------------------------------------------------------------ drills --

test('SIGTERM to a gateway under load: readiness 503 first, its clients reconnect through nginx elsewhere, no acked placement lost, every ack truthful', T(180_000), async (t) => {
  assert.ok(READY_DELAY_MS > 0, 'run the cluster with SHUTDOWN_READY_DELAY_MS > 0 (scripts/test.sh does)');
  await drill(t, 'term', async ({ clients, attempts, progress }) => {
    const counts = await Promise.all(C.gatewayUrls.map(socketsOn));
    assert.ok(counts.filter((n) => n > 0).length >= 2, `nginx spread the clients over the gateways: ${counts}`);
    const i = counts.indexOf(Math.max(...counts));
    const name = C.gatewayNames[i];
    const before = clients.map((c) => c.disconnects.length);
    try {
      const { took } = await terminate(name, C.gatewayUrls[i]);
      // Its sockets' closes reach the clients through nginx a moment later.
      const moved = await movedFrom(name, clients, before, counts[i]);
      await waitFor(() => moved.every((c) => c.joined), 30_000, `the clients of ${name} to join again through nginx`);
      await progress(`after ${name} exited`);
      // The acks the drained gateway gave (before its clients left it) are
      // checked with the rest; say how many there were.
      const leftAt = new Map(moved.map((c) => [c, c.disconnects[before[clients.indexOf(c)]].at]));
      const drained = attempts.filter((a) => leftAt.has(a.client) && a.ack && a.ackedAt <= leftAt.get(a.client)).length;
      t.diagnostic(`${name}: exited ${took} ms after SIGTERM; ${moved.length} clients moved; ${drained} acks it gave are checked`);
    } finally {
      restart(name);
    }
  });
});

test('SIGTERM to the api and to a worker under load: readiness first, clean exit, placements and decay go on, nothing lost', T(120_000), async (t) => {
  await drill(t, 'apiw', async ({ progress }) => {
    try {
      const { took } = await terminate('api', C.apiUrl);
      t.diagnostic(`api exited ${took} ms after SIGTERM`);
    } finally {
      restart('api');
    }
    await progress('after the api restarted');
    try {
      // The worker has no readiness delay (nothing routes to it).
      const { took } = await terminate('worker', C.workerUrl, { readyDelayMs: 0 });
      t.diagnostic(`worker exited ${took} ms after SIGTERM`);
      await progress('while one worker is away');
    } finally {
      restart('worker');
    }
  });
});

test('SIGTERM to a gateway while Redis stalls: the placements it has in flight are answered before its sockets close', T(180_000), async (t) => {
  await drill(t, 'stall', async ({ clients, attempts, progress }) => {
    const counts = await Promise.all(C.gatewayUrls.map(socketsOn));
    const i = counts.indexOf(Math.max(...counts));
    const name = C.gatewayNames[i];
    const pid = C.pidOf(name);
    const redis = C.pidOf('redis');
    const before = clients.map((c) => c.disconnects.length);
    const frozenAt = Date.now();
    process.kill(redis, 'SIGSTOP');
    let termAt;
    try {
      // Placements pile up in the store's queue on every gateway.
      await waitFor(() => attempts.filter((a) => a.sentAt > frozenAt).length >= clients.length, 10_000, 'placements sent into the stall', 10);
      termAt = Date.now();
      process.kill(pid, 'SIGTERM');
      // Its listener is closed: it is draining now, with the stalled
      // placements in flight. Then the store answers again (well within
      // its response timeout).
      await waitFor(() => refused(C.gatewayPorts[i]), READY_DELAY_MS + 5000, `${name} to close its listener`, 10);
    } finally {
      process.kill(redis, 'SIGCONT');
    }
    t.diagnostic(`Redis stalled for ${Date.now() - frozenAt} ms`);
    try {
      await waitFor(() => !alive(pid), DRAIN_MS + 5000, `${name} to exit`, 20);
      assert.ok(!C.logOf(name).includes('drain deadline passed'), `${name} drained before its deadline`);
    } finally {
      restart(name);
    }
    const moved = await movedFrom(name, clients, before, counts[i]);
    const inFlight = attempts.filter((a) => moved.includes(a.client) && a.sentAt >= frozenAt && a.sentAt < termAt);
    assert.ok(inFlight.length > 0, `placements were in flight on ${name}`);
    const unanswered = inFlight.filter((a) => !a.ack);
    assert.deepEqual(unanswered.map(describe), [], `of ${inFlight.length} placements ${name} had in flight when it was told to stop, these got no ack (their sockets were closed under them)`);
    await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client joined again');
    await progress(`after ${name} restarted`);
  });
});

test('a rolling restart of every gateway under load: no acked placement lost, every client ends connected with the server\'s board', T(240_000), async (t) => {
  await drill(t, 'roll', async ({ clients, progress }) => {
    for (const [i, name] of C.gatewayNames.entries()) {
      try {
        await terminate(name, C.gatewayUrls[i]);
      } finally {
        restart(name);
      }
      await waitFor(() => clients.every((c) => c.joined), 30_000, `every client joined again after ${name} restarted`);
      await progress(`after ${name} restarted`);
    }
  });
});

test('Redis frozen (SIGSTOP) past the timeouts under load: acks stay truthful, nothing acked is lost, services recover', T(240_000), async (t) => {
  await drill(t, 'freeze', async ({ attempts, progress }) => {
    const pid = C.pidOf('redis');
    const frozenAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    let thawed = false;
    try {
      for (const url of C.gatewayUrls) {
        await waitFor(async () => (await httpStatus(`${url}/readyz`, 10_000)) === 503, 30_000, `${url}/readyz = 503 while Redis is frozen`, 100);
      }
      // Past Redis' response timeout, until every placement sent in the
      // freeze's first stretch has its ack: those waited out the timeout
      // and then the settle look-ups, the longest path an ack takes.
      const early = frozenAt + REDIS_TIMEOUT_MS;
      await waitFor(() => Date.now() > early &&
        attempts.filter((a) => a.sentAt <= early).every((a) => a.ack || a.lost),
      PLACE_ACK_TIMEOUT_MS, 'every placement sent early in the freeze to be answered', 100);
      t.diagnostic(`Redis frozen for ${Date.now() - frozenAt} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
      thawed = true;
    }
    assert.ok(thawed);
    await allReady(30_000);
    await progress('after Redis resumed');
  });
});

test('Redis killed (kill -9) under load and restarted: no acked placement lost (AOF, appendfsync always), acks truthful', T(180_000), async (t) => {
  await drill(t, 'kill9', async ({ attempts, progress }) => {
    const pid = C.pidOf('redis');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    try {
      await waitFor(() => !alive(pid), 10_000, 'Redis to be gone');
      for (const url of C.gatewayUrls) {
        await waitFor(async () => (await httpStatus(`${url}/readyz`, 5000)) === 503, 30_000, `${url}/readyz = 503 while Redis is down`, 50);
      }
      // Down until placements meet the outage (not only the restart).
      await waitFor(() => attempts.some((a) => a.sentAt >= killedAt && a.ack?.ok === false), 30_000,
        'a placement refused while Redis is down', 20);
    } finally {
      restart('redis');
    }
    await allReady(30_000);
    await progress('after Redis restarted');
  });
});
