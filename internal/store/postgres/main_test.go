package postgres

import (
	"os"
	"testing"

	"github.com/parley-im/parley/internal/testinfra/pgtest"
)

// pg is the package's PostgreSQL server, shared by its tests.
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
