// Drives the gateway's API reference (/docs) in headless Chromium as a
// person would: from the index at / to the reference, every operation of
// /openapi.json listed, a token entered in the Authorize dialog, and
// GET /v1/users/{userId}/account tried out, with a wrong token (401) and
// the right one (200, the user's account). Any console error, failed page
// load or request to a host other than this machine fails the run.
//
// Run against a started gateway (KASSA_BASE_URL), e.g. `make docs-test`,
// which starts a throwaway stack. Needs Debian's chromium at
// /usr/bin/chromium (CHROMIUM overrides the path).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const base = (process.env.KASSA_BASE_URL || "").replace(/\/+$/, "");
const buildDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../.build");

if (!base) {
  console.error("KASSA_BASE_URL is not set: run `make docs-test`, or point it at a running gateway (e.g. http://127.0.0.1:8080 of `make run`).");
  process.exit(2);
}
try {
  fs.accessSync(chromiumPath, fs.constants.X_OK);
} catch {
  console.error(`No Chromium at ${chromiumPath}. Install Debian's package (apt-get install -y chromium), ` +
    "or set CHROMIUM to the path of a Chromium or Chrome binary.");
  process.exit(2);
}

const localHosts = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
const timeout = 20_000;

// What went wrong on the page besides the test's own assertions.
const problems = [];
const externalRequests = [];
// Console errors that a step caused on purpose: Chromium logs the 4xx
// answer of a script's fetch as one (reported a moment after the answer).
const allowedConsole = [];

let context, page, doc, user, token, account, profile;

