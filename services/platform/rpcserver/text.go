package rpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// textInterceptor refuses a request any of whose string fields, at any
// depth, is not acceptable text (validate.Text): one check for every
// method of every service, so no handler can forget it and no NUL byte
// reaches PostgreSQL. It runs inside errorInterceptor, which maps the
// apperr.Invalid it returns to INVALID_ARGUMENT with a field violation.
func textInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := checkText(m.ProtoReflect(), ""); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// textStreamInterceptor applies the same check to each message a stream
// receives (the health service's Watch is the only stream kassa serves).
// Streams have no error interceptor, so the refusal is mapped here.
func textStreamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, textStream{ss, log, info.FullMethod})
	}
}

type textStream struct {
	grpc.ServerStream
	log    *slog.Logger
	method string
}

func (s textStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := checkText(pm.ProtoReflect(), ""); err != nil {
			return grpcstatus.ToStatus(s.Context(), s.log, s.method, err)
		}
	}
	return nil
}

// checkText walks the populated fields of m and returns the error of the
// first string that is not text, naming it by its path from the request
// ("user.email", "items[2].name", `labels["k"]`). Unset fields hold the
// empty string, which is text, so only populated ones need a look.
func checkText(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				keyPath := fmt.Sprintf("%s[%s]", path, strconv.Quote(k.String()))
				if fd.MapKey().Kind() == protoreflect.StringKind {
					if err = validate.Text(keyPath, k.String()); err != nil {
						return false
					}
				}
				err = checkValue(fd.MapValue(), mv, keyPath)
				return err == nil
			})
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if err = checkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					break
				}
			}
		default:
			err = checkValue(fd, v, path)
		}
		return err == nil
	})
	return err
}

// checkValue checks one singular value of field fd (an element of a list
// or a map's value counts as singular).
func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return validate.Text(path, v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkText(v.Message(), path+".")
	}
	return nil
}
