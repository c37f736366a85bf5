// @ts-check
// The feed state machine (js/sync.js), driven by hand: no DOM, no server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoardState, FeedSync } from '../js/sync.js';

/** @param {number} seq @param {number} x @param {number} color @returns {import('../js/types.js').Update} */
const up = (seq, x, color = 1) => (color
  ? { seq, x, y: 0, color, placed_at: 1000 + seq, expires_at: 9000 + seq, by: `p${seq}` }
  : { seq, x, y: 0, color: 0 });
/** @param {number} seq @param {[number, number, number, number, number][]} pixels */
const snap = (seq, pixels = []) => ({ board: 'main', seq, width: 8, height: 1, pixels });
/** @param {number} seq @param {import('../js/types.js').Update[]} [updates] @returns {import('../js/types.js').JoinAckOk} */
const ack = (seq, updates) => ({ ok: true, seq, updates, board: { id: 'main', width: 8, height: 1, palette: ['#000000'], cooldown_ms: 1, ttl_ms: 1, seq } });

function fresh() {
  const board = new BoardState(8, 1);
  return { board, sync: new FeedSync(board) };
}

/**
 * Joins without `since` and loads a snapshot at `seq`.
 * @param {number} [seq] @param {[number, number, number, number, number][]} [pixels]
 */
function live(seq = 10, pixels = []) {
  const s = fresh();
  const sent = s.sync.startJoin();
  assert.deepEqual(sent, {});
  assert.deepEqual(s.sync.onJoinAck(ack(seq), sent), { type: 'snapshot', minSeq: seq });
  assert.deepEqual(s.sync.onSnapshot(snap(seq, pixels)), { type: 'none' });
  assert.equal(s.sync.phase, 'live');
  return s;
}

test('a first join asks for a snapshot at least as new as the ack, and buffers pixels until it is in', () => {
  const { board, sync } = fresh();
  const sent = sync.startJoin();
  assert.deepEqual(sync.onJoinAck(ack(10), sent), { type: 'snapshot', minSeq: 10 });
  assert.deepEqual(sync.onPixels([up(11, 1, 3), up(12, 2, 4)]), { type: 'none' });
  assert.equal(board.colors[1], 0, 'nothing applied before the snapshot');
  // The snapshot already holds 11; 12 applies on top.
  assert.deepEqual(sync.onSnapshot(snap(11, [[1, 0, 3, 1, 2]])), { type: 'none' });
  assert.deepEqual([...board.colors], [0, 3, 4, 0, 0, 0, 0, 0]);
  assert.equal(sync.seq, 12);
  assert.equal(sync.synced, true);
});

test('a snapshot older than required is refused and asked for again', () => {
  const { board, sync } = fresh();
  sync.onJoinAck(ack(10), sync.startJoin());
  assert.deepEqual(sync.onSnapshot(snap(9, [[0, 0, 5, 1, 2]])), { type: 'snapshot', minSeq: 10 });
  assert.equal(board.colors[0], 0);
  assert.equal(sync.phase, 'snapshot');
  assert.deepEqual(sync.onSnapshot(snap(10)), { type: 'none' });
});

test('live updates apply in order and already-held seqs are skipped', () => {
  const { board, sync } = live(10);
  sync.onPixels([up(11, 0, 2)]);
  sync.onPixels([up(10, 1, 9), up(11, 0, 7), up(12, 1, 3)]);
  assert.deepEqual([...board.colors.slice(0, 2)], [2, 3]);
  assert.equal(sync.seq, 12);
  assert.equal(board.details(1, 0)?.by, 'p12');
});

test('a hole in the feed asks for a rejoin with since = the last contiguous seq', () => {
  const { board, sync } = live(10);
  assert.deepEqual(sync.onPixels([up(11, 0, 2), up(13, 1, 3)]), { type: 'rejoin' });
  assert.equal(sync.seq, 11);
  assert.equal(board.colors[1], 0, 'nothing past the hole is applied');
  const sent = sync.startJoin();
  assert.deepEqual(sent, { since: 11 });
  // Pixels arriving before the ack wait for it.
  sync.onPixels([up(14, 2, 4)]);
  assert.deepEqual(sync.onJoinAck(ack(13, [up(12, 3, 5), up(13, 1, 3)]), sent), { type: 'none' });
  assert.deepEqual([...board.colors.slice(0, 4)], [2, 3, 4, 5]);
  assert.equal(sync.seq, 14);
  assert.equal(sync.repairs, 1);
});

