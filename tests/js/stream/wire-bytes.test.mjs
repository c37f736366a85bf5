// Bytes per update on the wire, JSON against binary frames: two watchers
// speak Engine.IO/Socket.IO themselves over a raw WebSocket (`ws`), so
// every byte the server sends them is counted — the WebSocket payloads and
// the frame headers around them — while real socket.io clients place a
// realistic mix (bursts from several players over the board, then their
// decays; a busy board, placements sent without waiting; an idle board,
// one placement at a time). Both watchers must see
// the same updates, consecutive seqs; the figures are printed (they are in
// docs/benchmarks.md) and binary must cost less than JSON.
//
// Runs in the stream stage (COOLDOWN_MS=0, a high SOCKET_EVENT_RATE).

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { cfg, T, signup, connect, closeAll, join, ack, assertAckOk, waitFor, sleep } from '../helpers.mjs';
import { clusterOf } from '../cluster-helpers.mjs';
import { decodeFrame } from '../../../web/js/frame.js';

const theCluster = clusterOf();
const url = theCluster ? theCluster.gatewayUrls[0] : cfg.url;

assert.equal(cfg.cooldownMs, 0, 'the wire-bytes measurement needs COOLDOWN_MS=0');

afterEach(closeAll);
after(closeAll);

/** Bytes of a server-to-client WebSocket frame header (unmasked) for a payload of n bytes. */
const wsHeader = (n) => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/**
 * A watcher on a raw WebSocket. Counts, for its `pixels` events only, the
 * payload bytes and the frame headers; collects the updates (decoded from
 * the frame for binary).
 */
function rawWatcher(binary) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const w = { ws, payload: 0, headers: 0, events: 0, messages: 0, updates: [], joinSeq: -1, closed: false };
  let awaitingFrame = false;
  let joined;
  w.joined = new Promise((resolve, reject) => {
    joined = resolve;
    ws.on('error', reject);
    setTimeout(() => reject(new Error('raw watcher did not join in 10 s')), 10_000).unref();
  });
  const count = (n) => { w.payload += n; w.headers += wsHeader(n); w.messages++; };
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      if (!awaitingFrame) return;
      awaitingFrame = false;
      count(data.length);
      const f = decodeFrame(data);
      w.updates.push(...f.updates);
      return;
    }
    const t = data.toString('utf8');
    if (t.startsWith('0{')) ws.send('40');
    else if (t === '2') ws.send('3');
    else if (t.startsWith('40{')) {
      ws.send(`420${JSON.stringify(['join', binary ? { board: cfg.board, encoding: 'binary' } : { board: cfg.board }])}`);
    } else if (t.startsWith('430')) {
      const [a] = JSON.parse(t.slice(3));
      assert.equal(a.ok, true, t);
      w.joinSeq = a.seq;
      joined();
    } else if (t.startsWith('42["pixels"')) {
      assert.ok(!binary, 'a binary watcher gets no JSON pixels');
      count(Buffer.byteLength(t));
      w.events++;
      w.updates.push(...JSON.parse(t.slice(2))[1].updates);
    } else if (t.startsWith('451-["pixels"')) {
      assert.ok(binary, 'a JSON watcher gets no binary pixels');
      count(Buffer.byteLength(t));
      w.events++;
      awaitingFrame = true;
    }
  });
  return w;
}

const last = (w) => (w.updates.length ? w.updates[w.updates.length - 1].seq : w.joinSeq);

async function players(n) {
  const users = await Promise.all(Array.from({ length: n }, () => signup()));
  const sockets = await Promise.all(users.map((u) => connect({ token: u.access, url })));
  for (const s of sockets) assertAckOk(await join(s), 'placer join');
  return sockets;
}

