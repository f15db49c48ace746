package pgdb

// WithDriverDefaults exposes withDriverDefaults to the external tests.
var WithDriverDefaults = withDriverDefaults
