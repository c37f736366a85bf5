// The Redis Cluster drill: the cluster of `scripts/cluster.sh` with
// REDIS_TOPOLOGY=cluster (three primaries, three replicas; api, three
// gateways and the worker on `redis+cluster://`, nginx in front) serves two
// boards whose keys live on different shards (BOARD_IDS, checked from
// CLUSTER KEYSLOT and CLUSTER NODES). Players place on both through nginx
// and pinned to each gateway, watchers follow both on every gateway, and
// the worker decays both. Then the primary that owns the first board's
// slot is `kill -9`ed: its replica is promoted, placements on that board
// resume, and the drill measures the time from the kill to the first
// placement acked on it, and how long placements on the other board
// stalled, if at all. The old primary is started again and must rejoin as
// a replica; placements go on through all of it.
//
// REDIS_MIN_REPLICAS_ACKED (default 0, as the services take it) decides
// what the failover may lose:
// - 0: replication is asynchronous; placements acked in the last moments
//   before the kill may be missing from the promoted replica. Those, and
//   only those, may be lost (a watcher that held them gets `resync`).
// - N ≥ 1: an ack waited for N replicas of the board's shard, so no acked
//   placement is missing afterwards. The promoted replica has no replica
//   of its own until the old primary is back, so that one is started again
//   right after the promotion.
//
// Every watcher ends with every seq once and in order (or a `resync` and
// then the server's board), no process of the cluster but the killed node
// exits, and the figures are printed as a JSON line (`cluster drill:
// {...}`) for docs/reliability.md.

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { cfg, T, closeAll, snapshot, waitFor, sleep } from '../helpers.mjs';
import { clusterOf, httpStatus, socketsOn, alive } from '../cluster-helpers.mjs';
import {
  player, Client, feedSince, describe, checkOutcomes, checkBoards, okSince,
} from '../players.mjs';

const C = clusterOf();
assert.ok(C, 'CLUSTER_DIR must point at a running cluster');
assert.equal(C.env.REDIS_TOPOLOGY, 'cluster', 'the cluster runs with REDIS_TOPOLOGY=cluster');
assert.ok(cfg.jwtSecret, 'JWT_SECRET must be the cluster\'s key');

const MIN_REPLICAS = Number(process.env.REDIS_MIN_REPLICAS_ACKED ?? C.env.REDIS_MIN_REPLICAS_ACKED ?? 0);
assert.ok(Number.isSafeInteger(MIN_REPLICAS) && MIN_REPLICAS >= 0, `REDIS_MIN_REPLICAS_ACKED must be a non-negative integer, got ${MIN_REPLICAS}`);
/** Placements on the killed shard's board resume within this long after the kill. */
const RESUME_BOUND_MS = 10_000;
const BOARDS = (C.env.BOARD_IDS ?? '').split(',').filter(Boolean);
assert.ok(BOARDS.length >= 2, `two boards at least (BOARD_IDS=${C.env.BOARD_IDS})`);
/** The board whose shard loses its primary, and one on another shard. */
const [HIT, OTHER] = BOARDS;

const run = promisify(execFile);

afterEach(closeAll);
after(closeAll);

// ------------------------------------------------------------------ redis --

/** `redis-cli -p PORT ARGS...`'s output, '' when the node does not answer (asynchronous). */
async function cli(port, ...args) {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 3000 });
    return stdout.trim();
  } catch {
    return '';
  }
}

/** Every node says cluster_state:ok, and every replica's link to its primary is up. */
async function clusterSettled(ports) {
  for (const p of ports) {
    const info = await cli(p, 'cluster', 'info');
    if (!info.includes('cluster_state:ok')) return false;
    const repl = await cli(p, 'info', 'replication');
    if (!repl.includes('role:master') && !repl.includes('master_link_status:up')) return false;
  }
  return true;
}

/** The cluster.sh name of the primary that owns `board`'s slot now, as every live node sees it (null while they disagree or none does). */
function ownerOf(board) {
  try {
    return C.primaryOfBoard(board)?.name ?? null;
  } catch {
    return null;
  }
}

// --------------------------------------------------------------- services --

const everyService = () => [C.apiUrl, C.workerUrl, ...C.gatewayUrls];

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

/** The longest stretch in [from, to] without a placement acked ok on `board` (ms). */
function longestStall(attempts, board, from, to) {
  const acks = attempts.filter((a) => a.board === board && a.ack?.ok === true && a.ackedAt >= from && a.ackedAt <= to)
    .map((a) => a.ackedAt).sort((x, y) => x - y);
  let prev = from;
  let worst = 0;
  for (const t of [...acks, to]) {
    worst = Math.max(worst, t - prev);
    prev = t;
  }
  return worst;
}

// ------------------------------------------------------------------ drill --

