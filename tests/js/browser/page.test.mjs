// The web page in a real headless Chromium (Debian's, driven by
// playwright-core), against PIXEL_URL like the contract suite (the
// standalone server, then nginx in front of the cluster). What the board
// shows is read back from the canvas pixels, not from the DOM.
// Cluster-only tests (two gateways, a gateway killed) are in ./cluster/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, signup, connect, join, place, closeAll, freshCell, waitFor, assertAckOk, snapshot, pixelMap, signJwt, decodeJwt,
} from '../helpers.mjs';
import {
  launch, openPage, signUpInPage, screenOf, canvasRgb, colorOf, waitCanvasColor, clickPixel, waitLive,
  axeViolations, shot, paintArt, DESKTOP, PHONE,
} from './lib.mjs';

let b;
before(async () => { b = await launch(); });
after(async () => { closeAll(); await b?.close(); });

test('a player signs up, places by clicking, sees the cooldown and the details, and the pixel decays', T(60_000), async () => {
  const { page, context, errors } = await openPage(b.browser);
  try {
    await signUpInPage(page, 'Browser Player');
    await page.click('#palette .swatch[data-color="6"]');
    const { x, y } = freshCell();
    await clickPixel(page, x, y);
    await waitCanvasColor(page, x, y, 6);
    await page.waitForFunction(([px, py]) => window.pixelApp.pixel(px, py) === 6, [x, y]);

    // The cooldown shows in the dock (wherever the pointer is) and in the tab title, then ends.
    await page.waitForFunction(() => /Next pixel in/.test(document.getElementById('cooldown-text').textContent));
    assert.match(await page.title(), /^\(\d+ s\) Realtime Pixel$/);
    await page.waitForFunction(() => /Ready/.test(document.getElementById('cooldown-text').textContent), null, {
      timeout: cfg.cooldownMs + 5000,
    });

    // Hovering the pixel shows who placed it and when it decays.
    const p = await screenOf(page, x, y);
    await page.mouse.move(p.x + 1, p.y + 1);
    await page.waitForFunction(() => !document.getElementById('details').hidden);
    assert.equal(await page.textContent('#details-by'), 'Browser Player');
    assert.match(await page.textContent('#details-decay'), /Fades|Fading/);
    assert.equal(await page.textContent('#coords'), `${x}, ${y}`);
    await shot(page, 'desktop-details.png');

    // Decay: the canvas shows the empty colour again.
    await waitCanvasColor(page, x, y, 0, cfg.ttlMs + 10_000);
    assert.equal(await page.evaluate(([px, py]) => window.pixelApp.pixel(px, py), [x, y]), 0);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await context.close();
  }
});

test('another player\'s pixel arrives live at the right place and colour', T(30_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    const other = await signup();
    const s = await connect({ token: other.access });
    await join(s);
    const cell = freshCell();
    const res = await place(s, cell.x, cell.y, 13);
    assert.equal(res.ok, true, JSON.stringify(res));
    await waitCanvasColor(page, cell.x, cell.y, 13);
    // Its neighbours stay as they were (the right position, not just somewhere).
    const right = cell.x + 1 < cfg.width ? [cell.x + 1, cell.y] : [cell.x - 1, cell.y];
    assert.notEqual(colorOf(await canvasRgb(page, ...right)), 13);
  } finally {
    await context.close();
  }
});

