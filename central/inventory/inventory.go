// Package inventory turns agent inventories into central's records: it maps
// the OCS wire sections onto the store's normalized tables, picks the
// computer's site from its address, and answers with the account info the
// agent must adopt. Record (record.go) holds the rules of every inventory,
// OCS or Shoal: finding the computer by device ID, the duplicate rule and
// the merge of duplicates, and the account info rule; EnrollAgent runs them
// inside a Shoal agent's enrollment.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Service ingests inventories.
type Service struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Service.
func New(st *store.Store, logger *slog.Logger) *Service {
	return &Service{store: st, log: logger.With("component", "inventory"), now: time.Now}
}

// Ingest stores an OCS inventory and returns the reply for the agent. It
// returns only after the inventory is committed.
func (s *Service) Ingest(ctx context.Context, inv *ocs.Inventory, userAgent string, remote netip.Addr) (*ocs.InventoryReply, error) {
	snap := Snapshot(inv, s.now())
	if err := s.bound(snap); err != nil {
		return nil, fmt.Errorf("ingest inventory of %s: %w", inv.DeviceID, err)
	}
	snap.Computer.UserAgent = userAgent
	snap.Computer.Source = store.SourceOCS
	// The OCS endpoint is anonymous: the store refuses reserved device
	// IDs and computers with a Shoal agent identity.
	snap.Anonymous, snap.Remote = true, remote.String()
	if site := s.siteOf(ctx, remote, inv.Hardware.IPAddr); site != nil {
		snap.Computer.SiteID = &site.ID
	}
	res, err := Record(ctx, s.store, snap)
	if err != nil {
		return nil, fmt.Errorf("ingest inventory of %s: %w", inv.DeviceID, err)
	}
	s.log.Info("inventory stored", "device", inv.DeviceID, "computer", res.ComputerID, "created", res.Created,
		"softwares", len(snap.Softwares), "account_update", res.AccountUpdate)
	reply := &ocs.InventoryReply{AccountUpdate: res.AccountUpdate}
	for _, a := range res.AccountInfo {
		reply.AccountInfo = append(reply.AccountInfo, ocs.AccountInfo{KeyName: a.KeyName, KeyValue: a.KeyValue})
	}
	return reply, nil
}

// bound applies Bound to snap and logs what it refused or cut.
func (s *Service) bound(snap *store.InventorySnapshot) error {
	cut, err := Bound(snap)
	if err != nil {
		s.log.Warn("inventory refused", "device", snap.Computer.DeviceID, "err", err)
		return err
	}
	if len(cut) > 0 {
		s.log.Warn("inventory fields cut", "device", snap.Computer.DeviceID, "fields", cut, "max_bytes", MaxTextBytes)
	}
	return nil
}

// siteOf finds the site of the connection's address, else of the address the
// inventory reports (an agent behind NAT reports its LAN address).
func (s *Service) siteOf(ctx context.Context, remote netip.Addr, reported string) *store.Site {
	cands := []netip.Addr{remote.Unmap()}
	if a, err := netip.ParseAddr(strings.TrimSpace(reported)); err == nil {
		cands = append(cands, a.Unmap())
	}
	for _, a := range cands {
		if !a.IsValid() {
			continue
		}
		site, err := s.store.SiteForIP(ctx, a)
		if err == nil {
			return site
		}
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("site lookup", "addr", a, "err", err)
		}
	}
	return nil
}

