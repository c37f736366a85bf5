// @ts-check
// Camera math (js/view.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as V from '../js/view.js';

const vp = { width: 800, height: 600 };
const board = { width: 64, height: 64 };

test('fit centres the whole board with a whole zoom when it can', () => {
  const v = V.fit(board, vp);
  assert.equal(v.scale, 9); // (600 - 24) / 64
  assert.deepEqual(V.pixelAt(v, vp, board, 400, 300), { x: 32, y: 32 });
  assert.equal(V.pixelAt(v, vp, board, 5, 5), null);
  // Controls covering the top 60 and bottom 120 pixels: the board sits in the 420 pixels between.
  const f = V.fit(board, vp, { top: 60, right: 0, bottom: 120, left: 0 });
  assert.equal(f.scale, 6);
  const mid = V.toScreen(f, vp, 32, 32);
  assert.deepEqual(mid, { x: 400, y: 60 + 420 / 2 });
});

test('zooming keeps the board point under the pointer in place', () => {
  const v = V.fit(board, vp);
  const before = V.toBoard(v, vp, 123, 456);
  const z = V.zoomAt(v, vp, 2.5, 123, 456);
  const after = V.toBoard(z, vp, 123, 456);
  assert.ok(Math.abs(before.x - after.x) < 1e-9 && Math.abs(before.y - after.y) < 1e-9);
  assert.equal(z.scale, 22.5);
  assert.equal(V.zoomAt(v, vp, 1000, 0, 0).scale, V.MAX_SCALE);
});

test('panning moves the board with the pointer', () => {
  const v = { scale: 10, cx: 32, cy: 32 };
  const p = V.panBy(v, 50, -20);
  assert.deepEqual(V.pixelAt(p, vp, board, 450, 280), V.pixelAt(v, vp, board, 400, 300));
  assert.deepEqual(V.clampCenter({ scale: 10, cx: -5, cy: 99 }, board), { scale: 10, cx: 0, cy: 64 });
});

test('reveal pans just enough to bring a pixel into view', () => {
  const v = { scale: 20, cx: 32, cy: 32 };
  assert.equal(V.reveal(v, vp, 32, 32), v);
  const r = V.reveal(v, vp, 60, 32);
  const s = V.toScreen(r, vp, 60.5, 32.5);
  assert.ok(s.x <= vp.width - 48 + 1e-9 && s.x > vp.width / 2, `on screen: ${s.x}`);
});
