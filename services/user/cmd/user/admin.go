package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

// grantAdmin is the one way to give the admin role: an operator runs
// "user grant-admin -database-url <url> -username <name>" (-revoke takes
// it away) against the user database the service has migrated. The role
// is stored on the account, so renaming it, or registering the name of a
// former admin, moves nothing. The grant applies from the user's next
// login or refresh; tokens already issued keep their roles until they
// expire.
func grantAdmin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user grant-admin", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbURL := fs.String("database-url", getenv("DATABASE_URL"), "the user service's PostgreSQL URL (env DATABASE_URL)")
	username := fs.String("username", "", "the live user to grant the admin role to")
	revoke := fs.Bool("revoke", false, "take the admin role away instead")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errors.New("grant-admin: want -database-url <url> -username <name> [-revoke] and no other arguments")
	}
	if err := user.CheckUsername("username", *username); err != nil {
		return fmt.Errorf("grant-admin: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := pgdb.Open(ctx, *dbURL, pgdb.Options{})
	if err != nil {
		return fmt.Errorf("grant-admin: %w", err)
	}
	defer db.Close()
	id, err := postgres.New(db).SetAdmin(ctx, *username, !*revoke)
	if err != nil {
		return fmt.Errorf("grant-admin: %w", err)
	}
	// Only the id, so a script can use it.
	fmt.Fprintln(stdout, id)
	return nil
}
