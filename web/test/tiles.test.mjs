// Unit tests of web/js/tiles.js: which tiles a view needs, and the per-tile
// range rule (apply when after <= have, skip held updates, repair holes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tilesForRect, visibleRect, sameTiles, TileTracker, MAX_TILES } from '../js/tiles.js';

const board = { width: 64, height: 64, tile_size: 16 };
/** @param {number} seq @param {number} [x] */
const up = (seq, x = 0) => ({ x, y: 0, color: 1, seq, placed_at: 0, expires_at: 0 });

test('tiles in view plus a one-tile margin, clipped to the board', () => {
  assert.deepEqual(tilesForRect({ x0: 17, y0: 17, x1: 31, y1: 31 }, board), [
    [0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1], [0, 2], [1, 2], [2, 2],
  ]);
  assert.deepEqual(tilesForRect({ x0: 0, y0: 0, x1: 16, y1: 16 }, board), [[0, 0], [1, 0], [0, 1], [1, 1]]);
  assert.deepEqual(tilesForRect({ x0: 0, y0: 0, x1: 16, y1: 16 }, board, 0), [[0, 0]]);
  assert.deepEqual(tilesForRect({ x0: 100, y0: 100, x1: 200, y1: 200 }, board, 0), [[3, 3]]);
  // a rectangle wholly off the board, after clipping, is still its edge tile
  assert.deepEqual(tilesForRect({ x0: -50, y0: 0, x1: -40, y1: 1 }, board, 0), [[0, 0]]);
});

test('past the tile limit, the whole board', () => {
  assert.equal(tilesForRect({ x0: 0, y0: 0, x1: 64, y1: 64 }, board, 1, 15), null);
  assert.equal(tilesForRect({ x0: 0, y0: 0, x1: 64, y1: 64 }, board)?.length, 16);
  const big = { width: 4096, height: 4096, tile_size: 16 };
  assert.equal(tilesForRect({ x0: 0, y0: 0, x1: 16 * 8, y1: 16 * 8 }, big, 0)?.length, MAX_TILES);
  assert.equal(tilesForRect({ x0: 0, y0: 0, x1: 16 * 8 + 1, y1: 16 * 8 }, big, 0), null);
});

test('visibleRect and sameTiles', () => {
  assert.deepEqual(visibleRect({ scale: 2, cx: 32, cy: 32 }, { width: 40, height: 20 }), { x0: 22, y0: 27, x1: 42, y1: 37 });
  assert.ok(sameTiles([[0, 0], [1, 0]], [[1, 0], [0, 0]]));
  assert.ok(!sameTiles([[0, 0]], [[1, 0]]));
  assert.ok(sameTiles(null, null));
  assert.ok(!sameTiles(null, []));
});

test('a new tile: subscribe, snapshot at or after the ack, buffered events connect', () => {
  const t = new TileTracker();
  assert.deepEqual(t.request([[1, 1], [1, 1]]), [[1, 1]]);
  // an event before the ack waits
  assert.deepEqual(t.onEvent(1, 1, { after: 10, seq: 12, updates: [up(11), up(12)] }), { apply: [], hole: false });
  const ack = t.onAck({ seq: 10, tiles: [{ tile: [1, 1] }] });
  assert.deepEqual(ack.fetch, [{ tx: 1, ty: 1, min: 10 }]);
  // a snapshot older than the ack is refused
  assert.deepEqual(t.onSnapshot(1, 1, 9), { apply: [], hole: false, load: false, refetch: true });
  const s = t.onSnapshot(1, 1, 11);
  assert.ok(s.load);
  assert.deepEqual(s.apply.map((u) => u.seq), [12]); // 11 is in the snapshot
  assert.equal(t.get(1, 1)?.have, 12);
  // a second snapshot of a held tile is ignored
  assert.deepEqual(t.onSnapshot(1, 1, 30), { apply: [], hole: false, load: false, refetch: false });
});