test('a rejoin answered with resync: true fetches a snapshot', () => {
  const { sync } = live(10);
  const sent = sync.startJoin();
  assert.deepEqual(sync.onJoinAck({ ...ack(500), resync: true }, sent), { type: 'snapshot', minSeq: 500 });
});

test('a join ack that claims a seq beyond the updates it carries is repaired, not trusted', () => {
  const { sync } = live(10);
  const sent = sync.startJoin();
  assert.deepEqual(sync.onJoinAck(ack(13, [up(11, 0)]), sent), { type: 'rejoin' });
  assert.equal(sync.seq, 11);
});

test('a since ahead of the gateway: updates already held are skipped', () => {
  const { board, sync } = live(20, [[0, 0, 6, 1, 2]]);
  const sent = sync.startJoin();
  assert.deepEqual(sync.onJoinAck(ack(18, []), sent), { type: 'none' });
  sync.onPixels([up(19, 0, 1), up(20, 0, 1), up(21, 2, 2)]);
  assert.equal(board.colors[0], 6);
  assert.equal(board.colors[2], 2);
  assert.equal(sync.seq, 21);
});

test('the resync event buffers the feed until a snapshot at least that new is in', () => {
  const { board, sync } = live(10);
  assert.deepEqual(sync.onResync(40), { type: 'snapshot', minSeq: 40 });
  sync.onPixels([up(41, 0, 2), up(42, 1, 3)]);
  assert.deepEqual(sync.onSnapshot(snap(35)), { type: 'snapshot', minSeq: 40 });
  // A second resync while fetching raises the bar.
  assert.deepEqual(sync.onResync(41), { type: 'none' });
  assert.deepEqual(sync.onSnapshot(snap(40)), { type: 'snapshot', minSeq: 41 });
  assert.deepEqual(sync.onSnapshot(snap(41, [[0, 0, 2, 1, 2]])), { type: 'none' });
  assert.deepEqual([...board.colors.slice(0, 2)], [2, 3]);
  assert.equal(sync.seq, 42);
});

test('a place ack updates its pixel but not the feed position; the feed copy is then skipped', () => {
  const { board, sync } = live(10);
  sync.onPlaceAck(up(15, 4, 8));
  assert.equal(board.colors[4], 8);
  assert.equal(sync.seq, 10);
  // Older updates for the same pixel still arriving do not overwrite it.
  assert.deepEqual(sync.onPixels([up(11, 4, 2), up(12, 5, 3), up(13, 6, 3), up(14, 7, 3), up(15, 4, 8)]), { type: 'none' });
  assert.equal(board.colors[4], 8);
  assert.equal(sync.seq, 15);
});

test('a decay empties the pixel and forgets its placer', () => {
  const { board, sync } = live(10);
  sync.onPixels([up(11, 3, 4), up(12, 3, 0)]);
  assert.equal(board.colors[3], 0);
  assert.equal(board.details(3, 0), null);
});

test('pixels while disconnected are ignored; the next join continues from the held seq', () => {
  const { sync } = live(10);
  sync.onPixels([up(11, 0)]);
  sync.onDisconnect();
  assert.deepEqual(sync.onPixels([up(12, 0)]), { type: 'none' });
  assert.equal(sync.seq, 11);
  assert.deepEqual(sync.startJoin(), { since: 11 });
});

test('names learnt from history stick to the placement they name, across snapshots', () => {
  const board = new BoardState(4, 1);
  board.loadSnapshot(snap(5, [[0, 0, 2, 100, 900], [1, 0, 3, 200, 1000]]));
  board.learnNames([
    { seq: 1, x: 0, y: 0, color: 2, placed_at: 100, expires_at: 900, by: 'ann' },
    { seq: 2, x: 1, y: 0, color: 3, placed_at: 150, expires_at: 950, by: 'old' }, // overwritten since
  ]);
  assert.equal(board.details(0, 0)?.by, 'ann');
  assert.equal(board.details(1, 0)?.by, null);
  board.loadSnapshot(snap(6, [[0, 0, 2, 100, 900]]));
  assert.equal(board.details(0, 0)?.by, 'ann');
  assert.deepEqual(board.nonEmpty(), [[0, 0, 2]]);
});
