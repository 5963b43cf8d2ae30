package store

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// forbiddenUp are statements a migration's Up section must not hold, because
// the previous release still runs on the migrated schema during a rolling
// upgrade (migrations/README.md, "Rules that keep rolling upgrades working").
var forbiddenUp = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN)\b`), "drops a table or column the previous release may still use"},
	{regexp.MustCompile(`(?i)\bRENAME\b`), "renames a table or column the previous release still uses"},
	{regexp.MustCompile(`(?i)\bALTER\s+COLUMN\b[^;]*\b(TYPE|SET\s+NOT\s+NULL)\b`), "changes a column the previous release writes"},
}

// addColumn matches an added column's definition, checked for NOT NULL
// without a default: the previous release's inserts do not name it.
var addColumn = regexp.MustCompile(`(?is)\bADD\s+COLUMN\b([^;]*)`)

// TestMigrationsKeepPreviousReleaseWorking enforces the rolling-upgrade
// rules on every migration after the baseline, in both dialects: only
// additions, and no NOT NULL column without a default.
func TestMigrationsKeepPreviousReleaseWorking(t *testing.T) {
	for _, dir := range []string{"migrations/sqlite", "migrations/postgres"} {
		files, err := fs.Glob(migrationFiles, dir+"/*.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no migrations (%v)", dir, err)
		}
		for _, f := range files {
			if strings.Contains(f, "/00001_") {
				continue // the baseline creates the schema
			}
			b, err := fs.ReadFile(migrationFiles, f)
			if err != nil {
				t.Fatal(err)
			}
			up := upSection(string(b))
			if up == "" {
				t.Errorf("%s: no -- +goose Up section", f)
				continue
			}
			for _, v := range ruleViolations(up) {
				t.Errorf("%s: Up %s", f, v)
			}
		}
	}
}

// ruleViolations says what in an Up section breaks the rolling-upgrade
// rules, one line per statement at fault.
func ruleViolations(up string) []string {
	var out []string
	for _, r := range forbiddenUp {
		if m := r.re.FindString(up); m != "" {
			out = append(out, fmt.Sprintf("%s (%q)", r.why, m))
		}
	}
	for _, m := range addColumn.FindAllStringSubmatch(up, -1) {
		def := strings.ToUpper(m[1])
		if strings.Contains(def, "NOT NULL") && !strings.Contains(def, "DEFAULT") {
			out = append(out, fmt.Sprintf("adds a NOT NULL column without a default (%q): the previous release's inserts would fail", strings.TrimSpace(m[1])))
		}
	}
	return out
}

// upSection returns the statements between "-- +goose Up" and "-- +goose
// Down" (or the end), without SQL comments.
func upSection(s string) string {
	_, after, ok := strings.Cut(s, "-- +goose Up")
	if !ok {
		return ""
	}
	up, _, _ := strings.Cut(after, "-- +goose Down")
	var b strings.Builder
	for line := range strings.SplitSeq(up, "\n") {
		if code, _, _ := strings.Cut(line, "--"); strings.TrimSpace(code) != "" {
			b.WriteString(code)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestUpSectionRulesCatchViolations(t *testing.T) {
	bad := map[string]string{
		"drop column": "-- +goose Up\nALTER TABLE \"a\" DROP COLUMN \"b\";\n-- +goose Down\n",
		"rename":      "-- +goose Up\nALTER TABLE `a` RENAME COLUMN `b` TO `c`;\n",
		"not null":    "-- +goose Up\nALTER TABLE \"a\" ADD COLUMN \"b\" bigint NOT NULL;\n",
		"type change": "-- +goose Up\nALTER TABLE \"a\" ALTER COLUMN \"b\" TYPE text;\n",
	}
	for name, sql := range bad {
		if len(ruleViolations(upSection(sql))) == 0 {
			t.Errorf("%s: %q passes the rules", name, sql)
		}
	}
	ok := "-- +goose Up\nALTER TABLE \"a\" ADD COLUMN \"b\" bigint NOT NULL DEFAULT 0;\n-- a comment that says DROP TABLE\n-- +goose Down\nDROP TABLE \"a\";\n"
	if v := ruleViolations(upSection(ok)); len(v) > 0 {
		t.Errorf("an allowed migration is refused: %v", v)
	}
}
