package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestPeerRecordUpsert(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, site := range []string{"paris", "lyon"} {
		if err := s.SavePeerRecord(ctx, &store.AgentPeerRecord{ComputerID: 7, PeerID: "p", Site: site, Expires: exp, Signed: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.PeerRecord(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "lyon" || !r.Expires.Equal(exp) {
		t.Errorf("peer record %+v", r)
	}
}
