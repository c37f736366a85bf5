// Socket.IO input validation, error codes and the order of checks
// (input, then auth, then joined, then cooldown).

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, closeAll, signup, ack, join, leave, place, assertAckOk, assertAckError, freshCell,
  randomColor, signJwt, claimsOf, nowS, sleepUntil, pixelLog,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

const W = cfg.width;
const H = cfg.height;
const B = cfg.board;

/** Malformed `place` argument lists (each an argument list for emit; [] = no payload). */
function badPlaceArgs() {
  const ok = { board: B, x: 0, y: 0, color: 1 };
  const without = (k) => {
    const o = { ...ok };
    delete o[k];
    return o;
  };
  return [
    ['no payload', []],
    ['a string payload', ['main']],
    ['a number payload', [5]],
    ['an array payload', [[B, 0, 0, 1]]],
    ['a null payload', [null]],
    ['an empty object', [{}]],
    ['board missing', [without('board')]],
    ['board a number', [{ ...ok, board: 5 }]],
    ['board null', [{ ...ok, board: null }]],
    ['board an object', [{ ...ok, board: { id: B } }]],
    ['board "../x"', [{ ...ok, board: '../x' }]],
    ['board of 100 characters', [{ ...ok, board: 'a'.repeat(100) }]],
    ['x missing', [without('x')]],
    ['y missing', [without('y')]],
    ['color missing', [without('color')]],
    ['x a numeric string', [{ ...ok, x: '1' }]],
    ['y a numeric string', [{ ...ok, y: '1' }]],
    ['color a numeric string', [{ ...ok, color: '3' }]],
    ['x null', [{ ...ok, x: null }]],
    ['x a boolean', [{ ...ok, x: true }]],
    ['x a float', [{ ...ok, x: 1.5 }]],
    ['y a float', [{ ...ok, y: 0.5 }]],
    ['color a float', [{ ...ok, color: 2.5 }]],
    ['x negative', [{ ...ok, x: -1 }]],
    ['y negative', [{ ...ok, y: -1 }]],
    ['x equal to the width', [{ ...ok, x: W }]],
    ['y equal to the height', [{ ...ok, y: H }]],
    ['x far outside', [{ ...ok, x: 2 ** 40 }]],
    ['color 0', [{ ...ok, color: 0 }]],
    ['color negative', [{ ...ok, color: -1 }]],
    ['color one past the palette', [{ ...ok, color: cfg.paletteSize + 1 }]],
    ['color 256', [{ ...ok, color: 256 }]],
  ];
}

describe('place input validation', () => {
  test('every malformed place payload from a signed-in joined user acks invalid_input and changes nothing', T(90_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    const log = pixelLog(s);
    assertAckOk(await join(s));
    for (const [label, args] of badPlaceArgs()) {
      assertAckError(await ack(s, 'place', ...args), 'invalid_input', `place with ${label}`);
    }
    // None of them placed anything or started the cooldown.
    const { x, y } = freshCell();
    const res = assertAckOk(await place(s, x, y, randomColor()), 'a valid place after the invalid ones');
    await log.seq(res.update.seq);
    const mine = log.all((upd) => upd.by === u.name).map((e) => e.u);
    assert.deepEqual(mine, [res.update], 'only the valid placement may have been made');
  });

  test('malformed place payloads from a spectator ack invalid_input, not unauthorized', T(90_000), async () => {
    const s = await connect();
    assertAckOk(await join(s));
    for (const [label, args] of badPlaceArgs()) {
      assertAckError(await ack(s, 'place', ...args), 'invalid_input', `spectator place with ${label}`);
    }
  });

  test('the board edges are valid coordinates and the last palette colour is a valid colour', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    assertAckOk(await join(s));
    const res = assertAckOk(await place(s, W - 1, H - 1, cfg.paletteSize), 'place at the far corner');
    assert.equal(res.update.x, W - 1);
    assert.equal(res.update.y, H - 1);
    assert.equal(res.update.color, cfg.paletteSize);
  });
});

