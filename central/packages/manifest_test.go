package packages

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// writeV1Manifest rewrites the manifest of a built package the way a
// central before protocol version 2 wrote it: version 1, no info file
// fields, signed by key over the bare manifest bytes.
func writeV1Manifest(t *testing.T, b *Builder, id string, key ed25519.PrivateKey) []byte {
	t.Helper()
	m, _, err := b.LoadManifest(id)
	if err != nil {
		t.Fatal(err)
	}
	m.Version, m.FragmentProto, m.Notify = 1, "", proto.Notify{}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(proto.SignedManifest{Manifest: raw, KeyID: proto.KeyID(key.Public().(ed25519.PublicKey)),
		Signature: ed25519.Sign(key, raw)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Path(id), ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestResignManifests upgrades a package built before manifests were
// domain-separated: it no longer verifies, ResignManifests signs it again
// with the info file's fields, and it deploys as before. A version 1
// manifest under another key is not re-signed.
func TestResignManifests(t *testing.T) {
	b := newTestBuilder(t)
	ctx := context.Background()
	src, _ := randomFile(t, 3000)
	spec := testSpec("1700000001")
	spec.Proto, spec.NotifyUser, spec.NotifyText, spec.NotifyCountdown = ProtoHTTPS, true, "Updating <now>", "60"
	spec.NeedDoneAction, spec.NeedDoneActionText = true, "Done & dusted"
	built, err := b.Build(ctx, spec, src)
	if err != nil {
		t.Fatal(err)
	}
	foreign := testSpec("1700000002")
	if _, err := b.Build(ctx, foreign, src); err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile(filepath.Join(b.Path(spec.ID), InfoFile))
	if err != nil {
		t.Fatal(err)
	}

	writeV1Manifest(t, b, spec.ID, b.signer)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	foreignV1 := writeV1Manifest(t, b, foreign.ID, otherKey)
	if _, _, err := b.LoadManifest(spec.ID); err == nil {
		t.Fatal("version 1 manifest verifies without re-signing")
	}

	n, err := b.ResignManifests(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ResignManifests = %d, %v; want 1, nil", n, err)
	}
	m, _, err := b.LoadManifest(spec.ID)
	if err != nil {
		t.Fatalf("re-signed manifest: %v", err)
	}
	if diff := cmp.Diff(built.Manifest, m); diff != "" {
		t.Errorf("re-signed manifest differs from the one built today (-built +re-signed):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(b.Path(spec.ID), InfoFile)); string(got) != string(info) {
		t.Errorf("info file changed:\n%s\nwant\n%s", got, info)
	}
	if want, _ := ocs.InfoFromManifest(m).Marshal(); string(want) != string(info) {
		t.Errorf("info file is not the manifest's:\n%s\nwant\n%s", info, want)
	}
	if got, _ := os.ReadFile(filepath.Join(b.Path(foreign.ID), ManifestFile)); string(got) != string(foreignV1) {
		t.Error("manifest signed by another key was rewritten")
	}
	if n, err := b.ResignManifests(ctx); err != nil || n != 0 {
		t.Errorf("second ResignManifests = %d, %v; want 0, nil", n, err)
	}
}