async function api(method, route, body, headers = {}) {
  const res = await fetch(base + route, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
    body: body && JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

// operations lists the document's operations as Swagger UI shows them: one
// block per operation and tag.
function operations(document) {
  const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  const ops = [];
  for (const [p, item] of Object.entries(document.paths)) {
    for (const m of methods) {
      const op = item[m];
      if (!op) continue;
      const tags = op.tags?.length ? op.tags : ["default"];
      for (const tag of tags) ops.push({ method: m.toUpperCase(), path: p, operationId: op.operationId, tag, op, item });
    }
  }
  return ops;
}

// bearerScheme returns the document's security scheme for the access
// token and what its dialog field takes: the bare token (OpenAPI 3
// http/bearer) or the whole header value (an apiKey named Authorization).
function bearerScheme(document) {
  const schemes = document.components?.securitySchemes ?? document.securityDefinitions ?? {};
  for (const [name, s] of Object.entries(schemes)) {
    if (s.type === "http" && s.scheme?.toLowerCase() === "bearer") return { name, value: (t) => t };
    if (s.type === "apiKey" && s.in === "header" && s.name?.toLowerCase() === "authorization") {
      return { name, value: (t) => `Bearer ${t}` };
    }
  }
  throw new Error(`the document has no bearer security scheme: ${JSON.stringify(schemes)}`);
}

function isLocal(url) {
  const u = new URL(url);
  if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
  return localHosts.has(u.hostname);
}

async function waitForOperations(want) {
  await page.waitForFunction((n) => document.querySelectorAll(".opblock").length >= n, want, { timeout });
  return page.$$eval(".opblock", (blocks) =>
    blocks.map((b) => ({
      id: b.id,
      method: b.querySelector(".opblock-summary-method")?.textContent.trim(),
      path: b.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
    })),
  );
}

// authorize enters value for the scheme in the Authorize dialog, logging
// out of an earlier value first.
async function authorize(scheme, value) {
  await page.locator(".scheme-container button.authorize").click();
  const dialog = page.locator(".modal-ux");
  await dialog.waitFor({ timeout });
  const box = dialog.locator(".auth-container").filter({ hasText: scheme.name });
  const logout = box.getByRole("button", { name: "Remove authorization" }); // "Logout"
  if (await logout.count()) await logout.click();
  const input = box.locator("input");
  await input.waitFor({ timeout }); // shown again once logged out
  await input.fill(value);
  await box.getByRole("button", { name: "Apply credentials" }).click();
  await box.getByRole("button", { name: "Remove authorization" }).waitFor({ timeout }); // the Logout button: authorized
  await dialog.getByRole("button", { name: "Close" }).first().click();
  await dialog.waitFor({ state: "detached", timeout });
}

// tryAccount runs GET /v1/users/{userId}/account from its block and returns
// the status and body the page shows, and the request the page sent.
async function tryAccount(block, userId) {
  if (!(await block.locator(".opblock-body").count())) await block.locator(".opblock-summary-control").click();
  const tryOut = block.locator("button.try-out__btn");
  if ((await tryOut.textContent()).trim() === "Try it out") await tryOut.click();
  const param = block.locator("tr[data-param-in='path']");
  assert.equal(await param.count(), 1, "one path parameter");
  await param.locator("input").fill(userId);
  const clear = block.locator("button.btn-clear");
  if (await clear.count()) await clear.click();
  const sent = page.waitForResponse((r) => new URL(r.url()).pathname === `/v1/users/${userId}/account`, { timeout });
  await block.locator("button.execute").click();
  const response = await sent;
  const row = block.locator(".live-responses-table tr.response");
  await row.waitFor({ timeout });
  const status = (await row.locator(".response-col_status").textContent()).trim();
  const body = (await row.locator(".response-col_description pre").first().textContent()).trim();
  return { status, body, request: response.request() };
}

describe("GET /docs in a browser", { timeout: 180_000 }, () => {
  before(async () => {
    // A user with a token, and the account the page should show.
    const name = `docs-${crypto.randomBytes(6).toString("hex")}`;
    const password = crypto.randomBytes(12).toString("base64url");
    const created = await api("POST", "/v1/users", { username: name, email: `${name}@example.com`, password });
    assert.equal(created.status, 200, `POST /v1/users: ${created.text}`);
    user = created.json;
    const login = await api("POST", "/v1/auth/login", { username: name, password });
    assert.equal(login.status, 200, `POST /v1/auth/login: ${login.text}`);
    token = login.json.accessToken;
    const acc = await api("GET", `/v1/users/${user.id}/account`, undefined, { Authorization: `Bearer ${token}` });
    assert.equal(acc.status, 200, `GET account over REST: ${acc.text}`);
    account = acc.json;
    const d = await api("GET", "/openapi.json");
    assert.equal(d.status, 200);
    doc = d.json;

    profile = fs.mkdtempSync(path.join(os.tmpdir(), "kassa-docs-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 900 },
    });
    // Every request of every page passes here: one for another host is
    // recorded and never sent.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      externalRequests.push(url);
      return route.abort("blockedbyclient");
    });
    context.on("websocket", (ws) => { if (!isLocal(ws.url())) externalRequests.push(ws.url()); });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const where = msg.location()?.url ?? "";
      if (!allowedConsole.some((e) => e.text.test(msg.text()) && where.includes(e.url))) problems.push(`console error: ${msg.text()} (${where})`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("requestfailed", (req) => {
      if (isLocal(req.url())) problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
    page.on("response", (res) => {
      // API answers are the steps' business; the page and its assets must load.
      if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith("/v1/")) {
        problems.push(`${res.status()} for ${res.url()}`);
      }
    });
  });

  after(async () => {
    await context?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  it("the index at / links to the reference, which a click opens", async () => {
    await page.goto(base + "/", { waitUntil: "load" });
    assert.equal(await page.title(), "kassa API");
    for (const href of ["/docs", "/openapi.json", "/healthz"]) {
      assert.equal(await page.locator(`a[href="${href}"]`).count(), 1, `a link to ${href}`);
    }
    await page.getByRole("link", { name: "API reference" }).click();
    await page.waitForURL(base + "/docs", { timeout });
    assert.equal(await page.title(), "kassa API reference");
  });

  it("lists every operation of /openapi.json", async () => {
    const want = operations(doc);
    assert.ok(want.length > 0, "the document has operations");
    const shown = await waitForOperations(want.length);
    assert.equal(shown.length, want.length, `blocks shown: ${shown.length}, operations in the document: ${want.length}`);
    const key = (o) => `${o.method} ${o.path}`;
    assert.deepEqual(shown.map(key).sort(), want.map(key).sort());
    // Swagger UI names each block after the operation's tag and id.
    const ids = new Set(shown.map((s) => s.id));
    for (const o of want.filter((o) => o.operationId)) {
      const id = `operations-${o.tag}-${o.operationId}`.replace(/\s/g, "_");
      assert.ok(ids.has(id), `${key(o)}: no block ${id}`);
    }
    console.log(`# ${shown.length} operations listed, as in /openapi.json`);
  });

  it("serves the same page at /docs/", async () => {
    await page.goto(base + "/docs/", { waitUntil: "load" });
    const shown = await waitForOperations(operations(doc).length);
    assert.equal(shown.length, operations(doc).length);
  });

  it("try-it-out: a wrong token gets 401, the user's token the account (200)", async () => {
    const scheme = bearerScheme(doc);
    const target = operations(doc).find((o) => o.method === "GET" && /^\/v1\/users\/\{[^}]+\}\/account$/.test(o.path));
    assert.ok(target, "GET /v1/users/{userId}/account is in the document");
    const block = page.locator(`.opblock[id="operations-${target.tag}-${target.operationId}"]`);

    await authorize(scheme, scheme.value("not-a-token"));
    allowedConsole.push({ text: /status of 401/, url: `/v1/users/${user.id}/account` });
    let got = await tryAccount(block, user.id);
    assert.equal(got.status, "401", `response shown: ${got.status} ${got.body}`);
    assert.equal(JSON.parse(got.body).code, 16, "UNAUTHENTICATED");
    assert.equal(got.request.headers().authorization, "Bearer not-a-token");

    await authorize(scheme, scheme.value(token));
    got = await tryAccount(block, user.id);
    assert.equal(got.status, "200", `response shown: ${got.status} ${got.body}`);
    assert.deepEqual(JSON.parse(got.body), account);
    assert.equal(JSON.parse(got.body).userId, user.id);
    // Sent to this gateway, with the token.
    assert.equal(new URL(got.request.url()).origin, new URL(base).origin);
    assert.equal(got.request.headers().authorization, `Bearer ${token}`);

    fs.mkdirSync(buildDir, { recursive: true });
    const shot = path.join(buildDir, "docs-test.png");
    await block.screenshot({ path: shot }); // the operation, the request sent and the answer
    console.log(`# screenshot: ${shot}`);
  });

  it("keeps the token across a reload", async () => {
    await page.reload({ waitUntil: "load" });
    await waitForOperations(operations(doc).length);
    await page.locator(".scheme-container button.authorize.locked").waitFor({ timeout });
    const target = operations(doc).find((o) => o.method === "GET" && /^\/v1\/users\/\{[^}]+\}\/account$/.test(o.path));
    const got = await tryAccount(page.locator(`.opblock[id="operations-${target.tag}-${target.operationId}"]`), user.id);
    assert.equal(got.status, "200", `response shown: ${got.status} ${got.body}`);
    assert.equal(got.request.headers().authorization, `Bearer ${token}`);
  });

  it("had no console error, failed load or request off this machine", () => {
    assert.deepEqual(externalRequests, [], "requests to other hosts");
    assert.deepEqual(problems, []);
  });
});
