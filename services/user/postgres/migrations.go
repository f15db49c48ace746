package postgres

import (
	"embed"
	"io/fs"

	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the goose migration folder of the user database, applied at
// start and by the migrate subcommand.
var Migrations fs.FS = pgdb.EmbeddedDir(migrationFiles, "migrations")
