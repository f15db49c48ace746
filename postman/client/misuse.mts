// Mistakes the generated types must refuse. This file must NOT compile:
// check-misuse.sh type-checks it and passes only when tsc reports exactly the
// error named at the end of each marked line and no other, so a type-check
// that lets everything through (types generated as `any`, a module name that
// resolves to nothing) fails it.

import createClient from "openapi-fetch";
import type { components, paths } from "kassa-openapi";

const client = createClient<paths>({ baseUrl: "http://localhost:8080" });
const path = { userId: "c53ba9fe-2a33-4dd6-a779-c67c62b78d25" };

// A number where the document says the deposit is an object.
await client.POST("/v1/users/{userId}/account:deposit", { params: { path }, body: 10000 }); // error TS2322

// A misspelt field (and so the required amount left out).
await client.POST("/v1/users/{userId}/account:deposit", { params: { path }, body: { ammount: "10000" } }); // error TS2561

// The order's required price left out.
await client.POST("/v1/users/{userId}/orders", { params: { path }, body: { currency: "USD" } }); // error TS2322

// The deposit body as the schema names it.
export const deposit: components["schemas"]["DepositBody"] = { amount: "10000" };

// A number where the document says the user id is a string.
await client.GET("/v1/users/{userId}/account", { params: { path: { userId: 42 } } }); // error TS2322

// A field the server owns (readOnly in the document) sent in a request.
await client.POST("/v1/users/{userId}/orders", { params: { path }, body: { price: "2500", status: "STATUS_PAID" } }); // error TS2322

// A path the document does not have.
await client.GET("/v1/user/{userId}/account", { params: { path } }); // error TS2345

// The path parameters left out.
await client.GET("/v1/users/{userId}/account", {}); // error TS2345

// A status that is not one of the enum's values.
const { data: order } = await client.GET("/v1/users/{userId}/orders/{id}", { params: { path: { ...path, id: "x" } } });
if (order?.status === "PAID") console.log("never"); // error TS2367

// A field the account does not have.
const { data: account } = await client.GET("/v1/users/{userId}/account", { params: { path } });
console.log(account?.balanse); // error TS2551
