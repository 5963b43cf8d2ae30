package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/inventory"
	"github.com/shoal-project/shoal/agent/jobs"
	"github.com/shoal-project/shoal/internal/enroll"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
)

// Files in the state directory.
const (
	identityFile   = "identity.key"
	caFile         = "ca.pem"
	enrollmentFile = "enrollment.json"
)

// ErrNotEnrolled reports a state directory without an enrollment;
// EnrollCommand tells how to enroll it.
var ErrNotEnrolled = errors.New("agent: not enrolled")

// ErrEnrolled reports a state directory that is already enrolled: enrolling
// it again replaces the secret a running agent there uses.
var ErrEnrolled = errors.New("agent: state directory already enrolled")

// EnrollCommand returns the shoal-agent enroll command line that enrolls
// the state directory of cfg, read from the config file at configPath
// (empty: none). What neither cfg nor the file gives is a placeholder in
// angle brackets: <TOKEN> always, <CENTRAL> and <CA-FILE> when missing.
func EnrollCommand(cfg Config, configPath string) string {
	cfg = cfg.withDefaults()
	args := []string{"shoal-agent", "enroll"}
	if configPath != "" {
		if abs, err := filepath.Abs(configPath); err == nil {
			configPath = abs
		}
		args = append(args, "-config", shellQuote(configPath))
	}
	args = append(args, "-state-dir", shellQuote(cfg.StateDir))
	if cfg.Server == "" {
		args = append(args, "-server", "https://<CENTRAL>:8443")
	}
	args = append(args, "-token", "<TOKEN>")
	if cfg.Enroll.CAFile == "" && cfg.Enroll.CAFingerprint == "" {
		args = append(args, "-ca", "<CA-FILE>")
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// enrollment is what enrolling left in the state directory.
type enrollment struct {
	Server        string                 `json:"server"`
	ComputerID    uint                   `json:"computer_id"`
	DeviceID      string                 `json:"device_id"`
	PeerID        string                 `json:"peer_id"`
	Site          string                 `json:"site,omitempty"`
	Secret        string                 `json:"secret"`
	ManifestKey   []byte                 `json:"manifest_public_key"`
	ManifestKeyID string                 `json:"manifest_key_id"`
	PeerRecord    proto.SignedPeerRecord `json:"peer_record"`
	RecordAt      time.Time              `json:"peer_record_at"`
	EnrolledAt    time.Time              `json:"enrolled_at"`
}

func loadEnrollment(dir string) (*enrollment, error) {
	var e enrollment
	ok, err := statefile.Read(filepath.Join(dir, enrollmentFile), &e)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotEnrolled
	}
	if len(e.ManifestKey) != ed25519.PublicKeySize || e.Secret == "" {
		return nil, fmt.Errorf("load enrollment: incomplete %s: %w", enrollmentFile, ErrNotEnrolled)
	}
	return &e, nil
}

func (e *enrollment) save(dir string) error {
	return statefile.Write(filepath.Join(dir, enrollmentFile), e, 0o600)
}

func poolFromPEM(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in CA file")
	}
	return pool, nil
}

// deviceID builds an OCS-style device ID: hostname-YYYY-MM-DD-HH-MM-SS.
func deviceID(hostname string, now time.Time) string {
	if hostname == "" {
		hostname = "shoal-agent"
	}
	return hostname + "-" + now.Format("2006-01-02-15-04-05")
}

// Enroll enrolls the agent with central using cfg.Enroll, creating the
// identity key on first use, and writes the enrollment into the state
// directory. Enrolling again keeps the identity and the device ID.
func Enroll(ctx context.Context, cfg Config, logger *slog.Logger) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Enroll.Token == "" {
		return errors.New("enroll: no enrollment token")
	}
	if old, err := loadEnrollment(cfg.StateDir); err == nil && !cfg.Enroll.Force {
		return fmt.Errorf("enroll: %s is enrolled as computer %d with %s since %s: %w; enrolling again replaces the secret "+
			"the agent running there uses (it reloads the new one within seconds): add -force to do it",
			cfg.StateDir, old.ComputerID, old.Server, old.EnrolledAt.Format(time.RFC3339), ErrEnrolled)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("enroll: state dir: %w", err)
	}
	caPEM, err := enroll.CA(ctx, cfg.Server, cfg.Enroll.CAFile, cfg.Enroll.CAFingerprint)
	if errors.Is(err, enroll.ErrNoCA) {
		caPEM, err = os.ReadFile(filepath.Join(cfg.StateDir, caFile))
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New("enroll: give central's CA with --ca FILE or --ca-fingerprint SHA256")
		}
	}
	if err != nil {
		return fmt.Errorf("enroll: CA: %w", err)
	}
	var (
		inv *proto.AgentInventory // sent with the request
		now time.Time             // when the enrollment was saved
	)
	id, resp, err := enroll.Run(ctx, enroll.Steps[*proto.EnrollResponse]{
		CAPEM:        caPEM,
		IdentityFile: filepath.Join(cfg.StateDir, identityFile),
		Post: func(ctx context.Context, roots *x509.CertPool, id enroll.Identity) (*proto.EnrollResponse, error) {
			inv = inventory.New("/", cfg.Hostname, logger).Collect(ctx)
			inv.History, _ = jobs.Installed(cfg.StateDir)
			dev := deviceID(inv.Hostname, time.Now())
			if old, err := loadEnrollment(cfg.StateDir); err == nil {
				dev = old.DeviceID
			}
			proof, err := id.Sign(proto.EnrollProof(cfg.Enroll.Token, dev, id.PeerID))
			if err != nil {
				return nil, err
			}
			cl, err := client.New(cfg.Server, roots, "")
			if err != nil {
				return nil, err
			}
			defer cl.CloseIdle()
			return cl.Enroll(ctx, &proto.EnrollRequest{
				Token: cfg.Enroll.Token, DeviceID: dev, PeerID: id.PeerID, PublicKey: id.PublicKey, Proof: proof,
				AgentVersion: cfg.Version, Inventory: inv,
			})
		},
		Answer: func(r *proto.EnrollResponse) enroll.Answer {
			return enroll.Answer{ManifestPublicKey: r.ManifestPublicKey, ManifestKeyID: r.ManifestKeyID, PeerRecord: r.PeerRecord}
		},
		Save: func(id enroll.Identity, mk ed25519.PublicKey, resp *proto.EnrollResponse) error {
			if err := statefile.WriteBytes(filepath.Join(cfg.StateDir, caFile), caPEM, 0o644); err != nil {
				return err
			}
			now = time.Now().UTC()
			e := &enrollment{Server: cfg.Server, ComputerID: resp.ComputerID, DeviceID: resp.DeviceID, PeerID: id.PeerID, Site: resp.Site,
				Secret: resp.Secret, ManifestKey: mk, ManifestKeyID: resp.ManifestKeyID, PeerRecord: resp.PeerRecord, RecordAt: now, EnrolledAt: now}
			return e.save(cfg.StateDir)
		},
	})
	if err != nil {
		return err
	}
	// The enrollment carried this inventory; the loop need not resend it.
	saveInventoryMark(cfg.StateDir, inventory.Fingerprint(inv), now, logger)
	logger.Info("enrolled", "component", "agent", "server", cfg.Server, "computer", resp.ComputerID, "device", resp.DeviceID, "peer", id.PeerID, "site", resp.Site)
	return nil
}
