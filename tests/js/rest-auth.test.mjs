// REST authentication: signup, login, refresh, logout, /api/me.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  cfg, T, http, assertHttpError, assertTokenBody, signup, login, uniqueEmail, uniqueName, PASSWORD,
  decodeJwt, signJwt, nowS, expiredToken, wronglySignedToken, closeAll, isInt,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

describe('signup', () => {
  test('signup returns 201 with a complete token body for the new user', T(60_000), async () => {
    const email = uniqueEmail();
    const name = uniqueName();
    const res = await http('POST', '/api/auth/signup', { json: { email, password: PASSWORD, name } });
    assert.equal(res.status, 201, res.text);
    const body = assertTokenBody(res.json);
    assert.equal(body.user.email, email);
    assert.equal(body.user.name, name);
  });

  test('the access token is an HS256 JWT carrying sub, email, name, iat and exp of the user', T(60_000), async () => {
    const u = await signup();
    const { header, payload, signature } = decodeJwt(u.access);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.sub, u.id);
    assert.equal(payload.email, u.email);
    assert.equal(payload.name, u.name);
    assert.ok(isInt(payload.iat) && isInt(payload.exp), 'iat and exp must be integers (Unix seconds)');
    const now = nowS();
    assert.ok(Math.abs(payload.iat - now) <= 60, `iat ${payload.iat} is not close to now ${now}`);
    assert.ok(payload.exp > now, 'exp must be in the future');
    assert.ok(Math.abs(payload.exp - payload.iat - u.body.expires_in) <= 1, 'exp - iat must equal expires_in');
    const resigned = signJwt(payload, { header });
    assert.equal(resigned.split('.')[2], signature, 'the token must be signed with JWT_SECRET (is JWT_SECRET set to the server\'s key?)');
  });

  test('the name defaults to the part of the email before @', T(60_000), async () => {
    const local = `dflt-${crypto.randomUUID()}`;
    const u = await signup({ email: `${local}@test.local`, name: null });
    assert.equal(u.name, local);
    const me = await http('GET', '/api/me', { token: u.access });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.name, local);
  });

  test('signup with a malformed email is rejected with 400 invalid_input', T(60_000), async () => {
    for (const email of ['not-an-email', 'no-at-sign.test.local', '@test.local', `${crypto.randomUUID()}@`, '']) {
      const res = await http('POST', '/api/auth/signup', { json: { email, password: PASSWORD } });
      assertHttpError(res, 400, 'invalid_input', `email ${JSON.stringify(email)}`);
    }
  });

  test('signup with a password shorter than 8 characters is rejected with 400 invalid_input, 8 characters are accepted', T(60_000), async () => {
    const res = await http('POST', '/api/auth/signup', { json: { email: uniqueEmail(), password: '1234567' } });
    assertHttpError(res, 400, 'invalid_input', '7-character password');
    const ok = await http('POST', '/api/auth/signup', { json: { email: uniqueEmail(), password: '12345678' } });
    assert.equal(ok.status, 201, `8-character password: ${ok.text}`);
  });

  test('signup with a body that is not JSON is rejected with 400 invalid_input', T(60_000), async () => {
    const res = await http('POST', '/api/auth/signup', {
      body: '{"email": "broken',
      headers: { 'content-type': 'application/json' },
    });
    assertHttpError(res, 400, 'invalid_input', 'truncated JSON');
    const res2 = await http('POST', '/api/auth/signup', {
      body: 'email=a@b.c&password=12345678',
      headers: { 'content-type': 'application/json' },
    });
    assertHttpError(res2, 400, 'invalid_input', 'form-encoded body');
  });

  test('signup with missing or mistyped fields is rejected with 400 invalid_input', T(60_000), async () => {
    const cases = [
      {},
      { email: uniqueEmail() },
      { password: PASSWORD },
      { email: 12345, password: PASSWORD },
      { email: uniqueEmail(), password: 12345678 },
      { email: uniqueEmail(), password: PASSWORD, name: 42 },
      'just a string',
      null,
    ];
    for (const json of cases) {
      const res = await http('POST', '/api/auth/signup', { json });
      assertHttpError(res, 400, 'invalid_input', `body ${JSON.stringify(json)}`);
    }
  });

  test('a JSON array in place of the body object is rejected with 400 invalid_input on every auth route', T(60_000), async () => {
    const u = await signup();
    const cases = [
      ['/api/auth/signup', [uniqueEmail(), PASSWORD]],
      ['/api/auth/signup', [uniqueEmail(), PASSWORD, uniqueName()]],
      ['/api/auth/login', [u.email, u.password]],
      ['/api/auth/refresh', [u.refresh]],
      ['/api/auth/logout', [u.refresh]],
    ];
    for (const [route, json] of cases) {
      const res = await http('POST', route, { json });
      assert.ok(res.status >= 400 && res.status < 500, `${route} accepted the array body ${JSON.stringify(json)}: ${res.status} ${res.text}`);
      const expected = route.endsWith('signup') || route.endsWith('login') ? 'invalid_input' : res.json?.error?.code;
      assertHttpError(res, res.status, expected, `${route} with an array body`);
      if (expected === 'invalid_input') assert.equal(res.status, 400);
    }
    // The refresh token presented in the array bodies still works (nothing was consumed).
    const r = await http('POST', '/api/auth/refresh', { json: { refresh_token: u.refresh } });
    assert.equal(r.status, 200, `refresh token consumed by a rejected array body: ${r.text}`);
  });

  test('signing up twice with the same email, in any letter case, is rejected with 409 email_taken', T(60_000), async () => {
    const email = `dup-${crypto.randomUUID()}@test.local`;
    await signup({ email });
    const again = await http('POST', '/api/auth/signup', { json: { email, password: PASSWORD } });
    assertHttpError(again, 409, 'email_taken', 'same email');
    const upper = await http('POST', '/api/auth/signup', { json: { email: email.toUpperCase(), password: 'another-password' } });
    assertHttpError(upper, 409, 'email_taken', 'upper-cased email');
  });
});

