// Package fragstore is a content-addressed store of verified fragments on
// disk, shared by the agent's fetcher and (later) its peer server and the
// relay.
//
// A fragment lives in <dir>/<xy>/<cid>, where xy are the last two characters
// of its CID (the first ones are the same for every CIDv1). It is written to
// a temporary file <cid>.<random>.tmp in the same directory while its
// sha2-256 is computed, checked against the CID, fsynced and only then
// renamed into place, so a fragment file is complete and correct or absent.
// (Temporary files live beside their final name rather than in one shared
// directory: parallel streams then do not contend for one directory lock.)
// Files found on disk by a new process are hashed again before they are
// trusted (Check); the result is remembered for the life of the Store.
package fragstore

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// Sentinel errors.
var (
	// ErrSize reports bytes that do not have the fragment's size.
	ErrSize = errors.New("fragstore: wrong fragment size")
	// ErrNotFound reports a fragment that is not in the store.
	ErrNotFound = errors.New("fragstore: fragment not found")
)

// tmpSuffix ends the names of temporary files.
const tmpSuffix = ".tmp"

// Store is a directory of verified fragments. It is safe for concurrent use.
type Store struct {
	dir string

	mu       sync.Mutex       // guards verified and dirs
	verified map[string]int64 // CID -> size, files known good in this process
	dirs     map[string]bool  // shard directories known to exist
}

// Open opens (creating if needed) the store in dir and removes leftover
// temporary files of an earlier process.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open fragment store: %w", err)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), tmpSuffix) {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open fragment store: clean temporary files: %w", err)
	}
	return &Store{dir: dir, verified: map[string]int64{}, dirs: map[string]bool{}}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// path returns the file of a fragment. id must be a canonical CID, which
// contains only base32 characters and is safe as a file name.
func (s *Store) path(id string) string {
	return filepath.Join(s.dir, id[len(id)-2:], id)
}

func checkID(id string) error {
	if _, err := proto.ParseCID(id); err != nil {
		return fmt.Errorf("fragstore: %w", err)
	}
	return nil
}

// Check reports whether the fragment with CID id and the given size is in
// the store and correct. A file that does not hash to id, or has another
// size, is deleted and reported as absent.
func (s *Store) Check(id string, size int64) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	s.mu.Lock()
	n, ok := s.verified[id]
	s.mu.Unlock()
	if ok {
		return n == size, nil
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check fragment %s: %w", id, err)
	}
	defer f.Close()
	want, _ := proto.ParseCID(id)
	h := proto.NewFragmentHasher()
	if _, err := io.Copy(h, io.LimitReader(f, size+1)); err != nil {
		return false, fmt.Errorf("check fragment %s: %w", id, err)
	}
	if h.Len() != size || h.Verify(want) != nil {
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("remove bad fragment %s: %w", id, err)
		}
		return false, nil
	}
	s.mu.Lock()
	s.verified[id] = size
	s.mu.Unlock()
	return true, nil
}

// Open opens a stored fragment for reading.
func (s *Store) Open(id string) (*os.File, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open fragment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open fragment %s: %w", id, err)
	}
	return f, nil
}

// Remove deletes a fragment; a missing one is not an error.
func (s *Store) Remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.verified, id)
	s.mu.Unlock()
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove fragment %s: %w", id, err)
	}
	return nil
}

// Free returns the bytes available to this process on the store's file
// system.
func (s *Store) Free() (int64, error) {
	return FreeBytes(s.dir)
}

// Writer receives one fragment's bytes, hashing them as they come.
type Writer struct {
	s    *Store
	id   string
	size int64
	f    *os.File
	h    *proto.FragmentHasher
	// verified is set by Verify; done once the file is renamed or removed.
	verified, done bool
}

// Create starts writing the fragment with CID id and the given size.
// Commit or Abort must be called.
func (s *Store) Create(id string, size int64) (*Writer, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("create fragment %s: size %d: %w", id, size, ErrSize)
	}
	shard := filepath.Dir(s.path(id))
	s.mu.Lock()
	known := s.dirs[shard]
	s.mu.Unlock()
	if !known {
		if err := os.MkdirAll(shard, 0o700); err != nil {
			return nil, fmt.Errorf("create fragment %s: %w", id, err)
		}
		s.mu.Lock()
		s.dirs[shard] = true
		s.mu.Unlock()
	}
	f, err := os.CreateTemp(shard, id+".*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("create fragment %s: %w", id, err)
	}
	return &Writer{s: s, id: id, size: size, f: f, h: proto.NewFragmentHasher()}, nil
}

