// Package testbody provides request bodies for tests of body limits: a
// body of any declared size that counts what the server read of it, so a
// test can show a body was refused unread.
package testbody

import (
	"io"
	"sync/atomic"
)

// Counting is a request body of n spaces that counts the bytes read.
type Counting struct {
	read atomic.Int64
	left int64
}

// New returns a body of n spaces.
func New(n int64) *Counting { return &Counting{left: n} }

// Read implements io.Reader.
func (b *Counting) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.left))
	for i := range n {
		p[i] = ' '
	}
	b.left -= int64(n)
	b.read.Add(int64(n))
	return n, nil
}

// Consumed returns how many bytes were read so far.
func (b *Counting) Consumed() int64 { return b.read.Load() }
