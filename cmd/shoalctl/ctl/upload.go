package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// ErrStalled reports an upload that made no progress for the stall
// timeout.
var ErrStalled = errors.New("upload stalled")

// UploadOptions tune CreatePackage.
type UploadOptions struct {
	// Stall fails the upload when no byte was sent for this long
	// (default 60s). There is no deadline on the whole upload.
	Stall time.Duration
	// Progress, when set, is called about every Tick with the bytes of the
	// file sent so far and the file size, and once more at the end.
	Progress func(done, total int64)
	// Tick is the progress and stall check period (default 200ms).
	Tick time.Duration
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// CreatePackage uploads the file at path as a new package. The multipart
// body is written through a pipe while it is sent, so the file is never
// held in memory, and the form fields go before the file so central can
// refuse a bad spec before the upload.
func (c *Client) CreatePackage(ctx context.Context, path string, spec api.PackageSpec, opt UploadOptions) (*api.Package, error) {
	if opt.Stall <= 0 {
		opt.Stall = 60 * time.Second
	}
	if opt.Tick <= 0 {
		opt.Tick = 200 * time.Millisecond
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open package file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open package file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	total := st.Size()
	src := &countingReader{r: f}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	written := make(chan error, 1)
	go func() {
		err := writeForm(mw, spec, filepath.Base(path), src)
		pw.CloseWithError(err) // nil: the reader sees EOF
		written <- err
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/packages", nil), pr)
	if err != nil {
		pr.Close()
		<-written
		return nil, fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	c.authorize(req)

	watchDone := make(chan struct{})
	watchExit := make(chan struct{})
	go func() {
		defer close(watchExit)
		c.watchUpload(ctx, cancel, src, total, opt, watchDone)
	}()
	resp, err := c.hc.Do(req)
	close(watchDone)
	<-watchExit
	pr.CloseWithError(errors.New("request finished")) // unblocks the writer if central stopped reading
	werr := <-written
	if opt.Progress != nil {
		opt.Progress(src.n.Load(), total)
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			return nil, fmt.Errorf("upload: %w", cause)
		}
		if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			return nil, fmt.Errorf("upload: %w", werr)
		}
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, readError(resp)
	}
	var p api.Package
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return nil, fmt.Errorf("decode created package: %w", err)
	}
	return &p, nil
}

// writeForm writes the spec fields, then the file part, then the closing
// boundary.
func writeForm(mw *multipart.Writer, spec api.PackageSpec, name string, file io.Reader) error {
	for _, kv := range spec.FormFields() {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			return fmt.Errorf("write field %s: %w", kv[0], err)
		}
	}
	part, err := mw.CreateFormFile(api.FormFile, name)
	if err != nil {
		return fmt.Errorf("write file part: %w", err)
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(part, struct{ io.Reader }{file}, buf); err != nil {
		return fmt.Errorf("send file: %w", err)
	}
	return mw.Close()
}

// watchUpload reports progress and cancels the upload with ErrStalled when
// no byte moved for opt.Stall while the file was still being sent. Once the
// whole file is sent, the transport's response timeout takes over.
func (c *Client) watchUpload(ctx context.Context, cancel context.CancelCauseFunc, src *countingReader, total int64, opt UploadOptions, done <-chan struct{}) {
	t := time.NewTicker(opt.Tick)
	defer t.Stop()
	last, lastMove := int64(-1), time.Now()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := src.n.Load()
			if n != last {
				last, lastMove = n, now
			} else if n < total && now.Sub(lastMove) > opt.Stall {
				cancel(fmt.Errorf("no progress for %v after %d of %d bytes: %w", opt.Stall, n, total, ErrStalled))
				return
			}
			if opt.Progress != nil {
				opt.Progress(n, total)
			}
		}
	}
}

// progressBar draws upload progress on w: a redrawn bar on a terminal,
// a line every 10 % otherwise.
type progressBar struct {
	w       io.Writer
	tty     bool
	start   time.Time
	doneAt  time.Time
	lastPct int
	ended   bool
}

func newProgressBar(w io.Writer, tty bool) *progressBar {
	return &progressBar{w: w, tty: tty, start: time.Now(), lastPct: -1}
}

func (p *progressBar) update(done, total int64) {
	if p.ended {
		return
	}
	pct := 100
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if done >= total && p.doneAt.IsZero() {
		p.doneAt = time.Now() // the rate excludes central's build time
	}
	end := time.Now()
	if !p.doneAt.IsZero() {
		end = p.doneAt
	}
	elapsed := end.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	eta := "-"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	line := fmt.Sprintf("upload %3d%%  %s / %s  %s/s  ETA %s", pct, humanBytes(done), humanBytes(total), humanBytes(int64(rate)), eta)
	if done >= total {
		// Central answers once it has cut, hashed and signed the package,
		// which takes a while for a large one.
		line = fmt.Sprintf("upload %3d%%  %s / %s  %s/s  uploaded; central is building and signing…", pct, humanBytes(done), humanBytes(total), humanBytes(int64(rate)))
	}
	if p.tty {
		const width = 30
		fill := pct * width / 100
		bar := make([]byte, width)
		for i := range bar {
			switch {
			case i < fill:
				bar[i] = '='
			case i == fill:
				bar[i] = '>'
			default:
				bar[i] = ' '
			}
		}
		fmt.Fprintf(p.w, "\r[%s] %s\x1b[K", bar, line)
		if done >= total {
			fmt.Fprintln(p.w)
			p.ended = true
		}
		return
	}
	if step := pct / 10 * 10; step > p.lastPct {
		p.lastPct = step
		fmt.Fprintln(p.w, line)
		p.ended = done >= total
	}
}
