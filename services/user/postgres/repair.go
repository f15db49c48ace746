package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/lib/pq"
)

// maxErrorLen bounds last_error (the schema's CHECK); a longer error is cut.
const maxErrorLen = 1000

// pendingRow is a users row with the repair loop's counter.
type pendingRow struct {
	row
	Attempts int `db:"repair_attempts"`
}

// ListPending returns up to limit live users whose account is not confirmed,
// are not parked, are due (next_attempt_time has come) and were created at
// least minAge ago (younger ones are most likely still being finished by
// their own CreateUser call). They come most overdue first: ordering by the
// next attempt rather than by age is what lets a newer user overtake older
// ones that keep failing, since each failure pushes the user back.
// Times are on the database clock, the one the columns were set by.
func (s *Store) ListPending(ctx context.Context, minAge time.Duration, limit int) ([]user.Pending, error) {
	var rows []pendingRow
	err := pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+`, repair_attempts FROM users
		WHERE NOT account_ready AND delete_time IS NULL AND park_time IS NULL
		  AND next_attempt_time <= now()
		  AND create_time <= now() - make_interval(secs => $1)
		ORDER BY next_attempt_time, id LIMIT $2`, minAge.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("list pending users: %w", err)
	}
	out := make([]user.Pending, len(rows))
	for i, r := range rows {
		out[i] = user.Pending{User: r.domain(), Attempts: r.Attempts}
	}
	return out, nil
}

// RecordRepairFailure counts one more failed attempt of user id, which had
// failed attempts times when the pass read it, and either schedules the
// next attempt delay from now or, with park, parks the user. It reports
// whether the failure was recorded.
//
// The attempt count read by the pass is the compare in a compare-and-set:
// two replicas that failed the same attempt count it once, and a user that
// was finished, deleted, parked or released (RetryParked) since the pass
// read it is left as it is rather than pushed back by a stale failure. The
// single UPDATE needs no other lock.
func (s *Store) RecordRepairFailure(ctx context.Context, id string, attempts int, delay time.Duration, park bool, lastErr string) (bool, error) {
	res, err := pgdb.Exec(ctx, s.db, `UPDATE users SET
			repair_attempts   = repair_attempts + 1,
			last_error        = $3,
			next_attempt_time = now() + make_interval(secs => $4),
			park_time         = CASE WHEN $5::boolean THEN now() END
		WHERE id = $1 AND repair_attempts = $2
		  AND NOT account_ready AND delete_time IS NULL AND park_time IS NULL`,
		id, attempts, errorText(lastErr), delay.Seconds(), park)
	if err != nil {
		return false, fmt.Errorf("record repair failure of user %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record repair failure of user %s: %w", id, err)
	}
	return n == 1, nil
}

// errorText makes an error message storable: valid UTF-8, no NUL bytes
// (PostgreSQL text refuses them) and at most maxErrorLen characters.
func errorText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) <= maxErrorLen {
		return s
	}
	r := []rune(s)
	return string(r[:maxErrorLen-3]) + "..."
}

// parkedWhere selects parked users that still need an account: finished
// and deleted users have nothing left to retry, whatever their park_time.
const parkedWhere = `NOT account_ready AND delete_time IS NULL AND park_time IS NOT NULL`

// CountParked returns how many users are parked.
func (s *Store) CountParked(ctx context.Context) (int, error) {
	var n int
	if err := pgdb.Get(ctx, s.db, &n, `SELECT count(*) FROM users WHERE `+parkedWhere); err != nil {
		return 0, fmt.Errorf("count parked users: %w", err)
	}
	return n, nil
}

type parkedRow struct {
	ID        string    `db:"id"`
	Attempts  int       `db:"repair_attempts"`
	LastError string    `db:"last_error"`
	ParkTime  time.Time `db:"park_time"`
}

// ListParked returns up to limit parked users, the most recently parked
// first, after the cursor (park_time, id).
func (s *Store) ListParked(ctx context.Context, after paging.Cursor, limit int) ([]user.Parked, error) {
	const cols = `id, repair_attempts, coalesce(last_error, '') AS last_error, park_time`
	var rows []parkedRow
	var err error
	if after.IsFirst() {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+cols+` FROM users WHERE `+parkedWhere+`
			ORDER BY park_time DESC, id DESC LIMIT $1`, limit)
	} else {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+cols+` FROM users WHERE `+parkedWhere+`
			  AND (park_time, id) < ($1, $2::uuid)
			ORDER BY park_time DESC, id DESC LIMIT $3`, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list parked users: %w", err)
	}
	out := make([]user.Parked, len(rows))
	for i, r := range rows {
		out[i] = user.Parked{UserID: r.ID, Attempts: r.Attempts, LastError: r.LastError, ParkTime: r.ParkTime}
	}
	return out, nil
}

// ReleaseParked unparks the users ids (every parked user when ids is
// empty): the attempt count starts again from zero and they are due at
// once. Ids that are not parked are skipped. It returns how many were
// released. The last error is kept for the operator until the next attempt
// overwrites it.
func (s *Store) ReleaseParked(ctx context.Context, ids []string) (int, error) {
	res, err := pgdb.Exec(ctx, s.db, `UPDATE users SET
			repair_attempts = 0, park_time = NULL, next_attempt_time = now()
		WHERE `+parkedWhere+`
		  AND (coalesce(cardinality($1::uuid[]), 0) = 0 OR id = ANY($1::uuid[]))`, pq.Array(ids))
	if err != nil {
		return 0, fmt.Errorf("release parked users: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("release parked users: %w", err)
	}
	return int(n), nil
}
