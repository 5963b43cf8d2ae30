package inventory

import (
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// Length bounds of the stored inventory fields. An inventory comes from an
// agent (an anonymous one on the OCS endpoint), so no field is stored
// verbatim whatever its size.
const (
	// MaxNameBytes bounds the fields that name or identify a computer and
	// take part in matching it: a longer value is refused with the whole
	// inventory, because a cut name or serial could match another computer.
	// OCS stores them in VARCHAR(255).
	MaxNameBytes = 255
	// MaxTextBytes bounds every other (descriptive) field: a longer value is
	// cut at a character boundary and the cut is logged.
	MaxTextBytes = 4096
)

// ErrFieldTooLong reports an identifying field over MaxNameBytes.
var ErrFieldTooLong = errkind.New(errkind.TooLarge, "inventory field too long")

// identityFields are the fields refused, not cut, when over MaxNameBytes
// (the struct name, a dot, the field name).
var identityFields = map[string]bool{
	"Computer.DeviceID": true, "Computer.Name": true, "Computer.UUID": true, "Computer.Serial": true,
	"Computer.FirstMAC": true, "BIOS.SystemSerial": true, "BIOS.BoardSerial": true,
	"Network.MACAddr": true, "AccountInfo.KeyName": true, "InventorySnapshot.OldDeviceID": true,
}

// Bound applies the length bounds to every string of snap in place: it
// returns an error wrapping ErrFieldTooLong for an identifying field over
// MaxNameBytes or a history entry over MaxNameBytes, and otherwise the
// names of the fields it cut (one entry per field name, however many rows
// were cut).
func Bound(snap *store.InventorySnapshot) (cut []string, err error) {
	seen := map[string]bool{}
	for i, id := range snap.History {
		if len(id) > MaxNameBytes {
			return nil, fmt.Errorf("history entry %d is %d bytes, at most %d: %w", i, len(id), MaxNameBytes, ErrFieldTooLong)
		}
	}
	err = boundValue(reflect.ValueOf(snap).Elem(), func(field string, v reflect.Value) error {
		s := v.String()
		switch {
		case identityFields[field] && len(s) > MaxNameBytes:
			return fmt.Errorf("%s is %d bytes, at most %d: %w", field, len(s), MaxNameBytes, ErrFieldTooLong)
		case len(s) > MaxTextBytes:
			v.SetString(cutUTF8(s, MaxTextBytes))
			if !seen[field] {
				seen[field] = true
				cut = append(cut, field)
			}
		}
		return nil
	})
	return cut, err
}

// boundValue calls check for every settable string field of the structs in
// v (a struct) longer than MaxNameBytes (shorter ones are within every
// bound), descending into nested structs and slices of structs. Each type's
// walk is planned once: a first inventory has about ten thousand string
// fields, and naming and reflecting over each was a twentieth of its CPU.
func boundValue(v reflect.Value, check func(field string, v reflect.Value) error) error {
	for _, f := range planOf(v.Type()) {
		fv := v.Field(f.index)
		switch f.kind {
		case reflect.String:
			if fv.Len() > MaxNameBytes {
				if err := check(f.name, fv); err != nil {
					return err
				}
			}
		case reflect.Struct:
			if err := boundValue(fv, check); err != nil {
				return err
			}
		case reflect.Slice:
			for j := range fv.Len() {
				if err := boundValue(fv.Index(j), check); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// boundField is one field boundValue visits: a string, a struct, or a slice
// of structs.
type boundField struct {
	index int
	kind  reflect.Kind
	name  string // the struct name, a dot, the field name
}

var boundPlans sync.Map // reflect.Type → []boundField

// planOf returns the exported fields of struct type t that boundValue
// visits, in order.
func planOf(t reflect.Type) []boundField {
	if p, ok := boundPlans.Load(t); ok {
		return p.([]boundField)
	}
	var plan []boundField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		k := f.Type.Kind()
		if k == reflect.Slice && f.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		if k == reflect.String || k == reflect.Struct || k == reflect.Slice {
			plan = append(plan, boundField{index: i, kind: k, name: t.Name() + "." + f.Name})
		}
	}
	boundPlans.Store(t, plan)
	return plan
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
