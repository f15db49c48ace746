package rpcserver

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The in-process channel's copies are deep, replace what the destination
// held, and refuse what is not a message of the destination's type
// instead of panicking in proto.Merge.
func TestProtoCloner(t *testing.T) {
	src, err := structpb.NewStruct(map[string]any{"name": "ada", "tags": []any{"a", "b"}, "inner": map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(src)

	dst, _ := structpb.NewStruct(map[string]any{"stale": true})
	if err := (protoCloner{}).Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	clone, err := protoCloner{}.Clone(src)
	if err != nil {
		t.Fatal(err)
	}
	// The source changes after the copies: neither follows.
	src.Fields["inner"].GetStructValue().Fields["n"] = structpb.NewNumberValue(2)
	src.Fields["tags"].GetListValue().Values[0] = structpb.NewStringValue("z")
	for name, got := range map[string]proto.Message{"Copy": dst, "Clone": clone.(proto.Message)} {
		if !proto.Equal(got, want) {
			t.Errorf("%s = %v, want %v (a deep copy, without the destination's old fields)", name, got, want)
		}
	}

	for _, c := range []struct {
		name    string
		out, in any
	}{
		{"another message type", wrapperspb.String("x"), src},
		{"not a message", "x", src},
		{"from not a message", dst, 42},
	} {
		if err := (protoCloner{}).Copy(c.out, c.in); err == nil {
			t.Errorf("Copy with %s: no error", c.name)
		}
	}
	if _, err := (protoCloner{}).Clone("x"); err == nil {
		t.Error("Clone of a string: no error")
	}
}
