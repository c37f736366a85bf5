// Binary update frames: a watcher that joins with `encoding: "binary"` gets each
// batch as one binary attachment, decoded with the page's own decoder, and sees
// the same updates as a JSON watcher (without the placer), in order, seq gap-free.

import { test, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signupMany, join, place, assertAckOk, assertAckError,
  freshCell, randomColor, pixelLog, joinedClient, waitFor, DELIVERY_TIMEOUT_MS,
} from './helpers.mjs';
import { decodeFrame } from '../../web/js/frame.js';

afterEach(closeAll);
after(closeAll);

test('a join with an unknown encoding acks invalid_input', T(30_000), async () => {
  const s = await connect();
  assertAckError(await join(s, { board: cfg.board, encoding: 'msgpack' }), 'invalid_input');
  assertAckError(await join(s, { board: cfg.board, encoding: 1 }), 'invalid_input');
  assertAckOk(await join(s, { board: cfg.board, encoding: 'json' }), 'explicit json');
});

test('a binary watcher decodes the same updates a JSON watcher gets, in order and gap-free', T(60_000), async () => {
  const bin = await connect();
  /** @type {any[]} */
  const frames = [];
  let jsonShaped = 0;
  bin.on('pixels', (header, buf) => {
    if (!(buf instanceof Uint8Array || buf instanceof ArrayBuffer)) { jsonShaped++; return; }
    assert.equal(header.board, cfg.board);
    frames.push(decodeFrame(buf));
  });
  const ack = assertAckOk(await join(bin, { board: cfg.board, encoding: 'binary' }), 'binary join');
  const json = await joinedClient(null);
  const placers = await Promise.all((await signupMany(6)).map((u) => joinedClient(u)));
  /** @type {number[]} */
  const seqs = [];
  for (const p of placers) {
    const c = freshCell();
    seqs.push(assertAckOk(await place(p.socket, c.x, c.y, randomColor())).update.seq);
  }
  const last = Math.max(...seqs);
  const binUpdates = () => frames.flatMap((f) => f.updates);
  await waitFor(() => binUpdates().some((u) => u.seq >= last), DELIVERY_TIMEOUT_MS, 'the last placement in a frame');
  await json.log.seq(last);
  for (const f of frames) assert.deepEqual([f.width, f.height], [cfg.width, cfg.height]);
  const got = binUpdates().filter((u) => u.seq <= last);
  assert.deepEqual(got.map((u) => u.seq), Array.from({ length: last - ack.seq }, (_, i) => ack.seq + 1 + i),
    'binary seqs start right after the join seq, consecutive');
  // The JSON watcher joined a little later: compare from its join on.
  const from = json.joinAck.seq;
  const fromJson = json.log.all((u) => u.seq > from && u.seq <= last).map((e) => {
    const { by, ...rest } = e.u;
    return rest;
  });
  assert.deepEqual(got.filter((u) => u.seq > from), fromJson, 'same updates as the JSON watcher, without by');
  for (const s of seqs) assert.ok(got.some((u) => u.seq === s), `placement ${s} in a frame`);
  assert.equal(jsonShaped, 0, 'a binary watcher gets no JSON pixels events');
});
