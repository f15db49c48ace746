// The order scenario of kassa's REST API, written against the TypeScript types
// that openapi-typescript generates from the OpenAPI document
// (gen/openapi/kassa.openapi.json). openapi-fetch checks every path, path
// parameter, header, body and response field against those types at compile
// time; at run time it is a thin layer over fetch.
//
// A new customer registers, logs in, deposits 100.00, buys for 25.00, reads
// the account and lists the letters. Each step checks kassa's answer, so a run
// that prints "all checks passed" has shown the money moved exactly once.
//
// `make client-test` generates the types, builds this to
// .build/client/js/order.mjs and runs it on a throwaway stack; `make
// client-run` runs it against KASSA_BASE_URL (default: a local `make run`).

import createClient from "openapi-fetch";
import type { paths } from "kassa-openapi";

const baseUrl = process.env["KASSA_BASE_URL"] ?? "http://localhost:8080";

// Amounts are int64 minor units. kassa sends them as JSON strings (JavaScript
// numbers lose precision beyond 2^53) and accepts strings or numbers, so the
// program does its arithmetic in bigint and sends strings.
const deposit = 10_000n;
const price = 2_500n;

// A failed answer's body is a google.rpc.Status; its message is the useful
// part of an error report.
type Status = { code?: number; message?: string };

// ok waits for a call and returns its body, or throws naming the step, the
// HTTP status and kassa's message. Every successful kassa answer has a body.
async function ok<D, E extends Status>(
  step: string,
  call: Promise<{ data?: D; error?: E; response: Response }>,
): Promise<D> {
  const { data, error, response } = await call;
  if (data !== undefined) {
    return data;
  }
  throw new Error(`${step}: HTTP ${response.status}: ${error?.message ?? "no message"}`);
}

// need returns a field the answer must carry. The document marks no field as
// required, so the types make every one optional even though kassa always
// sends them all.
function need<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) {
    throw new Error(`${what} is missing from the answer`);
  }
  return value;
}

function check(cond: boolean, what: string): void {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok   ${what}`);
}

function money(value: string | number | null | undefined, what: string): bigint {
  return BigInt(need(value, what));
}

async function main(): Promise<void> {
  // A fresh name per run, so the program can run again on the same database.
  const run = crypto.randomUUID().slice(0, 8);
  const username = `ts-client-${run}`;
  const email = `${username}@example.com`;
  const password = `pw-${crypto.randomUUID()}`;

  const anonymous = createClient<paths>({ baseUrl });

  const user = await ok(
    "register",
    anonymous.POST("/v1/users", {
      params: { header: { "Idempotency-Key": `register-${run}` } },
      body: { username, email, firstName: "Grace", lastName: "Client", password },
    }),
  );
  const userId = need(user.id, "user.id");
  check(user.username === username, `registered ${username} as user ${userId}`);

  const login = await ok("log in", anonymous.POST("/v1/auth/login", { body: { username, password } }));
  check(login.tokenType === "Bearer", `logged in: a Bearer token for ${login.expiresIn ?? "?"} s`);

  // Every call from here on is the customer's own, with its access token.
  const client = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${need(login.accessToken, "accessToken")}` },
  });
  const path = { userId };

  const opened = await ok("read the new account", client.GET("/v1/users/{userId}/account", { params: { path } }));
  const currency = need(opened.currency, "account.currency");
  check(money(opened.balance, "account.balance") === 0n, `the new account holds 0 ${currency}`);

  const deposited = await ok(
    "deposit",
    client.POST("/v1/users/{userId}/account:deposit", {
      params: { path, header: { "Idempotency-Key": `deposit-${run}` } },
      body: { amount: deposit.toString() },
    }),
  );
  const afterDeposit = money(deposited.account?.balance, "account.balance");
  check(afterDeposit === deposit, `deposited ${deposit}: balance ${afterDeposit}`);

  // The same key on a retry must return the same order and charge once; a
  // client that lost the first answer retries exactly like this.
  const orderKey = `order-${run}`;
  const placeOrder = () =>
    ok(
      "place an order",
      client.POST("/v1/users/{userId}/orders", {
        params: { path, header: { "Idempotency-Key": orderKey } },
        body: { price: price.toString() },
      }),
    );
  const order = await placeOrder();
  const orderId = need(order.id, "order.id");
  check(order.status === "STATUS_PAID", `order ${orderId} for ${price} is ${order.status}`);
  const retried = await placeOrder();
  check(retried.id === orderId, "the retry with the same Idempotency-Key returns the same order");

  const account = await ok("read the account", client.GET("/v1/users/{userId}/account", { params: { path } }));
  const balance = money(account.balance, "account.balance");
  check(balance === deposit - price, `balance ${balance} = ${deposit} - ${price} ${currency}, charged once`);

  const listed = await ok(
    "list the letters",
    client.GET("/v1/users/{userId}/notifications", { params: { path, query: { pageSize: 50 } } }),
  );
  const letters = (listed.notifications ?? []).filter((n) => n.orderId === orderId);
  check(letters.length === 1, "exactly one letter about the order");
  const letter = letters[0];
  check(
    letter !== undefined && letter.email === email && (letter.subject ?? "").toLowerCase().includes("paid"),
    `the happy letter to ${email}: "${letter?.subject ?? ""}"`,
  );
}

try {
  await main();
  console.log("client: all checks passed");
} catch (err) {
  // fetch hides why a connection failed in the error's cause.
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : "";
  console.error(`client: ${err instanceof Error ? err.message : String(err)}${cause}`);
  process.exitCode = 1;
}
