package packages

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// CheckStorage tells whether the package tree is usable: the download
// directory can be read and a file can be written and removed in the
// temporary directory (the same file system, so shared storage that went
// read-only or away fails here). central's /readyz calls it.
func (b *Builder) CheckStorage() error {
	d, err := os.Open(b.downloadDir)
	if err != nil {
		return fmt.Errorf("check storage: %w", err)
	}
	_, err = d.Readdirnames(1) // one entry is enough: io.EOF when empty
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check storage: %w", err)
	}
	f, err := os.CreateTemp(b.tmpDir, "readyz-*")
	if err != nil {
		return fmt.Errorf("check storage: %w", err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(name)
	for _, err := range []error{werr, cerr, rerr} {
		if err != nil {
			return fmt.Errorf("check storage: %w", err)
		}
	}
	return nil
}