describe('login', () => {
  test('login with the right password returns 200 and a token body for the same user', T(60_000), async () => {
    const u = await signup();
    const res = await login(u.email, u.password);
    assert.equal(res.status, 200, res.text);
    const body = assertTokenBody(res.json);
    assert.equal(body.user.id, u.id);
    assert.equal(body.user.email, u.email);
    assert.equal(body.user.name, u.name);
    assert.notEqual(body.refresh_token, u.refresh, 'a new login must get a new refresh token');
    const me = await http('GET', '/api/me', { token: body.access_token });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.id, u.id);
  });

  test('login compares the email case-insensitively', T(60_000), async () => {
    const u = await signup({ email: `case-${crypto.randomUUID()}@test.local` });
    const res = await login(u.email.toUpperCase(), u.password);
    assert.equal(res.status, 200, res.text);
    assert.equal(assertTokenBody(res.json).user.id, u.id);
  });

  test('login with a wrong password or an unknown email is rejected with 401 invalid_credentials', T(60_000), async () => {
    const u = await signup();
    assertHttpError(await login(u.email, 'wrong-password'), 401, 'invalid_credentials', 'wrong password');
    assertHttpError(await login(uniqueEmail('nobody'), PASSWORD), 401, 'invalid_credentials', 'unknown email');
  });

  test('login with missing fields or a non-JSON body is rejected with 400 invalid_input', T(60_000), async () => {
    const u = await signup();
    for (const json of [{}, { email: u.email }, { password: u.password }, { email: u.email, password: 5 }, 'x']) {
      assertHttpError(await http('POST', '/api/auth/login', { json }), 400, 'invalid_input', `body ${JSON.stringify(json)}`);
    }
    const raw = await http('POST', '/api/auth/login', { body: 'nope{', headers: { 'content-type': 'application/json' } });
    assertHttpError(raw, 400, 'invalid_input', 'non-JSON body');
  });

  test('after 20 failed logins for one account the next attempt gets 429 rate_limited even with the right password, other accounts unaffected', T(240_000), async () => {
    const [victim, bystander] = await Promise.all([signup(), signup()]);
    const first = await login(victim.email, 'wrong-password-0');
    assertHttpError(first, 401, 'invalid_credentials', 'first failed login');
    let limited = false;
    for (let i = 1; i < 20; i++) {
      const res = await login(victim.email, `wrong-password-${i}`);
      // The contract allows the limit to kick in after *at most* 20 failures;
      // once limited, the account stays limited within the window.
      if (limited) assertHttpError(res, 429, 'rate_limited', `attempt ${i + 1} after the limit was hit`);
      else if (res.status === 429) {
        assertHttpError(res, 429, 'rate_limited', `attempt ${i + 1}`);
        limited = true;
      } else assertHttpError(res, 401, 'invalid_credentials', `attempt ${i + 1}`);
    }
    const right = await login(victim.email, victim.password);
    assertHttpError(right, 429, 'rate_limited', '21st attempt with the right password');
    const other = await login(bystander.email, bystander.password);
    assert.equal(other.status, 200, `another account must still log in: ${other.text}`);
  });
});

