package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
)

// AttemptLogin runs one login for the live user whose username or email
// (without regard to case) is login. verify is called with the stored
// hash only when the account is not locked; on success the failure count
// is cleared and a new family holding session is stored, on failure the
// count grows and, past the policy's limit, the account is locked.
//
// The user's row is locked FOR UPDATE while verify runs, so concurrent
// guesses at one account are counted one after the other: no more than
// MaxFailures of them can be checked before the lock applies. Times come
// from the database's clock, shared by every replica.
func (s *Store) AttemptLogin(ctx context.Context, login string, verify func(hash string) bool, p user.LockPolicy, session user.Session) (user.LoginAttempt, error) {
	var a user.LoginAttempt
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		a = user.LoginAttempt{}
		var r struct {
			ID       string         `db:"id"`
			Username string         `db:"username"`
			Admin    bool           `db:"is_admin"`
			Hash     sql.NullString `db:"password_hash"`
			Failed   int            `db:"failed_logins"`
			Locked   sql.NullTime   `db:"login_locked_until"`
			Now      time.Time      `db:"now"`
		}
		err := tx.GetContext(ctx, &r, `
			SELECT id, username, is_admin, password_hash, failed_logins,
			       CASE WHEN login_locked_until > now() THEN login_locked_until END AS login_locked_until, now() AS now
			FROM users
			WHERE delete_time IS NULL AND (username = $1 OR lower(email) = lower($1))
			FOR UPDATE`, login)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read login: %w", err)
		}
		a.Found, a.UserID, a.Username, a.Admin, a.HasPassword = true, r.ID, r.Username, r.Admin, r.Hash.Valid
		if r.Locked.Valid {
			// Locked: the password is not even checked, so guessing during
			// the lock learns nothing, and the lock is not extended.
			a.LockedUntil = r.Locked.Time
			return nil
		}
		if !r.Hash.Valid {
			return nil
		}
		if verify(r.Hash.String) {
			a.OK = true
			if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, login_locked_until = NULL WHERE id = $1`, r.ID); err != nil {
				return fmt.Errorf("clear failed logins: %w", err)
			}
			return insertFamily(ctx, tx, r.ID, session)
		}
		failed := r.Failed + 1
		var until sql.NullTime
		if failed >= p.MaxFailures {
			// This failure is answered as any other; the attempts after it
			// find the lock.
			until = sql.NullTime{Time: r.Now.Add(lockDelay(p, failed)), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = $2, login_locked_until = $3 WHERE id = $1`, r.ID, failed, until); err != nil {
			return fmt.Errorf("count failed login: %w", err)
		}
		return nil
	})
	return a, err
}

// lockDelay is Base * 2^(failed - MaxFailures), capped at Max.
func lockDelay(p user.LockPolicy, failed int) time.Duration {
	d := p.Base
	for range failed - p.MaxFailures {
		if d >= p.Max/2 {
			return p.Max
		}
		d *= 2
	}
	return min(d, p.Max)
}

func insertFamily(ctx context.Context, tx *sqlx.Tx, userID string, session user.Session) error {
	var family string
	if err := tx.GetContext(ctx, &family, `INSERT INTO refresh_families (user_id) VALUES ($1) RETURNING id`, userID); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, expire_time) VALUES ($1, $2, $3)`,
		session.TokenHash, family, session.Expire); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// Rotate exchanges the refresh token hashed as old for next, in the same
// family. It refuses (OK false) unknown, expired and revoked tokens and
// tokens of deleted users. A token that was already used revokes its whole
// family, and that revocation is committed although the call is refused.
//
// The family row is locked FOR UPDATE, so two refreshes with one token
// are decided one after the other: the first rotates, the second finds
// the token used and revokes the family. A family never has two live
// tokens.
func (s *Store) Rotate(ctx context.Context, old []byte, next user.Session) (user.Rotation, error) {
	var rot user.Rotation
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		rot = user.Rotation{}
		var r struct {
			Family   string       `db:"family_id"`
			Used     sql.NullTime `db:"use_time"`
			Expired  bool         `db:"expired"`
			Revoked  bool         `db:"revoked"`
			UserID   string       `db:"user_id"`
			Username string       `db:"username"`
			Admin    bool         `db:"is_admin"`
			Deleted  bool         `db:"deleted"`
		}
		err := tx.GetContext(ctx, &r, `
			SELECT t.family_id, t.use_time, t.expire_time <= now() AS expired,
			       f.revoke_time IS NOT NULL AS revoked, f.user_id, u.username, u.is_admin, u.delete_time IS NOT NULL AS deleted
			FROM refresh_tokens t
			JOIN refresh_families f ON f.id = t.family_id
			JOIN users u ON u.id = f.user_id
			WHERE t.token_hash = $1
			FOR UPDATE OF t, f`, old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("read refresh token: %w", err)
		case r.Revoked:
			return nil
		case r.Used.Valid:
			rot.Reused = true
			return revoke(ctx, tx, r.Family, "reuse")
		case r.Deleted:
			return revoke(ctx, tx, r.Family, "user_deleted")
		case r.Expired:
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET use_time = now() WHERE token_hash = $1`, old); err != nil {
			return fmt.Errorf("use refresh token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, expire_time) VALUES ($1, $2, $3)`,
			next.TokenHash, r.Family, next.Expire); err != nil {
			return fmt.Errorf("store refresh token: %w", err)
		}
		rot.OK, rot.UserID, rot.Username, rot.Admin = true, r.UserID, r.Username, r.Admin
		return nil
	})
	return rot, err
}

func revoke(ctx context.Context, tx *sqlx.Tx, family, reason string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoke_time = now(), revoke_reason = $2
		WHERE id = $1 AND revoke_time IS NULL`, family, reason); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeFamily ends the session the refresh token hashed as token belongs
// to. It reports whether a live session was revoked; an unknown or already
// revoked token changes nothing.
func (s *Store) RevokeFamily(ctx context.Context, token []byte) (bool, error) {
	res, err := pgdb.Exec(ctx, s.db, `UPDATE refresh_families SET revoke_time = now(), revoke_reason = 'logout'
		WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoke_time IS NULL`, token)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
