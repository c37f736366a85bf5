// GET /api/boards/{board}/pixels/{x}/{y} (PROTOCOL "Additions: pixel
// lookup"): who placed a pixel and when, now that binary frames and
// snapshots carry no placer. Answers may lag the board by up to 250 ms
// (`as_of` says how far they reach), so the tests wait for `as_of`.

import { test, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, http, assertHttpError, signupMany, joinedClient, place, assertAckOk, freshCell, closeAll, waitFor,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

const lookup = (x, y, board = cfg.board) => http('GET', `/api/boards/${encodeURIComponent(board)}/pixels/${x}/${y}`);

/** The lookup once it reflects `seq`. */
async function lookupAt(x, y, seq) {
  let res;
  await waitFor(async () => {
    res = await lookup(x, y);
    return res.status === 200 && res.json.as_of >= seq;
  }, 5_000, `lookup of (${x}, ${y}) reaching seq ${seq}`);
  return res;
}

test('a placed pixel names its placer, its times; an overwrite names the new placer', T(30_000), async () => {
  const [ann, bob] = await signupMany(2);
  const a = await joinedClient(ann);
  const b = await joinedClient(bob);
  const { x, y } = freshCell();
  const first = assertAckOk(await place(a.socket, x, y, 3), 'place').update;
  let res = await lookupAt(x, y, first.seq);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const { as_of: asOf, ...rest } = res.json;
  assert.ok(Number.isSafeInteger(asOf) && asOf >= first.seq, JSON.stringify(res.json));
  assert.deepEqual(rest, {
    board: cfg.board, x, y, color: 3, placed_at: first.placed_at, expires_at: first.expires_at, by: ann.name,
  });
  const second = assertAckOk(await place(b.socket, x, y, 4), 'overwrite').update;
  res = await lookupAt(x, y, second.seq);
  assert.equal(res.json.by, bob.name);
  assert.equal(res.json.color, 4);
  assert.equal(res.json.placed_at, second.placed_at);
});

test('an empty pixel is 404 not_found; bad coordinates 400 invalid_input; an unknown board 404', T(20_000), async () => {
  const { x, y } = freshCell();
  assertHttpError(await lookup(x, y), 404, 'not_found', 'empty pixel');
  for (const [bx, by] of [['x', 0], [0, -1], ['+1', 0], [0, '1.5'], [cfg.width, 0], [0, cfg.height], ['99999999999999999999999', 0], ['0x1', 0]]) {
    assertHttpError(await lookup(bx, by), 400, 'invalid_input', `(${bx}, ${by})`);
  }
  assertHttpError(await lookup(0, 0, 'no-such-board'), 404, 'not_found', 'unknown board');
});