describe('refresh and logout', () => {
  const refresh = (token) => http('POST', '/api/auth/refresh', { json: { refresh_token: token } });
  const logout = (token) => http('POST', '/api/auth/logout', { json: { refresh_token: token } });

  test('refresh returns 200 with a new token body and the old refresh token stops working', T(60_000), async () => {
    const u = await signup();
    const res = await refresh(u.refresh);
    assert.equal(res.status, 200, res.text);
    const body = assertTokenBody(res.json, 'refresh');
    assert.equal(body.user.id, u.id);
    assert.equal(body.user.email, u.email);
    assert.equal(body.user.name, u.name);
    assert.notEqual(body.refresh_token, u.refresh, 'refresh must rotate the refresh token');
    const me = await http('GET', '/api/me', { token: body.access_token });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.id, u.id);
    assertHttpError(await refresh(u.refresh), 401, 'invalid_token', 'old refresh token after rotation');
  });

  test('presenting an already-rotated refresh token revokes every token descended from the same login but not other logins', T(60_000), async () => {
    const u = await signup();
    const r2 = await refresh(u.refresh);
    assert.equal(r2.status, 200, r2.text);
    const r3 = await refresh(r2.json.refresh_token);
    assert.equal(r3.status, 200, r3.text);
    const otherLogin = await login(u.email, u.password);
    assert.equal(otherLogin.status, 200, otherLogin.text);

    assertHttpError(await refresh(u.refresh), 401, 'invalid_token', 'replayed first refresh token');
    assertHttpError(await refresh(r3.json.refresh_token), 401, 'invalid_token', 'newest token of the reused family');
    const unaffected = await refresh(otherLogin.json.refresh_token);
    assert.equal(unaffected.status, 200, `a separate login's refresh token must keep working: ${unaffected.text}`);
  });

  test('refresh with an unknown or garbage token is rejected with 401 invalid_token', T(60_000), async () => {
    assertHttpError(await refresh(crypto.randomBytes(32).toString('base64url')), 401, 'invalid_token', 'random token');
    assertHttpError(await refresh('garbage'), 401, 'invalid_token', 'garbage');
  });

  test('refresh with a body lacking refresh_token is rejected with a 4xx error envelope', T(60_000), async () => {
    const res = await http('POST', '/api/auth/refresh', { json: {} });
    assert.ok(res.status === 400 || res.status === 401, `expected 400 or 401, got ${res.status} ${res.text}`);
    assertHttpError(res, res.status, res.status === 400 ? 'invalid_input' : 'invalid_token');
  });

  test('logout answers 204 and the refresh token is dead afterwards', T(60_000), async () => {
    const u = await signup();
    const res = await logout(u.refresh);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '', '204 must have no body');
    assertHttpError(await refresh(u.refresh), 401, 'invalid_token', 'refresh after logout');
  });

  test('logout with a garbage refresh token is rejected with 401 invalid_token', T(60_000), async () => {
    assertHttpError(await logout(`garbage-${crypto.randomUUID()}`), 401, 'invalid_token', 'logout garbage');
  });
});

describe('/api/me', () => {
  test('/api/me returns the id, email and name of the token\'s user', T(60_000), async () => {
    const u = await signup();
    const res = await http('GET', '/api/me', { token: u.access });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, u.id);
    assert.equal(res.json.email, u.email);
    assert.equal(res.json.name, u.name);
  });

  test('/api/me without a token is rejected with 401 unauthorized', T(30_000), async () => {
    assertHttpError(await http('GET', '/api/me'), 401, 'unauthorized', 'no token');
  });

  test('/api/me with a garbage, wrongly signed, alg-none or non-Bearer token is rejected with 401 unauthorized', T(60_000), async () => {
    const u = await signup();
    assertHttpError(await http('GET', '/api/me', { token: 'garbage' }), 401, 'unauthorized', 'garbage token');
    assertHttpError(await http('GET', '/api/me', { token: wronglySignedToken(u) }), 401, 'unauthorized', 'wrongly signed token');
    const [h, p] = u.access.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    assertHttpError(await http('GET', '/api/me', { token: none }), 401, 'unauthorized', 'alg none token');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(u.access).payload, name: 'mallory' })).toString('base64url')}.${u.access.split('.')[2]}`;
    assertHttpError(await http('GET', '/api/me', { token: tampered }), 401, 'unauthorized', 'tampered payload');
    const basic = await http('GET', '/api/me', { headers: { authorization: `Basic ${u.access}` } });
    assertHttpError(basic, 401, 'unauthorized', 'non-Bearer scheme');
  });

  test('/api/me with an expired token is rejected with 401 token_expired', T(60_000), async () => {
    const u = await signup();
    assertHttpError(await http('GET', '/api/me', { token: expiredToken(u) }), 401, 'token_expired', 'expired token');
  });
});
