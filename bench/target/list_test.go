package target

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRESTList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer tok":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":16,"message":"no","details":[]}`)
		case r.URL.Path == "/v1/users/u1/account/transactions" && q.Get("pageSize") == "2" && q.Get("pageToken") == "":
			io.WriteString(w, `{"transactions":[{"id":"a"},{"id":"b"}],"nextPageToken":"t2"}`)
		case r.URL.Path == "/v1/users/u1/orders" && q.Get("pageToken") == "t2":
			io.WriteString(w, `{"orders":[{"id":"c"}],"nextPageToken":""}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":5,"message":"no such page","details":[]}`)
		}
	}))
	defer srv.Close()
	r := NewREST(srv.URL, 2)
	defer r.Close()
	ctx := context.Background()
	u := User{ID: "u1", Token: "tok"}
	for _, c := range []struct {
		name, list, token string
		user              User
		want              Page
	}{
		{"first page", "transactions", "", u, Page{Items: 2, Next: "t2"}},
		{"last page", "orders", "t2", u, Page{Items: 1}},
		{"unknown page", "notifications", "", u, Page{Code: "http 404 NotFound"}},
		{"no token", "orders", "", User{ID: "u1"}, Page{Code: "http 401 Unauthenticated"}},
		{"no such list", "users", "", u, Page{Code: "no list users"}},
	} {
		if got := r.List(ctx, c.user, c.list, 2, c.token); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
