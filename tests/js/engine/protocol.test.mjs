// Engine.IO v4 protocol cases, written from the protocol specification
// (https://socket.io/docs/v4/engine-io-protocol/), against the server's
// Socket.IO endpoint with raw HTTP requests and raw WebSockets (`ws`).
//
// The server must run with a short heartbeat, PING_INTERVAL_MS=300 and
// PING_TIMEOUT_MS=200 (the heartbeat cases wait for it; the first case
// checks the handshake advertises it), and CONNECT_TIMEOUT_MS=2000.
//
// Behind the Engine.IO layer is socketioxide, so a message is a Socket.IO
// packet: `40` (connect to the main namespace) is answered by `40{...}` or
// `44{...}` (a connect error), which shows the message went through.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';

const base = (process.env.PIXEL_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const CONNECT_TIMEOUT = 2000;
const RS = '\x1e';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const url = (query) => `${base}/socket.io/?${query}`;
const wsUrl = (query) => url(query).replace(/^http/, 'ws');
const sockets = new Set();
after(() => sockets.forEach((s) => s.terminate()));

async function handshake() {
  const res = await fetch(url('EIO=4&transport=polling'));
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.startsWith('0'), text);
  return { open: JSON.parse(text.slice(1)), at: Date.now(), res };
}

const poll = (sid, init) => fetch(url(`EIO=4&transport=polling&sid=${sid}`), init);
const post = (sid, body) => poll(sid, { method: 'POST', body });

/** A raw WebSocket whose messages queue up until taken with `next`. */
function openWs(query) {
  const ws = new WebSocket(wsUrl(query));
  sockets.add(ws);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = isBinary ? data : data.toString();
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  ws.next = (ms = 3000) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
          waiters.push((m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
  ws.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.refused = new Promise((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('error', () => {});
  });
  ws.opened = new Promise((resolve) => ws.on('open', resolve));
  return ws;
}

/** The first packet of a polling payload that is not a noop or ping. */
const packets = (text) => text.split(RS);

describe('Engine.IO handshake', () => {
  it('polling: the open packet has the sid, the upgrade and the heartbeat settings', async () => {
    const { open, res } = await handshake();
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.equal(typeof open.sid, 'string');
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(open.pingInterval, PING_INTERVAL, 'start the server with PING_INTERVAL_MS=300');
    assert.equal(open.pingTimeout, PING_TIMEOUT, 'start the server with PING_TIMEOUT_MS=200');
    assert.ok(open.maxPayload > 0);
  });

  it('a missing or unsupported EIO is refused with 400 and code 5', async () => {
    for (const q of ['transport=polling', 'EIO=abc&transport=polling', 'EIO=3&transport=polling']) {
      const res = await fetch(url(q));
      assert.equal(res.status, 400, q);
      assert.deepEqual(await res.json(), { code: 5, message: 'Unsupported protocol version' });
    }
  });

  it('a missing or unknown transport is refused with 400 and code 0', async () => {
    for (const q of ['EIO=4', 'EIO=4&transport=abc']) {
      const res = await fetch(url(q));
      assert.equal(res.status, 400, q);
      assert.deepEqual(await res.json(), { code: 0, message: 'Transport unknown' });
    }
  });

  it('a session is opened by GET only, and an unknown sid is refused', async () => {
    for (const method of ['POST', 'PUT']) {
      const res = await fetch(url('EIO=4&transport=polling'), { method, body: '' });
      assert.equal(res.status, 400, method);
      assert.equal((await res.json()).code, 2);
    }
    const res = await poll('AAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 1);
  });

  it('websocket: the first message is the open packet, without upgrades', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    const msg = await ws.next();
    assert.ok(msg.startsWith('0'), msg);
    const open = JSON.parse(msg.slice(1));
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, PING_INTERVAL);
    ws.close();
  });

  it('websocket: a bad EIO or transport refuses the handshake with 400', async () => {
    for (const q of ['transport=websocket', 'EIO=abc&transport=websocket', 'EIO=4&transport=abc']) {
      assert.equal(await openWs(q).refused, 400, q);
    }
  });
});

describe('Engine.IO messages', () => {
  it('polling: a posted message reaches the application and its answer comes by GET', async () => {
    const { open } = await handshake();
    const res = await post(open.sid, '40');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    const got = await (await poll(open.sid)).text();
    assert.match(packets(got)[0], /^4[04]\{/);
  });

  it('polling: a payload of several packets is split on the record separator', async () => {
    const { open } = await handshake();
    assert.equal((await post(open.sid, `6${RS}40`)).status, 200);
    assert.match(packets(await (await poll(open.sid)).text())[0], /^4[04]\{/);
  });

  it('polling: an invalid payload is refused with 400 and closes the session', async () => {
    const { open } = await handshake();
    assert.equal((await post(open.sid, 'abc')).status, 400);
    assert.equal((await poll(open.sid)).status, 400);
  });

  it('polling: a payload over maxPayload is refused with 413 and closes the session', async () => {
    const { open } = await handshake();
    const res = await post(open.sid, '4' + 'x'.repeat(open.maxPayload));
    assert.equal(res.status, 413);
    assert.equal((await poll(open.sid)).status, 400);
  });

  it('polling: two concurrent GETs close the session; the first gets a close packet, the second 400', async () => {
    const { open } = await handshake();
    const first = poll(open.sid);
    await sleep(50);
    const second = await poll(open.sid);
    assert.equal(second.status, 400);
    const res = await first;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '1');
    assert.equal((await poll(open.sid)).status, 400);
  });

  it('polling: a GET the client abandons closes the session', async () => {
    const { open } = await handshake();
    const ctl = new AbortController();
    const pending = poll(open.sid, { signal: ctl.signal }).catch((e) => e);
    await sleep(50);
    ctl.abort();
    assert.equal((await pending).name, 'AbortError');
    // The server notices the closed connection at once; give it a moment.
    await sleep(100);
    assert.equal((await poll(open.sid)).status, 400);
  });

  it('websocket: a message reaches the application and is answered', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    await ws.next();
    ws.send('40');
    assert.match(await ws.next(), /^4[04]\{/);
    ws.close();
  });

  it('websocket: an invalid packet closes the connection', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    await ws.next();
    ws.send('abc');
    await ws.closed;
  });
});

describe('Engine.IO heartbeat', () => {
  it('polling: the first ping comes one pingInterval after the handshake, and each after a pong', async () => {
    const { open, at } = await handshake();
    let since = at;
    for (let i = 0; i < 3; i++) {
      const res = await poll(open.sid);
      assert.equal(await res.text(), '2');
      const waited = Date.now() - since;
      assert.ok(waited >= PING_INTERVAL - 20, `ping ${i} after ${waited} ms`);
      since = Date.now();
      assert.equal(await (await post(open.sid, '3')).text(), 'ok');
    }
  });

  it('polling: a session that answers no ping is closed after pingInterval + pingTimeout', async () => {
    const { open } = await handshake();
    await sleep(PING_INTERVAL + PING_TIMEOUT + 100);
    assert.equal((await post(open.sid, '3')).status, 400);
  });

  it('websocket: the first ping comes one pingInterval after the open packet, and each after a pong', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    await ws.next();
    let since = Date.now();
    for (let i = 0; i < 3; i++) {
      assert.equal(await ws.next(), '2');
      const waited = Date.now() - since;
      assert.ok(waited >= PING_INTERVAL - 20, `ping ${i} after ${waited} ms`);
      since = Date.now();
      ws.send('3');
    }
    ws.close();
  });

  it('websocket: a connection that answers no ping is closed', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    const start = Date.now();
    await ws.closed;
    assert.ok(Date.now() - start >= PING_INTERVAL + PING_TIMEOUT - 20);
  });
});

