package agentapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// Bounds on the rows one inventory may carry.
const (
	maxSoftwares = 100000
	maxRows      = 10000
)

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func capped[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// boundedSnapshot is snapshot with inventory.Bound applied: an identifying
// field over its bound refuses the inventory, a long text is cut (logged).
func (a *API) boundedSnapshot(inv *proto.AgentInventory, deviceID, version string, now time.Time) (*store.InventorySnapshot, error) {
	snap := snapshot(inv, deviceID, version, now)
	cut, err := inventory.Bound(snap)
	if err != nil {
		a.log.Warn("inventory refused", "device", deviceID, "err", err)
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if len(cut) > 0 {
		a.log.Warn("inventory fields cut", "device", deviceID, "fields", cut, "max_bytes", inventory.MaxTextBytes)
	}
	return snap, nil
}

// snapshot converts a Shoal inventory into the store's records, the same
// columns an OCS Unix agent inventory fills.
func snapshot(inv *proto.AgentInventory, deviceID, version string, now time.Time) *store.InventorySnapshot {
	b := inv.BIOS
	if version == "" {
		version = "dev"
	}
	snap := &store.InventorySnapshot{
		Computer: store.Computer{
			DeviceID: deviceID, Name: inv.Hostname, Workgroup: inv.Workgroup, OSName: inv.OSName, OSVersion: inv.OSVersion,
			OSComments: inv.OSComments, Arch: inv.Arch, ProcessorType: inv.ProcessorType, ProcessorCount: inv.ProcessorCount,
			MemoryMB: inv.MemoryMB, SwapMB: inv.SwapMB, IPAddr: inv.IPAddr, DNS: inv.DNS, Gateway: inv.Gateway, UUID: inv.UUID,
			Description: inv.Description, UserID: inv.UserID, VMSystem: inv.VMSystem, Serial: b.SystemSerial,
			UserAgent: "shoal-agent_v" + version, Source: store.SourceShoal, LastInventory: now, LastContact: now,
		},
		BIOS: store.BIOS{
			SystemModel: b.SystemModel, SystemManufacturer: b.SystemManufacturer, SystemSerial: b.SystemSerial,
			BiosDate: b.BiosDate, BiosVersion: b.BiosVersion, BiosManufacturer: b.BiosManufacturer,
			BoardManufacturer: b.BoardManufacturer, BoardSerial: b.BoardSerial, BoardModel: b.BoardModel,
			AssetTag: b.AssetTag, Type: b.Type,
		},
		History: capped(inv.History, maxRows),
	}
	for _, c := range capped(inv.CPUs, maxRows) {
		snap.CPUs = append(snap.CPUs, store.CPU{
			Manufacturer: c.Manufacturer, Type: c.Type, Speed: itoa(c.SpeedMHz), Cores: itoa(c.Cores),
			LogicalCPUs: itoa(c.LogicalCPUs), Threads: itoa(c.LogicalCPUs), CPUArch: c.Arch, DataWidth: itoa(c.DataWidth),
			L2CacheSize: c.L2Cache,
		})
	}
	for _, s := range capped(inv.Storages, maxRows) {
		snap.Storages = append(snap.Storages, store.Storage{
			Name: s.Name, Manufacturer: s.Manufacturer, Model: s.Model, Description: s.Type, Type: s.Type,
			DiskSize: strconv.FormatInt(s.SizeMB, 10), SerialNumber: s.SerialNumber,
		})
	}
	for _, d := range capped(inv.Drives, maxRows) {
		snap.Drives = append(snap.Drives, store.Drive{
			Type: d.MountPoint, FileSystem: d.FileSystem, TotalMB: d.TotalMB, FreeMB: d.FreeMB, Volume: d.Device,
		})
	}
	for _, n := range capped(inv.Networks, maxRows) {
		virtual := "0"
		if n.Virtual {
			virtual = "1"
		}
		snap.Networks = append(snap.Networks, store.Network{
			Description: n.Interface, IPAddress: n.IPAddress, IPMask: n.IPMask, IPSubnet: n.IPSubnet, IPGateway: n.Gateway,
			MACAddr: strings.ToLower(n.MAC), Status: n.Status, Type: n.Type, Speed: itoa(n.SpeedMbps), MTU: itoa(n.MTU), Virtual: virtual,
		})
	}
	for _, s := range capped(inv.Softwares, maxSoftwares) {
		if s.Name == "" {
			continue
		}
		snap.Softwares = append(snap.Softwares, store.Software{
			Name: s.Name, Version: s.Version, Publisher: s.Publisher, Architecture: s.Architecture,
			InstallDate: s.InstallDate, FileSize: s.SizeBytes, From: s.From, Comments: s.Comments,
		})
	}
	return snap
}
