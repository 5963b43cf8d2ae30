package ui

import (
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// patternReader yields n bytes of a repeating pattern.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// BenchmarkUpload256MiB streams a 256 MiB file through the create-package
// form over TLS, as the browser does, and reports the throughput and the
// peak heap in use: the upload must go to disk, not memory.
func BenchmarkUpload256MiB(b *testing.B) {
	const size = 256 << 20
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, Config{})
		br := e.browser()
		br.login("admin", adminPassword)
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
			}
		})
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			_ = mw.WriteField("action", "STORE")
			_ = mw.WriteField("path", "/opt/big")
			_ = mw.WriteField("fragments", "64")
			fw, err := mw.CreateFormFile("file", "big.bin")
			if err == nil {
				_, err = io.Copy(fw, &patternReader{n: size})
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+uploadPath, pr)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set(csrfHeader, br.csrf)
		req.Header.Set("Accept", "application/json")
		b.StartTimer()
		start := time.Now()
		res, err := br.c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		elapsed := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if res.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %d %s", res.StatusCode, body)
		}
		b.ReportMetric(float64(size)/(1<<20)/elapsed.Seconds(), "MiB/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.StartTimer()
	}
}
