package main

import (
	"slices"
	"sort"
)

// walk calls fn on every JSON object of v, parents before children. The
// objects are collected first, so fn may add objects it will not be called on.
func walk(v any, fn func(map[string]any)) {
	var objs []map[string]any
	var collect func(any)
	collect = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			objs = append(objs, v)
			for _, k := range sortedKeys(v) {
				collect(v[k])
			}
		case []any:
			for _, child := range v {
				collect(child)
			}
		}
	}
	collect(v)
	for _, obj := range objs {
		fn(obj)
	}
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func forEachOperation(doc map[string]any, fn func(path, method string, op map[string]any)) {
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range sortedKeys(paths) {
		item := paths[p].(map[string]any)
		for _, m := range sortedKeys(item) {
			if op, ok := item[m].(map[string]any); ok && slices.Contains(methods, m) {
				fn(p, m, op)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
