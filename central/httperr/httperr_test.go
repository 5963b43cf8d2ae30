package httperr_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/backup"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/httperr"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/proto"
)

// sentinels is every exported Err* variable of the central packages, by
// "<package dir>.<name>". TestEverySentinelHasAStatus checks this list
// against the source, so a new sentinel cannot be forgotten.
var sentinels = map[string]error{
	"admin.ErrBadSite":          admin.ErrBadSite,
	"admin.ErrBadToken":         admin.ErrBadToken,
	"auth.ErrBadCredentials":    auth.ErrBadCredentials,
	"auth.ErrBadRole":           auth.ErrBadRole,
	"auth.ErrBadTokenRequest":   auth.ErrBadTokenRequest,
	"auth.ErrDirectoryUser":     auth.ErrDirectoryUser,
	"auth.ErrUnknownUser":       auth.ErrUnknownUser,
	"deploy.ErrInvalid":         deploy.ErrInvalid,
	"deploy.ErrNotActive":       deploy.ErrNotActive,
	"deploy.ErrUnavailable":     deploy.ErrUnavailable,
	"groups.ErrInUse":           groups.ErrInUse,
	"groups.ErrInvalid":         groups.ErrInvalid,
	"inventory.ErrFieldTooLong": inventory.ErrFieldTooLong,
	"inventory.ErrNoTitle":      inventory.ErrNoTitle,
	"packages.ErrExists":        packages.ErrExists,
	"packages.ErrInvalidID":     packages.ErrInvalidID,
	"packages.ErrInvalidSpec":   packages.ErrInvalidSpec,
	"packages.ErrNotFound":      packages.ErrNotFound,
	"packages.ErrPull":          packages.ErrPull,
	"packages.ErrTooLarge":      packages.ErrTooLarge,
	"pki.ErrBadKey":             pki.ErrBadKey,
	"pki.ErrNameRefused":        pki.ErrNameRefused,
	"pki.ErrWeakPassword":       pki.ErrWeakPassword,
	"store.ErrAlreadyEnrolled":  store.ErrAlreadyEnrolled,
	"store.ErrConflict":         store.ErrConflict,
	"store.ErrEnrollRefused":    store.ErrEnrollRefused,
	"store.ErrInvalid":          store.ErrInvalid,
	"store.ErrNotFound":         store.ErrNotFound,
	"store.ErrRelayExists":      store.ErrRelayExists,
	"store.ErrRevoked":          store.ErrRevoked,
	"store.ErrShoalManaged":     store.ErrShoalManaged,
	"store.ErrTokenKind":        store.ErrTokenKind,
	"store.ErrTokenTarget":      store.ErrTokenTarget,
	"store.ErrSchemaOutdated":   store.ErrSchemaOutdated,
	"backup.ErrCorrupt":         backup.ErrCorrupt,
	"backup.ErrExists":          backup.ErrExists,
	"wake.ErrInvalid":           wake.ErrInvalid,
	"wake.ErrNoMAC":             wake.ErrNoMAC,
}

// declaredSentinels parses every non-test Go file under central and returns
// its exported package-level Err* variables as "<dir>.<name>", the
// directory being the package's path under central.
func declaredSentinels(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..")
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || (d.Name() != ".." && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						out = append(out, pkg+"."+n.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestEverySentinelHasAStatus checks that every exported Err* variable of
// central maps to a status the client can act on, never 500: a sentinel
// names a condition the code knows, so it is never an internal error.
func TestEverySentinelHasAStatus(t *testing.T) {
	listed := make([]string, 0, len(sentinels))
	for name := range sentinels {
		listed = append(listed, name)
	}
	sort.Strings(listed)
	if d := cmp.Diff(declaredSentinels(t), listed); d != "" {
		t.Fatalf("the sentinels of this test differ from those central declares (-declared +listed); add the new ones:\n%s", d)
	}
	for _, name := range listed {
		err := fmt.Errorf("some operation: %w", sentinels[name])
		// 503 is a deliberate "retry later" (errkind.Unavailable), not a
		// forgotten mapping.
		if s := httperr.Status(err); s >= 500 && s != http.StatusServiceUnavailable {
			t.Errorf("%s maps to %d; make it with errkind.New", name, s)
		}
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"store_not_found", fmt.Errorf("package 7: %w", store.ErrNotFound), http.StatusNotFound},
		{"packages_not_found", packages.ErrNotFound, http.StatusNotFound},
		{"packages_exists", packages.ErrExists, http.StatusConflict},
		{"relay_exists", store.ErrRelayExists, http.StatusConflict},
		{"already_enrolled", store.ErrAlreadyEnrolled, http.StatusConflict},
		{"token_kind", store.ErrTokenKind, http.StatusForbidden},
		{"unavailable", deploy.ErrUnavailable, http.StatusUnprocessableEntity},
		{"manifest_invalid", fmt.Errorf("verify: %w", proto.ErrManifestInvalid), http.StatusBadRequest},
		{"not_active", deploy.ErrNotActive, http.StatusBadRequest},
		{"too_large", packages.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{"max_bytes", fmt.Errorf("spool: %w", &http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge},
		{"busy", gate.ErrBusy, http.StatusServiceUnavailable},
		{"pull_failed", fmt.Errorf("ensure: %w", packages.ErrPull), http.StatusServiceUnavailable},
		{"no_title", inventory.ErrNoTitle, http.StatusNotFound},
		{"echo", echo.NewHTTPError(http.StatusTeapot, "tea"), http.StatusTeapot},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), httperr.StatusClientClosed},
		{"internal", errors.New("disk on fire"), http.StatusInternalServerError},
		{"joined_first_kind_wins", errors.Join(store.ErrInvalid, &http.MaxBytesError{}), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := httperr.Status(tt.err); got != tt.want {
				t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
