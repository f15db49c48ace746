package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
)

// SetAdmin grants (admin true) or takes away the admin role of the live
// user whose username is username, and returns that user's id. The name is
// resolved and the row updated in one statement, so a rename racing with
// the command cannot move the grant to another account: the flag lands on
// the row that held the name at that instant, and stays with its id.
func (s *Store) SetAdmin(ctx context.Context, username string, admin bool) (string, error) {
	var id string
	err := pgdb.Get(ctx, s.db, &id, `UPDATE users SET is_admin = $2
		WHERE username = $1 AND delete_time IS NULL RETURNING id`, username, admin)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("%w: no live user has username %q", user.ErrNotFound, username)
	case err != nil:
		return "", fmt.Errorf("set admin of %q: %w", username, err)
	}
	return id, nil
}
