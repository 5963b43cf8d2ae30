package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/proto"
)

// chunkSize is the unit of reads and the upload rate limiter's burst.
const chunkSize = 256 << 10

// writePiece is the unit of writes: each gets its own deadline
// (Config.writeTimeout), so that a slow link moves on with every piece
// rather than having to carry a whole chunk within one deadline.
const writePiece = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// enter registers the handler of an inbound stream: it resets the stream
// and reports false when the node is closing or when count, the open
// streams of its protocol, would pass max. release undoes both.
func (n *Node) enter(s network.Stream, count *atomic.Int64, max int) (release func(), ok bool) {
	n.hmu.Lock()
	if n.closing {
		n.hmu.Unlock()
		s.Reset()
		return nil, false
	}
	n.handlers.Add(1)
	n.hmu.Unlock()
	if count.Add(1) > int64(max) {
		count.Add(-1)
		n.handlers.Done()
		s.Reset()
		return nil, false
	}
	return func() { count.Add(-1); n.handlers.Done() }, true
}

// handle serves one inbound fragment stream.
func (n *Node) handle(s network.Stream) {
	release, ok := n.enter(s, &n.inbound, n.cfg.MaxInboundStreams)
	if !ok {
		return
	}
	defer release()

	remote := s.Conn().RemotePeer()
	log := n.log.With("peer", remote.String())
	if err := s.SetDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
		s.Reset()
		return
	}
	var req request
	if err := readHeader(s, &req); err != nil {
		log.Debug("bad fragment request", "err", err)
		n.countServe(remote.String(), statusError, 0)
		s.Reset()
		return
	}
	log = log.With("package", req.Package, "fragment", req.CID)

	resp, pulled, finish := n.admit(req, s, log)
	if resp.Status != statusOK {
		n.countServe(remote.String(), resp.Status, 0)
		if err := writeHeader(s, resp); err != nil {
			s.Reset()
			return
		}
		s.Close()
		return
	}
	sent, err := n.send(s, req, resp)
	finish(err == nil)
	if err != nil {
		log.Debug("fragment upload failed", "sent", sent, "err", err)
		n.countServe(remote.String(), statusError, sent)
		s.Reset()
		return
	}
	n.countServe(remote.String(), statusOK, sent)
	if n.served != nil {
		n.served(req.Package, req.CID, sent, pulled)
	}
	s.Close()
}

// admit decides how to answer req. With status ok it holds an upload slot
// that finish frees, told whether the whole fragment was sent; pulled
// says Deps.Pull fetched the fragment.
func (n *Node) admit(req request, s network.Stream, log *slog.Logger) (resp response, pulled bool, finish func(sent bool)) {
	own, err := n.ownRecord()
	if err != nil {
		return response{Status: statusError, Message: "not ready to serve"}, false, nil
	}
	if _, err := n.checkPeer(req.Record, s.Conn().RemotePeer(), time.Now()); err != nil {
		log.Warn("fragment request refused", "err", err)
		return response{Status: statusForbidden, Message: refusalReason(err)}, false, nil
	}
	if req.Size <= 0 || req.Size > MaxFragmentSize {
		return response{Status: statusError, Message: fmt.Sprintf("size %d out of range", req.Size)}, false, nil
	}
	if _, err := proto.ParseCID(req.CID); err != nil {
		return response{Status: statusError, Message: "invalid cid"}, false, nil
	}
	ok, err := n.store.Check(req.CID, req.Size)
	if err != nil {
		log.Warn("check fragment", "err", err)
		return response{Status: statusError, Message: "store error"}, false, nil
	}
	if !ok && n.pull != nil {
		if resp, ok := n.pullFragment(req, s, log); !ok {
			return resp, false, nil
		}
		ok, pulled = true, true
	}
	if !ok {
		return response{Status: statusNotFound}, false, nil
	}
	seeded := func(bool) {}
	if req.Swarm && n.seeder != nil {
		ok, done := n.seeder.admit(req.CID, time.Now())
		if !ok {
			return response{Status: statusBusy, Seeding: true}, pulled, nil
		}
		seeded = done
	}
	select {
	case n.uploads <- struct{}{}:
	default:
		seeded(false)
		return response{Status: statusBusy}, false, nil
	}
	return response{Status: statusOK, Size: req.Size, Record: &own}, pulled, func(sent bool) { seeded(sent); <-n.uploads }
}

