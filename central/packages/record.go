package packages

import "github.com/shoal-project/shoal/central/store"

// Record is the catalog row the store persists for a built upload: spec as
// given, the sizes and digests of b, and the ID of the key that signed its
// manifest.
func Record(spec Spec, b *Built, keyID string) *store.Package {
	m := b.Manifest
	return &store.Package{
		ID: spec.ID, Name: spec.Name, Description: spec.Description, Platform: spec.Platform, Action: spec.Action,
		Command: spec.Command, Path: spec.Path, LaunchName: spec.LaunchName, Priority: spec.Priority,
		Size: b.Size, MD5: b.MD5, SHA256: b.SHA256, OCSFragments: b.OCSFragments,
		FragmentSize: m.FragmentSize, ShoalFragments: len(m.Fragments),
		NotifyUser: spec.NotifyUser, NotifyText: spec.NotifyText, NotifyCountdown: spec.NotifyCountdown,
		NotifyCanAbort: spec.NotifyCanAbort, NotifyCanDelay: spec.NotifyCanDelay,
		NeedDoneAction: spec.NeedDoneAction, NeedDoneActionText: spec.NeedDoneActionText,
		ManifestKeyID: keyID, Proto: store.ProtoHTTP,
	}
}