test('binary frames: a pixel placed in one page appears in another, its hover card names the placer, and its removal clears it', T(60_000), async () => {
  const a = await openPage(b.browser);
  const w = await openPage(b.browser);
  try {
    const name = `Placer ${Math.floor(Math.random() * 1e6)}`;
    await signUpInPage(a.page, name);
    const { x, y } = freshCell();
    const placed = await a.page.evaluate(([px, py]) => window.pixelApp.place(px, py, 9), [x, y]);
    assert.equal(placed.ok, true, JSON.stringify(placed));
    // The watching page draws it from a decoded binary frame (it never asks for JSON).
    await waitCanvasColor(w.page, x, y, 9);
    const frames = await w.page.evaluate(() => window.pixelApp.frames());
    assert.ok(frames.decoded > 0, `the watcher decoded binary frames: ${JSON.stringify(frames)}`);
    assert.equal(frames.refused, 0);
    // A frame has no placer: the hover card asks the lookup route.
    const lookupsBefore = await w.page.evaluate(() => window.pixelApp.lookups());
    const p = await screenOf(w.page, x, y);
    await w.page.mouse.move(p.x + 1, p.y + 1);
    await w.page.waitForFunction(() => !document.getElementById('details').hidden);
    await w.page.waitForFunction((n) => document.getElementById('details-by').textContent === n, name, { timeout: 5000 });
    assert.ok(await w.page.evaluate(() => window.pixelApp.lookups()) > lookupsBefore, 'the name came from the lookup route');
    // Decay (a removal in a frame) clears it in the watching page.
    await waitCanvasColor(w.page, x, y, 0, cfg.ttlMs + 10_000);
    assert.equal(await w.page.evaluate(([px, py]) => window.pixelApp.pixel(px, py), [x, y]), 0);
    assert.deepEqual(w.errors, [], 'no script errors on the watching page');
    assert.deepEqual(a.errors, [], 'no script errors on the placing page');
  } finally {
    await a.context.close();
    await w.context.close();
  }
});

test('zoom and pan change what is under the pointer as expected; fit returns to the whole board', T(30_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    const under = async (px, py) => {
      await page.mouse.move(px, py);
      const t = await page.textContent('#coords');
      return t ? t.split(', ').map(Number) : null;
    };
    const start = await screenOf(page, 20, 30);
    assert.deepEqual(await under(start.x, start.y), [20, 30]);
    const scale0 = (await page.evaluate(() => window.pixelApp.view())).scale;
    assert.deepEqual(await under(start.x + 4 * scale0, start.y), [24, 30]);

    // Wheel zoom about the pointer: the pixel under it stays, its neighbours move away.
    await page.mouse.move(start.x, start.y);
    await page.mouse.wheel(0, -300);
    await page.waitForFunction((s) => window.pixelApp.view().scale > s * 1.2, scale0);
    assert.deepEqual(await under(start.x, start.y), [20, 30]);
    const scale1 = (await page.evaluate(() => window.pixelApp.view())).scale;
    // 4 pixels to the right before zooming are fewer after: the anchor (20.5) stays under the pointer.
    const d = 4 * scale0;
    assert.deepEqual(await under(start.x + d, start.y), [Math.floor(20.5 + d / scale1), 30]);
    assert.ok(Math.floor(20.5 + d / scale1) < 24);

    // Drag pans: the board moves with the pointer by whole pixels of the current zoom.
    const s = scale1;
    await page.mouse.move(start.x, start.y);
    await page.mouse.down();
    await page.mouse.move(start.x - 3 * s, start.y - 2 * s, { steps: 5 });
    await page.mouse.up();
    assert.deepEqual(await under(start.x, start.y), [23, 32]);

    // Zoomed in, the minimap shows the whole board; clicking it looks there.
    await page.waitForSelector('#minimap', { state: 'visible' });
    const mm = await page.$eval('#minimap', (m) => { const r = m.getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width }; });
    const k = mm.width / cfg.width; // minimap CSS pixels per board pixel
    await page.mouse.click(mm.left + 10.5 * k, mm.top + 12.5 * k);
    const looked = await page.evaluate(() => window.pixelApp.view());
    assert.ok(Math.abs(looked.cx - 10.5) <= 1 && Math.abs(looked.cy - 12.5) <= 1, JSON.stringify(looked));
    await page.mouse.click(mm.left + 20.5 * k, mm.top + 30.5 * k);
    assert.deepEqual(await under(DESKTOP.viewport.width / 2, DESKTOP.viewport.height / 2), [20, 30], 'the minimap click is now the centre of the view');

    // Keyboard: + zooms about the centre, 0 fits the whole board back.
    await page.focus('#board');
    await page.keyboard.press('+');
    await page.waitForFunction((sc) => window.pixelApp.view().scale > sc, s);
    await page.keyboard.press('0');
    await page.waitForFunction((sc) => window.pixelApp.view().scale === sc, scale0);
    const back = await screenOf(page, 20, 30);
    assert.deepEqual([back.x, back.y], [start.x, start.y]);
    // The fit button too.
    await page.click('#zoom-in');
    await page.click('#zoom-fit');
    await page.waitForFunction((sc) => window.pixelApp.view().scale === sc, scale0);
  } finally {
    await context.close();
  }
});

