// Package storetest opens real stores for tests (a SQLite file in
// t.TempDir(), or a throw-away PostgreSQL schema when
// SHOAL_TEST_POSTGRES_DSN is set) and builds inventory fixtures.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	// The pgx database/sql driver is registered for the schema setup of
	// OpenPostgres; store itself reaches PostgreSQL through gorm.
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/shoal-project/shoal/central/store"
)

// PostgresEnv names the environment variable holding the DSN of a
// PostgreSQL database that tests may create schemas in.
const PostgresEnv = "SHOAL_TEST_POSTGRES_DSN"

// Open returns a store on a fresh SQLite file in t.TempDir(), closed when
// the test ends.
func Open(t testing.TB) *store.Store {
	t.Helper()
	return OpenIn(t, t.TempDir(), Logger(t))
}

// OpenIn returns a store on a fresh SQLite file in dir (dir/shoal.db, as
// store.Open names it), logging to logger and closed when the test ends.
//
// The file is a copy of a database migrated once per test binary, so a
// test pays for store.Open's check that nothing is pending instead of every
// migration (about a tenth of central/web's CPU under the race detector
// when each test migrated its own file). store.Open still runs on the
// copy, exactly as central runs it on an existing database; the migration
// tests themselves call store.Open on empty directories.
func OpenIn(t testing.TB, dir string, logger *slog.Logger) *store.Store {
	t.Helper()
	files, err := migratedFiles(t)
	if err != nil {
		t.Fatalf("storetest: migrate template: %v", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatalf("storetest: %v", err)
		}
	}
	s, err := store.Open(context.Background(), store.Config{}, dir, logger)
	if err != nil {
		t.Fatalf("storetest: open sqlite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
	})
	return s
}

// migrated holds the files of a SQLite database that store.Open created and
// migrated (the database file and its WAL, if closing left one), made once
// per test binary in the first caller's t.TempDir().
var migrated struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

func migratedFiles(t testing.TB) (map[string][]byte, error) {
	migrated.once.Do(func() {
		dir := t.TempDir()
		s, err := store.Open(context.Background(), store.Config{}, dir, slog.New(slog.DiscardHandler))
		if err != nil {
			migrated.err = err
			return
		}
		if err := s.Close(); err != nil {
			migrated.err = err
			return
		}
		files := map[string][]byte{}
		for _, name := range []string{store.DBFile, store.DBFile + "-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, os.ErrNotExist) && name != store.DBFile {
				continue
			}
			if err != nil {
				migrated.err = err
				return
			}
			files[name] = b
		}
		migrated.files = files
	})
	return migrated.files, migrated.err
}

// OpenPostgres returns a store on a new schema of the database named by
// SHOAL_TEST_POSTGRES_DSN, dropped when the test ends. It skips the test when
// the variable is not set.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{Driver: store.DriverPostgres, DSN: PostgresDSN(t)}, "", Logger(t))
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
	})
	return s
}

// PostgresDSN creates a new, empty schema in the database named by
// SHOAL_TEST_POSTGRES_DSN, dropped when the test ends, and returns a DSN
// whose search_path is that schema. It skips the test when the variable is
// not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skipf("storetest: %s not set; skipping PostgreSQL", PostgresEnv)
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("storetest: postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	schema := "shoal_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(dsn, schema)
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// ForEachBackend runs fn as the subtest "sqlite" on a SQLite store and as
// "postgres" on a PostgreSQL store (skipped unless SHOAL_TEST_POSTGRES_DSN
// is set).
func ForEachBackend(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, Open(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres(t)) })
}

// Logger returns a logger that writes warnings and errors to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var deviceDate = regexp.MustCompile(`-\d{4}(-\d{2}){5}$`)

