// @ts-check
// Texts for failed acks (js/ui.js): every error code of docs/PROTOCOL.md gets its own message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeError, ERROR_TEXT } from '../js/ui.js';

const protocol = readFileSync(path.resolve(import.meta.dirname, '../../docs/PROTOCOL.md'), 'utf8');

test('every ack error code of the contract has its own text', () => {
  const codes = ['invalid_input', 'not_found', 'unauthorized', 'token_expired', 'not_joined', 'cooldown', 'rate_limited', 'unavailable', 'busy'];
  for (const c of codes) assert.ok(protocol.includes(`\`${c}\``), `${c} is a code of docs/PROTOCOL.md`);
  const texts = codes.map((error) => describeError({ error }));
  for (const [i, t] of texts.entries()) {
    assert.ok(t && t.length > codes[i].length + 10 && !t.includes(`(${codes[i]})`), `${codes[i]}: a human text, not the code (${t})`);
    if (codes[i] !== 'cooldown') assert.equal(t, ERROR_TEXT[codes[i]]);
  }
  assert.equal(new Set(texts).size, texts.length, 'all different');
});

test('waits and server messages are spelt out', () => {
  assert.equal(describeError({ error: 'cooldown', retry_after_ms: 2300 }), 'Cooldown — wait 2.3 s before the next pixel');
  assert.match(describeError({ error: 'busy', retry_after_ms: 200 }), /try again in 1 s/);
  assert.equal(describeError({ error: 'invalid_input', message: 'x out of range' }), 'Not valid: x out of range');
  assert.match(describeError({ error: 'something_new', message: 'New thing' }), /New thing/);
});
