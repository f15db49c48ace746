// make e2e-prism: the Postman scenario of `make e2e`, sent through Prism as a
// validating proxy in front of the gateway, so every request the collection
// makes and every answer the gateway gives is checked against the OpenAPI
// document. The run fails when newman fails an assertion, when Prism
// refuses a request or replaces a response, or when Prism reports any
// violation at all (it logs some without turning them into errors).
//
// Usage (the gateway's URL in KASSA_BASE_URL, as kassa-stack -exec sets it):
//   node e2e-prism.mjs <openapi document> [<build dir>]
//
// The requests listed in prism-skip.json break the document on purpose and
// are left out here; see that file.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPrism, violations, PRISM_ERROR_TYPE } from './prism.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shown = file => relative(join(here, '..'), file); // paths in messages, from the repository root
const require = createRequire(import.meta.url);
const newman = require('newman');

function fail(message) {
  console.error(`e2e-prism: FAIL: ${message}`);
  process.exit(1);
}

const [docArg, buildArg] = process.argv.slice(2);
if (!docArg) fail('usage: node e2e-prism.mjs <openapi document> [<build dir>]');
const upstream = process.env.KASSA_BASE_URL;
if (!upstream) fail('KASSA_BASE_URL is not set: run this under kassa-stack -exec (make e2e-prism does)');
const document = resolve(docArg);
const buildDir = resolve(buildArg || join(here, '..', '.build'));
mkdirSync(buildDir, { recursive: true });

// The collection without the skipped requests. A skip entry that names no
// request is an error: the list must follow the collection.
const collection = JSON.parse(readFileSync(join(here, 'kassa.postman_collection.json'), 'utf8'));
const { skip } = JSON.parse(readFileSync(join(here, 'prism-skip.json'), 'utf8'));
const reasons = new Map(skip.map(s => [s.name, s.reason]));
const seen = new Set();
let total = 0;
const prune = items => items.filter(item => {
  if (Array.isArray(item.item)) {
    item.item = prune(item.item);
    return true;
  }
  total++;
  if (reasons.has(item.name)) {
    seen.add(item.name);
    return false;
  }
  return true;
});
collection.item = prune(collection.item);
const stale = [...reasons.keys()].filter(name => !seen.has(name));
if (stale.length) fail(`prism-skip.json names requests the collection does not have: ${stale.map(s => JSON.stringify(s)).join(', ')}`);
for (const [name, reason] of reasons) console.log(`e2e-prism: skipping "${name}": ${reason}`);

const logFile = join(buildDir, 'prism-e2e.log');
let prism;
try {
  prism = await startPrism({ document, upstream, logFile });
} catch (err) {
  fail(err.message);
}
console.log(`e2e-prism: Prism ${prism.url} validates ${docArg} in front of the gateway ${upstream} (log: ${shown(logFile)})`);

// What each exchange looked like at the client: Prism marks a forwarded
// exchange that broke the document with an sl-violations header, and
// answers with a problem+json of its own when it refused the request or
// replaced the response.
const found = [];
const notes = [];
const run = newman.run({
  collection,
  environment: join(here, 'kassa.postman_environment.json'),
  envVar: [{ key: 'baseUrl', value: prism.url }],
  reporters: ['cli'],
}, async (err, summary) => {
  await prism.stop();
  if (err) fail(`newman could not run: ${err.message}`);
  report(summary);
});

run.on('request', (err, args) => {
  const name = args.item.name;
  if (err) {
    found.push({ name, what: `request failed: ${err.message}` });
    return;
  }
  const res = args.response;
  const header = res.headers.get('sl-violations');
  if (header) {
    let list;
    try {
      list = JSON.parse(header);
    } catch {
      list = [{ message: header }];
    }
    for (const v of list) found.push({ name, what: `${v.severity || ''} ${(v.location || []).join('.')}: ${v.message}`.trim() });
  }
  const type = (res.headers.get('content-type') || '').toLowerCase();
  if (type.startsWith('application/problem+json')) {
    let body = {};
    try {
      body = JSON.parse(res.stream.toString('utf8'));
    } catch { /* not Prism's problem document then */ }
    if (typeof body.type === 'string' && body.type.startsWith(PRISM_ERROR_TYPE)) {
      // A replaced response carries its violations in the header as well:
      // count them once, and say what the client got instead.
      const details = (body.validation || []).map(v => `${(v.location || []).join('.')}: ${v.message}`);
      if (header) notes.push({ name, what: `Prism answered ${res.code} (${body.title}) in place of the gateway's answer` });
      else found.push({ name, what: `Prism answered ${res.code} itself (${body.title}): ${details.join('; ') || body.detail}` });
    }
  }
});

function report(summary) {
  const stats = summary.run.stats;
  const requests = stats.requests.total;
  const assertionFailures = summary.run.failures.length;
  const logged = violations(prism.lines);
  const forwarded = prism.lines.filter(l => /Forwarding "/.test(l)).length;

  console.log('');
  console.log('e2e-prism: violations seen by the client (sl-violations headers and Prism\'s own answers):');
  if (found.length === 0) console.log('  none');
  for (const f of [...found, ...notes]) console.log(`  ${f.name}: ${f.what}`);
  console.log('e2e-prism: violations in Prism\'s log:');
  if (logged.length === 0) console.log('  none');
  for (const l of logged) console.log(`  ${l}`);
  console.log('');
  console.log(`e2e-prism: ${requests} requests through Prism (${total} in the collection, ${reasons.size} skipped), ` +
    `${forwarded} forwarded to the gateway, ${stats.assertions.total} assertions, ${assertionFailures} failed; ` +
    `${found.length} violations at the client, ${logged.length} in Prism's log`);

  const problems = [];
  if (assertionFailures) problems.push(`${assertionFailures} newman assertion(s) failed`);
  if (found.length) problems.push(`${found.length} violation(s) reached the client`);
  if (logged.length) problems.push(`Prism logged ${logged.length} violation(s)`);
  if (requests + reasons.size !== total) problems.push(`${total - reasons.size} requests were to run, ${requests} did`);
  if (forwarded !== requests) problems.push(`Prism forwarded ${forwarded} of ${requests} requests to the gateway`);
  if (problems.length) fail(`${problems.join('; ')}: the gateway and ${docArg} disagree (details above, Prism's log in ${shown(logFile)})`);
  console.log('e2e-prism: OK: every request and response matched the document');
}
