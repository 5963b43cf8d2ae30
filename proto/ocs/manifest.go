package ocs

import "github.com/shoal-project/shoal/proto"

// InfoFromManifest returns the info file of a package, built only from its
// signed manifest: central writes it at build time and relays serve it, so
// every field an OCS agent acts on (ACT, COMMAND, PATH, NAME, DIGEST, FRAGS,
// PRI, PROTO, NOTIFY_*, NEED_DONE_ACTION*) is one central signed. The
// digest is the whole-file MD5 in hex, empty for a package without payload
// (as the OCS console writes it).
func InfoFromManifest(m *proto.Manifest) *Info {
	digest := m.MD5
	if m.Size == 0 {
		digest = ""
	}
	return &Info{
		ID:                 m.PackageID,
		Pri:                m.Priority,
		Act:                m.Action,
		Digest:             digest,
		Proto:              m.FragmentProto,
		Frags:              len(m.OCSFragments),
		DigestAlgo:         "MD5",
		DigestEncode:       "Hexa",
		Path:               m.Path,
		Name:               m.LaunchName,
		Command:            m.Command,
		NotifyUser:         m.Notify.User,
		NotifyText:         m.Notify.Text,
		NotifyCountdown:    m.Notify.Countdown,
		NotifyCanAbort:     m.Notify.CanAbort,
		NotifyCanDelay:     m.Notify.CanDelay,
		NeedDoneAction:     m.Notify.DoneAction,
		NeedDoneActionText: m.Notify.DoneActionText,
	}
}
