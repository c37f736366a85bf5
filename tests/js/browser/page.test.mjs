// The web page in a real headless Chromium (Debian's, driven by
// playwright-core): sign up, pick a colour, click the canvas, see the pixel
// and the cooldown; see another player's pixel arrive live; see a pixel
// fade out when it decays. Runs against PIXEL_URL like the contract suite.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { cfg, T, signup, connect, join, place, closeAll, freshCell, uniqueEmail } from '../helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(os.tmpdir(), 'realtime-pixel-shots');
let browser;
let profile;

before(async () => {
  profile = mkdtempSync(path.join(os.tmpdir(), 'rp-chromium-'));
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  closeAll();
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Clicks the centre of board pixel (x, y) on the canvas. */
async function clickPixel(page, x, y) {
  const { left, top, width, height, w, h } = await page.evaluate(() => {
    const r = document.getElementById('board').getBoundingClientRect();
    const b = window.pixelApp.board();
    return { left: r.left, top: r.top, width: r.width, height: r.height, w: b.width, h: b.height };
  });
  await page.mouse.click(left + ((x + 0.5) * width) / w, top + ((y + 0.5) * height) / h);
}

test('a player signs up, places a pixel by clicking, waits out the cooldown and sees others live', T(60_000), async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(cfg.url);
    await page.evaluate(() => window.pixelApp.ready);
    await page.waitForFunction(() => /connected/.test(document.getElementById('status').textContent));

    const email = uniqueEmail('browser');
    await page.fill('#email', email);
    await page.fill('#password', 'password-123');
    await page.fill('#name', 'Browser Player');
    await page.click('#signup');
    await page.waitForFunction(() => document.getElementById('user').textContent === 'Browser Player');

    await page.click('#palette .swatch[data-color="6"]');
    const { x, y } = freshCell();
    await clickPixel(page, x, y);
    await page.waitForFunction(([px, py]) => window.pixelApp.pixel(px, py) === 6, [x, y]);
    await page.waitForFunction(() => document.getElementById('cooldown').textContent.trim() !== '');
    await page.waitForFunction(() => document.getElementById('cooldown').textContent.trim() === '', null, {
      timeout: cfg.cooldownMs + 5000,
    });

    // Another player's pixel arrives without reloading.
    const other = await signup();
    const s = await connect({ token: other.access });
    await join(s);
    const cell = freshCell();
    const res = await place(s, cell.x, cell.y, 12);
    assert.equal(res.ok, true, JSON.stringify(res));
    await page.waitForFunction(([px, py]) => window.pixelApp.pixel(px, py) === 12, [cell.x, cell.y]);

    // Both decay: the page shows them empty again.
    await page.waitForFunction(
      ([a, b]) => window.pixelApp.pixel(a.x, a.y) === 0 && window.pixelApp.pixel(b.x, b.y) === 0,
      [{ x, y }, cell],
      { timeout: cfg.ttlMs + 10_000 },
    );
    await page.screenshot({ path: path.join(SHOTS, 'page.png') });
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await page.close();
  }
});

test('a spectator sees the board and is told to sign in when clicking', T(30_000), async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  try {
    await page.goto(cfg.url);
    await page.evaluate(() => window.pixelApp.ready);
    const { x, y } = freshCell();
    await clickPixel(page, x, y);
    await page.waitForFunction(() => /sign in/i.test(document.getElementById('message').textContent));
    assert.equal(await page.evaluate(([px, py]) => window.pixelApp.pixel(px, py), [x, y]), 0);
  } finally {
    await page.close();
  }
});
