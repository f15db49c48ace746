// Dredd hooks of make contract. Dredd turns every response the OpenAPI
// document lists into one transaction (operation × status) and fills it
// with the document's examples. These hooks make the examples runnable
// against a real gateway without changing what is checked:
//
//   - setup, straight against the gateway: a customer and an admin are
//     registered and log in (the admin role is granted as an operator
//     does, with `user grant-admin`), and the notification service's
//     client credentials give a service token;
//   - order: the transactions run in a fixed order of operations (CONTRACT
//     below), so a deposit precedes a withdrawal and an order, an order
//     precedes reading it and its letter, and a user is deleted last;
//   - identity and data: every secured call carries Authorization: Bearer,
//     path parameters get the real user, order and notification ids, and
//     usernames, emails and idempotency keys are unique to the run;
//   - error answers: a transaction that expects a 4xx is sent the way that
//     answer is provoked (no token, an unknown id, malformed JSON, a body
//     over the limit, ...); the ones no honest request can provoke (429,
//     503, 504, races) are skipped, each with its reason in the output.
//
// Dredd 14 checks a response's status, its Content-Type and that every
// member of the document's example is present, not the members' types: its
// OpenAPI 3 parser builds no JSON Schema. So the 2xx transactions go through
// Prism (KASSA_PRISM_URL, started by contract.mjs) in front of the gateway,
// which validates request and response against the schemas and answers an
// error Dredd then reports. The provoked error answers go to the gateway
// directly: Prism would refuse a malformed body or a missing token itself.
//
// Dredd 14 reads OpenAPI 3 with a parser that ignores readOnly, so its
// generated request bodies carry output-only members (id, status, times);
// they are removed before sending, as a client following the document
// would. Nothing in a response is adjusted: Dredd checks the status, the
// Content-Type and that every member of the document's example is there.
const hooks = require('hooks');
const { execFileSync } = require('child_process');
const { randomUUID } = require('crypto');
const fs = require('fs');

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the contract test with make contract`);
  return v;
};
const gateway = env('KASSA_BASE_URL');
const prism = new URL(env('KASSA_PRISM_URL'));
const doc = JSON.parse(fs.readFileSync(env('KASSA_OPENAPI'), 'utf8'));

// The order the operations run in; an operation missing here fails the
// run, so a new route cannot go untested.
const CONTRACT = [
  'AuthService_Login',
  'AuthService_Refresh',
  'AuthService_Token',
  'UserService_CreateUser',
  'UserService_GetUser',
  'UserService_UpdateUser',
  'UserService_ListUsers',
  'BillingService_GetAccount',
  'BillingService_Deposit',
  'BillingService_Withdraw',
  'BillingService_ListTransactions',
  'OrderService_CreateOrder',
  'OrderService_ListOrders',
  'OrderService_GetOrder',
  'OrderService_CancelOrder',
  'NotificationService_ListNotifications',
  'NotificationService_GetNotification',
  'UserService_DeleteUser',
  'AuthService_Logout',
];

// Answers no request of a contract test can provoke honestly.
const UNPROVOKABLE = {
  429: "needs a burst over the rate limit or repeated failed logins, which would lock out the rest of the run; the gateway's rate-limit tests cover it",
  503: 'needs a service or its database down; make faults and the gateway tests cover it',
  504: 'needs a call that outlives its deadline; the gateway tests cover the mapping',
};

const run = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
let serial = 0;
const unique = prefix => `${prefix}-${run}-${++serial}`;
const password = 'correct horse battery staple';

const state = {
  customer: null, // { id, username, email, token }
  admin: null,
  serviceToken: null, // the notification service's: it may call the fewest routes
  created: null, // the user CreateUser made, deleted by DeleteUser
  orderId: null,
  notificationId: null,
  setupError: null,
};

// The gateway allows an address 10 requests a second to /v1/auth/*
// (burst 20); this run makes more than that in a few seconds, its own
// logins included, so it spaces them as a well-behaved client would
// instead of collecting 429s the transactions do not expect.
const AUTH_SPACING_MS = 120;
let lastAuth = 0;
async function pace(path) {
  if (!path.startsWith('/v1/auth/')) return;
  const wait = lastAuth + AUTH_SPACING_MS - Date.now();
  if (wait > 0) await new Promise(r => setTimeout(r, wait));
  lastAuth = Date.now();
}

async function call(method, path, { token, body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  for (let attempt = 1; ; attempt++) {
    await pace(path);
    const res = await fetch(gateway + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    // A 429 says when to come back; setup honours it a few times.
    if (res.status === 429 && attempt < 4) {
      const seconds = Number(res.headers.get('retry-after')) || 1;
      await new Promise(r => setTimeout(r, seconds * 1000));
      continue;
    }
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  }
}

async function register(role) {
  const username = unique(`dredd-${role}`);
  const email = `${username}@example.com`;
  const user = await call('POST', '/v1/users', { body: { username, email, firstName: 'Dredd', password }, headers: { 'Idempotency-Key': unique('setup') } });
  return { id: user.id, username, email };
}

async function login(user) {
  const pair = await call('POST', '/v1/auth/login', { body: { username: user.username, password } });
  return pair;
}

// grantAdmin runs the command kassa-stack prints for it, with this run's
// admin in place of its example username.
function grantAdmin(username) {
  const bin = env('KASSA_USER_BIN');
  const url = env('KASSA_USER_DATABASE_URL');
  execFileSync(bin, ['grant-admin', '-database-url', url, '-username', username], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } });
}

// clientSecret reads a service's client secret from the stack's identity
// folder, where kassa-stack keeps one file per service client.
function clientSecret(client) {
  return fs.readFileSync(`${env('KASSA_AUTH_DIR')}/${client}-client-secret`, 'utf8').trim();
}

async function setup() {
  state.customer = await register('customer');
  state.customer.token = (await login(state.customer)).accessToken;
  state.admin = await register('admin');
  grantAdmin(state.admin.username);
  state.admin.token = (await login(state.admin)).accessToken; // the role is in tokens issued after the grant
  state.serviceToken = (await call('POST', '/v1/auth/token', { body: { grantType: 'client_credentials', clientId: 'notification', clientSecret: clientSecret('notification') } })).accessToken;
  hooks.log(`setup: customer ${state.customer.username} (${state.customer.id}), admin ${state.admin.username}, service token for "notification"`);
}

// --- the document --------------------------------------------------------

function operationOf(t) {
  const template = t.origin.resourceName;
  const method = t.request.method.toLowerCase();
  const op = doc.paths[template] && doc.paths[template][method];
  if (!op) return null;
  const security = op.security !== undefined ? op.security : doc.security || [];
  return {
    id: op.operationId,
    template,
    method,
    op,
    secured: security.some(r => Object.keys(r).length > 0),
    hasBody: !!op.requestBody,
  };
}

function deref(schema) {
  let s = schema;
  for (let i = 0; s && s.$ref && i < 10; i++) {
    s = s.$ref.replace(/^#\//, '').split('/').reduce((node, key) => node[key], doc);
  }
  return s || {};
}

// readOnlyMembers lists the request body members the document marks
// readOnly: a client does not send them.
function readOnlyMembers(info) {
  const content = info.op.requestBody && info.op.requestBody.content && info.op.requestBody.content['application/json'];
  const schema = content ? deref(content.schema) : {};
  return Object.entries(schema.properties || {}).filter(([, p]) => p.readOnly || deref(p).readOnly).map(([k]) => k);
}

// The Status example Dredd puts in the transaction of a 'default' answer.
function isStatusBody(body) {
  try {
    const keys = Object.keys(JSON.parse(body)).sort().join(',');
    return keys === 'code,details,message';
  } catch {
    return false;
  }
}

// --- building requests ---------------------------------------------------

function header(t, name, value) {
  for (const k of Object.keys(t.request.headers)) {
    if (k.toLowerCase() === name.toLowerCase()) delete t.request.headers[k];
  }
  if (value !== undefined) t.request.headers[name] = value;
}

function hasHeader(t, name) {
  return Object.keys(t.request.headers).some(k => k.toLowerCase() === name.toLowerCase());
}

// setPath puts the real ids into the operation's path template and keeps
// the query Dredd built from the examples, with the given changes.
function setPath(t, info, ids, query = {}) {
  const path = info.template.replace(/\{([^}]+)\}/g, (_, name) => {
    if (ids[name] === undefined || ids[name] === null) throw new Error(`no value for {${name}} of ${info.id}`);
    return encodeURIComponent(ids[name]);
  });
  const q = new URLSearchParams(t.fullPath.includes('?') ? t.fullPath.slice(t.fullPath.indexOf('?') + 1) : '');
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) q.delete(k);
    else q.set(k, v);
  }
  const qs = q.toString();
  t.fullPath = path + (qs ? `?${qs}` : '');
  t.request.uri = t.fullPath;
}

function realIds(info) {
  const c = state.customer;
  switch (info.template) {
    case '/v1/users/{id}':
      return { id: info.id === 'UserService_DeleteUser' ? (state.created && state.created.id) : c.id };
    case '/v1/users/{userId}/orders/{id}':
    case '/v1/users/{userId}/orders/{id}:cancel':
      return { userId: c.id, id: state.orderId };
    case '/v1/users/{userId}/notifications/{id}':
      return { userId: c.id, id: state.notificationId };
    default:
      return { userId: c.id };
  }
}

function bodyOf(t) {
  return t.request.body ? JSON.parse(t.request.body) : {};
}

// prepareSuccess fills a 2xx transaction with this run's data.
async function prepareSuccess(t, info, { forError = false } = {}) {
  const c = state.customer;
  let body = info.hasBody ? bodyOf(t) : undefined;
  if (body) for (const k of readOnlyMembers(info)) delete body[k];
  let token = info.secured ? c.token : undefined;
  const key = unique('dredd');
  const query = {};
  if (hasHeader(t, 'Idempotency-Key')) header(t, 'Idempotency-Key', key);
  if (/[?&]requestId=/.test(t.fullPath)) query.requestId = key;

  switch (info.id) {
    case 'AuthService_Login':
      body = { ...body, username: c.username, password };
      break;
    case 'AuthService_Refresh':
    case 'AuthService_Logout':
      // A refresh token is used up (Refresh) or revoked (Logout): a fresh
      // login for each. The error answers need none.
      body = { ...body, refreshToken: forError ? 'no-refresh-token' : (await login(c)).refreshToken };
      break;
    case 'AuthService_Token':
      body = { ...body, clientSecret: clientSecret(body.clientId) };
      break;
    case 'UserService_CreateUser': {
      const username = unique('dredd-new');
      body = { ...body, username, email: `${username}@example.com` };
      state.pendingUser = { username, password: body.password };
      break;
    }
    case 'UserService_UpdateUser':
      // The example's username and email would rename the customer the
      // rest of the run logs in as; keep the customer's own.
      body = { ...body, username: c.username, email: c.email };
      break;
    case 'UserService_ListUsers':
      token = state.admin.token;
      break;
    case 'UserService_DeleteUser':
      // The user CreateUser made deletes itself; the error answers are
      // provoked with other identities.
      if (!state.created) throw new Error('CreateUser did not create the user DeleteUser deletes');
      if (!forError) token = (await login(state.created)).accessToken;
      break;
    case 'BillingService_Deposit':
    case 'BillingService_Withdraw':
      body = { ...body, requestId: key };
      break;
    case 'OrderService_GetOrder':
      if (!state.orderId) throw new Error('CreateOrder made no order for GetOrder to read');
      break;
    case 'OrderService_CancelOrder':
      // It runs after the reads of the order, which stays readable for the
      // letters that follow. The example's amount makes it a partial
      // refund: the order stays paid with part of its price refunded.
      if (!state.orderId) throw new Error('CreateOrder made no order for CancelOrder to cancel');
      body = { ...body, requestId: key };
      break;
    case 'NotificationService_GetNotification':
      if (!state.notificationId) {
        const list = await call('GET', `/v1/users/${c.id}/notifications`, { token: c.token });
        state.notificationId = list.notifications && list.notifications[0] && list.notifications[0].id;
      }
      if (!state.notificationId) throw new Error('the order left no letter for GetNotification to read');
      break;
    default:
  }
  setPath(t, info, realIds(info), query);
  if (body !== undefined) t.request.body = JSON.stringify(body);
  header(t, 'Authorization', token ? `Bearer ${token}` : undefined);
}

// prepareError turns the transaction of a 4xx answer into the request that
// provokes it, or returns the reason it cannot be provoked.
async function prepareError(t, info, status) {
  await prepareSuccess(t, info, { forError: true });
  const c = state.customer;
  const unknown = randomUUID();
  const ids = realIds(info);
  switch (status) {
    case 400:
      if (info.hasBody) {
        t.request.body = '{"malformed": ';
      } else if (info.template.includes('{')) {
        const last = info.template.match(/\{([^}]+)\}(?!.*\{)/)[1];
        setPath(t, info, { ...ids, [last]: 'not-a-uuid' });
      } else {
        setPath(t, info, ids, { pageSize: '-1' });
      }
      return null;
    case 401:
      switch (info.id) {
        case 'AuthService_Login':
          t.request.body = JSON.stringify({ username: c.username, password: 'not the password' });
          return null;
        case 'AuthService_Refresh':
        case 'AuthService_Logout':
          t.request.body = JSON.stringify({ refreshToken: 'not-a-refresh-token' });
          return null;
        case 'AuthService_Token':
          t.request.body = JSON.stringify({ ...bodyOf(t), clientSecret: 'not-the-secret' });
          return null;
        default:
          // A secured operation without a token; a public one that
          // documents a 401 is sent a token that does not verify.
          header(t, 'Authorization', info.secured ? undefined : 'Bearer not.a.token');
          return null;
      }
    case 403:
      if (info.id === 'UserService_ListUsers') {
        header(t, 'Authorization', `Bearer ${c.token}`);
        return null;
      }
      // The notification service may call the fewest routes; where even it
      // may, every identity kassa issues is let in or answered 404.
      if (info.id === 'BillingService_GetAccount') return 'every identity kassa issues may read the account or gets 404: its owner, and the order and notification services';
      header(t, 'Authorization', `Bearer ${state.serviceToken}`);
      return null;
    case 404: {
      const last = info.template.match(/\{([^}]+)\}(?!.*\{)/)[1];
      setPath(t, info, { ...ids, [last]: unknown });
      return null;
    }
    case 409:
      if (info.id === 'UserService_CreateUser') {
        t.request.body = JSON.stringify({ ...bodyOf(t), username: c.username });
        return null;
      }
      if (info.id === 'UserService_UpdateUser') {
        t.request.body = JSON.stringify({ ...bodyOf(t), username: state.admin.username, email: c.email });
        return null;
      }
      if (info.id === 'OrderService_CancelOrder') {
        // A partial refund of more than remains unrefunded
        // (REFUND_EXCEEDS_REMAINING): the whole price, once part of it
        // was refunded.
        const path = `/v1/users/${c.id}/orders/${state.orderId}`;
        const o = await call('GET', path, { token: c.token });
        if (o.refunded === '0') {
          await call('POST', `${path}:cancel`, { token: c.token, body: { amount: '1' }, headers: { 'Idempotency-Key': unique('dredd-part') } });
        }
        t.request.body = JSON.stringify({ ...bodyOf(t), amount: o.price });
        return null;
      }
      return 'this 409 is a retry while the first request with its Idempotency-Key still runs: a race a sequential test cannot set up reliably; the gateway tests cover the mapping (IDEMPOTENCY_KEY_IN_USE)';
    case 413:
      t.request.body = JSON.stringify({ ...bodyOf(t), padding: 'x'.repeat(1100 * 1024) });
      return null;
    case 415:
      header(t, 'Content-Type', 'text/plain');
      return null;
    case 422: {
      // The key's first use, then the same key with another request.
      const key = unique('dredd-reused');
      const first = bodyOf(t);
      const second = { ...first };
      if (info.id === 'UserService_CreateUser') {
        const other = unique('dredd-other');
        second.username = other;
        second.email = `${other}@example.com`;
      } else if ('amount' in first) {
        second.amount = String(Number(first.amount) + 1);
      } else if ('price' in first) {
        second.price = String(Number(first.price) + 1);
      }
      if ('requestId' in first) {
        first.requestId = key;
        second.requestId = key;
      }
      const token = info.secured ? c.token : undefined;
      let firstPath = t.fullPath.split('?')[0];
      if (info.id === 'OrderService_CancelOrder') {
        // A refund's key names the order it refunded: its first use
        // refunds another order, paid for the purpose and dear enough for
        // both amounts.
        const price = String(Number(second.amount || 0) + 1);
        const other = await call('POST', `/v1/users/${c.id}/orders`, { token, body: { price }, headers: { 'Idempotency-Key': unique('dredd-order') } });
        firstPath = `/v1/users/${c.id}/orders/${other.id}:cancel`;
      }
      await call('POST', firstPath, { token, body: first, headers: { 'Idempotency-Key': key } });
      header(t, 'Idempotency-Key', key);
      t.request.body = JSON.stringify(second);
      return null;
    }
    default:
      return UNPROVOKABLE[status] || `no way to provoke ${status} is known to this test`;
  }
}

// --- the hooks -------------------------------------------------------------

hooks.beforeAll((transactions, done) => {
  const rank = new Map(CONTRACT.map((id, i) => [id, i]));
  const index = new Map(transactions.map((t, i) => [t, i]));
  const seen = new Set();
  const problems = [];
  for (const t of transactions) {
    t.kassa = operationOf(t);
    if (!t.kassa) {
      problems.push(`${t.name}: no operation ${t.request.method} ${t.origin.resourceName} in the document`);
      continue;
    }
    if (!rank.has(t.kassa.id)) problems.push(`${t.kassa.id} has no place in CONTRACT of dredd-hooks.js`);
    // Dredd 14 compiles a 'default' answer as a second transaction of
    // status 200 and the same name, carrying the Status example.
    const key = `${t.name}`;
    t.kassa.isDefault = seen.has(key) && isStatusBody(t.expected.body || '');
    seen.add(key);
  }
  // Within an operation the document's order (2xx first), except that the
  // user is deleted only after its error answers were tried on it.
  const within = t => {
    const ok = /^2/.test(t.expected.statusCode) && !t.kassa.isDefault;
    return t.kassa.id === 'UserService_DeleteUser' && ok ? 1 : 0;
  };
  const order = t => (t.kassa ? rank.get(t.kassa.id) : -1);
  transactions.sort((a, b) => order(a) - order(b) || (a.kassa && b.kassa ? within(a) - within(b) : 0) || index.get(a) - index.get(b));
  const operations = new Set(transactions.filter(t => t.kassa).map(t => t.kassa.id));
  for (const id of CONTRACT) if (!operations.has(id)) problems.push(`${id} is in CONTRACT but the document has no transaction for it`);
  if (problems.length) {
    state.setupError = problems.join('; ');
    done();
    return;
  }
  hooks.log(`${transactions.length} transactions over ${operations.size} operations`);
  setup().then(done, err => {
    state.setupError = `setup failed: ${err.message}`;
    done();
  });
});

hooks.beforeEach((t, done) => {
  if (state.setupError) {
    t.fail = state.setupError;
    done();
    return;
  }
  const info = t.kassa;
  const status = Number(t.expected.statusCode);
  const label = `${info.id} ${t.expected.statusCode}`;
  let work;
  if (info.isDefault) {
    work = Promise.resolve("the document's 'default' answer: Dredd 14 compiles it as a second 200 carrying the error body, and there is no status to provoke");
  } else if (status >= 200 && status < 300) {
    work = prepareSuccess(t, info).then(() => null);
  } else {
    work = prepareError(t, info, status);
  }
  work.then(async reason => {
    if (!reason) {
      await pace(info.template);
      if (status >= 200 && status < 300) {
        t.protocol = prism.protocol;
        t.host = prism.hostname;
        t.port = prism.port;
      }
      // Dredd names the transaction after the example's URI; name it after
      // what is really sent.
      t.id = `${t.request.method} (${t.expected.statusCode}) ${t.fullPath}${t.host === prism.hostname && t.port === prism.port ? ' via Prism' : ''}`;
    }
    if (reason) {
      t.skip = true;
      hooks.log(`skip ${label}: ${reason}`);
    }
    done();
  }, err => {
    t.fail = `${label}: ${err.message}`;
    done();
  });
});

hooks.afterEach((t, done) => {
  const info = t.kassa;
  if (!info || t.skip || !t.real || t.real.statusCode < 200 || t.real.statusCode >= 300 || info.isDefault) {
    done();
    return;
  }
  let body = {};
  try {
    body = JSON.parse(t.real.body);
  } catch { /* Dredd reports a body that is not JSON */ }
  switch (info.id) {
    case 'UserService_CreateUser':
      if (state.pendingUser && body.id) state.created = { id: body.id, ...state.pendingUser };
      break;
    case 'OrderService_CreateOrder':
      state.orderId = body.id || state.orderId;
      break;
    case 'NotificationService_ListNotifications':
      if (Array.isArray(body.notifications) && body.notifications.length) state.notificationId = body.notifications[0].id;
      break;
    default:
  }
  done();
});