// pullFragment asks Deps.Pull for a fragment the store lacks, keeping the
// stream open meanwhile. pulled reports whether the fragment is now in
// the store; otherwise resp is the answer.
func (n *Node) pullFragment(req request, s network.Stream, log *slog.Logger) (resp response, pulled bool) {
	if err := s.SetDeadline(time.Now().Add(n.cfg.PullTimeout + n.cfg.StreamTimeout)); err != nil {
		return response{Status: statusError, Message: "stream error"}, false
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PullTimeout)
	err := n.pull(ctx, req.Package, req.CID, req.Size)
	cancel()
	if serr := s.SetDeadline(time.Now().Add(n.cfg.StreamTimeout)); serr != nil {
		return response{Status: statusError, Message: "stream error"}, false
	}
	switch {
	case err == nil:
		ok, cerr := n.store.Check(req.CID, req.Size)
		if cerr != nil || !ok {
			log.Warn("pulled fragment missing from the store", "err", cerr)
			return response{Status: statusNotFound}, false
		}
		return response{}, true
	case errors.Is(err, ErrNotFound):
		return response{Status: statusNotFound}, false
	case errors.Is(err, context.DeadlineExceeded) && n.ctx.Err() == nil:
		log.Info("upstream slower than pull_timeout; answered busy", "timeout", n.cfg.PullTimeout)
		return response{Status: statusBusy}, false
	}
	log.Warn("pull from upstream failed", "err", err)
	return response{Status: statusError, Message: "upstream failed"}, false
}

// send writes the ok header and exactly req.Size bytes of the fragment,
// refreshing the stream's write deadline for every piece. It returns the bytes
// of fragment sent.
func (n *Node) send(s network.Stream, req request, resp response) (int64, error) {
	f, err := n.store.Open(req.CID)
	if err != nil {
		// Removed since Check: answer as if it had never been there.
		if werr := writeHeader(s, response{Status: statusNotFound}); werr != nil {
			return 0, werr
		}
		return 0, fmt.Errorf("open fragment: %w", err)
	}
	defer f.Close()
	if err := writeHeader(s, resp); err != nil {
		return 0, err
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var sent int64
	for sent < req.Size {
		m, err := io.ReadFull(f, buf[:min(int64(len(buf)), req.Size-sent)])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("fragment shorter than %d bytes: %w", req.Size, io.ErrUnexpectedEOF)
			}
			return sent, fmt.Errorf("read fragment: %w", err)
		}
		if n.mangle != nil {
			n.mangle(buf[:m], sent)
		}
		if n.limiter != nil {
			if err := waitN(n.ctx, n.limiter, m); err != nil {
				return sent, fmt.Errorf("upload rate: %w", err)
			}
		}
		for off := 0; off < m; {
			k := min(m-off, writePiece)
			if err := s.SetWriteDeadline(time.Now().Add(n.cfg.writeTimeout(int64(k)))); err != nil {
				return sent, fmt.Errorf("set deadline: %w", err)
			}
			if _, err := s.Write(buf[off : off+k]); err != nil {
				return sent, fmt.Errorf("write fragment: %w", err)
			}
			off += k
			sent += int64(k)
		}
	}
	return sent, nil
}

// waitN waits for n tokens of l, in pieces no larger than its burst.
func waitN(ctx context.Context, l *rate.Limiter, n int) error {
	b := l.Burst()
	if b <= 0 {
		return l.WaitN(ctx, n) // An infinite limit allows any n.
	}
	for n > 0 {
		k := min(n, b)
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
