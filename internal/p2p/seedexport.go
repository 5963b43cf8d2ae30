package p2p

import "time"

// Seeder is the super-seeding policy of a node with Config.SeedCopies
// (seed.go), for code that serves fragments without a libp2p node: the
// scale simulator (sim/) runs a relay's serving side with it, so that its
// relay scenarios use the shipped policy rather than a copy of it.
type Seeder struct{ s *seeder }

// NewSeeder returns the policy of a node with SeedCopies copies and
// SeedWindow window; nil when copies is 0 or less (no seeding).
func NewSeeder(copies int, window time.Duration) *Seeder {
	s := newSeeder(copies, window)
	if s == nil {
		return nil
	}
	return &Seeder{s: s}
}

// Admit reports whether a swarm request (SwarmRequest) for fragment cid
// is served at now; a refused one is answered ErrSeeding. When it is
// served, done must be called once the upload ends, with whether it
// delivered the whole fragment.
func (s *Seeder) Admit(cid string, now time.Time) (ok bool, done func(sent bool)) {
	return s.s.admit(cid, now)
}