// Snapshot maps an OCS inventory onto the store's records.
func Snapshot(inv *ocs.Inventory, now time.Time) *store.InventorySnapshot {
	h, b := inv.Hardware, inv.BIOS
	snap := &store.InventorySnapshot{
		Computer: store.Computer{
			DeviceID: inv.DeviceID, Name: h.Name, Workgroup: h.Workgroup, OSName: h.OSName, OSVersion: h.OSVersion,
			OSComments: h.OSComments, Arch: arch(inv), ProcessorType: h.ProcessorType,
			ProcessorCount: int(ocs.Int(h.ProcessorCount)), MemoryMB: int(h.MemoryMB()), SwapMB: int(h.SwapMB()),
			IPAddr: h.IPAddr, DNS: h.DNS, Gateway: h.DefaultGateway, UUID: h.UUID, Description: h.Description,
			UserID: h.UserID, VMSystem: h.VMSystem, Serial: b.SystemSerial, FirstMAC: firstMAC(inv.Networks),
			Checksum: int(ocs.Int(h.Checksum)), LastInventory: now, LastContact: now,
		},
		BIOS: store.BIOS{
			SystemModel: b.SystemModel, SystemManufacturer: b.SystemManufacturer, SystemSerial: b.SystemSerial,
			BiosDate: b.BIOSDate, BiosVersion: b.BIOSVersion, BiosManufacturer: b.BIOSManufacturer,
			BoardManufacturer: b.BoardManufacturer, BoardSerial: b.BoardSerial, BoardModel: b.BoardModel,
			AssetTag: b.AssetTag, Type: b.Type,
		},
		History: inv.History,
	}
	for _, c := range inv.CPUs {
		snap.CPUs = append(snap.CPUs, store.CPU{
			Manufacturer: c.Manufacturer, Type: c.Type, SerialNumber: c.SerialNumber, Speed: c.Speed,
			CurrentSpeed: c.CurrentSpeed, Cores: c.Cores, LogicalCPUs: c.LogicalCPUs, Threads: c.Threads,
			CPUArch: c.CPUArch, DataWidth: c.DataWidth, L2CacheSize: c.L2CacheSize, Socket: c.Socket,
			NBSocket: c.NBSocket, Status: c.CPUStatus, Voltage: c.Voltage, HPT: c.HPT,
		})
	}
	for _, m := range inv.Memories {
		snap.Memories = append(snap.Memories, store.Memory{
			Caption: m.Caption, Description: m.Description, Capacity: m.Capacity, Type: m.Type, Speed: m.Speed,
			NumSlots: m.NumSlots, SerialNumber: m.SerialNumber, Manufacturer: m.Manufacturer,
			ErrorCorrectionType: m.ErrorCorrectionType,
		})
	}
	for _, d := range inv.Storages {
		if d == (ocs.Storage{}) {
			continue // the Unix agent sends empty <STORAGES></STORAGES>
		}
		snap.Storages = append(snap.Storages, store.Storage{
			Name: d.Name, Manufacturer: d.Manufacturer, Model: d.Model, Description: d.Description, Type: d.Type,
			DiskSize: d.DiskSize, SerialNumber: d.SerialNumber, Firmware: d.Firmware,
			SCSIChID: d.SCSIChID, SCSICoID: d.SCSICoID, SCSILun: d.SCSILun, SCSIUnID: d.SCSIUnID,
		})
	}
	for _, d := range inv.Drives {
		snap.Drives = append(snap.Drives, store.Drive{
			Letter: d.Letter, Type: d.Type, FileSystem: d.Filesystem, TotalMB: d.TotalMB(), FreeMB: d.FreeMB(),
			Label: d.Label, Volume: d.Volume, Serial: d.Serial, CreateDate: d.CreateDate,
		})
	}
	for _, n := range inv.Networks {
		snap.Networks = append(snap.Networks, store.Network{
			Description: n.Description, IPAddress: n.IPAddress, IPMask: n.IPMask, IPSubnet: n.IPSubnet,
			IPGateway: n.IPGateway, IPDHCP: n.IPDHCP, MACAddr: strings.ToLower(n.MACAddr), Status: n.Status,
			Type: n.Type, Speed: n.Speed, MTU: n.MTU, Driver: n.Driver, Virtual: n.VirtualDev,
		})
	}
	for _, sw := range inv.Softwares {
		if sw.Name == "" {
			continue
		}
		snap.Softwares = append(snap.Softwares, store.Software{
			Name: sw.Name, Version: sw.Version, Publisher: sw.Publisher, Architecture: sw.Architecture,
			InstallDate: sw.InstallDate, FileSize: sw.Size(), From: sw.From, Comments: sw.Comments, Folder: sw.Folder,
		})
	}
	for _, c := range inv.Controllers {
		snap.Controllers = append(snap.Controllers, store.Controller{
			Name: c.Name, Manufacturer: c.Manufacturer, Description: c.Description, Type: c.Type,
			Driver: c.Driver, PCIID: c.PCIID, PCISlot: c.PCISlot,
		})
	}
	for _, a := range inv.AccountInfo {
		if a.KeyName == "" {
			continue
		}
		snap.AccountInfo = append(snap.AccountInfo, store.AccountInfo{KeyName: a.KeyName, KeyValue: a.KeyValue})
	}
	return snap
}

func arch(inv *ocs.Inventory) string {
	if inv.Hardware.Arch != "" {
		return inv.Hardware.Arch
	}
	for _, c := range inv.CPUs {
		if c.CPUArch != "" {
			return c.CPUArch
		}
	}
	return ""
}

// firstMAC returns the first real MAC address, lower case, skipping loopback
// and all-zero addresses.
func firstMAC(nets []ocs.Network) string {
	for _, n := range nets {
		m := strings.ToLower(strings.TrimSpace(n.MACAddr))
		if m == "" || m == "00:00:00:00:00:00" {
			continue
		}
		return m
	}
	return ""
}
