module github.com/kassa-dev/kassa/services/e2e

go 1.26.0

replace (
	github.com/kassa-dev/kassa/gen => ../../gen
	github.com/kassa-dev/kassa/services/platform => ../platform
)

require (
	github.com/kassa-dev/kassa/gen v0.0.0-00010101000000-000000000000
	github.com/kassa-dev/kassa/services/platform v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.85.0
)

require (
	github.com/grpc-ecosystem/go-grpc-middleware/v2 v2.3.4 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.33.0 // indirect
	github.com/lib/pq v1.12.3 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
