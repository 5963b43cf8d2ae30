package packages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// DefaultCheckTimeout bounds CheckAvailability when the context has no
// deadline.
const DefaultCheckTimeout = 10 * time.Minute

// CheckAvailability checks that a package is served where OCS agents will
// look for it. It fetches https://<infoLoc>/<ID>/info (INFO_LOC has no
// scheme, as in OCS), checks it against the manifest, then fetches every
// fragment <scheme>://<packLoc>/<ID>/<ID>-<n> and checks its size and CID.
// client must trust central's CA. Every failure is listed in the report;
// fragments are streamed through the hasher and never read past their
// manifest size plus one byte. When ctx ends, the remaining fragments are
// reported as not checked.
func CheckAvailability(ctx context.Context, client *http.Client, m *proto.Manifest, infoLoc, packLoc, scheme string) *CheckReport {
	return checkAvailability(ctx, client, m, infoLoc, packLoc, scheme, scheme)
}

// CheckReplica checks that one replica of central serves package m: its
// info file and every fragment from the download tree of its HTTPS
// listener at loc (host:port/download). The info file's PROTO is not
// compared with https: agents may fetch fragments from the HTTP listener.
func CheckReplica(ctx context.Context, client *http.Client, m *proto.Manifest, loc string) *CheckReport {
	return checkAvailability(ctx, client, m, loc, loc, "https", "")
}

// checkAvailability is CheckAvailability; the info file's PROTO must be
// protoWant unless that is empty.
func checkAvailability(ctx context.Context, client *http.Client, m *proto.Manifest, infoLoc, packLoc, scheme, protoWant string) *CheckReport {
	r := &CheckReport{}
	if client == nil {
		client = http.DefaultClient
	}
	if m == nil {
		r.addf("no manifest given")
		return r.finish()
	}
	if err := m.Validate(); err != nil {
		r.addErr("manifest", err)
		return r.finish()
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCheckTimeout)
		defer cancel()
	}
	id := m.PackageID
	infoURL, err := locationURL("https", infoLoc, id, InfoFile)
	if err != nil {
		r.addErr("info location", err)
	} else {
		r.InfoURL = infoURL
		if data, err := getSmall(ctx, client, infoURL, maxInfoBytes); err != nil {
			r.addErr("info "+infoURL, err)
		} else {
			checkInfo(r, data, m, protoWant)
		}
	}

	if scheme != "http" && scheme != "https" {
		r.addf("fragment scheme %q: want http or https", scheme)
		return r.finish()
	}
	h := proto.NewFragmentHasher()
	buf := make([]byte, 64<<10)
	for k, f := range m.OCSFragments {
		name := FragmentFile(id, k+1)
		u, err := locationURL(scheme, packLoc, id, name)
		if err != nil {
			r.addErr("fragment location", err)
			break
		}
		if ctx.Err() != nil {
			r.addErr(fmt.Sprintf("fragments %s to %s not checked", name, FragmentFile(id, len(m.OCSFragments))), context.Cause(ctx))
			break
		}
		h.Reset()
		if err := getExact(ctx, client, u, f.Size, h, buf); err != nil {
			r.addErr("fragment "+name+" ("+u+")", err)
			continue
		}
		r.FragmentsChecked++
		if got := h.CID().String(); got != f.CID {
			r.addf("fragment %s (%s): content differs from the manifest: cid %s, want %s", name, u, got, f.CID)
		}
	}
	return r.finish()
}

// locationURL builds <scheme>://<loc>/<id>/<file> from an OCS location
// (host[:port]/path, no scheme).
func locationURL(scheme, loc, id, file string) (string, error) {
	if strings.Contains(loc, "://") {
		return "", fmt.Errorf("location %q must not have a scheme", loc)
	}
	loc = strings.TrimRight(loc, "/")
	if loc == "" {
		return "", fmt.Errorf("location is empty")
	}
	raw := scheme + "://" + loc + "/" + id + "/" + file
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("location %q: %w", loc, err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("location %q is not host[:port]/path", loc)
	}
	return u.String(), nil
}

// open sends a GET for u and returns the body of a 200 answer.
func open(ctx context.Context, client *http.Client, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return nil, ue.Err // The caller names the URL already.
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("HTTP status %q", resp.Status)
	}
	return resp.Body, nil
}

// getSmall fetches u and returns its body, which must be at most max bytes.
func getSmall(ctx context.Context, client *http.Client, u string, max int64) ([]byte, error) {
	body, err := open(ctx, client, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("body larger than %d bytes", max)
	}
	return data, nil
}

// getExact streams the body of u into sink and checks that it is exactly
// size bytes long, reading at most size+1 bytes.
func getExact(ctx context.Context, client *http.Client, u string, size int64, sink io.Writer, buf []byte) error {
	body, err := open(ctx, client, u)
	if err != nil {
		return err
	}
	defer body.Close()
	n, err := io.CopyBuffer(sink, io.LimitReader(body, plusOne(size)), buf)
	if err != nil {
		return fmt.Errorf("read body after %d bytes: %w", n, err)
	}
	if n > size {
		return fmt.Errorf("longer than the %d bytes in the manifest", size)
	}
	if n < size {
		return fmt.Errorf("%d bytes, manifest says %d", n, size)
	}
	return nil
}
