// The Sentinel drill: the cluster of `scripts/cluster.sh` with
// REDIS_TOPOLOGY=sentinel (a primary, a replica, three sentinels; api,
// three gateways and the worker on `redis+sentinel://`, nginx in front)
// loses its Redis primary to `kill -9` while players place pixels through
// nginx and watchers on every gateway follow the board. It measures, per
// service path, the time from the kill to the first write that succeeded
// again — a placement on each gateway, a sign-up and a login on the api, a
// decay removal by the worker — and holds each to the 5 s the project
// promises for a failover. Then the old primary is started again (it must
// come back as a replica), one sentinel is killed, and the replica is
// killed; placements go on through all of it.
//
// REDIS_MIN_REPLICAS_ACKED (default 0, as the services take it) decides what
// a failover may lose:
// - 0: replication is asynchronous; placements acked in the last moments
//   before the kill may be missing from the promoted replica. Those, and
//   only those, may be lost; a watcher that held them gets `resync`, and
//   every watcher ends with the server's exact board.
// - N ≥ 1: an ack waited for N replicas, so no acked placement is missing
//   afterwards; while fewer replicas run, placements are refused
//   `unavailable` quickly (never left hanging). The old primary is started
//   again right after the promotion so that the new primary has a replica.
//
// Every watcher ends with every seq once and in order (or a `resync` and
// then the server's board), every process of the cluster but the ones the
// drill kills still runs, and the measured times are printed as a JSON
// line (`sentinel drill: {...}`) for docs/reliability.md.

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  cfg, T, http, closeAll, snapshot, waitFor, sleep, uniqueEmail, PASSWORD, login,
} from '../helpers.mjs';
import { clusterOf, httpStatus, socketsOn, alive } from '../cluster-helpers.mjs';
import {
  player, Client, feedSince, describe, checkOutcomes, checkBoards, okSince,
} from '../players.mjs';

const C = clusterOf();
assert.ok(C, 'CLUSTER_DIR must point at a running cluster');
assert.equal(C.env.REDIS_TOPOLOGY, 'sentinel', 'the cluster runs with REDIS_TOPOLOGY=sentinel');
assert.ok(cfg.jwtSecret, 'JWT_SECRET must be the cluster\'s key');

/** Placement acks wait for this many replicas (the services' setting). */
const MIN_REPLICAS = Number(process.env.REDIS_MIN_REPLICAS_ACKED ?? C.env.REDIS_MIN_REPLICAS_ACKED ?? 0);
assert.ok(Number.isSafeInteger(MIN_REPLICAS) && MIN_REPLICAS >= 0, `REDIS_MIN_REPLICAS_ACKED must be a non-negative integer, got ${MIN_REPLICAS}`);
/** Every service writes again within this long after the primary's death. */
const FAILOVER_BOUND_MS = 5_000;
/** With too few replicas, a placement is refused within this long. */
const REFUSE_BOUND_MS = 2_000;
const MASTER = 'pixel';
const SENTINEL_PORTS = C.env.SENTINEL_PORTS.split(' ').filter(Boolean).map(Number);
const DATA_NODES = { redis: Number(C.env.REDIS_PORT), 'redis-replica': Number(C.env.REDIS_REPLICA_PORT) };

const run = promisify(execFile);

afterEach(closeAll);
after(closeAll);

// ------------------------------------------------------------------ redis --

/**
 * `redis-cli -p PORT ARGS...`'s output, '' when the node does not answer.
 * Asynchronous: the clients' acks and the measurements go on meanwhile.
 */
async function cli(port, ...args) {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 3000 });
    return stdout.trim();
  } catch {
    return '';
  }
}

/** `master`, `slave`, or '' when the node does not answer. */
const roleOf = async (port) => (await cli(port, 'role')).split('\n')[0] ?? '';

/** The data node the sentinels name as primary (its cluster.sh name), or null. */
async function sentinelPrimary() {
  for (const p of SENTINEL_PORTS) {
    const [, port] = (await cli(p, 'sentinel', 'get-master-addr-by-name', MASTER)).split('\n');
    const name = Object.keys(DATA_NODES).find((n) => DATA_NODES[n] === Number(port));
    if (name) return name;
  }
  return null;
}

/** A field of `SENTINEL MASTER` as sentinel `port` sees it. */
async function sentinelField(port, field) {
  const lines = (await cli(port, 'sentinel', 'master', MASTER)).split('\n');
  const i = lines.indexOf(field);
  return i >= 0 ? lines[i + 1] : undefined;
}

/** Until each running sentinel knows one replica and its running peers. */
async function sentinelsSettled(ports, what) {
  for (const p of ports) {
    await waitFor(async () => (await sentinelField(p, 'num-slaves')) === '1' &&
      (await sentinelField(p, 'num-other-sentinels')) === String(ports.length - 1),
      30_000, `sentinel ${p} to see the replica and its ${ports.length - 1} peers (${what})`, 100);
  }
}

