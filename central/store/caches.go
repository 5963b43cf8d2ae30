package store

// InvalidateSites drops the cached site index, so that the next SiteForIP
// reads the sites again. Another replica of central changed them
// (central/notify); this store's own changes drop it already.
func (s *Store) InvalidateSites() { s.invalidateSites() }
