// The web page against the local cluster (scripts/cluster.sh): pages pinned
// to different gateways with `?gateway=` (behind nginx every client from
// 127.0.0.1 hashes to the same gateway), and a page whose gateway is killed.
// The page itself and the REST api come through nginx (PIXEL_URL).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { T, signup, connect, join, place, closeAll, freshCell, waitFor, snapshot } from '../../helpers.mjs';
import { clusterOf } from '../../cluster-helpers.mjs';
import { launch, openPage, signUpInPage, clickPixel, waitCanvasColor, canvasRgb, colorOf, waitLive, shot } from '../lib.mjs';

const theCluster = clusterOf();
assert.ok(theCluster, 'CLUSTER_DIR must point at a running cluster');
const gatewayUrl = (i) => theCluster.gatewayUrls[i];
const pidOf = (name) => theCluster.pidOf(name);
const redisCli = (...args) => theCluster.redisCli(...args);
const cluster = (...args) => theCluster.run(...args);

let b;
before(async () => { b = await launch(); });
after(async () => { closeAll(); await b?.close(); });

test('a pixel placed in a page on one gateway appears in a page on another, at the right place and colour', T(60_000), async () => {
  const one = await openPage(b.browser, { gateway: gatewayUrl(0) });
  const two = await openPage(b.browser, { gateway: gatewayUrl(1) });
  try {
    await signUpInPage(one.page, 'Gateway One');
    await one.page.click('#palette .swatch[data-color="14"]');
    const { x, y } = freshCell();
    await clickPixel(one.page, x, y);
    await waitCanvasColor(one.page, x, y, 14);
    await waitCanvasColor(two.page, x, y, 14);
    // And the other way round, so both gateways' feeds are exercised.
    await signUpInPage(two.page, 'Gateway Two');
    await two.page.click('#palette .swatch[data-color="7"]');
    const c = freshCell();
    await clickPixel(two.page, c.x, c.y);
    await waitCanvasColor(one.page, c.x, c.y, 7);
    // The details popup in the other page names the placer.
    const p = await one.page.evaluate(([px, py]) => window.pixelApp.screenOf(px, py), [c.x, c.y]);
    await one.page.mouse.move(p.x, p.y);
    await one.page.waitForFunction(() => document.getElementById('details-by').textContent === 'Gateway Two');
    assert.deepEqual([...one.errors, ...two.errors], []);
  } finally {
    await one.context.close();
    await two.context.close();
  }
});

test('the watcher count is cluster-wide: pages on different gateways see each other', T(60_000), async () => {
  const pages = [];
  try {
    for (const i of [0, 1, 2]) pages.push(await openPage(b.browser, { gateway: gatewayUrl(i) }));
    // Every page counts all three (and any other watcher): at least 3, and all agree once settled.
    for (const { page } of pages) {
      await page.waitForFunction(() => {
        const el = document.getElementById('presence');
        return !el.hidden && Number(document.getElementById('watchers').textContent) >= 3;
      }, null, { timeout: 30_000 });
    }
    const before = Number(await pages[0].page.textContent('#watchers'));
    await pages[2].context.close();
    pages.pop();
    await pages[0].page.waitForFunction((n) => Number(document.getElementById('watchers').textContent) === n - 1, before, { timeout: 30_000 });
  } finally {
    for (const p of pages) await p.context.close();
  }
});

/** Waits until the page and the REST snapshot are at the same seq, and compares their boards. */
async function assertSameBoard(page, what) {
  await waitFor(async () => {
    const snap = await snapshot();
    const mine = await page.evaluate(() => ({ seq: window.pixelApp.board().seq, pixels: window.pixelApp.nonEmpty() }));
    if (mine.seq !== snap.seq) return false;
    const server = snap.pixels.map(([x, y, c]) => [x, y, c]).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    assert.deepEqual(mine.pixels, server, `${what}: the page's board at seq ${snap.seq}`);
    return true;
  }, 30_000, `${what}: the page and the server at the same seq`, 100);
}

test('after its gateway is killed, a page reconnects and ends with exactly the server\'s board', T(120_000), async () => {
  const victim = 2; // gateway-3
  const { page, context, errors } = await openPage(b.browser, { gateway: gatewayUrl(victim) });
  const user = await signup();
  const s = await connect({ url: gatewayUrl(0), token: user.access });
  await join(s);
  let stopped = false;
  try {
    cluster('stop', `gateway-${victim + 1}`);
    stopped = true;
    await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Reconnecting…');
    assert.equal(await page.isHidden('#presence'), true, 'no stale watcher count while offline');
    // The board changes while the page is away.
    const missed = [];
    for (const color of [3, 8, 12]) {
      const { x, y } = freshCell();
      const r = await waitFor(async () => {
        const res = await place(s, x, y, color);
        return res.ok ? res : null;
      }, 10_000, 'a placement after the cooldown', 100);
      missed.push({ ...r.update });
    }
    await shot(page, 'desktop-reconnecting.png');
    cluster('start', `gateway-${victim + 1}`);
    stopped = false;
    await waitLive(page, 30_000);
    // Compare the page's board with the REST snapshot at the same seq (decays keep
    // changing it, so take both until they are at the same seq).
    await assertSameBoard(page, 'after the reconnect');
    // The canvas shows it too: a missed pixel is drawn unless it has decayed since.
    // (It may decay meanwhile: the canvas follows the model within a frame.)
    const last = missed[missed.length - 1];
    await waitFor(async () => {
      const now = await page.evaluate(([x, y]) => window.pixelApp.pixel(x, y), [last.x, last.y]);
      const shown = colorOf(await canvasRgb(page, last.x, last.y));
      return shown === now;
    }, 5_000, 'canvas and model agree', 50);
    assert.deepEqual(errors, []);
  } finally {
    if (stopped) cluster('start', `gateway-${victim + 1}`);
    await context.close();
  }
});

// Last: it trims the board's stream, as the history bounds would.
test('a page whose gateway fell behind the retained stream is told to resync and ends with exactly the server\'s board', T(60_000), async () => {
  const victim = 2;
  const name = `gateway-${victim + 1}`;
  const { page, context, errors } = await openPage(b.browser, { gateway: gatewayUrl(victim) });
  const users = await Promise.all([1, 2, 3, 4, 5, 6].map(() => signup()));
  const sockets = await Promise.all(users.map(async (u) => {
    const s = await connect({ url: gatewayUrl(0), token: u.access });
    await join(s);
    return s;
  }));
  const placeAll = () => Promise.all(sockets.map(async (s, i) => {
    const { x, y } = freshCell();
    const res = await place(s, x, y, 1 + i);
    assert.equal(res.ok, true, JSON.stringify(res));
  }));
  const pid = pidOf(name);
  process.kill(pid, 'SIGSTOP');
  try {
    await placeAll();
    redisCli('XTRIM', 'rp:board:main:feed', 'MAXLEN', '2');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await page.waitForFunction(() => window.pixelApp.resyncs() > 0, null, { timeout: 20_000 });
  await waitLive(page, 20_000);
  await assertSameBoard(page, 'after the resync');
  // And it goes on live from there.
  const cell = freshCell();
  await waitFor(async () => (await place(sockets[0], cell.x, cell.y, 9)).ok, 10_000, 'a placement after the cooldown', 200);
  await waitCanvasColor(page, cell.x, cell.y, 9);
  assert.deepEqual(errors, []);
  await context.close();
});