test('the keyboard alone picks a colour and places a pixel', T(30_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    await signUpInPage(page, 'Keyboard Player');
    // The palette is one tab stop; arrows move the choice.
    await page.focus('#palette .swatch[aria-checked="true"]');
    const first = Number(await page.getAttribute('#palette .swatch[aria-checked="true"]', 'data-color'));
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const color = Number(await page.getAttribute('#palette .swatch[aria-checked="true"]', 'data-color'));
    assert.equal(color, first + 2);
    // The board: the cursor starts at its centre; arrows move it, Enter places.
    await page.focus('#board');
    const { width, height } = await page.evaluate(() => window.pixelApp.board());
    const target = freshCell();
    const dx = target.x - Math.floor(width / 2), dy = target.y - Math.floor(height / 2);
    await page.keyboard.press('ArrowRight'); // (a move even when the target is the centre)
    await page.keyboard.press('ArrowLeft');
    for (let i = 0; i < Math.abs(dx); i++) await page.keyboard.press(dx > 0 ? 'ArrowRight' : 'ArrowLeft');
    for (let i = 0; i < Math.abs(dy); i++) await page.keyboard.press(dy > 0 ? 'ArrowDown' : 'ArrowUp');
    assert.equal(await page.textContent('#cursor-sr'), `${target.x}, ${target.y}: empty`, 'screen readers hear where the cursor is');
    await page.keyboard.press('Enter');
    await page.waitForFunction(([px, py, c]) => window.pixelApp.pixel(px, py) === c, [target.x, target.y, color]);
    // Placing again at once: the cooldown error is spelt out.
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Cooldown/.test(document.getElementById('message').textContent));
  } finally {
    await context.close();
  }
});

test('a placement the server refuses is rolled back on the canvas and explained', T(30_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    // The same player in the page and in another client: the other client's placement
    // starts the cooldown on the server, which the page does not know about.
    const user = await signup();
    await page.click('#open-auth');
    await page.fill('#email', user.email);
    await page.fill('#password', user.password);
    await page.click('#login');
    await page.waitForFunction((n) => document.getElementById('user').textContent === n, user.name);
    const s = await connect({ token: user.access });
    await join(s);
    const a = freshCell(), c = freshCell();
    assertAckOk(await place(s, a.x, a.y, 2), 'place from the other client');
    await page.click('#palette .swatch[data-color="16"]');
    await clickPixel(page, c.x, c.y);
    await page.waitForFunction(() => /^Cooldown — wait/.test(document.getElementById('message').textContent));
    // The optimistic preview is gone: the pixel shows empty, in the model and on the canvas.
    await waitCanvasColor(page, c.x, c.y, 0);
    assert.equal(await page.evaluate(([px, py]) => window.pixelApp.pixel(px, py), [c.x, c.y]), 0);
    // And the page now counts the server's cooldown down.
    await page.waitForFunction(() => /Next pixel in/.test(document.getElementById('cooldown-text').textContent));
  } finally {
    await context.close();
  }
});

