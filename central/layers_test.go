package central

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/shoal-project/shoal/"

// edges are central's HTTP edges: each reads requests and calls services,
// and none may import another.
var edges = []string{mod + "central/ui", mod + "central/web", mod + "central/agentapi", mod + "central/ocsapi"}

// edgeSupport may be imported by edges only (the error → status mapping).
var edgeSupport = []string{mod + "central/httperr"}

// TestCentralLayers checks the import graph of central: edges → services
// → store. No edge imports another edge; no service, store or edge support
// package imports an edge, even indirectly; HTTP statuses stay in the
// edges (no service imports edge support).
func TestCentralLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		isEdge := slices.Contains(edges, p.ImportPath)
		isRoot := p.ImportPath == mod+"central"
		for _, d := range p.Deps {
			switch {
			case isRoot:
			case slices.Contains(edges, d) && isEdge:
				t.Errorf("edge %s imports edge %s", p.ImportPath, d)
			case slices.Contains(edges, d):
				t.Errorf("%s imports edge %s: services, store and edge support stay below the edges", p.ImportPath, d)
			case slices.Contains(edgeSupport, d) && !isEdge:
				t.Errorf("%s imports %s: only edges decide HTTP statuses", p.ImportPath, d)
			}
		}
	}
	if seen < 10 || !strings.Contains(string(out), mod+"central/ui") {
		t.Fatalf("go list listed %d packages, without the edges: run from central/", seen)
	}
}
