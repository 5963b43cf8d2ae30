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
	if site := s.siteOf(ctx, remote, inv.Hardware.IPAddr, snap.Networks); site != nil {
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
// inventory reports (an agent behind NAT reports its LAN address), else of
// its interfaces' global addresses, IPv6 ones included, in the order sent.
func (s *Service) siteOf(ctx context.Context, remote netip.Addr, reported string, nets []store.Network) *store.Site {
	cands := []netip.Addr{remote.Unmap()}
	if a, err := netip.ParseAddr(strings.TrimSpace(reported)); err == nil {
		cands = append(cands, a.Unmap())
	}
	for _, n := range nets {
		a, err := netip.ParseAddr(strings.TrimSpace(n.IPAddress))
		if err == nil && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast() {
			cands = append(cands, a.Unmap())
		}
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

// Snapshot maps an OCS inventory onto the store's records. The agents
// differ in where they put the same fact, and Snapshot reads each one's way
// (proto/ocs/testdata holds a capture of each):
//   - OS version: FusionInventory and the GLPI agent send the kernel in
//     HARDWARE/OSVERSION and the distribution's version in
//     OPERATINGSYSTEM/VERSION, which wins; the kernel goes to KernelVersion.
//   - Architecture: HARDWARE/ARCH (Windows agent), else
//     OPERATINGSYSTEM/ARCH, else the first CPU's CPUARCH or ARCH.
//   - IPv6: FusionInventory sends NETWORKS/IPADDRESS6 (with IPMASK6,
//     IPSUBNET6) where the OCS agents send one entry per address; each
//     address becomes its own network row, as the OCS agents' do.
//   - CPU: FusionInventory's NAME, CORE, THREAD and ARCH fill TYPE, CORES,
//     THREADS and CPUARCH.
//   - The computer's MAC is PrimaryMAC's, not the first interface's.
//   - The GLPI agent's HARDWARE has no IPADDR, PROCESSORT or PROCESSORN:
//     the address is then the primary interface's (primaryIP), the
//     processor type the first CPU's and the count the number of CPUS.
//   - Windows: HARDWARE USERDOMAIN, WINCOMPANY, WINOWNER, WINPRODID and
//     WINPRODKEY are kept (the agents send " " for an unset owner).
//   - Software architecture: ARCHITECTURE (OCS agents), else ARCH
//     (FusionInventory, GLPI agent); a controller's PCI ID: PCIID, else
//     VENDORID:PRODUCTID.
func Snapshot(inv *ocs.Inventory, now time.Time) *store.InventorySnapshot {
	h, b, os := inv.Hardware, inv.BIOS, inv.OperatingSystem
	osVersion, kernel := h.OSVersion, os.KernelVersion
	if os.Version != "" {
		osVersion = os.Version
		if kernel == "" && h.OSVersion != os.Version {
			kernel = h.OSVersion
		}
	}
	osName := h.OSName
	if osName == "" {
		osName = first(os.FullName, os.Name)
	}
	snap := &store.InventorySnapshot{
		Computer: store.Computer{
			DeviceID: inv.DeviceID, Name: h.Name, Workgroup: h.Workgroup, OSName: osName, OSVersion: osVersion,
			KernelVersion: kernel, OSComments: h.OSComments, Arch: arch(inv), ProcessorType: h.ProcessorType,
			ProcessorCount: int(ocs.Int(h.ProcessorCount)), MemoryMB: int(h.MemoryMB()), SwapMB: int(h.SwapMB()),
			IPAddr: h.IPAddr, DNS: h.DNS, Gateway: h.DefaultGateway, UUID: h.UUID, Description: h.Description,
			UserID: h.UserID, LastLoggedUser: h.LastLoggedUser, VMSystem: h.VMSystem, Serial: b.SystemSerial,
			UserDomain: h.UserDomain, WinCompany: strings.TrimSpace(h.WinCompany), WinOwner: strings.TrimSpace(h.WinOwner),
			WinProdID: h.WinProdID, WinProdKey: h.WinProdKey,
			Checksum: int(ocs.Int(h.Checksum)), LastInventory: now, LastContact: now,
		},
		BIOS: store.BIOS{
			SystemModel: b.SystemModel, SystemManufacturer: b.SystemManufacturer, SystemSerial: b.SystemSerial,
			BiosDate: b.BIOSDate, BiosVersion: b.BIOSVersion, BiosManufacturer: b.BIOSManufacturer,
			BoardManufacturer: b.BoardManufacturer, BoardSerial: b.BoardSerial, BoardModel: b.BoardModel,
			AssetTag: b.AssetTag, Type: b.Type,
		},
		History: inv.History,
		// The Windows agent names its previous DEVICEID: that computer
		// is merged into this one.
		OldDeviceID: inv.OldDeviceID,
	}
	for _, c := range inv.CPUs {
		snap.CPUs = append(snap.CPUs, store.CPU{
			Manufacturer: c.Manufacturer, Type: first(c.Type, c.Name), SerialNumber: c.SerialNumber, Speed: c.Speed,
			CurrentSpeed: c.CurrentSpeed, Cores: first(c.Cores, c.Core), LogicalCPUs: c.LogicalCPUs,
			Threads: first(c.Threads, c.Thread), CPUArch: first(c.CPUArch, c.Arch), DataWidth: c.DataWidth,
			L2CacheSize: c.L2CacheSize, Socket: c.Socket, NBSocket: c.NBSocket, Status: c.CPUStatus,
			Voltage: c.Voltage, HPT: c.HPT,
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
		row := store.Network{
			Description: n.Description, IPAddress: n.IPAddress, IPMask: n.IPMask, IPSubnet: n.IPSubnet,
			IPGateway: n.IPGateway, IPDHCP: n.IPDHCP, MACAddr: strings.ToLower(n.MACAddr), Status: n.Status,
			Type: n.Type, Speed: n.Speed, MTU: n.MTU, Driver: n.Driver, Virtual: n.VirtualDev,
		}
		if n.IPAddress6 == "" {
			snap.Networks = append(snap.Networks, row)
			continue
		}
		if n.IPAddress != "" {
			snap.Networks = append(snap.Networks, row)
		}
		row.IPAddress, row.IPMask, row.IPSubnet, row.IPGateway = n.IPAddress6, n.IPMask6, n.IPSubnet6, ""
		snap.Networks = append(snap.Networks, row)
	}
	snap.Computer.FirstMAC = PrimaryMAC(snap.Networks, h.IPAddr)
	if snap.Computer.IPAddr == "" {
		snap.Computer.IPAddr = primaryIP(snap.Networks, snap.Computer.FirstMAC)
	}
	if snap.Computer.ProcessorType == "" && len(snap.CPUs) > 0 {
		snap.Computer.ProcessorType = snap.CPUs[0].Type
	}
	if snap.Computer.ProcessorCount == 0 {
		snap.Computer.ProcessorCount = len(snap.CPUs)
	}
	for _, sw := range inv.Softwares {
		if sw.Name == "" {
			continue
		}
		snap.Softwares = append(snap.Softwares, store.Software{
			Name: sw.Name, Version: sw.Version, Publisher: sw.Publisher, Architecture: first(sw.Architecture, sw.Arch),
			InstallDate: sw.InstallDate, FileSize: sw.Size(), From: sw.From, Comments: sw.Comments, Folder: sw.Folder,
		})
	}
	for _, c := range inv.Controllers {
		snap.Controllers = append(snap.Controllers, store.Controller{
			Name: c.Name, Manufacturer: c.Manufacturer, Description: c.Description, Type: c.Type,
			Driver: c.Driver, PCIID: c.ID(), PCISlot: c.PCISlot,
		})
	}
	for _, m := range inv.Monitors {
		if m == (ocs.Monitor{}) {
			continue
		}
		snap.Monitors = append(snap.Monitors, store.Monitor{
			Name: m.Name, Manufacturer: m.Manufacturer, Caption: m.Caption, Description: m.Description,
			Type: m.Type, Serial: first(m.Serial, m.AltSerial), Port: m.Port,
		})
	}
	for _, p := range inv.Printers {
		if p == (ocs.Printer{}) {
			continue
		}
		snap.Printers = append(snap.Printers, store.Printer{
			Name: p.Name, Driver: p.Driver, Port: p.Port, Description: p.Description, ServerName: p.ServerName,
			ShareName: p.ShareName, Resolution: p.Resolution, Comment: p.Comment, Shared: p.Shared,
			Network: p.Network, Serial: p.Serial, Status: p.Status,
		})
	}
	for _, v := range inv.Videos {
		if v == (ocs.Video{}) {
			continue
		}
		snap.Videos = append(snap.Videos, store.Video{
			Name: v.Name, Chipset: v.Chipset, MemoryMB: ocs.Int(v.Memory), Resolution: v.Resolution, PCISlot: v.PCISlot,
		})
	}
	for _, u := range inv.LocalUsers {
		if u.Login == "" && u.Name == "" {
			continue
		}
		snap.LocalUsers = append(snap.LocalUsers, store.LocalUser{
			Login: u.Login, Name: u.Name, UID: u.UID(), GID: u.GID, Home: u.Home, Shell: u.Shell,
		})
	}
	if snap.Computer.UserID == "" {
		// FusionInventory sends the logged-on users as USERS entries only.
		var logins []string
		for _, u := range inv.Users {
			if u.Login != "" {
				logins = append(logins, u.Login)
			}
		}
		snap.Computer.UserID = strings.Join(logins, "/")
	}
	for _, a := range inv.AccountInfo {
		if a.KeyName == "" {
			continue
		}
		snap.AccountInfo = append(snap.AccountInfo, store.AccountInfo{KeyName: a.KeyName, KeyValue: a.KeyValue})
	}
	return snap
}

// first returns the first non-empty value.
func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// arch returns the computer's architecture: HARDWARE/ARCH (Windows agent),
// OPERATINGSYSTEM/ARCH (FusionInventory, GLPI agent), else the first CPU's.
// The OS's wins over the CPU's: FusionInventory 2.6 reports CPUS/ARCH
// "i386" for an x86_64 system.
func arch(inv *ocs.Inventory) string {
	if a := first(inv.Hardware.Arch, inv.OperatingSystem.Arch); a != "" {
		return a
	}
	for _, c := range inv.CPUs {
		if a := first(c.CPUArch, c.Arch); a != "" {
			return a
		}
	}
	return ""
}