test('range rule: apply when after <= have, skip held updates, a hole asks once for a repair', () => {
  const t = new TileTracker();
  t.request([[0, 0]]);
  t.onAck({ seq: 5, tiles: [{ tile: [0, 0] }] });
  t.onSnapshot(0, 0, 5);
  assert.deepEqual(t.onEvent(0, 0, { after: 5, seq: 7, updates: [up(6), up(7)] }).apply.map((u) => u.seq), [6, 7]);
  // overlapping event (after < have): only the new updates
  assert.deepEqual(t.onEvent(0, 0, { after: 6, seq: 8, updates: [up(7), up(8)] }).apply.map((u) => u.seq), [8]);
  // an event wholly held is skipped
  assert.deepEqual(t.onEvent(0, 0, { after: 6, seq: 8, updates: [up(7), up(8)] }), { apply: [], hole: false });
  // hole: after 10 > have 8
  assert.deepEqual(t.onEvent(0, 0, { after: 10, seq: 11, updates: [up(11)] }), { apply: [], hole: true });
  // another event past the hole does not ask again
  assert.deepEqual(t.onEvent(0, 0, { after: 11, seq: 12, updates: [up(12)] }), { apply: [], hole: false });
  assert.deepEqual(t.request([[0, 0]]), [[0, 0, 8]]);
  const r = t.onAck({ seq: 10, tiles: [{ tile: [0, 0], updates: [up(9), up(10)] }] });
  assert.deepEqual(r.apply.map((u) => u.seq), [9, 10, 11, 12]);
  assert.equal(r.hole, false);
  assert.deepEqual(r.fetch, []);
  assert.equal(t.get(0, 0)?.have, 12);
});

test('repair answered with resync: a fresh tile snapshot', () => {
  const t = new TileTracker();
  t.request([[0, 0]]);
  t.onAck({ seq: 5, tiles: [{ tile: [0, 0] }] });
  t.onSnapshot(0, 0, 5);
  assert.deepEqual(t.request([[0, 0]]), [[0, 0, 5]]);
  const r = t.onAck({ seq: 900, tiles: [{ tile: [0, 0], resync: true }] });
  assert.deepEqual(r.fetch, [{ tx: 0, ty: 0, min: 900 }]);
  assert.equal(t.get(0, 0)?.have, null);
  assert.ok(t.onSnapshot(0, 0, 901).load);
});

test('panning: dropped tiles are forgotten, their events ignored; resync refetches every tile', () => {
  const t = new TileTracker();
  t.request([[0, 0], [1, 0]]);
  t.onAck({ seq: 3, tiles: [{ tile: [0, 0] }, { tile: [1, 0] }] });
  t.onSnapshot(0, 0, 3);
  assert.deepEqual(t.request([[1, 0], [2, 0]]), [[1, 0], [2, 0]]);
  assert.deepEqual(t.watched(), [[1, 0], [2, 0]]);
  assert.deepEqual(t.onEvent(0, 0, { after: 3, seq: 4, updates: [up(4)] }), { apply: [], hole: false });
  assert.deepEqual(t.onSnapshot(0, 0, 9).load, false);
  // after a data loss the resync seq may be lower than what is held
  assert.deepEqual(t.onResync(1), [{ tx: 1, ty: 0, min: 1 }, { tx: 2, ty: 0, min: 1 }]);
  assert.ok(t.onSnapshot(2, 0, 1).load);
});

test('BoardState.loadTile replaces one tile only, and its cells hold the snapshot seq', async () => {
  const { BoardState } = await import('../js/sync.js');
  const b = new BoardState(40, 20);
  b.apply({ x: 0, y: 0, color: 2, seq: 3, placed_at: 1, expires_at: 9 });
  b.apply({ x: 17, y: 1, color: 4, seq: 4, placed_at: 2, expires_at: 8 });
  b.apply({ x: 18, y: 1, color: 5, seq: 5, placed_at: 2, expires_at: 8 });
  // binary form: tile (1, 0) of size 16 at (16, 0), 16 x 16; cell (17, 1) keeps colour 4, (18, 1) cleared, (20, 2) set
  const cells = new Uint8Array(16 * 16);
  cells[1 * 16 + 1] = 4;
  cells[2 * 16 + 4] = 7;
  b.loadTile({ x0: 16, y0: 0, width: 16, height: 16, seq: 10, cells });
  assert.deepEqual(b.nonEmpty(), [[0, 0, 2], [17, 1, 4], [20, 2, 7]]);
  assert.equal(b.expiresAt[1 * 40 + 17], 8); // same colour: times kept
  assert.equal(b.expiresAt[2 * 40 + 20], 0);
  assert.equal(b.pseq[0], 3); // outside the tile: untouched
  assert.equal(b.pseq[5 * 40 + 30], 10);
  // an update the snapshot already holds is skipped, a newer one applies
  assert.equal(b.apply({ x: 20, y: 2, color: 1, seq: 10, placed_at: 0, expires_at: 0 }), false);
  assert.equal(b.apply({ x: 20, y: 2, color: 1, seq: 11, placed_at: 0, expires_at: 0 }), true);
  // JSON form, with times; a pixel named outside the tile is ignored
  b.loadTile({ x0: 32, y0: 16, width: 8, height: 4, seq: 12, pixels: [[33, 17, 3, 5, 50], [0, 0, 9, 0, 0]] });
  assert.equal(b.colors[17 * 40 + 33], 3);
  assert.equal(b.expiresAt[17 * 40 + 33], 50);
  assert.equal(b.colors[0], 2);
});
