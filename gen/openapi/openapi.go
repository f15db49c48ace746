// Package openapi holds the OpenAPI 3.0 document of the kassa REST API,
// generated from the contracts, the HTTP rules in proto/http.yaml and the
// options in proto/openapi.yaml (make generate; see README.md here). This
// file and the tests are the only hand-written files under gen/.
package openapi

import _ "embed"

// JSON is the OpenAPI document of the whole kassa REST API, as committed.
// Its info.version is "unreleased": the gateway serves it with the version
// of its own build instead.
//
//go:embed kassa.openapi.json
var JSON []byte
