package grpctest

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// FlakyMethod is the full name of Flaky's one method.
const FlakyMethod = "/kassa.test.Flaky/Call"

// Flaky is a peer that fails its first Failures calls with Code and then
// succeeds, counting every attempt that reaches it: for testing what a
// client does about failures. Register it with Register; call FlakyMethod
// with a wrapperspb.StringValue.
type Flaky struct {
	Failures int32
	Code     codes.Code
	attempts atomic.Int32
}

// Attempts is how many calls reached the server.
func (f *Flaky) Attempts() int { return int(f.attempts.Load()) }

// Register adds the service to s.
func (f *Flaky) Register(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "kassa.test.Flaky",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Call",
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: FlakyMethod}, func(context.Context, any) (any, error) {
					if f.attempts.Add(1) <= f.Failures {
						return nil, status.Error(f.Code, "not this time")
					}
					return in, nil
				})
			},
		}},
	}, struct{}{})
}
