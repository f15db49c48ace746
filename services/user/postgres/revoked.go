package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
)

type deletionRow struct {
	UserID string    `db:"id"`
	Time   time.Time `db:"delete_time"`
}

// DeletedWithin returns the users deleted in the last window, oldest first.
// The window is measured against the database clock, the one delete_time
// was set with, so a skewed replica clock cannot drop a fresh deletion.
func (s *Store) DeletedWithin(ctx context.Context, window time.Duration) ([]user.Deletion, error) {
	if window <= 0 {
		return nil, fmt.Errorf("deleted within %v: want a positive window", window)
	}
	var rows []deletionRow
	err := pgdb.Select(ctx, s.db, &rows, `SELECT id, delete_time FROM users
		WHERE delete_time IS NOT NULL AND delete_time > now() - make_interval(secs => $1)
		ORDER BY delete_time, id`, window.Seconds())
	if err != nil {
		return nil, fmt.Errorf("deleted within %v: %w", window, err)
	}
	out := make([]user.Deletion, len(rows))
	for i, r := range rows {
		out[i] = user.Deletion{UserID: r.UserID, Time: r.Time}
	}
	return out, nil
}
