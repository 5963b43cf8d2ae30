package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/store"
)

// MaxTagBytes bounds a TAG: the reference server keeps it in a
// VARCHAR(255).
const MaxTagBytes = 255

// SetComputerTag sets a computer's OCS TAG (account info key TAG). Central's
// value wins: an OCS agent that sends another TAG is answered ACCOUNT_UPDATE
// with this one at its next inventory and adopts it, as the reference server
// does. Surrounding space is trimmed; a TAG over MaxTagBytes, not UTF-8 or
// with control characters is refused (store.ErrInvalid).
func (s *Service) SetComputerTag(ctx context.Context, who audit.Actor, id uint, tag string) error {
	tag = strings.TrimSpace(tag)
	if err := checkTag(tag); err != nil {
		return err
	}
	c, err := s.store.Computer(ctx, id)
	if err != nil {
		return err
	}
	old := ""
	acct, err := s.store.AccountInfoOf(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range acct {
		if a.KeyName == store.AccountTag {
			old = a.KeyValue
		}
	}
	if err := s.store.SetAccountValue(ctx, id, store.AccountTag, tag); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "computer.tag", strconv.FormatUint(uint64(id), 10),
		fmt.Sprintf("%s: TAG %q → %q", c.Name, old, tag))
	return nil
}

func checkTag(tag string) error {
	if len(tag) > MaxTagBytes {
		return fmt.Errorf("the TAG is %d bytes, at most %d: %w", len(tag), MaxTagBytes, store.ErrInvalid)
	}
	if !utf8.ValidString(tag) {
		return fmt.Errorf("the TAG is not UTF-8 text: %w", store.ErrInvalid)
	}
	if strings.IndexFunc(tag, unicode.IsControl) >= 0 {
		return fmt.Errorf("the TAG has a control character: %w", store.ErrInvalid)
	}
	return nil
}
