// The page watches only the viewport tiles in view (plus a one-tile margin):
// zoomed in on a board of small tiles (the suites use BOARD_TILE_SIZE=16 on
// 64×64), its socket names exactly those tiles, it shows exactly the
// server's pixels there after placements made elsewhere, and placements in
// tiles it does not watch reach it only once it pans there (by the tile
// snapshot). Zoomed out to the whole board it watches the whole board.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, T, signup, connect, join, place, closeAll, waitFor, snapshot } from '../helpers.mjs';
import { launch, openPage, waitCanvasColor, screenOf, DESKTOP } from './lib.mjs';
import { tilesForRect, visibleRect } from '../../../web/js/tiles.js';

let b;
before(async () => { b = await launch(); });
after(async () => { closeAll(); await b?.close(); });

const TILE = 16;
const key = ([x, y]) => `${x},${y}`;
const sorted = (tiles) => tiles.map(key).sort();

/** The tiles the page's view needs (null: the whole board), computed here from its view. */
async function expectedTiles(page) {
  const v = await page.evaluate(() => window.pixelApp.view());
  const t = tilesForRect(visibleRect(v, DESKTOP.viewport), { width: cfg.width, height: cfg.height, tile_size: TILE });
  // All of them in view: the whole board is watched instead.
  return t && t.length < (cfg.width / TILE) * (cfg.height / TILE) ? t : null;
}

/** Waits until the page watches exactly the tiles its view needs, all held; returns them. */
async function settledTiles(page) {
  let last;
  await waitFor(async () => {
    const want = await expectedTiles(page);
    last = await page.evaluate(() => window.pixelApp.tiles());
    return want !== null && last.watched !== null && last.held && sorted(last.watched).join() === sorted(want).join();
  }, 15_000, 'the page watching the tiles in view', 50).catch(async (e) => {
    throw new Error(`${e.message}: the view needs ${JSON.stringify(await expectedTiles(page))}, the page has ${JSON.stringify(last)}`);
  });
  return last.watched;
}

/** One placement by a fresh user (the cooldown is per user). */
async function placeOnce(x, y, color) {
  const u = await signup();
  const s = await connect({ token: u.access });
  await join(s);
  const r = await place(s, x, y, color);
  assert.equal(r.ok, true, JSON.stringify(r));
  s.close();
  return r.update;
}

/** The page's pixels of `tiles` equal the server's (a snapshot at or after every placement made). */
async function assertSameTiles(page, tiles, what) {
  await waitFor(async () => {
    const snap = await snapshot();
    const server = new Map(snap.pixels.map(([x, y, c]) => [`${x},${y}`, c]));
    const cells = [];
    for (const [tx, ty] of tiles) for (let y = ty * TILE; y < (ty + 1) * TILE; y++) for (let x = tx * TILE; x < (tx + 1) * TILE; x++) cells.push([x, y]);
    const mine = await page.evaluate((cs) => cs.map(([x, y]) => window.pixelApp.pixel(x, y)), cells);
    return cells.every(([x, y], i) => mine[i] === (server.get(`${x},${y}`) ?? 0));
  }, 15_000, `${what}: the page's pixels of the tiles in view equal the server's`, 100);
}

test('zoomed in, the page watches only the tiles in view and shows exactly the server\'s pixels there', T(90_000), async () => {
  const { page, context, errors } = await openPage(b.browser);
  try {
    // The whole board in view: the whole board is watched.
    assert.equal((await page.evaluate(() => window.pixelApp.tiles())).watched, null);

    // Zoom in about pixel (8, 8) until only part of the board is in view.
    const p = await screenOf(page, 8, 8);
    await page.mouse.move(p.x, p.y);
    for (let i = 0; i < 10 && (await expectedTiles(page)) === null; i++) await page.mouse.wheel(0, -300);
    await page.mouse.wheel(0, -300);
    let watched = await settledTiles(page);
    assert.ok(watched.length < (cfg.width / TILE) * (cfg.height / TILE), `a part of the board: ${JSON.stringify(watched)}`);
    const held = new Set(watched.map(key));
    const all = [];
    for (let ty = 0; ty < cfg.height / TILE; ty++) for (let tx = 0; tx < cfg.width / TILE; tx++) all.push([tx, ty]);
    const outside = all.filter((t) => !held.has(key(t)));
    assert.ok(outside.length > 0);

    // A placement in view comes as a tile event; its decay (a removal in a tile frame) clears it.
    const events0 = (await page.evaluate(() => window.pixelApp.tiles())).events;
    const near = { x: 8, y: 8 };
    await placeOnce(near.x, near.y, 4);
    await waitCanvasColor(page, near.x, near.y, 4);
    assert.ok((await page.evaluate(() => window.pixelApp.tiles())).events > events0, 'the placement in view came as a tile event');
    await waitCanvasColor(page, near.x, near.y, 0, cfg.ttlMs + 10_000);

    // A placement in a tile not watched does not reach the page; a later one in view does.
    const [ox, oy] = outside[outside.length - 1];
    const far = { x: ox * TILE + 5, y: oy * TILE + 6 };
    await placeOnce(far.x, far.y, 11);
    await placeOnce(near.x + 1, near.y, 5);
    await waitCanvasColor(page, near.x + 1, near.y, 5);
    await assertSameTiles(page, watched, 'after placements in and out of view');
    assert.notEqual(await page.evaluate(([x, y]) => window.pixelApp.pixel(x, y), [far.x, far.y]), 11, 'a tile not watched gets no events');

    // Pan to the far tile: the page subscribes to it and shows the placement from its tile snapshot.
    const subs0 = (await page.evaluate(() => window.pixelApp.tiles())).subscribes;
    // Clicking the minimap centres the view there.
    await page.waitForSelector('#minimap', { state: 'visible' });
    const mm = await page.$eval('#minimap', (m) => { const r = m.getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width }; });
    const k = mm.width / cfg.width;
    await page.mouse.click(mm.left + (far.x + 0.5) * k, mm.top + (far.y + 0.5) * k);
    watched = await settledTiles(page);
    assert.ok(watched.some((t) => key(t) === key([ox, oy])), `the far tile is watched now: ${JSON.stringify(watched)}`);
    assert.ok(!watched.some((t) => key(t) === key([0, 0])), `tile (0, 0) is no longer watched: ${JSON.stringify(watched)}`);
    assert.ok((await page.evaluate(() => window.pixelApp.tiles())).subscribes > subs0, 'the page changed its tiles with subscribe');
    await waitCanvasColor(page, far.x, far.y, 11);
    // And live placements there arrive too.
    await placeOnce(far.x + 1, far.y, 7);
    await waitCanvasColor(page, far.x + 1, far.y, 7);
    await assertSameTiles(page, watched, 'after the pan');

    // Fit (key 0): the whole board is watched again and equals the server's.
    await page.focus('#board');
    await page.keyboard.press('0');
    await waitFor(async () => (await page.evaluate(() => window.pixelApp.tiles())).watched === null, 10_000, 'the whole board watched again', 50);
    await waitFor(async () => {
      const snap = await snapshot();
      const mine = await page.evaluate(() => ({ seq: window.pixelApp.board().seq, pixels: window.pixelApp.nonEmpty() }));
      if (mine.seq !== snap.seq) return false;
      const server = snap.pixels.map(([x, y, c]) => [x, y, c]).sort((a, c) => a[1] - c[1] || a[0] - c[0]);
      assert.deepEqual(mine.pixels, server);
      return true;
    }, 15_000, 'the whole board equal to the server\'s', 100);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await context.close();
  }
});
