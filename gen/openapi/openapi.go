// Package openapi holds the OpenAPI (Swagger 2.0) document of the kassa REST
// API, generated from the contracts and the HTTP rules in proto/http.yaml.
// This file is the only hand-written file under gen/.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document of all kassa services.
//
//go:embed kassa.swagger.json
var JSON []byte
