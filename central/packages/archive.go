package packages

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shoal-project/shoal/proto"
)

// Archive kinds an EXECUTE or LAUNCH package may hold.
const (
	ArchiveTarGz = "tar.gz"
	ArchiveZip   = "zip"
)

// archiveKind names the archive format of a file's first bytes, or "" when
// they start neither a gzip stream nor a zip file.
func archiveKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return ArchiveTarGz
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return ArchiveZip
	}
	return ""
}

// CheckUpload refuses an upload (the spooled file src) for an EXECUTE or
// LAUNCH package that is not a tar.gz or zip archive: agents unpack those
// actions' file before they run the command, so anything else fails on
// every computer (ERR_EXECUTE). STORE packages may hold any file. The
// refusal is a *FieldError on "file" (wrapping ErrInvalidSpec). Edges call
// it on uploads before Build; Build itself stays content-agnostic.
func CheckUpload(spec Spec, src string) error {
	if spec.Action != proto.ActionExecute && spec.Action != proto.ActionLaunch {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("check upload: %w", err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check upload: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check upload: %w", err)
	}
	size := st.Size()
	if archiveKind(head[:n]) != "" {
		return nil
	}
	return &FieldError{Field: "file", Problem: fmt.Sprintf(
		"%s packages must be a tar.gz or zip archive, which agents unpack before they run the command; this %d-byte file is neither: pack it first (tar czf app.tar.gz …) or upload it as a STORE package",
		spec.Action, size)}
}
