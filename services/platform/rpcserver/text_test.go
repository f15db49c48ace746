package rpcserver_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/typepb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoDesc serves one method per message type; each decodes its request
// into that type, counts the call and answers an empty StringValue.
func echoDesc(handled *atomic.Int32) *grpc.ServiceDesc {
	method := func(name string, newMsg func() proto.Message) grpc.MethodDesc {
		return grpc.MethodDesc{
			MethodName: name,
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := newMsg()
				if err := dec(in); err != nil {
					return nil, err
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/kassa.test.Echo/" + name}, func(context.Context, any) (any, error) {
					handled.Add(1)
					return &wrapperspb.StringValue{}, nil
				})
			},
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: "kassa.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			method("String", func() proto.Message { return new(wrapperspb.StringValue) }),
			method("Struct", func() proto.Message { return new(structpb.Struct) }),
			method("Type", func() proto.Message { return new(typepb.Type) }),
		},
	}
}

// rawCodec sends pre-encoded bytes, so a test can put on the wire what a
// protobuf library would refuse to marshal (invalid UTF-8 in a string).
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMsg).b)}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*rawMsg).b = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

func stringField(num protowire.Number, s string) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func messageField(num protowire.Number, m []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every string field at any depth (nested messages, repeated fields, map
// keys and values) that holds a NUL or invalid UTF-8 is refused with
// INVALID_ARGUMENT naming its path, before the handler runs; invalid UTF-8
// included, which grpc-go would otherwise answer with INTERNAL from its
// codec. Good text in the same shapes reaches the handler.
func TestServer_RefusesStringsThatAreNotText(t *testing.T) {
	var handled atomic.Int32
	conn := grpctest.Serve(t, func(s *grpc.Server) { s.RegisterService(echoDesc(&handled), struct{}{}) })
	nested := func(v *structpb.Value) *structpb.Struct {
		return &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewListValue(&structpb.ListValue{
			Values: []*structpb.Value{structpb.NewStringValue("fine"), v},
		})}}
	}
	tests := []struct {
		name   string
		method string
		body   []byte
		field  string // "" when the call must succeed
	}{
		{"good text", "String", marshal(t, wrapperspb.String("Zahlung für Bestellung ✓")), ""},
		{"good nested text", "Struct", marshal(t, nested(structpb.NewStringValue("ok"))), ""},
		{"NUL in a top-level field", "String", marshal(t, wrapperspb.String("a\x00")), "value"},
		{"NUL in a repeated message", "Type", marshal(t, &typepb.Type{Name: "t", Fields: []*typepb.Field{{Name: "a"}, {Name: "b\x00"}}}), "fields[1].name"},
		{"NUL deep in map, list and oneof", "Struct", marshal(t, nested(structpb.NewStringValue("x\x00y"))), `fields["k"].list_value.values[1].string_value`},
		{"NUL in a map key", "Struct", marshal(t, &structpb.Struct{Fields: map[string]*structpb.Value{"a\x00": structpb.NewNullValue()}}), `fields["a\x00"]`},
		{"invalid UTF-8 in a top-level field", "String", stringField(1, "a\xffb"), "value"},
		{"invalid UTF-8 in a nested map value", "Struct", messageField(1, append(stringField(1, "k"), messageField(2, stringField(3, "\xe2\x82"))...)), `fields["k"].string_value`},
		{"invalid UTF-8 in a map key", "Struct", messageField(1, stringField(1, "\xff")), `fields["\x00"]`},
		{"invalid UTF-8 in a repeated message", "Type", append(stringField(1, "t"), messageField(2, stringField(4, "\xc3"))...), "fields[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := handled.Load()
			err := conn.Invoke(context.Background(), "/kassa.test.Echo/"+tt.method, &rawMsg{tt.body}, new(rawMsg), grpc.ForceCodecV2(rawCodec{}))
			if tt.field == "" {
				if err != nil || handled.Load() != before+1 {
					t.Fatalf("call = %v, handled %d times; want OK and one handler call", err, handled.Load()-before)
				}
				return
			}
			if handled.Load() != before {
				t.Fatal("the handler ran for a refused request")
			}
			assertFieldViolation(t, err, tt.field)
		})
	}
}

func assertFieldViolation(t *testing.T, err error, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("status = %v %q, want InvalidArgument", st.Code(), st.Message())
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) == 1 {
			fv := br.FieldViolations[0]
			if fv.Field != field || fv.Description != validate.TextRule {
				t.Fatalf("violation = %q %q, want %q %q", fv.Field, fv.Description, field, validate.TextRule)
			}
			return
		}
	}
	t.Fatalf("no single field violation in %v", st.Details())
}

// A body that is not a protobuf message at all stays an unmarshalling
// failure: the codec turns only invalid UTF-8 into a field violation.
func TestServer_MalformedMessage_NotTakenForText(t *testing.T) {
	var handled atomic.Int32
	conn := grpctest.Serve(t, func(s *grpc.Server) { s.RegisterService(echoDesc(&handled), struct{}{}) })
	truncated := []byte{0x0a, 0x05, 'a', 'b'} // field 1 claims 5 bytes, has 2
	err := conn.Invoke(context.Background(), "/kassa.test.Echo/String", &rawMsg{truncated}, new(rawMsg), grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.Internal || handled.Load() != 0 {
		t.Fatalf("call = %v, handled %d; want grpc-go's Internal unmarshal error and no handler call", err, handled.Load())
	}
}

// Streams get the same check: the health service's Watch with a NUL in its
// service name is refused rather than watched.
func TestServer_StreamRequestWithNUL_Refused(t *testing.T) {
	conn := grpctest.Serve(t, func(*grpc.Server) {})
	stream, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{Service: "a\x00"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		t.Fatal("stream ended without an error")
	}
	assertFieldViolation(t, err, "service")
}
