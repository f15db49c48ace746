package target

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// The lists a customer pages through, by the field of the answer that
// holds the items.
var listPaths = map[string]string{
	"transactions":  "/account/transactions",
	"orders":        "/orders",
	"notifications": "/notifications",
}

// Page is one page of a list.
type Page struct {
	// Code is "" for a correct answer, otherwise the failure.
	Code  string
	Items int
	// Next is the token of the following page, "" on the last.
	Next string
}

// List reads one page of u's list (transactions, orders or
// notifications) of size items after the page token.
func (r *REST) List(ctx context.Context, u User, list string, size int, token string) Page {
	path, ok := listPaths[list]
	if !ok {
		return Page{Code: "no list " + list}
	}
	q := url.Values{"pageSize": {strconv.Itoa(size)}}
	if token != "" {
		q.Set("pageToken", token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/users/"+u.ID+path+"?"+q.Encode(), nil)
	if err != nil {
		return Page{Code: "bad request: " + err.Error()}
	}
	var out map[string]json.RawMessage
	if code := r.send(ctx, u, req, &out); code != "" {
		return Page{Code: code}
	}
	var items []json.RawMessage
	if raw, ok := out[list]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return Page{Code: "bad response"}
		}
	}
	var next string
	if raw, ok := out["nextPageToken"]; ok {
		if err := json.Unmarshal(raw, &next); err != nil {
			return Page{Code: "bad response"}
		}
	}
	return Page{Items: len(items), Next: next}
}
