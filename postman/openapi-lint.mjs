// make openapi-lint: Spectral lints the OpenAPI document with the
// repository's ruleset (.spectral.yaml) and fails on any error; warnings
// are printed and counted.
//
// Usage:
//   node openapi-lint.mjs <openapi document>            lint the committed file
//   node openapi-lint.mjs --served <openapi document>   lint what the gateway at
//        KASSA_BASE_URL serves at /openapi.json (under kassa-stack -exec), and
//        say how it differs from the committed file
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const ruleset = join(root, '.spectral.yaml');
const spectral = join(here, 'node_modules', '.bin', 'spectral');
const severities = ['error', 'warning', 'info', 'hint'];

function fail(message) {
  console.error(`openapi-lint: FAIL: ${message}`);
  process.exit(1);
}

// lint runs Spectral on file and returns its results; Spectral failing to
// run at all (a broken ruleset, an unreadable file) is a failure here.
function lint(file, label) {
  const res = spawnSync(spectral, ['lint', '--ruleset', ruleset, '--fail-severity', 'error', '--format', 'json', '--quiet', file], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  let results;
  try {
    results = JSON.parse(res.stdout);
  } catch {
    fail(`Spectral did not lint ${label} (exit status ${res.status}):\n${res.stdout}${res.stderr}`);
  }
  const counts = [0, 0, 0, 0];
  for (const r of results) counts[r.severity]++;
  for (const r of results.sort((a, b) => a.severity - b.severity || a.range.start.line - b.range.start.line)) {
    const where = `${r.range.start.line + 1}:${r.range.start.character + 1}`;
    console.log(`  ${where.padEnd(9)} ${severities[r.severity].padEnd(7)} ${r.code.padEnd(32)} ${r.message}  (${r.path.join('.')})`);
  }
  const summary = severities.map((s, i) => `${counts[i]} ${s}${counts[i] === 1 ? '' : 's'}`).join(', ');
  console.log(`openapi-lint: ${label}: ${summary}`);
  // Spectral's own verdict must agree with the count.
  if ((counts[0] > 0) !== (res.status !== 0)) fail(`Spectral exited ${res.status} with ${counts[0]} errors for ${label}`);
  return counts;
}

// differences lists the members (to depth two) in which two documents differ.
function differences(a, b, path = [], depth = 2) {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (depth === 0 || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return [path.join('.') || '(the whole document)'];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap(k => differences(a[k], b[k], [...path, k], depth - 1));
}

const args = process.argv.slice(2);
const served = args[0] === '--served';
const docArg = served ? args[1] : args[0];
if (!docArg) fail('usage: node openapi-lint.mjs [--served] <openapi document>');
const committed = resolve(docArg);
const shown = relative(root, committed);

let counts;
if (!served) {
  counts = lint(committed, shown);
} else {
  const base = process.env.KASSA_BASE_URL;
  if (!base) fail('KASSA_BASE_URL is not set: run this under kassa-stack -exec (make openapi-lint does)');
  const url = `${base}/openapi.json`;
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    fail(`GET ${url}: ${err.message}`);
  }
  const text = await res.text();
  if (res.status !== 200) fail(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  const type = res.headers.get('content-type') || '';
  if (!type.startsWith('application/json')) fail(`GET ${url} answered Content-Type "${type}", not application/json`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(`GET ${url} is not JSON: ${err.message}`);
  }
  const buildDir = join(root, '.build');
  mkdirSync(buildDir, { recursive: true });
  const file = join(buildDir, 'openapi-served.json');
  writeFileSync(file, text);
  const diff = differences(JSON.parse(readFileSync(committed, 'utf8')), doc);
  console.log(`openapi-lint: GET /openapi.json (${text.length} bytes) differs from ${shown} in: ${diff.join(', ') || 'nothing'}`);
  counts = lint(file, `served /openapi.json (saved as ${relative(root, file)})`);
}
if (counts[0] > 0) fail(`${counts[0]} error(s) in ${served ? 'the served document' : shown}: see above; the rules are in .spectral.yaml`);
