package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

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

// BulkFleet is a generated fleet for the search benchmark: computers with
// their software rows, TAGs and network rows, written with large batched
// inserts instead of one ingest per computer.
type BulkFleet struct {
	Computers []Computer
	// Softwares[i] are the rows of Computers[i].
	Softwares [][]Software
	Tags      []string
}

// BulkInsertForBench writes f in transactions of a few thousand computers,
// numbering the software rows as an ingest does.
func BulkInsertForBench(ctx context.Context, s *Store, f BulkFleet) error {
	const chunk = 2000
	for lo := 0; lo < len(f.Computers); lo += chunk {
		hi := min(lo+chunk, len(f.Computers))
		err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			cs := f.Computers[lo:hi]
			if err := tx.CreateInBatches(cs, batchSize).Error; err != nil {
				return err
			}
			var sw []Software
			var acct []AccountInfo
			var nets []Network
			for i := range cs {
				for _, r := range f.Softwares[lo+i] {
					r.ComputerID = cs[i].ID
					sw = append(sw, r)
				}
				acct = append(acct, AccountInfo{ComputerID: cs[i].ID, KeyName: AccountTag, KeyValue: f.Tags[lo+i]})
				nets = append(nets, Network{ComputerID: cs[i].ID, Description: "eth0", IPAddress: cs[i].IPAddr, MACAddr: cs[i].FirstMAC, Status: "Up"})
			}
			if _, err := numberSoftware(tx, s.names, sw); err != nil {
				return err
			}
			if err := tx.CreateInBatches(sw, batchSize).Error; err != nil {
				return err
			}
			if err := tx.CreateInBatches(acct, batchSize).Error; err != nil {
				return err
			}
			return tx.CreateInBatches(nets, batchSize).Error
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// softwareIndexes are the software table's secondary indexes.
var softwareIndexes = []string{"idx_softwares_computer_id", "idx_softwares_name_version"}

// DropSoftwareIndexesForBench drops the software table's secondary indexes
// before a bulk load; CreateSoftwareIndexesForBench builds them again after
// it, by sorting once instead of inserting ten million entries one by one.
func DropSoftwareIndexesForBench(ctx context.Context, s *Store) error {
	for _, idx := range softwareIndexes {
		if err := s.w.WithContext(ctx).Migrator().DropIndex(&Software{}, idx); err != nil {
			return err
		}
	}
	return nil
}

// CreateSoftwareIndexesForBench rebuilds what DropSoftwareIndexesForBench
// dropped. On SQLite the sort goes to a temporary file: the writer's
// temp_store(memory) ran out of the WebAssembly module's memory at 10
// million rows.
func CreateSoftwareIndexesForBench(ctx context.Context, s *Store) error {
	return s.w.WithContext(ctx).Connection(func(db *gorm.DB) error {
		if s.driver != DriverPostgres {
			if err := db.Exec("PRAGMA temp_store = FILE").Error; err != nil {
				return err
			}
			defer db.Exec("PRAGMA temp_store = MEMORY")
		}
		for _, idx := range softwareIndexes {
			if err := db.Migrator().CreateIndex(&Software{}, idx); err != nil {
				return err
			}
		}
		return nil
	})
}

// Analyze refreshes the planner's statistics, as a running central's
// database has them. On PostgreSQL it also vacuums, as autovacuum does
// after a bulk load, so that index-only scans need not visit the table.
func Analyze(ctx context.Context, s *Store) error {
	if s.driver == DriverPostgres {
		return s.w.WithContext(ctx).Exec("VACUUM ANALYZE").Error
	}
	return s.w.WithContext(ctx).Exec("ANALYZE").Error
}

// ExplainForBench returns SQLite's plan of the computer search f.
func ExplainForBench(s *Store, f ComputerFilter) (string, error) {
	sc, err := computerScope(s.r, f)
	if err != nil {
		return "", err
	}
	q := s.r.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var n int64
		return sc.countQuery(tx).Session(&gorm.Session{DryRun: true}).Scan(&n)
	})
	return explainPlan(s, strings.ReplaceAll(q, `"`, `'`))
}

// ExplainPageForBench returns SQLite's plan of the first page of the
// computer search f.
func ExplainPageForBench(s *Store, f ComputerFilter) (string, error) {
	db := s.read(context.Background())
	sc, err := computerScope(db, f)
	if err != nil {
		return "", err
	}
	total, err := sc.count(db)
	if err != nil || total == 0 {
		return "", fmt.Errorf("count %d: %w", total, err)
	}
	var page []Computer
	pq := pageQuery(sc, db, s.driver, total, 50, 0).Session(&gorm.Session{DryRun: true}).Find(&page)
	if pq.Error != nil {
		return "", fmt.Errorf("page: %w", pq.Error)
	}
	stmt := pq.Statement
	return explainPlan(s, strings.ReplaceAll(db.Dialector.Explain(stmt.SQL.String(), stmt.Vars...), `"`, `'`))
}

// explainPlan returns q followed by SQLite's plan of it, a line per step.
func explainPlan(s *Store, q string) (string, error) {
	var rows []struct {
		ID, Parent, Notused int
		Detail              string
	}
	if err := s.r.Raw("EXPLAIN QUERY PLAN " + q).Scan(&rows).Error; err != nil {
		return q, err
	}
	out := q + "\n"
	for _, r := range rows {
		out += r.Detail + "\n"
	}
	return out, nil
}

// ExplainRaw runs q and returns its first column.
func ExplainRaw(s *Store, q string) (string, error) {
	var out []string
	err := s.r.Raw(q).Scan(&out).Error
	return strings.Join(out, "\n"), err
}
