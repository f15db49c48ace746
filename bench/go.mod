module github.com/kassa-dev/kassa/bench

go 1.26.0

replace (
	github.com/kassa-dev/kassa/dev => ../dev
	github.com/kassa-dev/kassa/gen => ../gen
	github.com/kassa-dev/kassa/services/order => ../services/order
	github.com/kassa-dev/kassa/services/platform => ../services/platform
)

require (
	github.com/kassa-dev/kassa/dev v0.0.0-00010101000000-000000000000
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/kassa-dev/kassa/gen v0.0.0-00010101000000-000000000000
	github.com/kassa-dev/kassa/services/order v0.0.0-00010101000000-000000000000
	github.com/kassa-dev/kassa/services/platform v0.0.0-00010101000000-000000000000
	github.com/lib/pq v1.12.3
	google.golang.org/grpc v1.85.0
)

require (
	github.com/XSAM/otelsql v0.44.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.33.0 // indirect
	github.com/jmoiron/sqlx v1.4.0 // indirect
	github.com/mfridman/interpolate v0.0.2 // indirect
	github.com/pressly/goose/v3 v3.30.0 // indirect
	github.com/sethvargo/go-retry v0.5.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
