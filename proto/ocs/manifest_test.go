package ocs

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

// TestInfoFromManifest checks that every info file field an agent acts on
// comes from the manifest and survives Marshal and ParseInfo, including
// characters that need escaping.
func TestInfoFromManifest(t *testing.T) {
	m := &proto.Manifest{
		PackageID: "1700000001", Priority: 3, Action: proto.ActionExecute, Command: `sh -c "echo <a> & b"`,
		Size: 10, MD5: "0123456789abcdef0123456789abcdef", FragmentProto: proto.FragmentProtoHTTPS,
		OCSFragments: make([]proto.Fragment, 2),
		Notify: proto.Notify{User: true, Text: "New <b>version</b>\nplease wait", Countdown: "30", CanAbort: true,
			CanDelay: true, DoneAction: true, DoneActionText: `done "ok"`},
	}
	want := &Info{ID: "1700000001", Pri: 3, Act: ActExecute, Digest: m.MD5, Proto: "HTTPS", Frags: 2,
		DigestAlgo: "MD5", DigestEncode: "Hexa", Command: m.Command, NotifyUser: true, NotifyText: m.Notify.Text,
		NotifyCountdown: "30", NotifyCanAbort: true, NotifyCanDelay: true, NeedDoneAction: true,
		NeedDoneActionText: m.Notify.DoneActionText}
	b, err := InfoFromManifest(m).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info (-want +got):\n%s\n%s", diff, b)
	}
	m.Size, m.OCSFragments = 0, nil
	if i := InfoFromManifest(m); i.Digest != "" || i.Frags != 0 {
		t.Errorf("empty package: DIGEST %q FRAGS %d, want empty and 0", i.Digest, i.Frags)
	}
}
