package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporterFromEnv returns the OTLP span exporter the standard variables
// ask for, or nil when none names an endpoint: kassa needs no collector.
//
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  URL spans are sent to, as is
//	OTEL_EXPORTER_OTLP_ENDPOINT         base URL (HTTP: /v1/traces is appended)
//	OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL  http/protobuf (default) or grpc
//	OTEL_TRACES_EXPORTER=none           turns export off again
//
// Either endpoint turns export on. The exporters read the rest (headers,
// timeout, compression, certificates) from the environment themselves.
// They connect lazily, so a collector that is down does not stop the
// process; spans are then dropped.
func exporterFromEnv(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	tracesURL, baseURL := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if tracesURL == "" && baseURL == "" {
		return nil, nil
	}
	if getenv("OTEL_TRACES_EXPORTER") == "none" {
		return nil, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "", "http/protobuf":
		endpoint := tracesURL
		if endpoint == "" {
			endpoint = strings.TrimSuffix(baseURL, "/") + "/v1/traces"
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/HTTP exporter for %s: %w", endpoint, err)
		}
		return exp, nil
	case "grpc":
		endpoint := tracesURL
		if endpoint == "" {
			endpoint = baseURL
		}
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/gRPC exporter for %s: %w", endpoint, err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL: want http/protobuf or grpc, got %q", protocol)
	}
}