// Snapshot returns a plausible OCS inventory of a Linux computer with the
// given number of software entries. Name is the host part of deviceID;
// serial, MAC and address are derived from deviceID, so different IDs never
// look like duplicates. The account info holds TAG=lab.
func Snapshot(deviceID string, softwares int) *store.InventorySnapshot {
	name := deviceDate.ReplaceAllString(deviceID, "")
	h := fnv.New32a()
	h.Write([]byte(deviceID))
	sum := h.Sum32()
	b := []byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}
	ip := fmt.Sprintf("10.%d.%d.%d", b[1], b[2], b[3]|1)
	mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[1], b[2], b[3])
	serial := fmt.Sprintf("SN%08X", sum)
	at := time.Date(2026, 11, 24, 7, 24, 8, 0, time.UTC)

	snap := &store.InventorySnapshot{
		Computer: store.Computer{
			DeviceID: deviceID, Name: name, Workgroup: "example.org",
			OSName: "Debian GNU/Linux 12 (bookworm)", OSVersion: "6.1.0-27-amd64",
			OSComments: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1", Arch: "x86_64",
			ProcessorType: "AMD EPYC 7B13", ProcessorCount: 2, MemoryMB: 7940, SwapMB: 975,
			IPAddr: ip, DNS: "10.0.0.2", Gateway: "10.0.0.1", UUID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", sum),
			UserID: "root", Checksum: 1572863, UserAgent: "OCS-NG_unified_unix_agent_v2.10.0",
			LastInventory: at,
		},
		BIOS: store.BIOS{
			SystemModel: "Standard PC (Q35 + ICH9, 2009)", SystemManufacturer: "QEMU", SystemSerial: serial,
			BiosDate: "04/01/2014", BiosVersion: "1.16.2-debian-1.16.2-1", BiosManufacturer: "SeaBIOS",
			Type: "Other",
		},
		CPUs: []store.CPU{
			{Manufacturer: "AMD", Type: "AMD EPYC 7B13", Speed: "2450", Cores: "1", LogicalCPUs: "1", CPUArch: "x86_64", Socket: "0"},
			{Manufacturer: "AMD", Type: "AMD EPYC 7B13", Speed: "2450", Cores: "1", LogicalCPUs: "1", CPUArch: "x86_64", Socket: "1"},
		},
		Memories: []store.Memory{
			{Caption: "DIMM 0", Description: "RAM", Capacity: "4096", Type: "RAM", NumSlots: "1"},
			{Caption: "DIMM 1", Description: "RAM", Capacity: "4096", Type: "RAM", NumSlots: "2"},
		},
		Storages: []store.Storage{
			{Name: "vda", Manufacturer: "Virtio", Model: "virtio disk", Description: "disk", Type: "disk", DiskSize: "51200"},
		},
		Drives: []store.Drive{
			{Type: "/", FileSystem: "ext4", TotalMB: 50000, FreeMB: 31000, Volume: "/dev/vda1"},
			{Type: "/boot/efi", FileSystem: "vfat", TotalMB: 511, FreeMB: 500, Volume: "/dev/vda15"},
			{Type: "/run", FileSystem: "tmpfs", TotalMB: 794, FreeMB: 793, Volume: "tmpfs"},
		},
		Networks: []store.Network{
			{Description: "eth0", IPAddress: ip, IPMask: "255.255.0.0", IPSubnet: fmt.Sprintf("10.%d.0.0", b[1]),
				IPGateway: "10.0.0.1", IPDHCP: "10.0.0.1", MACAddr: strings.ToUpper(mac), Status: "Up",
				Type: "ethernet", Speed: "1000", MTU: "1500", Driver: "virtio_net", Virtual: "0"},
			{Description: "lo", IPAddress: "127.0.0.1", IPMask: "255.0.0.0", Status: "Up", Type: "loopback", Virtual: "1"},
		},
		Controllers: []store.Controller{
			{Name: "82G33/G31/P35/P31 Express DRAM Controller", Manufacturer: "Intel Corporation", Type: "Host bridge", PCIID: "8086:29c0", PCISlot: "00:00.0"},
			{Name: "Virtio network device", Manufacturer: "Red Hat, Inc.", Type: "Ethernet controller", Driver: "virtio-pci", PCIID: "1af4:1000", PCISlot: "00:02.0"},
			{Name: "82801IR/IO/IH SATA Controller", Manufacturer: "Intel Corporation", Type: "SATA controller", Driver: "ahci", PCIID: "8086:2922", PCISlot: "00:1f.2"},
		},
		AccountInfo: []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: "lab"}},
	}
	snap.Softwares = make([]store.Software, softwares)
	for i := range snap.Softwares {
		snap.Softwares[i] = store.Software{
			Name: fmt.Sprintf("pkg-%04d", i), Version: fmt.Sprintf("1.%d.%d-1", i%17, i%5),
			Publisher: "Debian Maintainers <debian@example.org>", Architecture: "amd64",
			InstallDate: "2026/11/20 10:00:00", FileSize: int64(1024 * (i + 1)), From: "deb",
			Comments: "A package used as an inventory fixture for the Shoal store tests",
		}
	}
	return snap
}

// EnrollRelay enrolls r as an admin would let it: it mints a single-use
// relay token bound to r's site and name, then enrolls r with it. It fails
// the test on any error.
func EnrollRelay(t testing.TB, s *store.Store, r *store.Relay, now time.Time) {
	t.Helper()
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	hash := hex.EncodeToString(append(raw[:], raw[:]...))
	site := r.SiteID
	tok := &store.EnrollmentToken{Name: "relay " + r.Name, Hash: hash, Kind: store.TokenKindRelay, SiteID: &site, RelayName: r.Name}
	if err := s.CreateEnrollmentToken(context.Background(), tok); err != nil {
		t.Fatalf("storetest: relay token for %s: %v", r.Name, err)
	}
	if err := s.EnrollRelay(context.Background(), hash, r, now); err != nil {
		t.Fatalf("storetest: enroll relay %s: %v", r.Name, err)
	}
}

// DeploymentOf returns the one deployment of pkg on computerID, failing
// the test unless there is exactly one.
func DeploymentOf(t testing.TB, s *store.Store, computerID uint, pkg string) store.Deployment {
	t.Helper()
	deps, _, err := s.ListDeployments(t.Context(), store.DeploymentFilter{ComputerID: computerID, PackageID: pkg})
	if err != nil || len(deps) != 1 {
		t.Fatalf("ListDeployments(%d, %s) = %v, %v; want one", computerID, pkg, deps, err)
	}
	return deps[0]
}
