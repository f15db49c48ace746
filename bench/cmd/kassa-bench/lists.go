package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/bench/preload"
	"github.com/kassa-dev/kassa/bench/target"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Pages of the list reads: the measured pages have the API's default
// size; the walk to the deep page takes the largest the API allows.
const (
	listPage = paging.DefaultSize
	walkPage = paging.MaxSize
)

// listCursor is where a list's deep page starts, for its plan, and the
// heavy user who reads it.
type listCursor struct {
	heavy  target.User
	cursor paging.Cursor
}

// measureLists logs in as the heavy user and reads each of its lists,
// one request at a time: the newest page, then, after walking half the
// list with real page tokens, the page there.
func (b *bench) measureLists(ctx context.Context, l *largeResult) (map[string]listCursor, error) {
	heavy, err := b.login(ctx, preload.Username(1), password(b.main.gen.Run+"u0"))
	if err != nil {
		return nil, fmt.Errorf("log in as the heavy user: %w", err)
	}
	heavy.ID = preload.UserID(1)
	deep := l.Size.Heavy / 2
	l.Lists = map[string]*listResult{}
	cursors := map[string]listCursor{}
	for _, name := range lists {
		lr := &listResult{PageSize: listPage}
		l.Lists[name] = lr
		lr.First = b.timePage(ctx, heavy, name, "", lr)
		token := ""
		for lr.DeepOffset < deep {
			p := b.rest.List(ctx, heavy, name, walkPage, token)
			if p.Code != "" {
				return nil, fmt.Errorf("walk %s: %s", name, p.Code)
			}
			lr.DeepOffset += p.Items
			if token = p.Next; token == "" {
				return nil, fmt.Errorf("%s ended after %d items, before the deep page at %d", name, lr.DeepOffset, deep)
			}
		}
		lr.Deep = b.timePage(ctx, heavy, name, token, lr)
		if lr.First.P50 > 0 {
			lr.Ratio = lr.Deep.P50 / lr.First.P50
		}
		c, err := paging.Decode(token)
		if err != nil {
			return nil, err
		}
		cursors[name] = listCursor{heavy: heavy, cursor: c}
		b.printf("  list %-13s newest page p50 %5.2f p99 %5.2f ms; page %d items in p50 %5.2f p99 %5.2f ms (%.2f×)\n",
			name, lr.First.P50, lr.First.P99, lr.DeepOffset, lr.Deep.P50, lr.Deep.P99, lr.Ratio)
	}
	return cursors, nil
}

// timePage reads one page cfg.listSamples times and summarises the
// latencies of the correct answers, counting the others in lr.Errors.
func (b *bench) timePage(ctx context.Context, u target.User, list, token string, lr *listResult) latency {
	var ds []time.Duration
	for range b.cfg.listSamples {
		cctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		t0 := time.Now()
		p := b.rest.List(cctx, u, list, listPage, token)
		d := time.Since(t0)
		cancel()
		if p.Code != "" || p.Items != listPage {
			lr.Errors++
			continue
		}
		ds = append(ds, d)
	}
	return summarize(ds)
}

// login logs name in through the user service and returns its token.
func (b *bench) login(ctx context.Context, name, pass string) (target.User, error) {
	conn, err := grpc.NewClient(b.st.Addr("user"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return target.User{}, err
	}
	defer conn.Close()
	return b.loginWith(ctx, userv1.NewAuthServiceClient(conn), name, pass)
}

func (b *bench) loginWith(ctx context.Context, logins userv1.AuthServiceClient, name, pass string) (target.User, error) {
	cctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	tok, err := logins.Login(cctx, &userv1.LoginRequest{Username: name, Password: pass})
	if err != nil {
		return target.User{}, err
	}
	return target.User{Token: tok.GetAccessToken()}, nil
}
