package fragstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/shoal-project/shoal/proto"
)

// Reader reads a whole package file out of its stored fragments without
// assembling it on disk. It implements io.ReaderAt and is safe for
// concurrent use. Close releases the open fragment file.
type Reader struct {
	s     *Store
	frags []proto.Fragment
	size  int64

	mu   sync.Mutex // guards cur and curF
	cur  int
	curF *os.File
}

// NewReader returns a Reader over frags, which must cover [0, size) in
// order (as in a validated manifest).
func (s *Store) NewReader(frags []proto.Fragment, size int64) *Reader {
	return &Reader{s: s, frags: frags, size: size, cur: -1}
}

// Size returns the package size.
func (r *Reader) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read package: negative offset %d", off)
	}
	n := 0
	for len(p) > 0 {
		if off >= r.size {
			return n, io.EOF
		}
		i := sort.Search(len(r.frags), func(i int) bool { return r.frags[i].Offset+r.frags[i].Size > off })
		if i == len(r.frags) {
			return n, io.EOF
		}
		f := r.frags[i]
		rel := off - f.Offset
		chunk := p[:min(int64(len(p)), f.Size-rel)]
		m, err := r.readFrag(i, chunk, rel)
		n += m
		off += int64(m)
		p = p[m:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (r *Reader) readFrag(i int, p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != i {
		if r.curF != nil {
			r.curF.Close()
			r.curF = nil
		}
		f, err := r.s.Open(r.frags[i].CID)
		if err != nil {
			return 0, err
		}
		r.cur, r.curF = i, f
	}
	n, err := r.curF.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("read fragment %s: %w", r.frags[i].CID, err)
	}
	return n, nil
}

// Close closes the open fragment file.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.curF != nil {
		err := r.curF.Close()
		r.curF, r.cur = nil, -1
		return err
	}
	return nil
}

// SHA256 returns the lower-case hex SHA-256 of the whole package, reading
// it from the fragments; ctx cancels it between reads.
func (r *Reader) SHA256(ctx context.Context) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	sr := io.NewSectionReader(r, 0, r.size)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := sr.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hash package: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
