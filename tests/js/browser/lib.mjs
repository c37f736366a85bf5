// Shared helpers for the web page tests: Debian's Chromium driven by
// playwright-core, reading the board back from the canvas pixels (not from
// the DOM), axe-core for accessibility, screenshots for people to look at.

import { mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { cfg, uniqueEmail } from '../helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(os.tmpdir(), 'realtime-pixel-shots');
const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The default palette (pixel-core/src/domain/board.rs), as [r, g, b]. */
export const PALETTE = [
  '#ffffff', '#e4e4e4', '#888888', '#222222', '#ffa7d1', '#e50000', '#e59500', '#a06a42',
  '#e5d900', '#94e044', '#02be01', '#00d3dd', '#0083c7', '#0000ea', '#cf6ee4', '#820080',
].map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
/** Colour of an empty pixel (web/js/render.js EMPTY_RGB). */
export const EMPTY = [0xf1, 0xf3, 0xf5];
/** web/js/render.js FADE_FLOOR: a decaying pixel is never fainter than this. */
const FADE_FLOOR = 0.35;

export async function launch() {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'rp-chromium-'));
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/**
 * A new context and page on the game, ready (first snapshot applied, live).
 * `gateway`: a Socket.IO origin to pin the page to.
 */
export async function openPage(browser, { device = DESKTOP, gateway } = {}) {
  const context = await browser.newContext(device);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const url = gateway ? `${cfg.url}/?gateway=${encodeURIComponent(gateway)}` : `${cfg.url}/`;
  await page.goto(url);
  await page.evaluate(() => window.pixelApp.ready);
  await waitLive(page);
  return { context, page, errors };
}

export async function waitLive(page, timeout = 15_000) {
  await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Live', null, { timeout });
}

/** Signs up through the dialog; returns the display name. */
export async function signUpInPage(page, name) {
  await page.click('#open-auth');
  await page.fill('#email', uniqueEmail('browser'));
  await page.fill('#password', 'password-123');
  await page.fill('#name', name);
  await page.click('#signup');
  await page.waitForFunction((n) => document.getElementById('user').textContent === n, name);
  await page.waitForFunction(() => !document.getElementById('auth-dialog').open);
  return name;
}

/** Viewport coordinates of the centre of board pixel (x, y). */
export const screenOf = (page, x, y) => page.evaluate(([px, py]) => window.pixelApp.screenOf(px, py), [x, y]);

/** The canvas colour at the centre of board pixel (x, y), read back from the canvas. */
export async function canvasRgb(page, x, y) {
  return page.evaluate(([px, py]) => {
    const c = document.getElementById('board');
    const r = c.getBoundingClientRect();
    const p = window.pixelApp.screenOf(px, py);
    const sx = Math.floor(((p.x - r.left) * c.width) / r.width), sy = Math.floor(((p.y - r.top) * c.height) / r.height);
    return [...c.getContext('2d').getImageData(sx, sy, 1, 1).data.slice(0, 3)];
  }, [x, y]);
}

/**
 * Which palette colour (1-based) an on-canvas colour shows, allowing for the
 * decay fade towards the empty colour; 0 for empty.
 */
export function colorOf(rgb) {
  if (rgb.every((v, i) => Math.abs(v - EMPTY[i]) <= 2)) return 0;
  let best = -1, bestErr = Infinity;
  PALETTE.forEach((col, idx) => {
    // Best fade a in [FADE_FLOOR, 1] for rgb = EMPTY + a * (col - EMPTY), least squares.
    let num = 0, den = 0;
    for (let i = 0; i < 3; i++) { num += (rgb[i] - EMPTY[i]) * (col[i] - EMPTY[i]); den += (col[i] - EMPTY[i]) ** 2; }
    const a = den ? Math.min(1, Math.max(FADE_FLOOR, num / den)) : 1;
    const err = Math.hypot(...[0, 1, 2].map((i) => rgb[i] - (EMPTY[i] + a * (col[i] - EMPTY[i]))));
    if (err < bestErr) { bestErr = err; best = idx + 1; }
  });
  return bestErr <= 6 ? best : -1;
}

/** Waits until the canvas shows palette colour `color` (0: empty) at board pixel (x, y). */
export async function waitCanvasColor(page, x, y, color, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await canvasRgb(page, x, y);
    if (colorOf(last) === color) return last;
    if (Date.now() > deadline) assert.fail(`canvas at (${x}, ${y}) shows rgb ${last} (colour ${colorOf(last)}), expected colour ${color}`);
    await page.waitForTimeout(50);
  }
}

/** Clicks (or taps) the centre of board pixel (x, y). */
export async function clickPixel(page, x, y, { tap = false } = {}) {
  const p = await screenOf(page, x, y);
  if (tap) await page.touchscreen.tap(p.x, p.y);
  else await page.mouse.click(p.x, p.y);
}

/** axe-core on the page as it stands: the serious and critical violations. */
export async function axeViolations(page) {
  // Evaluated through DevTools, not as a <script>: the page's own CSP
  // (script-src 'self') rightly refuses inline scripts, and stays on.
  await page.evaluate(`${AXE_SOURCE}\n;undefined`);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });

// A heart with a sparkle, in palette colours: [dx, dy, colour] around a centre.
const HEART = [
  '.RR...RR.',
  'RWRR.RRRR',
  'RRRRRRRRR',
  'RRRRRRRRR',
  '.RRRRRRR.',
  '..RRRRR..',
  '...RRR...',
  '....R....',
];
const ART_COLORS = { R: 6, W: 1 };

/**
 * Paints a little pixel art (so screenshots show a lively board): one new
 * player per pixel, all placing at once. Returns the cells, to wait for
 * their decay afterwards.
 */
export async function paintArt({ signup, connect, join, place, assertAckOk }, cx, cy) {
  const cells = [];
  HEART.forEach((row, dy) => [...row].forEach((ch, dx) => {
    if (ART_COLORS[ch]) cells.push({ x: cx - 4 + dx, y: cy - 4 + dy, color: ART_COLORS[ch] });
  }));
  // Confetti around it.
  const confetti = [[-12, -9, 9], [10, -11, 11], [14, 6, 13], [-15, 8, 15], [-8, 14, 7], [6, 15, 12], [-18, -2, 16], [17, -3, 10], [0, -15, 14], [2, 19, 4]];
  for (const [dx, dy, color] of confetti) cells.push({ x: cx + dx, y: cy + dy, color });
  const names = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Dennis', 'Frances', 'Ken', 'Radia'];
  // A few at a time: a burst of sign-ups (password hashing) is not what this test is about.
  const users = [], sockets = [];
  for (let i = 0; i < cells.length; i += 6) {
    const batch = cells.slice(i, i + 6).map((_, j) => `${names[(i + j) % names.length]} ${1 + Math.floor((i + j) / names.length)}`);
    users.push(...await Promise.all(batch.map((name) => signup({ name }))));
  }
  for (const u of users) {
    const s = await connect({ token: u.access });
    await join(s);
    sockets.push(s);
  }
  await Promise.all(cells.map((c, i) => place(sockets[i], c.x, c.y, c.color).then((r) => assertAckOk(r, 'art'))));
  for (const s of sockets) s.close();
  return cells;
}