test(`Redis Cluster: kill -9 of a board's shard primary under load through nginx; the replica promoted, that board's placements resume, the other board's go on; the old primary rejoins as a replica (REDIS_MIN_REPLICAS_ACKED=${MIN_REPLICAS})`, T(170_000), async (t) => {
  await allReady(30_000);
  await waitFor(() => clusterSettled(C.redisPorts), 30_000, 'every Cluster node ok and every replica linked', 100);
  const nodes = C.redisNodes();
  assert.equal(nodes.filter((n) => n.role === 'master').length, 3, `three primaries: ${JSON.stringify(nodes)}`);
  assert.equal(nodes.filter((n) => n.role === 'slave').length, 3, 'three replicas');
  const owner = Object.fromEntries(BOARDS.map((b) => [b, C.primaryOfBoard(b)]));
  t.diagnostic(`slots: ${BOARDS.map((b) => `${b} ${owner[b].slot} on ${owner[b].name}`).join(', ')}`);
  assert.notEqual(owner[HIT].name, owner[OTHER].name,
    `boards ${HIT} (slot ${owner[HIT].slot}) and ${OTHER} (slot ${owner[OTHER].slot}) live on different shards`);
  const victim = owner[HIT].name;
  const heir = nodes.find((n) => n.role === 'slave' && n.primaryId === owner[HIT].id)?.name;
  assert.ok(heir, `${victim} has a replica`);
  const servicePids = ['api', ...C.gatewayNames, ...C.workerNames, 'nginx'].map((n) => [n, C.pidOf(n)]);
  const redisPids = C.redisPorts.map((_, i) => [`redis-${i + 1}`, C.pidOf(`redis-${i + 1}`)]);
  for (const [n, pid] of [...servicePids, ...redisPids]) assert.ok(alive(pid), `${n} runs before the drill`);

  // Per board: players through nginx and one pinned to each gateway, and
  // watchers through nginx and on each gateway.
  const per = {};
  for (const board of BOARDS.slice(0, 2)) {
    const base = await snapshot(board);
    const users = [];
    const mk = (tag, i, opts) => {
      const u = player(`${board}-${tag}`, i);
      users.push(u);
      return new Client(base, u, { board, ...opts });
    };
    const crowd = Array.from({ length: 8 }, (_, i) => mk('c', i));
    const pinned = C.gatewayUrls.map((url, g) => mk(`gw${g}`, 0, { url }));
    const watchers = [
      ...Array.from({ length: 3 }, () => new Client(base, null, { board })),
      ...C.gatewayUrls.map((url) => new Client(base, null, { board, url })),
    ];
    per[board] = { base, users, placers: [...crowd, ...pinned], clients: [...crowd, ...pinned, ...watchers] };
  }
  const clients = Object.values(per).flatMap((p) => p.clients);
  await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client connected and joined');
  const spread = await Promise.all(C.gatewayUrls.map(socketsOn));
  assert.ok(spread.every((n) => n >= 4), `every gateway holds watchers of both boards: ${spread}`);

  const attempts = [];
  let stopped = false;
  const placers = Object.values(per).flatMap((p) => p.placers);
  const loops = placers.map((c, i) => c.placeLoop(() => stopped, attempts, { hurried: i % 3 === 0 }));
  const progress = async (what, boards = Object.keys(per)) => {
    const from = Date.now();
    for (const b of boards) {
      const n = per[b].placers.length;
      await waitFor(() => okSince(attempts.filter((a) => a.board === b), from) >= n, 30_000, `placements on ${b} acked ok ${what}`, 50);
    }
  };

  const figures = { minReplicasAcked: MIN_REPLICAS, boards: Object.fromEntries(BOARDS.slice(0, 2).map((b) => [b, { slot: owner[b].slot, shard: owner[b].name }])) };
  let killedAt;
  let seqAtKill;
  try {
    await progress('before the kill');
    seqAtKill = (await snapshot(HIT)).seq;

    // ---------------------------------- the board's shard primary dies --
    const victimPid = C.pidOf(victim);
    killedAt = Date.now();
    process.kill(victimPid, 'SIGKILL');
    await waitFor(() => !alive(victimPid), 5000, `${victim} to be gone`);
    await waitFor(() => ownerOf(HIT) === heir, 20_000, `${heir} to be promoted for ${HIT}'s slot`, 50);
    figures.promotedMs = Date.now() - killedAt;
    if (MIN_REPLICAS >= 1) {
      // Acks wait for a replica of the shard: the new primary gets one back.
      await startProcess(victim);
    }
    const firstOk = (board) => waitFor(() => {
      const ok = attempts.filter((a) => a.board === board && a.sentAt >= killedAt && a.ack?.ok === true);
      return ok.length > 0 ? Math.min(...ok.map((a) => a.ackedAt)) - killedAt : null;
    }, RESUME_BOUND_MS + 10_000, `a placement on ${board} acked after the kill`, 20);
    figures.firstAckedMs = { [HIT]: await firstOk(HIT), [OTHER]: await firstOk(OTHER) };
    await sleep(1000);
    figures.longestStallMs = {
      [HIT]: longestStall(attempts, HIT, killedAt, Date.now()),
      [OTHER]: longestStall(attempts, OTHER, killedAt, Date.now()),
    };
    t.diagnostic(`promoted ${figures.promotedMs} ms after the kill; first acked placement (ms after the kill): ${JSON.stringify(figures.firstAckedMs)}; longest stall: ${JSON.stringify(figures.longestStallMs)}`);
    assert.ok(figures.firstAckedMs[HIT] <= RESUME_BOUND_MS,
      `placements on ${HIT} resumed ${figures.firstAckedMs[HIT]} ms after its primary's death, over ${RESUME_BOUND_MS} ms`);
    await allReady(10_000);
    await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client joined again after the failover');
    await progress('after the failover');

    // ------------------------------- the old primary back, as a replica --
    if (MIN_REPLICAS === 0) await startProcess(victim);
    await waitFor(async () => {
      const repl = await cli(C.redisPorts[Number(victim.split('-')[1]) - 1], 'info', 'replication');
      return repl.includes('role:slave') && repl.includes('master_link_status:up');
    }, 30_000, `${victim} to rejoin as a replica and sync`, 100);
    await waitFor(() => clusterSettled(C.redisPorts), 30_000, 'the Cluster ok again', 100);
    assert.equal(ownerOf(HIT), heir, `${heir} stays the primary of ${HIT}'s slot`);
    await progress(`with ${victim} back as a replica`);
  } finally {
    stopped = true;
    const ended = await Promise.allSettled(loops);
    for (const e of ended) if (e.status === 'rejected') throw e.reason;
  }

  // ------------------------------------------------------------ checks --
  for (const [n, pid] of servicePids) assert.ok(alive(pid), `${n} still runs (pid ${pid})`);
  for (const [n, pid] of redisPids) if (n !== victim) assert.ok(alive(pid), `${n} still runs (pid ${pid})`);
  await waitFor(() => clients.every((c) => c.joined), 30_000,
    `every client connected and joined (not: ${clients.filter((c) => !c.joined).map((c) => c.name).join(', ')})`);
  figures.lostAcked = {};
  figures.tally = {};
  for (const [board, p] of Object.entries(per)) {
    const fin = await snapshot(board);
    await waitFor(() => p.clients.every((c) => c.seq >= fin.seq), 30_000,
      `every client of ${board} to reach seq ${fin.seq} (at: ${p.clients.map((c) => c.seq).join(',')})`);
    await Promise.all(p.clients.map((c) => c.queue));
    for (const c of p.clients) assert.deepEqual(c.errors, [], `${c.name} on ${board}: updates in order without holes (or a resync)`);
    const views = p.clients.map((c) => ({ name: c.name, seq: c.seq, map: new Map(c.map), source: new Map(c.source), c }));
    const feed = await feedSince(p.base.seq, Math.max(fin.seq, ...views.map((v) => v.seq)), board);
    const mine = attempts.filter((a) => a.board === board);

    const inFeed = new Set(feed.filter((u) => u.color !== 0).map((u) => `${u.by}|${u.x},${u.y}`));
    const lost = mine.filter((a) => a.ack?.ok === true && !inFeed.has(`${a.by}|${a.x},${a.y}`));
    const explain = (a) => `${describe(a)} on ${board}, acked ${a.ackedAt - killedAt} ms after the kill as seq ${a.ack.update.seq}`;
    if (MIN_REPLICAS >= 1 || board !== HIT) {
      assert.deepEqual(lost.map(explain), [], `no acked placement on ${board} is missing after the failover (REDIS_MIN_REPLICAS_ACKED=${MIN_REPLICAS})`);
    } else {
      // Asynchronous replication loses at most the last moments before the kill.
      const early = lost.filter((a) => a.ackedAt < killedAt - 1000 || a.ackedAt > killedAt + 1000);
      assert.deepEqual(early.map(explain), [], 'only placements acked around the kill may be lost');
    }
    figures.lostAcked[board] = lost.length;
    const kept = mine.filter((a) => !lost.includes(a));
    const tally = checkOutcomes(kept, feed, p.users);
    checkBoards(p.base, feed, fin, views, kept);
    assert.ok(tally.ok >= 4 * p.placers.length, `the drill placed on ${board} under load: ${JSON.stringify(tally)}`);
    // The worker decays both boards, the killed shard's too after the failover.
    const removals = feed.filter((u) => u.color === 0);
    assert.ok(removals.length > 0, `decay removed pixels on ${board}`);
    if (board === HIT) assert.ok(removals.some((u) => u.seq > seqAtKill), `decay goes on on ${board} after the failover`);
    figures.tally[board] = { ...tally, removals: removals.length, seqs: `${p.base.seq + 1}..${fin.seq}` };
  }
  if (MIN_REPLICAS >= 1) {
    // Every gateway's placements waited for the shards' replicas.
    for (const url of C.gatewayUrls) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const count = text.match(/^redis_replica_wait_seconds_count\{[^}]*\} (\d+)/m);
      assert.ok(count && Number(count[1]) > 0, `${url}/metrics has redis_replica_wait_seconds samples`);
    }
  }
  figures.resyncs = clients.reduce((n, c) => n + c.resyncs, 0);
  figures.reconnections = clients.reduce((n, c) => n + c.disconnects.length, 0);
  console.log(`cluster drill: ${JSON.stringify(figures)}`);
});