describe('Socket.IO connect timeout (CONNECT_TIMEOUT_MS)', () => {
  it('a connection that joins no namespace in time is closed, though it answers every ping', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    await ws.next();
    const start = Date.now();
    let closed = false;
    ws.closed.then(() => (closed = true));
    while (!closed && Date.now() - start < CONNECT_TIMEOUT + 3000) {
      const msg = await Promise.race([ws.next(CONNECT_TIMEOUT + 3000).catch(() => null), ws.closed.then(() => null)]);
      if (msg === '2') ws.send('3');
    }
    await ws.closed;
    const after = Date.now() - start;
    assert.ok(after >= CONNECT_TIMEOUT - 50 && after < CONNECT_TIMEOUT + 2000, `closed after ${after} ms`);
  });
});

describe('Engine.IO close', () => {
  it('polling: a close packet ends the pending GET with a noop and the session', async () => {
    const { open } = await handshake();
    const pending = poll(open.sid);
    await sleep(50);
    assert.equal((await post(open.sid, '1')).status, 200);
    assert.equal(await (await pending).text(), '6');
    assert.equal((await poll(open.sid)).status, 400);
  });

  it('websocket: a close packet closes the connection', async () => {
    const ws = openWs('EIO=4&transport=websocket');
    await ws.next();
    ws.send('1');
    await ws.closed;
  });
});

describe('Engine.IO upgrade', () => {
  it('probe, noop for the pending GET, upgrade, then messages over WebSocket', async () => {
    const { open } = await handshake();
    const ws = openWs(`EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened;
    const pending = poll(open.sid);
    await sleep(50);
    ws.send('2probe');
    assert.equal(await ws.next(), '3probe');
    assert.equal(await (await pending).text(), '6');
    ws.send('5');
    ws.send('40');
    assert.match(await ws.next(), /^4[04]\{/);
    ws.close();
  });

  it('without a pending GET the noop comes over the WebSocket after the upgrade', async () => {
    const { open } = await handshake();
    const ws = openWs(`EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened;
    ws.send('2probe');
    assert.equal(await ws.next(), '3probe');
    ws.send('5');
    assert.equal(await ws.next(), '6');
    ws.close();
  });

  it('after the upgrade, polling requests and a second WebSocket are refused, the session stays', async () => {
    const { open } = await handshake();
    const ws = openWs(`EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened;
    ws.send('2probe');
    assert.equal(await ws.next(), '3probe');
    ws.send('5');
    assert.equal(await ws.next(), '6');
    assert.equal((await poll(open.sid)).status, 400);
    assert.equal(await openWs(`EIO=4&transport=websocket&sid=${open.sid}`).refused, 400);
    ws.send('40');
    assert.match(await ws.next(), /^4[04]\{/);
    ws.close();
  });

  it('a packet other than the probe aborts the upgrade and the session stays on polling', async () => {
    const { open } = await handshake();
    const ws = openWs(`EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened;
    ws.send('40');
    await ws.closed;
    assert.equal((await post(open.sid, '40')).status, 200);
    assert.match(packets(await (await poll(open.sid)).text())[0], /^4[04]\{/);
  });
});
