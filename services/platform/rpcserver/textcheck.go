package rpcserver

import "google.golang.org/protobuf/proto"

// CheckText returns the error of the first string field of m, at any
// depth, that is not text (validate.Text), or nil: the check every server
// applies to its requests. A client that builds requests from outside
// input applies it before sending, because the gRPC library will not
// marshal a string that is not UTF-8 and the call fails as INTERNAL
// without reaching the server.
func CheckText(m proto.Message) error { return checkText(m.ProtoReflect(), "") }
