package grpcserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// pendingUsers creates n users while billing refuses them, and returns their
// ids; billing keeps refusing them afterwards.
func (e env) pendingUsers(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	e.billing.setFailCreate(n)
	for i := range n {
		_, err := e.users.CreateUser(ctx, &userv1.CreateUserRequest{User: newUser(fmt.Sprintf("%s%03d", prefix, i))})
		wantCode(t, err, codes.Unavailable)
	}
	var ids []string
	for token := ""; ; {
		resp, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.GetUsers() {
			if strings.HasPrefix(u.GetUsername(), prefix) {
				ids = append(ids, u.GetId())
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != n {
		t.Fatalf("created %d pending users, want %d", len(ids), n)
	}
	e.billing.setRefused(true, ids...)
	return ids
}

// count runs a COUNT(*) over users WHERE cond.
func (e env) count(t *testing.T, cond string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM users WHERE `+cond, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// fastForward makes every pending user due now, as if its backoff had
// elapsed, so the test need not wait for the clock.
func (e env) fastForward(t *testing.T) {
	t.Helper()
	if _, err := e.db.Exec(`UPDATE users SET next_attempt_time = now() WHERE NOT account_ready`); err != nil {
		t.Fatal(err)
	}
}

func (e env) pass(t *testing.T) app.RepairReport {
	t.Helper()
	rep, err := e.app.Repair(context.Background())
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	return rep
}

func (e env) listParked(t *testing.T, pageSize int32) []*userv1.ParkedUser {
	t.Helper()
	var out []*userv1.ParkedUser
	for token := ""; ; {
		resp, err := e.admin.ListParked(context.Background(), &userv1.ListParkedRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetUsers()) > int(pageSize) {
			t.Fatalf("page of %d, want at most %d", len(resp.GetUsers()), pageSize)
		}
		out = append(out, resp.GetUsers()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// 150 users whose account billing always refuses do not keep a newer user
// from being finished: each failure pushes the user back by the retry
// policy's backoff, and a pass takes users by their next attempt, so the
// newer user is reached within two passes of 100. After the policy's last
// attempt the 150 are parked, counted and listed, take no more billing
// calls, and RetryParked hands them back to the loop.
func TestRepair_150Unfinishable_DoNotStarveNewerUser(t *testing.T) {
	const stuck, maxAttempts = 150, 3
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, app.Config{
		Retry:   retry.Policy{Base: time.Hour, Max: 4 * time.Hour, MaxAttempts: maxAttempts},
		Metrics: app.NewMetrics(reg),
	})
	ctx := context.Background()
	ids := e.pendingUsers(t, "stuck", stuck)
	e.billing.setFailCreate(1)
	_, err := e.users.CreateUser(ctx, &userv1.CreateUserRequest{User: newUser("newer")})
	wantCode(t, err, codes.Unavailable)
	newerID := ""
	list, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list.GetUsers() {
		if u.GetUsername() == "newer" {
			newerID = u.GetId()
		}
	}

	// Bounded: ceil(151 / DefaultRepairBatch) passes.
	const bound = (stuck + 1 + app.DefaultRepairBatch - 1) / app.DefaultRepairBatch
	passes := 0
	for e.billing.account(newerID) == nil {
		if passes == bound {
			t.Fatalf("newer user not finished after %d passes", passes)
		}
		e.pass(t)
		passes++
	}
	if got := e.count(t, `id = $1 AND account_ready`, newerID); got != 1 {
		t.Fatal("newer user has an account but is not marked ready")
	}
	// Each stuck user failed once and is due no sooner than half the base
	// delay (equal jitter) from now.
	if got := e.count(t, `NOT account_ready AND repair_attempts = 1 AND park_time IS NULL
		AND next_attempt_time >= now() + interval '29 minutes' AND last_error LIKE '%refused%'`); got != stuck {
		t.Fatalf("%d of %d stuck users have one attempt, a future next attempt and the error", got, stuck)
	}
	calls := e.billing.totalCalls()
	if rep := e.pass(t); rep != (app.RepairReport{}) || e.billing.totalCalls() != calls {
		t.Fatalf("pass before any backoff elapsed: %+v, billing calls %d→%d; want none", rep, calls, e.billing.totalCalls())
	}

	for round := 2; round <= maxAttempts; round++ {
		e.fastForward(t)
		var failed, parked int
		for range bound {
			rep := e.pass(t)
			failed, parked = failed+rep.Failed, parked+rep.Parked
		}
		if got := e.count(t, `repair_attempts = $1`, round); got != stuck {
			t.Fatalf("after round %d: %d users with %d attempts, want %d", round, got, round, stuck)
		}
		wantParked := 0
		if round == maxAttempts {
			wantParked = stuck
		}
		if failed != stuck || parked != wantParked {
			t.Fatalf("round %d reported %d failed, %d parked; want %d, %d", round, failed, parked, stuck, wantParked)
		}
	}
	m := metrictest.Gather(t, reg)
	if g, c := m.Value(t, "kassa_user_parked_items"), m.Value(t, "kassa_user_parked_total"); g != stuck || c != stuck {
		t.Fatalf("parked_items %v, parked_total %v; want %d each", g, c, stuck)
	}

	parked := e.listParked(t, 100)
	var got []string
	for i, p := range parked {
		got = append(got, p.GetUserId())
		if p.GetAttempts() != maxAttempts || !strings.Contains(p.GetLastError(), "refused") || p.GetParkTime() == nil {
			t.Fatalf("parked %v", p)
		}
		if i > 0 && newerFirst(parked[i-1], p) < 0 {
			t.Fatalf("not most recently parked first at %d: %v after %v", i, p, parked[i-1])
		}
	}
	if !sameSet(got, ids) {
		t.Fatalf("listed %d parked users, want the %d stuck ones", len(got), len(ids))
	}
	e.fastForward(t)
	calls = e.billing.totalCalls()
	if e.pass(t); e.billing.totalCalls() != calls {
		t.Fatalf("parked users were retried: billing calls %d→%d", calls, e.billing.totalCalls())
	}

	// Releasing two: the next pass tries exactly those two, once each.
	rel, err := e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{UserIds: []string{strings.ToUpper(ids[0]), ids[1], newerID}})
	if err != nil || rel.GetReleased() != 2 {
		t.Fatalf("RetryParked(two stuck and a ready user) = %v, %v; want 2 released", rel, err)
	}
	if g := metrictest.Gather(t, reg).Value(t, "kassa_user_parked_items"); g != stuck-2 {
		t.Fatalf("parked_items after release = %v, want %d", g, stuck-2)
	}
	calls = e.billing.totalCalls()
	e.pass(t)
	if e.billing.totalCalls() != calls+2 || e.count(t, `repair_attempts = 1 AND park_time IS NULL`) != 2 {
		t.Fatalf("after releasing two: billing calls %d→%d, want +2 and two users back at one attempt", calls, e.billing.totalCalls())
	}

	// Billing accepts them now; releasing everyone finishes everyone.
	e.billing.setRefused(false, ids...)
	rel, err = e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{})
	if err != nil || rel.GetReleased() != stuck-2 {
		t.Fatalf("RetryParked(all) = %v, %v; want %d", rel, err, stuck-2)
	}
	e.fastForward(t)
	finished := 0
	for range bound {
		finished += e.pass(t).Finished
	}
	if finished != stuck || e.count(t, `NOT account_ready`) != 0 || len(e.listParked(t, 100)) != 0 {
		t.Fatalf("finished %d of %d after release; %d still pending", finished, stuck, e.count(t, `NOT account_ready`))
	}
	if g := metrictest.Gather(t, reg).Value(t, "kassa_user_parked_items"); g != 0 {
		t.Fatalf("parked_items = %v after everyone finished, want 0", g)
	}
}

// newerFirst compares two listed users by (park_time, id): positive when a
// comes before b in a most-recently-parked-first list.
func newerFirst(a, b *userv1.ParkedUser) int {
	if c := a.GetParkTime().AsTime().Compare(b.GetParkTime().AsTime()); c != 0 {
		return c
	}
	return strings.Compare(a.GetUserId(), b.GetUserId())
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestUserAdmin_BadRequests_InvalidArgument(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tooMany := make([]string, app.MaxRelease+1)
	for i := range tooMany {
		tooMany[i] = "00000000-0000-4000-8000-000000000001"
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"malformed user id", func() error {
			_, err := e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{UserIds: []string{"u1"}})
			return err
		}},
		{"empty user id", func() error {
			_, err := e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{UserIds: []string{""}})
			return err
		}},
		{"too many user ids", func() error {
			_, err := e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{UserIds: tooMany})
			return err
		}},
		{"page_size too big", func() error {
			_, err := e.admin.ListParked(ctx, &userv1.ListParkedRequest{PageSize: 1001})
			return err
		}},
		{"garbage page_token", func() error {
			_, err := e.admin.ListParked(ctx, &userv1.ListParkedRequest{PageToken: "!!!"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), codes.InvalidArgument)
		})
	}
	empty, err := e.admin.ListParked(ctx, &userv1.ListParkedRequest{})
	if err != nil || len(empty.GetUsers()) != 0 || empty.GetNextPageToken() != "" {
		t.Fatalf("ListParked with nothing parked = %v, %v", empty, err)
	}
}
