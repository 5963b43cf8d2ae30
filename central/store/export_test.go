package store

import (
	"database/sql"
	"log/slog"

	"gorm.io/gorm"
)

// AllModels exposes allModels to the external tests.
var AllModels = allModels

// LegacyGormConfig is the gorm configuration central opened its database
// with when gorm AutoMigrate made the schema, for tests that build such a
// database. logger receives gorm's statements.
func LegacyGormConfig(logger *slog.Logger) *gorm.Config {
	return (&Store{logger: logger}).gormConfig()
}

// SQLDB exposes the write pool's handle.
func (s *Store) SQLDB() (*sql.DB, error) { return s.sqlDB() }
