// A little of every kind of traffic, so that each metric the dashboards and
// alert rules read has data: sign-ups (ok, taken, invalid), logins (ok,
// failed), refreshes (rotated, reused, invalid), a logout, sockets on every
// gateway (WebSocket and long-polling) that join, place, hit the cooldown
// and watch their pixels decay. Used by scripts/test-ops.sh (live block)
// and the image test.
//
//   PIXEL_URL=http://127.0.0.1:<nginx or api> GATEWAY_URLS="http://127.0.0.1:3001 ..." node ops/traffic.mjs
//
// Every wait is bounded; exits non-zero when the game does not behave.

import assert from 'node:assert/strict';
import {
  cfg, http, signup, login, connect, join, place, pixelLog, assertAckOk, assertAckError,
  assertHttpError, freshCell, randomColor, closeAll, uniqueEmail, PASSWORD,
} from '../helpers.mjs';

const gateways = (process.env.GATEWAY_URLS ?? cfg.url).split(/\s+/).filter(Boolean);

async function authTraffic() {
  const user = await signup();
  assertHttpError(await http('POST', '/api/auth/signup', { json: { email: user.email, password: PASSWORD } }), 409, 'email_taken');
  assertHttpError(await http('POST', '/api/auth/signup', { json: { email: 'not-an-email', password: PASSWORD } }), 400, 'invalid_input');
  assertHttpError(await login(user.email, 'wrong-password-123'), 401, 'invalid_credentials');
  const ok = await login(user.email, user.password);
  assert.equal(ok.status, 200, ok.text);
  const rotated = await http('POST', '/api/auth/refresh', { json: { refresh_token: ok.json.refresh_token } });
  assert.equal(rotated.status, 200, rotated.text);
  // The rotated token again: a reuse, which also revokes the new one.
  assertHttpError(await http('POST', '/api/auth/refresh', { json: { refresh_token: ok.json.refresh_token } }), 401, 'invalid_token');
  assertHttpError(await http('POST', '/api/auth/refresh', { json: { refresh_token: 'no-such-token' } }), 401, 'invalid_token');
  const logout = await http('POST', '/api/auth/logout', { json: { refresh_token: user.refresh } });
  assert.equal(logout.status, 204, logout.text);
  const snap = await http('GET', `/api/boards/${cfg.board}/pixels`);
  assert.equal(snap.status, 200, snap.text);
  assertHttpError(await http('GET', '/api/no-such-route'), 404, 'not_found');
}

/** On one gateway: a player places a pixel, is refused by the cooldown,
 * and a watcher there sees the placement and its decay. */
async function playOn(url, transports) {
  const user = await signup({ email: uniqueEmail('ops') });
  const watcher = await connect({ url, transports });
  const log = pixelLog(watcher);
  assertAckOk(await join(watcher), `watcher join on ${url}`);
  const player = await connect({ url, token: user.access, transports });
  assertAckOk(await join(player), `player join on ${url}`);
  const { x, y } = freshCell();
  const placed = assertAckOk(await place(player, x, y, randomColor()), `place on ${url}`);
  assertAckError(await place(player, x, y, randomColor()), 'cooldown', `second place on ${url}`);
  const seq = placed.update.seq;
  await log.seq(seq);
  const decayBy = placed.update.expires_at - Date.now() + 10_000;
  await log.waitFor((u) => u.x === x && u.y === y && u.color === 0 && u.seq > seq, decayBy, `the decay of (${x},${y}) on ${url}`);
  return { url, seq };
}

try {
  await authTraffic();
  const plays = await Promise.all(gateways.map((url, i) => playOn(url, i === 0 ? ['polling'] : undefined)));
  for (const p of plays) console.log(`ops traffic: placed and decayed seq ${p.seq} via ${p.url}`);
} finally {
  closeAll();
}
