// Tests of the repository's Spectral ruleset (.spectral.yaml): a small valid
// OpenAPI 3.0 document passes every rule, and each broken variant of it is
// reported by the rule meant to catch it. Run: node --test postman/spectral/
// (make openapi-lint runs it first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const spectral = join(here, '..', 'node_modules', '.bin', 'spectral');

const status = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Status' } } } };
const int64 = { oneOf: [{ type: 'string', format: 'int64' }, { type: 'integer', format: 'int64' }] };

// good is the smallest document that follows every rule.
function good() {
  const errors = {
    400: { description: 'bad input', ...status },
    401: { description: 'no token', headers: { 'WWW-Authenticate': { schema: { type: 'string' } } }, ...status },
    429: { description: 'slow down', headers: { 'Retry-After': { schema: { type: 'integer' } } }, ...status },
    default: { description: 'other', ...status },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'fixture', version: '1', description: 'fixture', contact: { name: 'kassa' } },
    servers: [{ url: '/' }],
    tags: [{ name: 'Billing', description: 'money' }],
    security: [{ Bearer: [] }],
    paths: {
      '/v1/users/{userId}/account:deposit': {
        post: {
          operationId: 'Deposit',
          summary: 'Deposit adds money',
          description: 'Deposit adds money to an account.',
          tags: ['Billing'],
          parameters: [
            { name: 'userId', in: 'path', required: true, description: 'the user', schema: { type: 'string' } },
            { name: 'Idempotency-Key', in: 'header', description: 'the key', schema: { type: 'string' } },
          ],
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Deposit' } } } },
          responses: { 200: { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Deposit' } } } }, ...errors },
        },
      },
      '/v1/auth/login': {
        post: {
          operationId: 'Login',
          summary: 'Login returns tokens',
          description: 'Login returns tokens.',
          tags: ['Billing'],
          security: [],
          responses: { 200: { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } }, 400: errors[400] },
        },
      },
    },
    components: {
      securitySchemes: { Bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Status: { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } },
        Deposit: {
          type: 'object',
          properties: {
            amount: { description: 'minor units', ...int64 },
            // int64 reached through allOf and a $ref, as the generator writes it
            account: { allOf: [{ $ref: '#/components/schemas/Account' }], description: 'the account' },
          },
        },
        Account: { type: 'object', properties: { balance: { ...int64 } } },
      },
    },
  };
}

const deposit = d => d.paths['/v1/users/{userId}/account:deposit'].post;
const login = d => d.paths['/v1/auth/login'].post;

// Each case breaks the good document in one way and names the rule that
// must report it.
const cases = [
  ['operation without summary', d => { delete deposit(d).summary; }, 'kassa-operation-summary'],
  ['operation without tags', d => { delete deposit(d).tags; }, 'operation-tags'],
  ['operation without operationId', d => { delete deposit(d).operationId; }, 'operation-operationId'],
  ['operation without a 4xx', d => { login(d).responses = { 200: login(d).responses[200] }; }, 'kassa-operation-4xx'],
  ['operation without security and no document security', d => { delete d.security; }, 'kassa-operation-security'],
  ['secured operation without a 401', d => { delete deposit(d).responses[401]; }, 'kassa-operation-security'],
  ['int64 only as a string', d => { d.components.schemas.Deposit.properties.amount = { type: 'string', format: 'int64' }; }, 'kassa-int64-string-or-integer'],
  ['int64 only as an integer, behind a $ref', d => { d.components.schemas.Account.properties.balance = { type: 'integer', format: 'int64' }; }, 'kassa-int64-string-or-integer'],
  ['int64 oneOf without the integer branch', d => { d.components.schemas.Deposit.properties.amount = { oneOf: [{ type: 'string', format: 'int64' }, { type: 'string', format: 'int64' }] }; }, 'kassa-int64-string-or-integer'],
  ['create without Idempotency-Key', d => { deposit(d).parameters.pop(); }, 'kassa-idempotency-key'],
  ['error answer without a body', d => { delete deposit(d).responses[400].content; }, 'kassa-error-response-content'],
  ['error answer that is not Status', d => { deposit(d).responses[400] = { description: 'bad', content: { 'application/json': { schema: { type: 'object' } } } }; }, 'kassa-error-response-status'],
  ['401 without WWW-Authenticate', d => { delete deposit(d).responses[401].headers; }, 'kassa-401-challenge'],
  ['429 without Retry-After', d => { delete deposit(d).responses[429].headers; }, 'kassa-retry-after'],
  ['a $ref with a sibling', d => { d.components.schemas.Deposit.properties.account = { $ref: '#/components/schemas/Account', description: 'ignored' }; }, 'no-$ref-siblings'],
  ['no servers', d => { delete d.servers; }, 'oas3-api-servers'],
  ['two paths that are the same route', d => { d.paths['/v1/users/{id}/account:deposit'] = d.paths['/v1/users/{userId}/account:deposit']; }, 'path-params'],
];

// All documents are linted in one Spectral run: it starts slowly.
const dir = mkdtempSync(join(tmpdir(), 'kassa-ruleset-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = new Map([['good', join(dir, 'good.json')]]);
writeFileSync(files.get('good'), JSON.stringify(good(), null, 2));
cases.forEach(([name, breakIt], i) => {
  const d = good();
  breakIt(d);
  const file = join(dir, `case-${i}.json`);
  writeFileSync(file, JSON.stringify(d, null, 2));
  files.set(name, file);
});
const res = spawnSync(spectral, ['lint', '--ruleset', join(root, '.spectral.yaml'), '--format', 'json', '--quiet', ...files.values()], { cwd: root, encoding: 'utf8' });
const results = JSON.parse(res.stdout || '[]');
const byFile = name => results.filter(r => basename(r.source) === basename(files.get(name)));

test('Spectral ran on every fixture', () => {
  assert.ok(res.stdout, `Spectral printed nothing: ${res.stderr}`);
});

test('the good document has no error or warning', () => {
  const found = byFile('good').filter(r => r.severity <= 1).map(r => `${r.code}: ${r.message} (${r.path.join('.')})`);
  assert.deepEqual(found, []);
});

for (const [name, , rule] of cases) {
  test(`${name}: ${rule} reports it as an error`, () => {
    const found = byFile(name).filter(r => r.code === rule);
    assert.ok(found.length > 0, `${rule} did not fire; results: ${JSON.stringify(byFile(name).map(r => r.code))}`);
    assert.ok(found.every(r => r.severity === 0), `${rule} is not an error`);
  });
}
