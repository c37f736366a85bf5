// @ts-check
// Every module of the page is served by both the standalone server (which
// embeds a fixed list) and nginx (an allow-list): a module missing from
// either breaks the page only there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const modules = readdirSync(path.join(ROOT, 'web/js')).filter((f) => f.endsWith('.js'));

test('the standalone server embeds every module of web/js/', () => {
  const rs = readFileSync(path.join(ROOT, 'standalone/src/web.rs'), 'utf8');
  for (const m of modules) assert.ok(rs.includes(`page_file!("js/${m}", JS)`), `standalone/src/web.rs lacks js/${m}`);
});

test('nginx allows every module of web/js/, and nothing else there', () => {
  const conf = readFileSync(path.join(ROOT, 'nginx/realtime-pixel.conf.template'), 'utf8');
  const m = conf.match(/js\/\(([a-z|-]+)\)\\\.js/);
  assert.ok(m, 'the allow-list names the modules as js/(a|b|...)\\.js');
  assert.deepEqual(m[1].split('|').sort(), modules.map((f) => f.replace(/\.js$/, '')).sort());
});
