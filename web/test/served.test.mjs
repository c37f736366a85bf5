// @ts-check
// The page's one file list, web/files.txt, is what the page loads, and
// what serves the page follows it: the standalone server embeds its files
// (standalone/build.rs), the web image holds them only (docker/Dockerfile),
// and the nginx front's allow-list (nginx/realtime-pixel.conf.template)
// lets exactly those files of web/ through. A module missing from any of
// them breaks the page only there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const WEB = path.join(ROOT, 'web');

/** @returns {string[]} */
function pageFiles() {
  return readFileSync(path.join(WEB, 'files.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Every file under web/ (node_modules too: nothing there may be served), relative to web/. */
function allFiles(dir = WEB) {
  /** @type {string[]} */
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else out.push(path.relative(WEB, p).split(path.sep).join('/'));
  }
  return out;
}

/**
 * What a browser loads: index.html's local `src`/`href`, then every static
 * `import … from './x.js'` of the modules, transitively (JSDoc
 * `import('./x.js')` types are not loads).
 */
function loadedByPage() {
  const seen = new Set();
  const html = readFileSync(path.join(WEB, 'index.html'), 'utf8');
  const queue = ['index.html'];
  for (const m of html.matchAll(/\s(?:src|href)="([^"]+)"/g)) {
    if (!/^(data:|https?:|#|\/\/)/.test(m[1])) queue.push(m[1].replace(/^\.?\//, ''));
  }
  while (queue.length) {
    const f = /** @type {string} */ (queue.shift());
    if (seen.has(f)) continue;
    seen.add(f);
    if (!f.startsWith('js/') || !f.endsWith('.js')) continue;
    const src = readFileSync(path.join(WEB, f), 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/gm)) {
      queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1])));
    }
    for (const m of src.matchAll(/^\s*import\s+'(\.[^']+)'/gm)) {
      queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1])));
    }
  }
  return [...seen];
}

test('web/files.txt lists each of its files once, and each is a file in web/', () => {
  const files = pageFiles();
  assert.ok(files.length > 0, 'web/files.txt lists no file');
  assert.equal(new Set(files).size, files.length, 'web/files.txt lists a file twice');
  for (const f of files) assert.ok(existsSync(path.join(WEB, f)) && statSync(path.join(WEB, f)).isFile(), `web/files.txt names ${f}, which is not in web/`);
});

test('web/files.txt is exactly what the page loads (index.html and the modules\' imports)', () => {
  assert.deepEqual(pageFiles().sort(), loadedByPage().sort());
});

test('the nginx front lets through exactly the listed files of web/', () => {
  const conf = readFileSync(path.join(ROOT, 'nginx/realtime-pixel.conf.template'), 'utf8');
  const locations = [...conf.matchAll(/^\s*location ~ (\^\/\S+\$) \{/gm)].map((m) => m[1]).filter((re) => re.includes('index'));
  assert.equal(locations.length, 1, `one regex location serves the page, found ${JSON.stringify(locations)}`);
  const allow = new RegExp(locations[0]);
  const listed = new Set(pageFiles());
  for (const f of allFiles()) {
    assert.equal(allow.test(`/${f}`), listed.has(f), `${f}: ${listed.has(f) ? 'listed but not served' : 'served but not listed'} by ${locations[0]}`);
  }
  for (const f of listed) assert.ok(allow.test(`/${f}`), `${f} is listed but not served`);
});

test('the web image copies the page from web/files.txt, naming no page file itself', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^(?=FROM )/m);
  const page = stages.find((s) => /^FROM \S+ AS page$/m.test(s));
  const web = stages.find((s) => /^FROM \S+ AS web$/m.test(s));
  assert.ok(page && web, 'docker/Dockerfile has a page and a web stage');
  assert.match(page, /files\.txt/, 'the page stage selects the files of web/files.txt');
  assert.match(web, /^COPY --from=page /m, 'the web stage takes the page stage\'s files');
  const named = [...dockerfile.matchAll(/^COPY\s+(.*)$/gm)].flatMap((m) => m[1].split(/\s+/)).filter((a) => a.startsWith('web/') && a !== 'web/');
  assert.deepEqual(named, [], 'docker/Dockerfile copies files of web/ by name (the list is web/files.txt)');
});

test('the standalone server embeds web/files.txt (standalone/build.rs)', () => {
  const build = readFileSync(path.join(ROOT, 'standalone/build.rs'), 'utf8');
  assert.match(build, /web\/files\.txt/);
  const rs = readFileSync(path.join(ROOT, 'standalone/src/web.rs'), 'utf8');
  assert.match(rs, /include!\(concat!\(env!\("OUT_DIR"\), "\/page_files\.rs"\)\)/);
});
