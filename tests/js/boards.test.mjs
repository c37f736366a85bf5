// More than one board (BOARD_IDS): each board is listed, takes placements
// and streams only its own updates, and the cooldown is the user's across
// boards. The test command runs the suites with BOARD_IDS=main,second.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, join, place, assertAckOk, assertAckError, assertBoardMeta,
  pixelLog, freshCell, randomColor, snapshot, findPixel, http, waitFor,
} from './helpers.mjs';

after(closeAll);

const ids = (process.env.BOARD_IDS ?? 'main').split(',').map((s) => s.trim());
const other = ids.find((id) => id !== cfg.board);

test('every board of BOARD_IDS is listed, takes placements and streams only its own updates; the cooldown spans boards', T(60_000), async () => {
  assert.ok(other, `the suite runs with a second board in BOARD_IDS (got ${JSON.stringify(ids)})`);
  const list = await http('GET', '/api/boards');
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.map((b) => b.id).sort(), [...ids].sort(), 'GET /api/boards lists exactly BOARD_IDS');
  for (const meta of list.json) assertBoardMeta(meta, `meta of ${meta.id}`);

  const watchMain = await connect();
  const watchOther = await connect();
  const logMain = pixelLog(watchMain);
  const logOther = pixelLog(watchOther);
  assertAckOk(await join(watchMain, { board: cfg.board }), 'watcher joins main');
  assertAckOk(await join(watchOther, { board: other }), `watcher joins ${other}`);

  const user = await signup();
  const s = await connect({ token: user.access });
  assertAckOk(await join(s, { board: cfg.board }), 'player joins main');
  assertAckOk(await join(s, { board: other }), `player joins ${other}`);

  const a = freshCell();
  const colorA = randomColor();
  const onMain = assertAckOk(await place(s, a.x, a.y, colorA, cfg.board), 'place on main');
  // The cooldown is the user's, across boards.
  if (cfg.cooldownMs > 0) {
    assertAckError(await place(s, a.x, a.y, colorA, other), 'cooldown', `place on ${other} right after main`);
  }
  const colorB = colorA === 1 ? 2 : 1;
  const onOther = await waitFor(async () => {
    const res = await place(s, a.x, a.y, colorB, other);
    if (res?.ok === false && res.error === 'cooldown') return false;
    return assertAckOk(res, `place on ${other}`);
  }, cfg.cooldownMs + 5_000, 'the cooldown to pass', 100);

  const seenMain = await logMain.waitFor((u) => u.seq === onMain.update.seq && u.x === a.x && u.y === a.y);
  const seenOther = await logOther.waitFor((u) => u.seq === onOther.update.seq && u.x === a.x && u.y === a.y);
  assert.equal(seenMain.board, cfg.board);
  assert.equal(seenMain.u.color, colorA);
  assert.equal(seenOther.board, other);
  assert.equal(seenOther.u.color, colorB);
  // Each watcher joined one board only: nothing of the other arrives.
  assert.deepEqual([...new Set(logMain.entries.map((e) => e.board))], [cfg.board], 'main watcher: only main');
  assert.deepEqual([...new Set(logOther.entries.map((e) => e.board))], [other], `${other} watcher: only ${other}`);

  // Each board's snapshot holds its own placement at the same cell.
  const snapMain = await snapshot(cfg.board);
  const snapOther = await snapshot(other);
  assert.equal(findPixel(snapMain, a.x, a.y)?.[2], colorA, 'main holds its colour');
  assert.equal(findPixel(snapOther, a.x, a.y)?.[2], colorB, `${other} holds its colour`);
});
