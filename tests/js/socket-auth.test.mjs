// Socket.IO handshake authentication, the `auth` event and token expiry on a live socket.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, connect, connectRefused, closeAll, signup, login, ack, join, place, assertAckOk, assertAckError,
  assertMainMeta, assertPlacementShape, expiredToken, wronglySignedToken, signJwt, claimsOf, nowS, sleepUntil,
  freshCell, randomColor, pixelLog, waitFor, openSocket, rawAck,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

/** Places on a fresh cell, retrying while the user's cooldown runs; resolves with the ok ack. */
async function placeWhenAllowed(socket, timeoutMs = cfg.cooldownMs + 5_000) {
  const { x, y } = freshCell();
  const color = randomColor();
  return waitFor(async () => {
    const res = await place(socket, x, y, color);
    if (res?.ok === false && res.error === 'cooldown') return false;
    return assertAckOk(res, 'place');
  }, timeoutMs, 'the cooldown to pass', 100);
}

describe('handshake', () => {
  for (const [label, opts] of [
    ['no auth object', {}],
    ['a null token', { auth: { token: null } }],
    ['an empty token', { auth: { token: '' } }],
  ]) {
    test(`a socket connecting with ${label} is a spectator that may join and watch but not place`, T(30_000), async () => {
      const s = await connect(opts);
      assert.ok(s.connected);
      const j = assertAckOk(await join(s), 'spectator join');
      assertMainMeta(j.board, 'join ack board');
      const { x, y } = freshCell();
      assertAckError(await place(s, x, y, 1), 'unauthorized', 'spectator place');
    });
  }

  test('a garbage token is refused with connect_error "unauthorized"', T(30_000), async () => {
    const err = await connectRefused({ token: 'garbage.token.value' });
    assert.equal(err.message, 'unauthorized');
  });

  test('a token signed with another key is refused with connect_error "unauthorized"', T(60_000), async () => {
    const u = await signup();
    const err = await connectRefused({ token: wronglySignedToken(u) });
    assert.equal(err.message, 'unauthorized');
  });

  test('an unsigned alg-none token is refused with connect_error "unauthorized"', T(60_000), async () => {
    const u = await signup();
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${u.access.split('.')[1]}.`;
    const err = await connectRefused({ token: none });
    assert.equal(err.message, 'unauthorized');
  });

  test('an expired token is refused with connect_error "token_expired"', T(60_000), async () => {
    const u = await signup();
    const err = await connectRefused({ token: expiredToken(u) });
    assert.equal(err.message, 'token_expired');
  });

  test('a socket connecting with a valid access token can place pixels credited to its user', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    assertAckOk(await join(s));
    const { x, y } = freshCell();
    const res = assertAckOk(await place(s, x, y, 3));
    assertPlacementShape(res.update, 'place ack update');
    assert.equal(res.update.by, u.name);
  });
});

describe('auth event', () => {
  test('an auth event with a valid token upgrades a spectator so that it can place', T(60_000), async () => {
    const u = await signup();
    const s = await connect();
    assertAckOk(await join(s));
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 2), 'unauthorized', 'before auth');
    const a = await ack(s, 'auth', { token: u.access });
    assertAckOk(a, 'auth');
    const res = assertAckOk(await place(s, x, y, 2), 'after auth');
    assert.equal(res.update.by, u.name);
  });

  test('an auth event with a bad token acks unauthorized and the socket stays a connected spectator', T(60_000), async () => {
    const u = await signup();
    const s = await connect();
    assertAckOk(await join(s));
    assertAckError(await ack(s, 'auth', { token: 'garbage' }), 'unauthorized', 'garbage token');
    assertAckError(await ack(s, 'auth', { token: wronglySignedToken(u) }), 'unauthorized', 'wrongly signed token');
    assert.ok(s.connected, 'the socket must stay connected');
    assertAckOk(await join(s), 'join still served');
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 2), 'unauthorized', 'still a spectator');
  });

  test('an auth event with an expired token acks token_expired and the socket keeps its previous identity', T(60_000), async () => {
    const [u, other] = await Promise.all([signup(), signup()]);
    const s = await connect({ token: u.access });
    assertAckOk(await join(s));
    assertAckError(await ack(s, 'auth', { token: expiredToken(other) }), 'token_expired', 'expired token');
    assert.ok(s.connected, 'the socket must stay connected');
    const { x, y } = freshCell();
    const res = assertAckOk(await place(s, x, y, 4), 'place with the previous identity');
    assert.equal(res.update.by, u.name, 'the placement must still be credited to the original user');
  });

  test('an auth event with an expired token leaves a spectator a spectator', T(60_000), async () => {
    const u = await signup();
    const s = await connect();
    assertAckOk(await join(s));
    assertAckError(await ack(s, 'auth', { token: expiredToken(u) }), 'token_expired', 'expired token');
    assert.ok(s.connected);
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 4), 'unauthorized', 'still a spectator');
  });

  test('an auth event with a malformed payload acks invalid_input', T(30_000), async () => {
    const s = await connect();
    for (const args of [[], ['a-string'], [42], [[]], [null], [{}], [{ token: 42 }], [{ token: ['x'] }]]) {
      assertAckError(await ack(s, 'auth', ...args), 'invalid_input', `auth ${JSON.stringify(args)}`);
    }
  });

  test('a token refreshed over REST can be swapped in on a live socket with the auth event', T(60_000), async () => {
    const u = await signup();
    const s = await connect({ token: u.access });
    assertAckOk(await join(s));
    const r = await login(u.email, u.password);
    assert.equal(r.status, 200, r.text);
    assertAckOk(await ack(s, 'auth', { token: r.json.access_token }), 'auth with a fresh token');
    const { x, y } = freshCell();
    const res = assertAckOk(await place(s, x, y, 5));
    assert.equal(res.update.by, u.name);
  });
});

describe('token expiry on a live socket', () => {
  test('a socket whose access token expires while connected gets token_expired on place until it sends a fresh token', T(60_000), async () => {
    const u = await signup();
    const exp = nowS() + 3; // expires within 2..3 s
    const short = signJwt(claimsOf(u, nowS(), exp));
    const s = await connect({ token: short });
    const log = pixelLog(s);
    assertAckOk(await join(s));
    const first = await placeWhenAllowed(s);
    assert.equal(first.update.by, u.name);

    await sleepUntil(exp * 1000 + 100);
    const { x, y } = freshCell();
    assertAckError(await place(s, x, y, 6), 'token_expired', 'place after the token expired');
    assert.ok(s.connected, 'the socket stays connected');
    assertAckOk(await join(s), 'a spectator action (join) is still served');
    // Still watching: the socket keeps receiving broadcasts of its board.
    assert.deepEqual(await log.seq(first.update.seq), first.update, 'the socket received its own placement');

    assertAckOk(await ack(s, 'auth', { token: u.access }), 'auth with a fresh token');
    const again = await placeWhenAllowed(s);
    assert.equal(again.update.by, u.name);
  });
});

describe('transports', () => {
  for (const transports of [['websocket'], ['polling', 'websocket']]) {
    test(`an event emitted right away, before the ${transports.join('+')} connection is up, is acked (handlers are ready at connect)`, T(60_000), async () => {
      const u = await signup();
      const sockets = Array.from({ length: 20 }, (_, i) => openSocket({ token: i % 2 ? u.access : undefined, transports }));
      const acks = await Promise.all(sockets.map((s) => rawAck(s, 'join', { board: cfg.board })));
      for (const [i, a] of acks.entries()) assertAckOk(a, `first join of socket ${i}`);
    });
  }


  for (const transports of [['polling'], ['websocket']]) {
    test(`a ${transports[0]}-only client can join, place and receive its broadcast`, T(60_000), async () => {
      const u = await signup();
      const s = await connect({ token: u.access, transports });
      const log = pixelLog(s);
      assertAckOk(await join(s));
      const { x, y } = freshCell();
      const res = assertAckOk(await place(s, x, y, 7));
      const got = await log.seq(res.update.seq);
      assert.deepEqual(got, res.update);
    });
  }
});
