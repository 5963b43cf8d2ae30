package packages

import (
	"fmt"
	"io"

	"github.com/shoal-project/shoal/proto"
)

// shoalSizes returns the sizes of the Shoal fragments of a file: fragSize
// bytes each, the last one shorter.
func shoalSizes(total, fragSize int64) []int64 {
	if total <= 0 {
		return nil
	}
	n := (total + fragSize - 1) / fragSize
	sizes := make([]int64, n)
	for i := range sizes {
		sizes[i] = min(fragSize, total-int64(i)*fragSize)
	}
	return sizes
}

// ocsSizes returns the sizes of n OCS fragments, cut like the OCS console:
// the first n-1 hold total/n bytes each, the last the rest. n must be in
// 1..total.
func ocsSizes(total int64, n int) []int64 {
	if total <= 0 || n <= 0 {
		return nil
	}
	sizes := make([]int64, n)
	each := total / int64(n)
	for i := range sizes {
		sizes[i] = each
	}
	sizes[n-1] = total - int64(n-1)*each
	return sizes
}

// ocsCount decides the number of OCS fragments for a file of total bytes.
func ocsCount(total int64, count int, fragSize int64) (int, error) {
	if total == 0 {
		return 0, nil
	}
	if count > 0 {
		return int(min(int64(count), total)), nil
	}
	n := (total + fragSize - 1) / fragSize
	if n > MaxOCSFragments {
		return 0, &FieldError{Field: "ocs_fragment_size", Problem: fmt.Sprintf(
			"%d bytes in fragments of %d bytes make %d fragments, more than %d", total, fragSize, n, MaxOCSFragments)}
	}
	return int(n), nil
}

// cutter is an io.Writer that splits the stream written to it into
// consecutive fragments of the given sizes, names each by its CID and, when
// open is set, writes each fragment to its own file. It is used by one
// goroutine at a time.
type cutter struct {
	sizes []int64
	open  func(i int) (io.WriteCloser, error) // Nil: hash only.
	h     *proto.FragmentHasher
	frags []proto.Fragment
	off   int64          // Offset of the current fragment.
	left  int64          // Bytes the current fragment still lacks; 0 between fragments.
	w     io.WriteCloser // File of the current fragment, if any.
}

func newCutter(sizes []int64, open func(i int) (io.WriteCloser, error)) *cutter {
	return &cutter{sizes: sizes, open: open, h: proto.NewFragmentHasher(), frags: make([]proto.Fragment, 0, len(sizes))}
}

func (c *cutter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if c.left == 0 {
			i := len(c.frags)
			if i >= len(c.sizes) {
				return written, fmt.Errorf("cut fragments: more than the %d expected bytes", c.off)
			}
			c.left = c.sizes[i]
			c.h.Reset()
			if c.open != nil {
				w, err := c.open(i)
				if err != nil {
					return written, fmt.Errorf("cut fragments: %w", err)
				}
				c.w = w
			}
		}
		k := int(min(int64(len(p)), c.left))
		c.h.Write(p[:k])
		if c.w != nil {
			if _, err := c.w.Write(p[:k]); err != nil {
				return written, fmt.Errorf("cut fragments: write fragment %d: %w", len(c.frags)+1, err)
			}
		}
		c.left -= int64(k)
		written += k
		p = p[k:]
		if c.left == 0 {
			if err := c.finish(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// finish records the fragment that has just been completed.
func (c *cutter) finish() error {
	i := len(c.frags)
	size := c.sizes[i]
	c.frags = append(c.frags, proto.Fragment{Index: i, Offset: c.off, Size: size, CID: c.h.CID().String()})
	c.off += size
	if c.w != nil {
		w := c.w
		c.w = nil
		if err := w.Close(); err != nil {
			return fmt.Errorf("cut fragments: close fragment %d: %w", i+1, err)
		}
	}
	return nil
}

// done checks that every fragment is complete.
func (c *cutter) done() error {
	if len(c.frags) != len(c.sizes) {
		return fmt.Errorf("cut fragments: stream ended in fragment %d of %d", len(c.frags)+1, len(c.sizes))
	}
	return nil
}

// abort closes a half-written fragment file after an error.
func (c *cutter) abort() {
	if c.w != nil {
		c.w.Close()
		c.w = nil
	}
}