describe('join and leave input validation', () => {
  test('malformed join payloads ack invalid_input', T(60_000), async () => {
    const s = await connect();
    const cases = [
      ['no payload', []],
      ['a string payload', ['main']],
      ['a number payload', [7]],
      ['an array payload', [['main']]],
      ['a null payload', [null]],
      ['an empty object', [{}]],
      ['board a number', [{ board: 5 }]],
      ['board null', [{ board: null }]],
      ['board "../x"', [{ board: '../x' }]],
      ['board of 100 characters', [{ board: 'b'.repeat(100) }]],
      ['since negative', [{ board: B, since: -1 }]],
      ['since a float', [{ board: B, since: 1.5 }]],
      ['since a string', [{ board: B, since: '3' }]],
      ['since an object', [{ board: B, since: {} }]],
    ];
    for (const [label, args] of cases) {
      assertAckError(await ack(s, 'join', ...args), 'invalid_input', `join with ${label}`);
    }
  });

  test('joining a well-formed but unknown board acks not_found', T(30_000), async () => {
    const s = await connect();
    assertAckError(await join(s, { board: 'nope' }), 'not_found', 'join nope');
    assertAckError(await join(s, { board: 'nope', since: 0 }), 'not_found', 'join nope with since');
  });

  test('joining an empty board id is rejected as invalid_input or not_found', T(30_000), async () => {
    const s = await connect();
    const res = await join(s, { board: '' });
    assert.equal(res?.ok, false, JSON.stringify(res));
    assert.ok(['invalid_input', 'not_found'].includes(res.error), JSON.stringify(res));
  });

  test('malformed leave payloads ack invalid_input', T(30_000), async () => {
    const s = await connect();
    assertAckOk(await join(s));
    for (const [label, args] of [
      ['no payload', []],
      ['a string payload', ['main']],
      ['an empty object', [{}]],
      ['board a number', [{ board: 1 }]],
      ['board "../x"', [{ board: '../x' }]],
      ['board of 100 characters', [{ board: 'c'.repeat(100) }]],
    ]) {
      assertAckError(await ack(s, 'leave', ...args), 'invalid_input', `leave with ${label}`);
    }
  });

  test('leaving a board this socket has not joined acks not_joined', T(30_000), async () => {
    const s = await connect();
    assertAckError(await leave(s), 'not_joined', 'leave without join');
    assertAckOk(await join(s));
    assertAckOk(await leave(s), 'leave after join');
    assertAckError(await leave(s), 'not_joined', 'leave twice');
  });

  test('leaving an unknown board is rejected with not_found or not_joined', T(30_000), async () => {
    const s = await connect();
    const res = await leave(s, 'nope');
    assert.equal(res?.ok, false, JSON.stringify(res));
    assert.ok(['not_found', 'not_joined'].includes(res.error), JSON.stringify(res));
  });

  test('an event name the server does not know acks invalid_input', T(30_000), async () => {
    const s = await connect();
    assertAckError(await ack(s, 'frobnicate', { board: B }), 'invalid_input', 'unknown event');
    assertAckError(await ack(s, 'PLACE', { board: B, x: 0, y: 0, color: 1 }), 'invalid_input', 'wrong-case event');
    assert.ok(s.connected, 'the socket stays connected');
  });
});

describe('order of checks', () => {
  test('a spectator placing on a joined board gets unauthorized', T(30_000), async () => {
    const s = await connect();
    assertAckOk(await join(s));
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 1), 'unauthorized');
  });

  test('a spectator placing on a board it has not joined gets unauthorized (auth before joined)', T(30_000), async () => {
    const s = await connect();
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 1), 'unauthorized');
  });

  test('a spectator placing out-of-range coordinates gets invalid_input (input before auth)', T(30_000), async () => {
    const s = await connect();
    assertAckError(await place(s, W, 0, 1), 'invalid_input', 'not joined');
    assertAckOk(await join(s));
    assertAckError(await place(s, 0, H, 1), 'invalid_input', 'joined');
  });

  test('a signed-in user placing on a board it has not joined gets not_joined', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 1), 'not_joined', 'never joined');
    assertAckOk(await join(s));
    assertAckOk(await leave(s));
    assertAckError(await place(s, x, y, 1), 'not_joined', 'after leave');
  });

  test('a signed-in user placing invalid input on a board it has not joined gets invalid_input (input before joined)', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    assertAckError(await place(s, -1, 0, 1), 'invalid_input');
    assertAckError(await place(s, 0, 0, 0), 'invalid_input');
  });

  test('a signed-in user placing on an unknown board is rejected with not_found or not_joined', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    const res = await place(s, 0, 0, 1, 'nope');
    assert.equal(res?.ok, false, JSON.stringify(res));
    assert.ok(['not_found', 'not_joined'].includes(res.error), JSON.stringify(res));
  });

  test('during a cooldown, invalid input acks invalid_input and a not-joined board acks not_joined before cooldown', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    assertAckOk(await join(s));
    const a = freshCell();
    const first = assertAckOk(await place(s, a.x, a.y, 1), 'first placement');
    const until = first.cooldown_until;
    const stillCooling = (step) => assert.ok(Date.now() < until - 20, `test too slow: the cooldown ended before step "${step}"`);

    stillCooling('invalid input');
    assertAckError(await place(s, W + 5, 0, 1), 'invalid_input', 'invalid input during cooldown');
    stillCooling('valid placement');
    const b = freshCell();
    const cd = assertAckError(await place(s, b.x, b.y, 1), 'cooldown', 'valid placement during cooldown');
    assert.ok(Number.isSafeInteger(cd.retry_after_ms) && cd.retry_after_ms > 0, `retry_after_ms: ${JSON.stringify(cd)}`);
    assertAckOk(await leave(s));
    stillCooling('not joined');
    assertAckError(await place(s, b.x, b.y, 1), 'not_joined', 'not joined during cooldown');
  });

  test('a socket whose token expired gets invalid_input for bad input and token_expired before not_joined', T(60_000), async () => {
    const u = await signup();
    const exp = nowS() + 3;
    const s = await connect({ token: signJwt(claimsOf(u, nowS(), exp)) });
    assertAckOk(await join(s));
    await sleepUntil(exp * 1000 + 100);
    const { x, y } = freshCell();
    assertAckError(await place(s, x, -1, 1), 'invalid_input', 'bad input with an expired token');
    assertAckError(await place(s, x, y, 1), 'token_expired', 'joined board with an expired token');
    assertAckOk(await leave(s), 'leave is a spectator action');
    assertAckError(await place(s, x, y, 1), 'token_expired', 'not-joined board with an expired token');
  });
});
