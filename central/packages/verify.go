package packages

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// CheckReport is the outcome of checking a package, on disk or over HTTP.
// Every problem found is listed; checking does not stop at the first one.
type CheckReport struct {
	// OK is true when Problems is empty.
	OK bool
	// InfoURL is the info file that was checked: its URL, or its path for
	// VerifyOnDisk.
	InfoURL string
	// Problems describe each failure in a sentence naming the file.
	Problems []string
	// FragmentsChecked counts the OCS fragments that were read and hashed.
	FragmentsChecked int
}

func (r *CheckReport) addf(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// addErr records err, prefixed with what failed.
func (r *CheckReport) addErr(what string, err error) {
	r.Problems = append(r.Problems, what+": "+err.Error())
}

func (r *CheckReport) finish() *CheckReport {
	r.OK = len(r.Problems) == 0
	return r
}

// LoadManifest reads manifest.json of package id and verifies it with the
// builder's own key. It returns the manifest and its signed bytes.
func (b *Builder) LoadManifest(id string) (*proto.Manifest, []byte, error) {
	dir := b.Path(id)
	if dir == "" {
		return nil, nil, fmt.Errorf("load manifest %q: %w", id, ErrInvalidID)
	}
	data, err := readFileMax(filepath.Join(dir, ManifestFile), proto.MaxManifestBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("load manifest %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load manifest %s: %w", id, err)
	}
	m, err := proto.VerifyManifest(data, b.signer.Public().(ed25519.PublicKey), id)
	if err != nil {
		return nil, nil, fmt.Errorf("load manifest %s: %w", id, err)
	}
	return m, data, nil
}

// VerifyOnDisk re-reads package id and checks the manifest signature, the
// info file against the manifest, and every OCS fragment, the Shoal
// fragment CIDs, MD5 and SHA-256 against the manifest. The error is for a
// package that cannot be checked at all (invalid ID, not on disk);
// everything else is reported as a problem.
func (b *Builder) VerifyOnDisk(id string) (*CheckReport, error) {
	dir := b.Path(id)
	if dir == "" {
		return nil, fmt.Errorf("verify package %q: %w", id, ErrInvalidID)
	}
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("verify package %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("verify package %s: %w", id, err)
	}
	r := &CheckReport{InfoURL: filepath.Join(dir, InfoFile)}
	m, _, err := b.LoadManifest(id)
	if err != nil {
		r.addErr(ManifestFile, err)
		return r.finish(), nil
	}
	if data, err := readFileMax(r.InfoURL, maxInfoBytes); err != nil {
		r.addErr(InfoFile, err)
	} else {
		checkInfo(r, data, m, "")
	}

	// Stream the OCS fragments in order: each is checked on its own, and
	// their concatenation is the whole file for the other checks.
	md5h, shah := md5.New(), sha256.New()
	shoalCut := newCutter(fragmentSizes(m.Fragments), nil)
	whole := io.MultiWriter(md5h, shah, shoalCut)
	wholeOK := true // False once a fragment is missing or has the wrong size.
	buf := make([]byte, copyBufferSize)
	h := proto.NewFragmentHasher()
	for k, f := range m.OCSFragments {
		name := FragmentFile(id, k+1)
		h.Reset()
		dst := io.Writer(h)
		if wholeOK {
			dst = io.MultiWriter(h, whole)
		}
		n, err := copyFile(dst, filepath.Join(dir, name), plusOne(f.Size), buf)
		if err != nil {
			r.addErr("fragment "+name, err)
			wholeOK = false
			continue
		}
		r.FragmentsChecked++
		if n != f.Size {
			r.addf("fragment %s: %d bytes, manifest says %d", name, n, f.Size)
			wholeOK = false
			continue
		}
		if got := h.CID().String(); got != f.CID {
			r.addf("fragment %s: cid %s, manifest says %s", name, got, f.CID)
		}
	}
	if !wholeOK {
		r.addf("whole-file MD5, SHA-256 and Shoal fragments not checked: OCS fragments missing or of the wrong size")
		return r.finish(), nil
	}
	if got := hexSum(md5h); got != m.MD5 {
		r.addf("whole file: md5 %s, manifest says %s", got, m.MD5)
	}
	if got := hexSum(shah); got != m.SHA256 {
		r.addf("whole file: sha256 %s, manifest says %s", got, m.SHA256)
	}
	if err := shoalCut.done(); err != nil {
		r.addErr("shoal fragments", err)
	}
	for i, f := range shoalCut.frags {
		if want := m.Fragments[i].CID; f.CID != want {
			r.addf("shoal fragment %d: cid %s, manifest says %s", i, f.CID, want)
		}
	}
	return r.finish(), nil
}

// checkInfo compares every field of an info file an OCS agent reads with
// the info file the manifest describes (ocs.InfoFromManifest), and PROTO
// with scheme when scheme is not empty.
func checkInfo(r *CheckReport, data []byte, m *proto.Manifest, scheme string) {
	info, err := ocs.ParseInfo(data)
	if err != nil {
		r.addErr("info "+r.InfoURL, err)
		return
	}
	for _, p := range infoMismatch(info, m) {
		r.addf("info %s: %s", r.InfoURL, p)
	}
	if got := strings.ToLower(orHTTP(info.Proto)); scheme != "" && got != scheme {
		r.addf("info %s: PROTO is %q, want %q", r.InfoURL, got, scheme)
	}
}

// infoMismatch lists the fields of info that differ from the info file of
// manifest m, one "NAME is X, want Y" sentence each; nil means they agree.
func infoMismatch(info *ocs.Info, m *proto.Manifest) []string {
	want := ocs.InfoFromManifest(m)
	fields := []struct {
		name      string
		got, want any
	}{
		{"ID", info.ID, want.ID},
		{"FRAGS", info.Frags, want.Frags},
		{"DIGEST", info.Digest, want.Digest},
		{"DIGEST_ALGO", orDefault(info.DigestAlgo, "MD5"), want.DigestAlgo},
		{"DIGEST_ENCODE", strings.ToLower(orDefault(info.DigestEncode, "Hexa")), strings.ToLower(want.DigestEncode)},
		{"PRI", info.Pri, want.Pri},
		{"ACT", info.Act, want.Act},
		{"PROTO", strings.ToUpper(orHTTP(info.Proto)), want.Proto},
		{"COMMAND", info.Command, want.Command},
		{"PATH", info.Path, want.Path},
		{"NAME", info.Name, want.Name},
		{"NOTIFY_USER", info.NotifyUser, want.NotifyUser},
		{"NOTIFY_TEXT", info.NotifyText, want.NotifyText},
		{"NOTIFY_COUNTDOWN", info.NotifyCountdown, want.NotifyCountdown},
		{"NOTIFY_CAN_ABORT", info.NotifyCanAbort, want.NotifyCanAbort},
		{"NOTIFY_CAN_DELAY", info.NotifyCanDelay, want.NotifyCanDelay},
		{"NEED_DONE_ACTION", info.NeedDoneAction, want.NeedDoneAction},
		{"NEED_DONE_ACTION_TEXT", info.NeedDoneActionText, want.NeedDoneActionText},
	}
	var out []string
	for _, f := range fields {
		if f.got != f.want {
			out = append(out, fmt.Sprintf("%s is %q, want %q", f.name, fmt.Sprint(f.got), fmt.Sprint(f.want)))
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orHTTP(v string) string { return orDefault(v, proto.FragmentProtoHTTP) }

func fragmentSizes(frags []proto.Fragment) []int64 {
	sizes := make([]int64, len(frags))
	for i, f := range frags {
		sizes[i] = f.Size
	}
	return sizes
}

// copyFile copies at most limit bytes of the file name to w.
func copyFile(w io.Writer, name string, limit int64, buf []byte) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(w, io.LimitReader(struct{ io.Reader }{f}, limit), buf)
}

// readFileMax reads a whole file of at most max bytes.
func readFileMax(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}
