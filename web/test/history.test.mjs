// @ts-check
// History replay (js/history.js): frames rebuilt from a snapshot and the retained window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replay, fetchHistory } from '../js/history.js';

/** @param {number} seq @param {number} x @param {number} color */
const up = (seq, x, color) => (color ? { seq, x, y: 0, color, placed_at: 1000 * seq, expires_at: 1000 * seq + 500, by: 'p' } : { seq, x, y: 0, color: 0 });

// Window 11..15 of a 5×1 board. Pixel 0 was set before the window and untouched;
// pixel 1 was set before and overwritten at 12; pixel 2 placed at 11 and decayed at 14;
// pixel 3 placed at 13 and 15.
const updates = [up(11, 2, 4), up(12, 1, 5), up(13, 3, 6), up(14, 2, 0), up(15, 3, 7)];
const snap = { board: 'main', seq: 15, width: 5, height: 1, pixels: /** @type {[number, number, number, number, number][]} */ ([
  [0, 0, 9, 1, 2], [1, 0, 5, 12000, 12500], [3, 0, 7, 15000, 15500],
]) };

test('the last frame is the snapshot; earlier frames undo the window, unknown pixels start empty', () => {
  const r = new Replay(snap, updates);
  assert.equal(r.length, 5);
  assert.deepEqual([...r.seek(5)], [9, 5, 0, 7, 0]);
  assert.deepEqual([...r.seek(0)], [9, 0, 0, 0, 0], 'untouched pixel keeps its colour; touched ones start empty');
  assert.deepEqual([...r.seek(1)], [9, 0, 4, 0, 0]);
  assert.deepEqual([...r.seek(3)], [9, 5, 4, 6, 0]);
  assert.deepEqual([...r.seek(4)], [9, 5, 0, 6, 0]);
  assert.deepEqual([...r.seek(2)], [9, 5, 4, 0, 0], 'seeking backwards works');
  assert.deepEqual([...r.seek(99)], [9, 5, 0, 7, 0], 'clamped to the end');
});

test('labels give the seq and the newest placement time at or before a position', () => {
  const r = new Replay(snap, updates);
  assert.deepEqual(r.label(0), { seq: 10, time: 11000 });
  assert.deepEqual(r.label(4), { seq: 14, time: 13000 }, 'a decay carries no time: the placement before it');
  assert.deepEqual(r.label(5), { seq: 15, time: 15000 });
});

test('an empty window replays as the snapshot alone', () => {
  const r = new Replay(snap, []);
  assert.equal(r.length, 0);
  assert.deepEqual([...r.seek(0)], [9, 5, 0, 7, 0]);
});

test('fetchHistory pages through the window up to the snapshot seq and drops later updates', async () => {
  const all = Array.from({ length: 25 }, (_, i) => up(101 + i, i % 5, 1 + (i % 3)));
  /** @type {number[]} */
  const asked = [];
  const page = async (/** @type {number} */ since) => {
    asked.push(since);
    return { board: 'main', seq: 125, oldest: 101, updates: all.filter((u) => u.seq > since).slice(0, 10) };
  };
  const got = await fetchHistory(page, 122);
  assert.deepEqual(got.map((u) => u.seq), Array.from({ length: 22 }, (_, i) => 101 + i));
  assert.deepEqual(asked, [0, 110, 120]);
});

test('fetchHistory keeps only the contiguous run ending at the snapshot, and the recent part of a long window', async () => {
  const holey = [up(1, 0, 1), up(2, 0, 1), up(5, 0, 1), up(6, 0, 1)];
  const page = async (/** @type {number} */ since) => ({ board: 'main', seq: 6, oldest: 1, updates: holey.filter((u) => u.seq > since) });
  assert.deepEqual((await fetchHistory(page, 6)).map((u) => u.seq), [5, 6]);
  assert.deepEqual(await fetchHistory(page, 7), [], 'history that does not reach the snapshot is unusable');
  const long = Array.from({ length: 100 }, (_, i) => up(1 + i, 0, 1));
  const page2 = async (/** @type {number} */ since) => ({ board: 'main', seq: 100, oldest: 1, updates: long.filter((u) => u.seq > since).slice(0, 30) });
  assert.deepEqual((await fetchHistory(page2, 100, 20)).map((u) => u.seq), Array.from({ length: 20 }, (_, i) => 81 + i));
});
