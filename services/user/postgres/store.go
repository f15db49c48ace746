// Package postgres stores the user service's users in PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
)

// Names of the unique indexes whose violations become domain errors.
const (
	usernameKey = "users_username_live_key"
	emailKey    = "users_email_live_key"
)

// Store reads and writes users.
type Store struct {
	db *sqlx.DB
}

// New returns a Store on db, which must have Migrations applied.
func New(db *sqlx.DB) *Store {
	return &Store{db: db}
}

type row struct {
	ID           string       `db:"id"`
	Username     string       `db:"username"`
	Email        string       `db:"email"`
	FirstName    string       `db:"first_name"`
	LastName     string       `db:"last_name"`
	Phone        string       `db:"phone"`
	AccountReady bool         `db:"account_ready"`
	CreateTime   time.Time    `db:"create_time"`
	UpdateTime   time.Time    `db:"update_time"`
	DeleteTime   sql.NullTime `db:"delete_time"`
}

const columns = `id, username, email, first_name, last_name, phone, account_ready, create_time, update_time, delete_time`

func (r row) domain() user.User {
	return user.User{
		ID: r.ID, Username: r.Username, Email: r.Email, FirstName: r.FirstName, LastName: r.LastName,
		Phone: r.Phone, AccountReady: r.AccountReady,
		CreateTime: r.CreateTime, UpdateTime: r.UpdateTime, DeleteTime: r.DeleteTime.Time,
	}
}

// uniqueErr turns a violation of the live-username or live-email index into
// the domain error naming the value that clashed.
func uniqueErr(err error, username, email string) error {
	switch {
	case pgdb.IsUniqueViolation(err, usernameKey):
		return user.UsernameTaken(username)
	case pgdb.IsUniqueViolation(err, emailKey):
		return user.EmailTaken(email)
	}
	return err
}

// CreatePending inserts u with account_ready = false. With a requestID
// that a user was already created with, nothing is inserted and that user
// is returned (live or deleted) with created = false.
func (s *Store) CreatePending(ctx context.Context, u user.User, requestID string) (user.User, bool, error) {
	var r row
	created := false
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if requestID != "" {
			// Serialise creators with the same key until commit, so a
			// concurrent duplicate finds the first user below instead of
			// racing it into the username index (which would wrongly report
			// the retry's own username as taken).
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('kassa.user.request_id:' || $1, 0))`, requestID); err != nil {
				return fmt.Errorf("lock request_id: %w", err)
			}
			err := tx.GetContext(ctx, &r, `SELECT `+columns+` FROM users WHERE request_id = $1`, requestID)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read user by request_id: %w", err)
			}
		}
		err := tx.GetContext(ctx, &r, `
			INSERT INTO users (username, email, first_name, last_name, phone, request_id, password_hash)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''))
			RETURNING `+columns,
			u.Username, u.Email, u.FirstName, u.LastName, u.Phone, requestID, u.PasswordHash)
		if err != nil {
			return uniqueErr(err, u.Username, u.Email)
		}
		created = true
		return nil
	})
	if err != nil {
		return user.User{}, false, err
	}
	return r.domain(), created, nil
}

// MarkAccountReady records that billing opened id's account. It returns
// user.ErrNotFound when the user was deleted meanwhile, so the caller can
// close the account it just opened.
func (s *Store) MarkAccountReady(ctx context.Context, id string) (user.User, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `UPDATE users SET account_ready = true
		WHERE id = $1 AND delete_time IS NULL RETURNING `+columns, id)
	return r.domain(), notFound(err, id)
}

// Get returns the live user id.
func (s *Store) Get(ctx context.Context, id string) (user.User, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM users WHERE id = $1 AND delete_time IS NULL`, id)
	return r.domain(), notFound(err, id)
}

func notFound(err error, id string) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: no user has id %s", user.ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("user %s: %w", id, err)
	}
	return nil
}

// List returns up to limit live users, oldest first, after the cursor.
func (s *Store) List(ctx context.Context, after paging.Cursor, limit int) ([]user.User, error) {
	var rows []row
	var err error
	if after.IsFirst() {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM users
			WHERE delete_time IS NULL
			ORDER BY create_time, id LIMIT $1`, limit)
	} else {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM users
			WHERE delete_time IS NULL AND (create_time, id) > ($1, $2::uuid)
			ORDER BY create_time, id LIMIT $3`, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return domains(rows), nil
}

func domains(rows []row) []user.User {
	out := make([]user.User, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// Update applies p to the live user id in one statement; the unique indexes
// decide username and email clashes, so no lock is needed.
func (s *Store) Update(ctx context.Context, id string, p user.Patch) (user.User, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `UPDATE users SET
			username   = coalesce($2, username),
			email      = coalesce($3, email),
			first_name = coalesce($4, first_name),
			last_name  = coalesce($5, last_name),
			phone      = coalesce($6, phone),
			update_time = now()
		WHERE id = $1 AND delete_time IS NULL
		RETURNING `+columns,
		id, p.Username, p.Email, p.FirstName, p.LastName, p.Phone)
	if pgdb.IsUniqueViolation(err, "") {
		return user.User{}, uniqueErr(err, deref(p.Username), deref(p.Email))
	}
	return r.domain(), notFound(err, id)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SoftDelete sets delete_time on the live user id and returns it. The row
// is kept: other services' ledgers and orders refer to it.
func (s *Store) SoftDelete(ctx context.Context, id string) (user.User, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `UPDATE users SET delete_time = now(), update_time = now()
		WHERE id = $1 AND delete_time IS NULL RETURNING `+columns, id)
	return r.domain(), notFound(err, id)
}
