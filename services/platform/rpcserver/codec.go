package rpcserver

import (
	"errors"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// textCodec is gRPC's proto codec with one difference on the receiving
// side. A proto3 string field holding invalid UTF-8 fails to unmarshal,
// and grpc-go reports every unmarshal failure as INTERNAL before any
// interceptor runs: the client would be told the server is broken when its
// request is. So when unmarshalling fails for that reason only, textCodec
// decodes the message again with each invalid sequence in string fields
// replaced by a NUL, which the text interceptor then refuses with
// INVALID_ARGUMENT naming the field. The handler never sees such a message.
type textCodec struct{ encoding.CodecV2 }

func newTextCodec() textCodec { return textCodec{encoding.GetCodecV2("proto")} }

func (c textCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok || !isInvalidUTF8(err) {
		return err
	}
	clean, ok := markInvalidText(data.Materialize(), m.ProtoReflect().Descriptor())
	if !ok || proto.Unmarshal(clean, m) != nil {
		return err
	}
	return nil
}

// isInvalidUTF8 recognises protobuf-go's error for a string field that is
// not UTF-8: it has an InvalidUTF8 method, the documented way to tell it
// from other decoding errors.
func isInvalidUTF8(err error) bool {
	var u interface{ InvalidUTF8() bool }
	return errors.As(err, &u) && u.InvalidUTF8()
}

// markInvalidText re-encodes the wire-format message b of type md with
// every string field made valid UTF-8 by turning each invalid sequence
// into a NUL, recursing into message fields (map entries are messages on
// the wire). Fields it does not know are copied as they are. ok is false
// when b is not a well-formed message, which the caller then reports as
// the original error.
func markInvalidText(b []byte, md protoreflect.MessageDescriptor) (out []byte, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		tag := b[:n]
		rest := b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil || (fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.MessageKind) {
			m := protowire.ConsumeFieldValue(num, typ, rest)
			if m < 0 {
				return nil, false
			}
			out = append(out, b[:n+m]...)
			b = rest[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(rest)
		if m < 0 {
			return nil, false
		}
		if fd.Kind() == protoreflect.StringKind {
			if !utf8.Valid(v) {
				v = []byte(strings.ToValidUTF8(string(v), "\x00"))
			}
		} else if v, ok = markInvalidText(v, fd.Message()); !ok {
			return nil, false
		}
		out = append(out, tag...)
		out = protowire.AppendBytes(out, v)
		b = rest[m:]
	}
	return out, true
}
