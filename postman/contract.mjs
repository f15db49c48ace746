// make contract: Dredd 14 tests the gateway of a throwaway stack against the
// OpenAPI document, one transaction per operation and documented answer,
// with the examples the document carries; dredd-hooks.js supplies the
// identities, real ids and ordering (see there).
//
// Usage, under kassa-stack -exec with kassa-stack's output going to the
// file named by KASSA_STACK_OUT (make contract does both):
//   node contract.mjs <openapi document> [<build dir>]
//
// kassa-stack prints, before it runs the command, where the stack keeps
// its identity files and how to grant the admin role; the hooks need both
// (an admin for ListUsers, the services' secrets for the client
// credentials grant), and this reads them from that output.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPrism, violations } from './prism.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shown = file => relative(join(here, '..'), file); // paths in messages, from the repository root

function fail(message) {
  console.error(`contract: FAIL: ${message}`);
  process.exit(1);
}

const [docArg, buildArg] = process.argv.slice(2);
if (!docArg) fail('usage: node contract.mjs <openapi document> [<build dir>]');
const document = resolve(docArg);
const buildDir = resolve(buildArg || join(here, '..', '.build'));
mkdirSync(buildDir, { recursive: true });
const gateway = process.env.KASSA_BASE_URL;
if (!gateway) fail('KASSA_BASE_URL is not set: run this under kassa-stack -exec (make contract does)');
const stackOut = process.env.KASSA_STACK_OUT;
if (!stackOut) fail("KASSA_STACK_OUT is not set: it names the file with kassa-stack's output (make contract sets it)");

// The lines appear before kassa-stack starts this command, but the pipe to
// the file may lag a little: poll with a deadline.
async function stackFacts() {
  const deadline = Date.now() + 15000;
  for (;;) {
    const text = existsSync(stackOut) ? readFileSync(stackOut, 'utf8') : '';
    const keys = text.match(/signing keys\s+(\S+)\/signing-keys\.json/);
    const grant = text.match(/admin role\s+register the user, then: (\S+) grant-admin -database-url '([^']+)'/);
    if (keys && grant) {
      return { authDir: keys[1], userBin: resolve(join(here, '..'), grant[1]), userDatabaseURL: grant[2] };
    }
    if (Date.now() > deadline) {
      fail(`${stackOut} has no "signing keys" and "admin role" lines from kassa-stack after 15 s: is its output going there?`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

const facts = await stackFacts();
for (const client of ['order', 'notification']) {
  const file = join(facts.authDir, `${client}-client-secret`);
  if (!existsSync(file)) fail(`the ${client} service's client secret is not at ${file}`);
}
if (!existsSync(facts.userBin)) fail(`the user binary kassa-stack names is not at ${facts.userBin}`);

// Dredd ignores the command line's document and URL once it reads a
// config file, so the run's config is dredd.yml with the two added.
const config = join(buildDir, 'dredd.yml');
writeFileSync(config, `${readFileSync(join(here, 'dredd.yml'), 'utf8')}\nblueprint: ${JSON.stringify(document)}\nendpoint: ${JSON.stringify(gateway)}\n`);

const prismLog = join(buildDir, 'prism-contract.log');
let prism;
try {
  prism = await startPrism({ document, upstream: gateway, logFile: prismLog });
} catch (err) {
  fail(err.message);
}

console.log(`contract: Dredd tests ${gateway} against ${docArg}, the 2xx transactions through Prism ${prism.url} (log: ${shown(prismLog)})`);
const dredd = spawn(join(here, 'node_modules', '.bin', 'dredd'), ['--config', config], {
  cwd: here,
  env: {
    ...process.env,
    FORCE_COLOR: '0',
    NO_COLOR: '1',
    KASSA_OPENAPI: document,
    KASSA_PRISM_URL: prism.url,
    KASSA_USER_BIN: facts.userBin,
    KASSA_USER_DATABASE_URL: facts.userDatabaseURL,
    KASSA_AUTH_DIR: facts.authDir,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
const take = stream => chunk => {
  output += chunk.toString('utf8');
  stream.write(chunk);
};
dredd.stdout.on('data', take(process.stdout));
dredd.stderr.on('data', take(process.stderr));
const code = await new Promise(r => dredd.on('exit', r));
await prism.stop();
const logged = violations(prism.lines);

// eslint-disable-next-line no-control-regex
const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
const complete = lines.find(l => /^complete: \d+ passing/.test(l));
const skips = lines.filter(l => /^hook: skip /.test(l)).map(l => l.replace(/^hook: skip /, ''));
// Dredd prints each failure as it happens and again in its summary.
const failures = [...new Set(lines.filter(l => /^fail: .* duration: /.test(l)).map(l => l.replace(/ duration: .*/, '')))];
const errors = [...new Set(lines.filter(l => /^error: /.test(l)))];

console.log('');
console.log(`contract: ${skips.length} transactions skipped by the hooks, each with its reason:`);
for (const s of skips) console.log(`  ${s}`);
if (failures.length) {
  console.log('contract: failing transactions:');
  for (const f of failures) console.log(`  ${f}`);
}
if (errors.length) {
  // Dredd repeats a document error for every transaction it touches:
  // print each message once with the routes it names.
  const grouped = new Map();
  for (const e of errors) {
    const m = e.match(/^(error: [^(]*?) in \S+ \(.*? > (\/[^ ]*) > .*\): (.*)$/);
    const key = m ? `${m[1]}: ${m[3]}` : e;
    if (!grouped.has(key)) grouped.set(key, new Set());
    if (m) grouped.get(key).add(m[2]);
  }
  console.log('contract: errors:');
  for (const [message, routes] of grouped) console.log(`  ${message}${routes.size ? ` (${[...routes].join(', ')})` : ''}`);
}
console.log("contract: violations in Prism's log:");
if (logged.length === 0) console.log('  none');
for (const l of logged) console.log(`  ${l}`);
if (!complete) fail(`Dredd printed no "complete:" summary (exit status ${code})`);
console.log(`contract: Dredd ${complete}`);
const [, passing, failing, errored] = complete.match(/complete: (\d+) passing, (\d+) failing, (\d+) errors/).map(Number);
if (code !== 0 || failing || errored || !passing || logged.length) {
  fail(`${failing} failing, ${errored} errors (Dredd exit status ${code}), ${logged.length} Prism violations: the gateway and ${docArg} disagree, details above`);
}
console.log('contract: OK: every transaction Dredd ran passed');
