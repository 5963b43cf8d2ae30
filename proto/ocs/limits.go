package ocs

import (
	"errors"
	"fmt"
)

// Defaults of Limits.
const (
	// DefaultMaxDepth bounds element nesting. The deepest real document is
	// REQUEST/CONTENT/DOWNLOAD/HISTORY/PACKAGE/ID (6 levels).
	DefaultMaxDepth = 16
	// DefaultMaxElements bounds the elements of one document: about 15,000
	// software entries of a dozen fields each, several times the largest
	// real Windows inventories.
	DefaultMaxElements = 200_000
)

// Limits bound the work of parsing one document, whatever its byte size:
// the XML reader stops with ErrTooLarge at the first start tag past a limit.
// Zero fields take the defaults.
type Limits struct {
	// MaxDepth bounds element nesting (default DefaultMaxDepth).
	MaxDepth int
	// MaxElements bounds the number of elements (default
	// DefaultMaxElements).
	MaxElements int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}

// Validate checks the limits; negative values are errors.
func (l Limits) Validate() error {
	if l.MaxDepth < 0 || l.MaxElements < 0 {
		return errors.New("ocs limits: must not be negative")
	}
	if l.MaxDepth != 0 && l.MaxDepth < 8 {
		return fmt.Errorf("ocs limits: max depth %d: want at least 8", l.MaxDepth)
	}
	return nil
}