test('a returning player with an expired access token is refreshed and plays on', T(60_000), async () => {
  // Both ways the page can meet an expired token: it knows (stored expiry passed) and
  // refreshes before connecting, or it does not and the server refuses the connection.
  for (const storedExpiry of ['past', 'future']) {
    const user = await signup();
    const claims = decodeJwt(user.access).payload;
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ ...claims, iat: now - 1000, exp: now - 60 });
    const stored = {
      access_token: expired, refresh_token: user.refresh, expires_in: 900,
      user: { id: user.id, email: user.email, name: user.name },
      expires_at: storedExpiry === 'past' ? Date.now() - 1000 : Date.now() + 600_000,
    };
    const context = await b.browser.newContext(DESKTOP);
    await context.addInitScript((s) => {
      if (!sessionStorage.getItem('seeded')) {
        localStorage.setItem('realtime-pixel.session', s);
        sessionStorage.setItem('seeded', '1');
      }
    }, JSON.stringify(stored));
    try {
      const page = await context.newPage();
      await page.goto(`${cfg.url}/`);
      await page.evaluate(() => window.pixelApp.ready);
      await waitLive(page);
      assert.equal(await page.textContent('#user'), user.name, storedExpiry);
      await page.waitForFunction((old) => JSON.parse(localStorage.getItem('realtime-pixel.session')).refresh_token !== old, user.refresh);
      const { x, y } = freshCell();
      await page.click('#palette .swatch[data-color="10"]');
      await clickPixel(page, x, y);
      await waitCanvasColor(page, x, y, 10);
    } finally {
      await context.close();
    }
  }
});

test('a spectator sees the board and is asked to sign in when clicking', T(30_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    const { x, y } = freshCell();
    await clickPixel(page, x, y);
    await page.waitForFunction(() => document.getElementById('auth-dialog').open);
    assert.match(await page.textContent('#message'), /sign in/i);
    assert.equal(await page.evaluate(([px, py]) => window.pixelApp.pixel(px, py), [x, y]), 0);
    assert.deepEqual(await axeViolations(page), [], 'the sign-in dialog is accessible');
  } finally {
    await context.close();
  }
});