/** Until `name` is a replica whose link to the primary is up. */
async function replicating(name) {
  await waitFor(async () => (await roleOf(DATA_NODES[name])) === 'slave' &&
    (await cli(DATA_NODES[name], 'info', 'replication')).includes('master_link_status:up'),
    30_000, `${name} to replicate from the primary`, 50);
}

// --------------------------------------------------------------- services --

const everyService = () => [C.apiUrl, C.workerUrl, ...C.gatewayUrls];

/**
 * `scripts/cluster.sh start NAME`, without blocking the event loop (the
 * clients' acks and the measurements go on meanwhile).
 */
async function startProcess(name) {
  await run(path.join(import.meta.dirname, '../../../scripts/cluster.sh'), ['start', name], {
    env: { ...process.env, ...C.env, CLUSTER_DIR: C.dir },
    timeout: 60_000,
  });
}

async function allReady(timeoutMs) {
  for (const url of everyService()) {
    await waitFor(async () => (await httpStatus(`${url}/readyz`, 1000)) === 200, timeoutMs, `${url}/readyz = 200`, 100);
  }
}

/** The worker's decay removals so far (its worker_removals_total). */
async function removals() {
  try {
    const text = await fetch(`${C.workerUrl}/metrics`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text());
    return [...text.matchAll(/^worker_removals_total(?:\{[^}]*\})? (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  } catch {
    return null;
  }
}

/**
 * Watches every service path from `from` on and resolves with the time
 * (ms after `from`) of each path's first write that succeeded: a sign-up
 * and a login through nginx, a decay removal by the worker (its counter
 * grew), a placement acked ok on each gateway (by the players pinned to
 * it, `probes[i]`). Gives up after `limitMs` (a path missing from the
 * result never wrote again).
 */
async function firstWrites(from, attempts, probes, account, limitMs) {
  const times = {};
  const until = from + limitMs;
  // Read after the kill: no sweep can succeed before the promotion.
  const removalsAtKill = await removals();
  assert.ok(removalsAtKill !== null, 'the worker answers /metrics');
  const loops = [
    (async () => {
      while (Date.now() < until && times['api sign-up'] === undefined) {
        const res = await http('POST', '/api/auth/signup', { json: { email: uniqueEmail('drill'), password: PASSWORD } }).catch(() => null);
        if (res?.status === 201) times['api sign-up'] = Date.now() - from;
        else await sleep(50);
      }
    })(),
    (async () => {
      while (Date.now() < until && times['api login'] === undefined) {
        const res = await login(account.email, PASSWORD).catch(() => null);
        if (res?.status === 200) times['api login'] = Date.now() - from;
        else await sleep(50);
      }
    })(),
    (async () => {
      while (Date.now() < until && times['worker removal'] === undefined) {
        const n = await removals();
        if (n !== null && n > removalsAtKill) times['worker removal'] = Date.now() - from;
        else await sleep(50);
      }
    })(),
    (async () => {
      while (Date.now() < until && C.gatewayNames.some((g) => times[`${g} placement`] === undefined)) {
        for (const [i, g] of C.gatewayNames.entries()) {
          if (times[`${g} placement`] !== undefined) continue;
          const ok = attempts.filter((a) => probes[i].includes(a.client) && a.ack?.ok === true && a.sentAt >= from);
          if (ok.length > 0) times[`${g} placement`] = Math.min(...ok.map((a) => a.ackedAt)) - from;
        }
        await sleep(20);
      }
    })(),
  ];
  await Promise.all(loops);
  return times;
}

// ------------------------------------------------------------------ drill --

test(`Sentinel: kill -9 of the primary under load through nginx, every service writes again within ${FAILOVER_BOUND_MS} ms; old primary back as replica, a sentinel and then the replica killed (REDIS_MIN_REPLICAS_ACKED=${MIN_REPLICAS})`, T(170_000), async (t) => {
  await allReady(30_000);
  assert.equal(await sentinelPrimary(), 'redis', 'the sentinels name `redis` the primary at the start');
  await replicating('redis-replica');
  await sentinelsSettled(SENTINEL_PORTS, 'before the drill');
  const servicePids = [...['api', ...C.gatewayNames, ...C.workerNames, 'nginx'].map((n) => [n, C.pidOf(n)])];
  for (const [n, pid] of servicePids) assert.ok(alive(pid), `${n} runs before the drill`);

  // An account made (and replicated) before the kill, to log in with after it.
  const account = { email: uniqueEmail('drill-login') };
  const made = await http('POST', '/api/auth/signup', { json: { email: account.email, password: PASSWORD } });
  assert.equal(made.status, 201, `sign-up before the drill: ${made.status} ${made.text}`);

  const base = await snapshot();
  // Players and watchers through nginx (spread over the gateways by source
  // address), plus two players on each gateway directly: each gateway's
  // own path is measured.
  const users = Array.from({ length: 18 }, (_, i) => player('sent', i));
  const crowd = users.map((u) => new Client(base, u));
  // One of each gateway's two is hurried: a patient player waits out a
  // refusal's retry_after_ms, which would be measured instead of the gateway.
  const probes = C.gatewayUrls.map((url, g) => [0, 1].map((k) => {
    const u = player(`gw${g}p`, k);
    users.push(u);
    const c = new Client(base, u, { url });
    c.hurried = k === 0;
    return c;
  }));
  const watchers = Array.from({ length: 6 }, () => new Client(base, null));
  const clients = [...crowd, ...probes.flat(), ...watchers];
  await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client connected and joined');
  const spread = await Promise.all(C.gatewayUrls.map(socketsOn));
  assert.ok(spread.every((n) => n > 2), `every gateway holds watchers besides its two probes: ${spread}`);

  const attempts = [];
  let stopped = false;
  const placers = clients.filter((c) => c.user);
  const loops = placers.map((c, i) => c.placeLoop(() => stopped, attempts, { hurried: c.hurried ?? i % 3 === 0 }));
  const progress = async (what) => {
    const from = Date.now();
    await waitFor(() => okSince(attempts, from) >= placers.length, 30_000, `placements acked ok ${what}`, 50);
  };

  const figures = { minReplicasAcked: MIN_REPLICAS };
  let killedAt;
  try {
    await progress('before the kill');

    // ------------------------------------------------ the primary dies --
    const primaryPid = C.pidOf('redis');
    killedAt = Date.now();
    process.kill(primaryPid, 'SIGKILL');
    const watching = firstWrites(killedAt, attempts, probes, account, 20_000);
    await waitFor(() => !alive(primaryPid), 5000, 'the primary to be gone');
    await waitFor(async () => (await sentinelPrimary()) === 'redis-replica' && (await roleOf(DATA_NODES['redis-replica'])) === 'master', 20_000,
      'the sentinels to promote the replica', 20);
    figures.promotedMs = Date.now() - killedAt;
    if (MIN_REPLICAS >= 1) {
      // Acks wait for a replica: the new primary gets one back at once.
      await startProcess('redis');
    }
    const times = await watching;
    Object.assign(figures, times);
    t.diagnostic(`promoted ${figures.promotedMs} ms after the kill; first writes (ms after the kill): ${JSON.stringify(times)}`);
    const paths = ['api sign-up', 'api login', 'worker removal', ...C.gatewayNames.map((g) => `${g} placement`)];
    for (const p of paths) {
      assert.ok(times[p] !== undefined, `${p}: wrote again after the primary's death (not within 20 s)`);
      assert.ok(times[p] <= FAILOVER_BOUND_MS, `${p}: wrote again ${times[p]} ms after the primary's death, over ${FAILOVER_BOUND_MS} ms`);
    }
    await allReady(10_000);
    await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client joined again after the failover');
    await progress('after the failover');

    // ------------------------------- the old primary back, as a replica --
    if (MIN_REPLICAS === 0) await startProcess('redis');
    await replicating('redis');
    assert.equal(await sentinelPrimary(), 'redis-replica', 'the promoted replica stays the primary');
    await sentinelsSettled(SENTINEL_PORTS, 'the old primary back as a replica');
    await progress('with the old primary back as a replica');

    // ------------------------------------------------- a sentinel dies --
    const sentinelPid = C.pidOf('sentinel-1');
    process.kill(sentinelPid, 'SIGKILL');
    await waitFor(() => !alive(sentinelPid), 5000, 'sentinel-1 to be gone');
    await progress('with a sentinel down');
    await allReady(5_000);

    // -------------------------------------------------- the replica dies --
    const replicaPid = C.pidOf('redis');
    process.kill(replicaPid, 'SIGKILL');
    await waitFor(() => !alive(replicaPid), 5000, 'the replica to be gone');
    if (MIN_REPLICAS === 0) {
      await progress('with the replica down');
    } else {
      // Refused quickly while no replica can acknowledge; none hangs.
      // Placements sent from half a second after the kill (the primary's
      // replica count is polled) for 1.5 s, each given the bound to answer.
      const from = Date.now() + 500;
      await sleep(500 + 1500 + REFUSE_BOUND_MS);
      const sent = attempts.filter((a) => a.sentAt >= from && a.sentAt <= Date.now() - REFUSE_BOUND_MS);
      assert.ok(sent.length > 0, 'placements were sent with the replica down');
      const slow = sent.filter((a) => !a.ack || a.ackedAt - a.sentAt > REFUSE_BOUND_MS);
      assert.deepEqual(slow.map((a) => `${describe(a)}: ${a.ack ? `${a.ackedAt - a.sentAt} ms` : 'no ack yet'}`), [],
        `with the replica down every placement is answered within ${REFUSE_BOUND_MS} ms`);
      const accepted = sent.filter((a) => a.ack.ok === true || (a.ack.error !== 'unavailable' && a.ack.error !== 'cooldown'));
      assert.deepEqual(accepted.map((a) => `${describe(a)}: ${JSON.stringify(a.ack)}`), [],
        'with the replica down placements are refused `unavailable`');
      figures.refusedWithoutReplica = sent.length;
      await startProcess('redis');
      await replicating('redis');
      await progress('with the replica back');
    }
  } finally {
    stopped = true;
    const ended = await Promise.allSettled(loops);
    for (const e of ended) if (e.status === 'rejected') throw e.reason;
  }

  // ------------------------------------------------------------ checks --
  for (const [n, pid] of servicePids) assert.ok(alive(pid), `${n} still runs (pid ${pid})`);
  for (const n of ['sentinel-2', 'sentinel-3', 'redis-replica']) assert.ok(alive(C.pidOf(n)), `${n} still runs`);
  await waitFor(() => clients.every((c) => c.joined), 30_000,
    `every client connected and joined (not: ${clients.filter((c) => !c.joined).map((c) => c.name).join(', ')})`);
  const fin = await snapshot();
  await waitFor(() => clients.every((c) => c.seq >= fin.seq), 30_000,
    `every client to reach seq ${fin.seq} (at: ${clients.map((c) => c.seq).join(',')})`);
  await Promise.all(clients.map((c) => c.queue));
  for (const c of clients) assert.deepEqual(c.errors, [], `${c.name}: updates in order without holes (or a resync)`);
  const views = clients.map((c) => ({ name: c.name, seq: c.seq, map: new Map(c.map), source: new Map(c.source), c }));
  const feed = await feedSince(base.seq, Math.max(fin.seq, ...views.map((v) => v.seq)));

  // Acked placements the data set no longer has: the failover lost them.
  const inFeed = new Set(feed.filter((u) => u.color !== 0).map((u) => `${u.by}|${u.x},${u.y}`));
  const lost = attempts.filter((a) => a.ack?.ok === true && !inFeed.has(`${a.by}|${a.x},${a.y}`));
  if (MIN_REPLICAS >= 1) {
    assert.deepEqual(lost.map((a) => `${describe(a)}, acked ${a.ackedAt - killedAt} ms after the kill as seq ${a.ack.update.seq}`), [],
      `with REDIS_MIN_REPLICAS_ACKED=${MIN_REPLICAS} no acked placement is missing after the failover`);
  } else {
    // Asynchronous replication loses at most the last moments before the kill.
    const early = lost.filter((a) => a.ackedAt < killedAt - 1000 || a.ackedAt > killedAt + 1000);
    assert.deepEqual(early.map((a) => `${describe(a)}, acked ${a.ackedAt - killedAt} ms after the kill as seq ${a.ack.update.seq}`), [],
      'only placements acked around the kill may be lost');
    // A client that held a lost seq must have been told to resync: else
    // the reused seqs show as out of order (its errors, checked above) or
    // its board differs from the server's (checkBoards, below).
  }
  if (MIN_REPLICAS >= 1) {
    // The dashboard's replica-wait panel (whose metric exists only with
    // this setting on) has samples from every service that waited.
    for (const url of [C.apiUrl, ...C.gatewayUrls]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const count = text.match(/^redis_replica_wait_seconds_count\{[^}]*\} (\d+)/m);
      assert.ok(count && Number(count[1]) > 0, `${url}/metrics has redis_replica_wait_seconds samples`);
    }
  }
  figures.lostAcked = lost.length;
  figures.lost = lost.map((a) => ({ seq: a.ack.update.seq, ackedMsAfterKill: a.ackedAt - killedAt }));
  figures.clientsResynced = clients.filter((c) => c.resyncs > 0 || c.snapshots.length > 0).length;
  const kept = attempts.filter((a) => !lost.includes(a));
  const tally = checkOutcomes(kept, feed, users);
  checkBoards(base, feed, fin, views, kept);
  assert.ok(tally.ok >= 4 * placers.length, `the drill placed under load: ${JSON.stringify(tally)}`);
  figures.tally = tally;
  figures.resyncs = clients.reduce((n, c) => n + c.resyncs, 0);
  figures.reconnections = clients.reduce((n, c) => n + c.disconnects.length, 0);
  t.diagnostic(`seqs ${base.seq + 1}..${fin.seq}`);
  console.log(`sentinel drill: ${JSON.stringify(figures)}`);
});
