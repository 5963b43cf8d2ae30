package packages

import (
	"os"
	"strconv"
)

// NewID allocates a package ID the way the OCS console does, the Unix time
// of creation, bumped past the last ID handed out and past any package
// already on disk, so that uploads in the same second (from the API and the
// web UI alike) get distinct IDs.
func (b *Builder) NewID() string {
	b.idMu.Lock()
	defer b.idMu.Unlock()
	id := b.now().Unix()
	for {
		if id <= b.lastID {
			id = b.lastID + 1
		}
		b.lastID = id
		s := strconv.FormatInt(id, 10)
		if _, err := os.Stat(b.Path(s)); os.IsNotExist(err) {
			return s
		}
	}
}