test('on a phone: no horizontal scroll, every control reachable, tap to place', T(60_000), async () => {
  const { page, context, errors } = await openPage(b.browser, { device: PHONE });
  try {
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      bodyScroll: document.body.scrollWidth,
      width: window.innerWidth,
    }));
    assert.ok(layout.scrollWidth <= layout.width && layout.bodyScroll <= layout.width, JSON.stringify(layout));
    // Every visible control lies inside the viewport and is the topmost element at its centre.
    const unreachable = await page.evaluate(() => {
      const bad = [];
      for (const el of document.querySelectorAll('button, input, [tabindex="0"], canvas')) {
        if (el.closest('[hidden]') || el.closest('dialog:not([open])')) continue;
        const r = el.getBoundingClientRect();
        const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        const hit = document.elementFromPoint(cx, cy);
        const inside = r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
        const small = el.tagName !== 'CANVAS' && (r.width < 32 || r.height < 32);
        if (!inside || !(hit === el || el.contains(hit)) || small) bad.push(`${el.id || el.className || el.tagName} ${JSON.stringify(r)}`);
      }
      return bad;
    });
    assert.deepEqual(unreachable, []);
    assert.deepEqual(await axeViolations(page), []);

    await signUpInPage(page, 'Phone Player');
    await page.tap('#palette .swatch[data-color="11"]');
    const { x, y } = freshCell();
    await clickPixel(page, x, y, { tap: true });
    await waitCanvasColor(page, x, y, 11);
    await page.waitForFunction(() => /Next pixel in/.test(document.getElementById('cooldown-text').textContent));
    await shot(page, 'phone.png');

    // Long-press shows the pixel's details (held until they show, then released: no place).
    const cdp = await context.newCDPSession(page);
    const touch = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points });
    const p = await screenOf(page, x, y);
    await touch('touchStart', [{ x: p.x, y: p.y }]);
    await page.waitForFunction(() => !document.getElementById('details').hidden);
    await touch('touchEnd', []);
    assert.equal(await page.textContent('#details-by'), 'Phone Player');
    await shot(page, 'phone-details.png');

    // Pinch: two fingers moving apart zoom in about their midpoint.
    const { scale } = await page.evaluate(() => window.pixelApp.view());
    const mid = await screenOf(page, 32, 32);
    const pts = (d) => [{ x: mid.x - d, y: mid.y, id: 1 }, { x: mid.x + d, y: mid.y, id: 2 }];
    await touch('touchStart', pts(20));
    for (const d of [40, 60, 80, 100]) await touch('touchMove', pts(d));
    await touch('touchEnd', []);
    const after = await page.evaluate(() => window.pixelApp.view());
    assert.ok(after.scale > scale * 3, `pinched from ${scale} to ${after.scale}`);
    const midAfter = await screenOf(page, 32, 32);
    assert.ok(Math.abs(midAfter.x - mid.x) <= after.scale && Math.abs(midAfter.y - mid.y) <= after.scale, 'the pinched point stays under the fingers');
    // Neither gesture placed a pixel: only the tap did.
    assert.equal(await page.evaluate(() => window.pixelApp.placeAttempts()), 1);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('history replay rebuilds earlier states of the board', T(60_000), async () => {
  const { page, context } = await openPage(b.browser);
  try {
    const u = await signup();
    const s = await connect({ token: u.access });
    await join(s);
    const cell = freshCell();
    const placed = await place(s, cell.x, cell.y, 16);
    assert.equal(placed.ok, true);
    await waitCanvasColor(page, cell.x, cell.y, 16);
    await page.click('#history-open');
    await page.waitForFunction(() => (window.pixelApp.replay()?.length ?? 0) > 0);
    // Scrub to the start of the window: the pixel placed inside it is not there yet.
    await page.$eval('#history-range', (r) => { r.value = '0'; r.dispatchEvent(new Event('input')); });
    await waitCanvasColor(page, cell.x, cell.y, 0);
    // And to the end: it is.
    await page.$eval('#history-range', (r) => { r.value = r.max; r.dispatchEvent(new Event('input')); });
    await waitCanvasColor(page, cell.x, cell.y, 16);
    await shot(page, 'desktop-history.png');
    await page.click('#history-live');
    await page.waitForFunction(() => window.pixelApp.replay() === null);
  } finally {
    await context.close();
  }
});

// Last: it paints pixel art over the middle of the board, and waits for it to decay.
test('no serious accessibility violations (axe-core) on desktop and phone; screenshots of a lively board', T(90_000), async () => {
  const desk = await openPage(b.browser, { device: DESKTOP });
  const phone = await openPage(b.browser, { device: PHONE });
  try {
    await signUpInPage(desk.page, 'Ada');
    const cx = Math.floor(cfg.width / 2), cy = Math.floor(cfg.height / 2);
    const cells = await paintArt({ signup, connect, join, place, assertAckOk }, cx, cy);
    for (const { page } of [desk, phone]) await waitCanvasColor(page, cx, cy + 3, 6);
    // Zoomed in a little on the art, with the pointer over a pixel (details popup).
    const c = await screenOf(desk.page, cx, cy);
    await desk.page.mouse.move(c.x, c.y);
    await desk.page.mouse.wheel(0, -300);
    await desk.page.mouse.wheel(0, -300);
    const p = await screenOf(desk.page, cx + 14, cy + 6); // a confetti pixel
    await desk.page.waitForSelector('#minimap', { state: 'visible' });
    await desk.page.mouse.move(p.x, p.y);
    await desk.page.waitForFunction(() => !document.getElementById('details').hidden);
    await shot(desk.page, 'desktop.png');
    await shot(phone.page, 'phone-board.png');
    assert.deepEqual(await axeViolations(desk.page), []);
    assert.deepEqual(await axeViolations(phone.page), []);
    await waitFor(async () => {
      const left = pixelMap(await snapshot());
      return cells.every((c) => !left.has(`${c.x},${c.y}`));
    }, cfg.ttlMs + 10_000, 'the art to decay', 250);
  } finally {
    await desk.context.close();
    await phone.context.close();
  }
});