// Write writes p to the temporary file. Writing past the fragment's size is
// an error wrapping ErrSize.
func (w *Writer) Write(p []byte) (int, error) {
	if w.h.Len()+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write fragment %s: more than %d bytes: %w", w.id, w.size, ErrSize)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	if err != nil {
		return n, fmt.Errorf("write fragment %s: %w", w.id, err)
	}
	return n, nil
}

// Commit is Verify then Finish.
func (w *Writer) Commit() error {
	if err := w.Verify(); err != nil {
		return err
	}
	return w.Finish()
}

// Verify checks the size and CID of the bytes written. A mismatch wraps
// proto.ErrDigestMismatch or ErrSize and discards the file. After a
// successful Verify, call Finish or Abort.
func (w *Writer) Verify() error {
	if w.done {
		return fmt.Errorf("verify fragment %s: already finished", w.id)
	}
	var err error
	if w.h.Len() != w.size {
		err = fmt.Errorf("got %d bytes, want %d: %w", w.h.Len(), w.size, ErrSize)
	} else if want, _ := proto.ParseCID(w.id); w.h.Verify(want) != nil {
		err = w.h.Verify(want)
	}
	if err != nil {
		w.Abort()
		return fmt.Errorf("verify fragment %s: %w", w.id, err)
	}
	w.verified = true
	return nil
}

// Finish fsyncs a verified fragment and renames it into place. It may run
// on another goroutine than the writes. When the store already holds the
// fragment verified (another download of it, such as an endgame
// duplicate, finished first), Finish discards this copy instead of
// replacing the file: readers may have it open, and on Windows a rename
// over an open file fails, or leaves the name missing for a moment to a
// reader that opens it then.
func (w *Writer) Finish() error {
	if w.done || !w.verified {
		return fmt.Errorf("finish fragment %s: not verified or already finished", w.id)
	}
	w.done = true
	name := w.f.Name()
	fail := func(err error) error {
		w.f.Close()
		os.Remove(name)
		return fmt.Errorf("commit fragment %s: %w", w.id, err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("commit fragment %s: %w", w.id, err)
	}
	// The lock makes the look and the rename one step against another
	// Finish of the same fragment.
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if n, ok := w.s.verified[w.id]; ok && n == w.size {
		os.Remove(name)
		return nil
	}
	if err := os.Rename(name, w.s.path(w.id)); err != nil {
		os.Remove(name)
		return fmt.Errorf("commit fragment %s: %w", w.id, err)
	}
	w.s.verified[w.id] = w.size
	return nil
}

// Abort discards the bytes written so far.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Usage returns the bytes held by stored fragments.
func (s *Store) Usage() (int64, error) {
	files, err := s.list()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		n += f.size
	}
	return n, nil
}

type fileInfo struct {
	id    string
	size  int64
	mtime time.Time
}

func (s *Store) list() ([]fileInfo, error) {
	var out []fileInfo
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), "b") || strings.HasSuffix(d.Name(), tmpSuffix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // Removed meanwhile.
		}
		out = append(out, fileInfo{id: d.Name(), size: info.Size(), mtime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list fragments: %w", err)
	}
	return out, nil
}

// Evict removes the least recently written fragments until the store holds
// at most maxBytes, never removing one for which keep returns true. It
// returns the number of fragments removed.
func (s *Store) Evict(maxBytes int64, keep func(id string) bool) (int, error) {
	files, err := s.list()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	slices.SortFunc(files, func(a, b fileInfo) int { return cmp.Compare(a.mtime.UnixNano(), b.mtime.UnixNano()) })
	n := 0
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if keep != nil && keep(f.id) {
			continue
		}
		if err := s.Remove(f.id); err != nil {
			return n, err
		}
		total -= f.size
		n++
	}
	return n, nil
}