/** Runs `placeAll` between two fresh watchers and returns the figures. */
async function measure(name, placeAll, settleMs) {
  const json = rawWatcher(false);
  const bin = rawWatcher(true);
  try {
    await Promise.all([json.joined, bin.joined]);
    const from = Math.max(json.joinSeq, bin.joinSeq);
    const upto = await placeAll();
    await waitFor(() => last(json) >= upto && last(bin) >= upto, 20_000, `${name}: both watchers reach seq ${upto}`);
    await sleep(settleMs);
    const end = Math.min(last(json), last(bin));
    for (const w of [json, bin]) {
      const seqs = w.updates.map((u) => u.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => w.joinSeq + 1 + i), `${name}: consecutive seqs after the join`);
    }
    const strip = ({ by, ...u }) => u;
    const window = (w) => w.updates.filter((u) => u.seq > from && u.seq <= end);
    assert.deepEqual(window(bin), window(json).map(strip), `${name}: the same updates in both forms`);
    const fig = (w) => ({
      updates: w.updates.length,
      events: w.events,
      payload: +(w.payload / w.updates.length).toFixed(1),
      wire: +((w.payload + w.headers) / w.updates.length).toFixed(1),
    });
    const out = { name, json: fig(json), binary: fig(bin) };
    console.log(`wire bytes per update, ${name}: ${JSON.stringify(out)}`);
    return out;
  } finally {
    json.ws.close();
    bin.ws.close();
  }
}

test('bytes per update on the wire: JSON against binary frames, a burst and an idle board', T(120_000), async () => {
  const placers = await players(8);
  const cell = () => ({ x: crypto.randomInt(cfg.width), y: crypto.randomInt(cfg.height), color: 1 + crypto.randomInt(cfg.paletteSize) });

  // A burst: 8 players place 250 pixels each as fast as acks come back, then
  // the pixels decay (the TTL is short in this stage), so removals mix in.
  const burst = await measure('burst (2,000 placements from 8 players, then their decays)', async () => {
    let top = 0;
    await Promise.all(placers.map(async (s) => {
      for (let i = 0; i < 250; i++) {
        const { x, y, color } = cell();
        const a = assertAckOk(await ack(s, 'place', { board: cfg.board, x, y, color }), 'place');
        top = Math.max(top, a.update.seq);
      }
    }));
    return top;
  }, cfg.ttlMs + 2_000);

  // A busy board: every player sends its 125 placements at once (no waiting
  // for acks), so the relay reads and sends large batches.
  const busy = await measure('busy (2,000 placements sent at once by 16 players, then their decays)', async () => {
    const more = [...placers, ...await players(8)];
    // Refusals that say "nothing changed, retry after `retry_after_ms`" are
    // retried, as a client would: `busy` (a gateway sheds this burst) and,
    // even with COOLDOWN_MS=0, a cooldown of a millisecond (another of the
    // player's placements took a later clock reading).
    const placeRetrying = async (s) => {
      const { x, y, color } = cell();
      for (let i = 0; ; i++) {
        const a = await ack(s, 'place', { board: cfg.board, x, y, color });
        if (a.ok || !['cooldown', 'busy'].includes(a.error) || i >= 50) return assertAckOk(a, 'place').update.seq;
        await sleep(a.retry_after_ms);
      }
    };
    const seqs = await Promise.all(more.flatMap((s) => Array.from({ length: 125 }, () => placeRetrying(s))));
    return Math.max(...seqs);
  }, cfg.ttlMs + 2_000);

  // An idle board: one placement at a time, each its own event.
  const idle = await measure('idle (40 placements 50 ms apart)', async () => {
    let top = 0;
    for (let i = 0; i < 40; i++) {
      const { x, y, color } = cell();
      top = assertAckOk(await ack(placers[i % placers.length], 'place', { board: cfg.board, x, y, color }), 'place').update.seq;
      await sleep(50);
    }
    return top;
  }, 300);

  for (const r of [burst, busy, idle]) {
    assert.ok(r.binary.wire < r.json.wire, `${r.name}: binary costs less than JSON: ${JSON.stringify(r)}`);
  }
});
