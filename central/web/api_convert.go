package web

import (
	"time"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// This file converts store models and service results into the API's wire
// types (proto/api). Every API answer goes through one of these functions,
// so a store model never reaches the wire as it is.

// timePtr returns t in UTC, or nil for the zero time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return timePtr(*t)
}

// siteNames maps site IDs to names for the conversions below.
type siteNames map[uint]string

func (n siteNames) of(id *uint) string {
	if id == nil {
		return ""
	}
	return n[*id]
}

func toAPIComputer(c *store.Computer, sites siteNames) api.Computer {
	return api.Computer{
		ID: c.ID, DeviceID: c.DeviceID, Name: c.Name, Workgroup: c.Workgroup, OSName: c.OSName, OSVersion: c.OSVersion,
		Arch: c.Arch, IPAddr: c.IPAddr, Serial: c.Serial, MAC: c.FirstMAC, ProcessorType: c.ProcessorType,
		ProcessorCount: c.ProcessorCount, MemoryMB: c.MemoryMB, UserID: c.UserID, UserAgent: c.UserAgent,
		Source: c.Source, SiteID: c.SiteID, SiteName: sites.of(c.SiteID), Revoked: c.Revoked,
		FirstSeen: timePtr(c.FirstSeen), LastInventory: timePtr(c.LastInventory), LastContact: timePtr(c.LastContact),
	}
}

func toAPIComputers(cs []store.Computer, sites siteNames) []api.Computer {
	out := make([]api.Computer, len(cs))
	for i := range cs {
		out[i] = toAPIComputer(&cs[i], sites)
	}
	return out
}

// convertAll converts a slice element by element.
func convertAll[S, D any](in []S, f func(*S) D) []D {
	out := make([]D, len(in))
	for i := range in {
		out[i] = f(&in[i])
	}
	return out
}

func toAPIComputerDetail(d *store.ComputerDetail, deps []store.DeploymentRow, sites siteNames) api.ComputerDetail {
	c := &d.Computer
	out := api.ComputerDetail{
		Computer:   toAPIComputer(c, sites),
		OSComments: c.OSComments, SwapMB: c.SwapMB, DNS: c.DNS, Gateway: c.Gateway, UUID: c.UUID,
		Description: c.Description, VMSystem: c.VMSystem, KernelVersion: c.KernelVersion, LastLoggedUser: c.LastLoggedUser,
		UserDomain: c.UserDomain, WinCompany: c.WinCompany, WinOwner: c.WinOwner, WinProdID: c.WinProdID, WinProdKey: c.WinProdKey,
		CPUs: convertAll(d.CPUs, func(x *store.CPU) api.CPU {
			return api.CPU{Manufacturer: x.Manufacturer, Type: x.Type, Speed: x.Speed, Cores: x.Cores,
				LogicalCPUs: x.LogicalCPUs, Arch: x.CPUArch, Socket: x.Socket}
		}),
		Memories: convertAll(d.Memories, func(x *store.Memory) api.Memory {
			return api.Memory{Caption: x.Caption, Description: x.Description, Capacity: x.Capacity, Type: x.Type,
				Speed: x.Speed, NumSlots: x.NumSlots, SerialNumber: x.SerialNumber}
		}),
		Storages: convertAll(d.Storages, func(x *store.Storage) api.Storage {
			return api.Storage{Name: x.Name, Manufacturer: x.Manufacturer, Model: x.Model, Description: x.Description,
				Type: x.Type, DiskSize: x.DiskSize, SerialNumber: x.SerialNumber}
		}),
		Drives: convertAll(d.Drives, func(x *store.Drive) api.Drive {
			return api.Drive{Letter: x.Letter, MountPoint: x.Type, FileSystem: x.FileSystem, TotalMB: x.TotalMB,
				FreeMB: x.FreeMB, Label: x.Label, Volume: x.Volume}
		}),
		Networks: convertAll(d.Networks, func(x *store.Network) api.Network {
			return api.Network{Description: x.Description, IPAddress: x.IPAddress, IPMask: x.IPMask, IPSubnet: x.IPSubnet,
				IPGateway: x.IPGateway, IPDHCP: x.IPDHCP, MACAddr: x.MACAddr, Status: x.Status, Type: x.Type, Speed: x.Speed}
		}),
		Softwares: convertAll(d.Softwares, func(x *store.Software) api.Software {
			return api.Software{Name: x.Name, Version: x.Version, Publisher: x.Publisher, Architecture: x.Architecture,
				InstallDate: x.InstallDate, From: x.From}
		}),
		Controllers: convertAll(d.Controllers, func(x *store.Controller) api.Controller {
			return api.Controller{Name: x.Name, Manufacturer: x.Manufacturer, Type: x.Type, Driver: x.Driver, PCIID: x.PCIID}
		}),
		Monitors: convertAll(d.Monitors, func(x *store.Monitor) api.Monitor {
			return api.Monitor{Name: x.Name, Manufacturer: x.Manufacturer, Caption: x.Caption, Description: x.Description,
				Type: x.Type, Serial: x.Serial}
		}),
		Printers: convertAll(d.Printers, func(x *store.Printer) api.Printer {
			return api.Printer{Name: x.Name, Driver: x.Driver, Port: x.Port, Description: x.Description,
				ServerName: x.ServerName, ShareName: x.ShareName, Network: x.Network}
		}),
		Videos: convertAll(d.Videos, func(x *store.Video) api.Video {
			return api.Video{Name: x.Name, Chipset: x.Chipset, MemoryMB: x.MemoryMB, Resolution: x.Resolution}
		}),
		LocalUsers: convertAll(d.LocalUsers, func(x *store.LocalUser) api.LocalUser {
			return api.LocalUser{Login: x.Login, Name: x.Name, UID: x.UID, GID: x.GID, Home: x.Home, Shell: x.Shell}
		}),
		AccountInfo: make(map[string]string, len(d.AccountInfo)),
		History:     append([]string{}, d.History...),
		Deployments: toAPIDeployments(deps, sites),
	}
	if b := d.BIOS; b != nil {
		out.BIOS = &api.BIOS{SystemModel: b.SystemModel, SystemManufacturer: b.SystemManufacturer, SystemSerial: b.SystemSerial,
			BiosDate: b.BiosDate, BiosVersion: b.BiosVersion, BiosManufacturer: b.BiosManufacturer,
			BoardManufacturer: b.BoardManufacturer, BoardSerial: b.BoardSerial, BoardModel: b.BoardModel,
			AssetTag: b.AssetTag, Type: b.Type}
	}
	for _, a := range d.AccountInfo {
		out.AccountInfo[a.KeyName] = a.KeyValue
	}
	return out
}

func toAPIPackage(p *store.Package) api.Package {
	return api.Package{
		ID: p.ID, Name: p.Name, Description: p.Description, Platform: p.Platform, Action: p.Action,
		Command: p.Command, Path: p.Path, LaunchName: p.LaunchName, Priority: p.Priority, Size: p.Size,
		MD5: p.MD5, SHA256: p.SHA256, OCSFragmentCount: p.OCSFragments, FragmentSize: p.FragmentSize,
		FragmentCount: p.ShoalFragments, NotifyUser: p.NotifyUser, NotifyText: p.NotifyText,
		NotifyCountdown: p.NotifyCountdown, NotifyCanAbort: p.NotifyCanAbort, NotifyCanDelay: p.NotifyCanDelay,
		NeedDoneAction: p.NeedDoneAction, NeedDoneActionText: p.NeedDoneActionText, ManifestKeyID: p.ManifestKeyID,
		Active: p.Active, InfoLoc: p.InfoLoc, PackLoc: p.PackLoc, Proto: p.Proto, ActivatedAt: utcPtr(p.ActivatedAt),
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}
}

func toAPIFragments(fs []proto.Fragment) []api.Fragment {
	return convertAll(fs, func(f *proto.Fragment) api.Fragment {
		return api.Fragment{Index: f.Index, Offset: f.Offset, Size: f.Size, CID: f.CID}
	})
}

func toAPIDownloads(st PackageStats) api.DownloadStats {
	return api.DownloadStats{Bytes: st.Bytes, Requests: st.Requests, Fragments: st.Fragments, Info: st.Info}
}

func toAPICheck(r *packages.CheckReport, skipped bool) api.AvailabilityCheck {
	if r == nil {
		return api.AvailabilityCheck{Skipped: skipped, OK: skipped}
	}
	return api.AvailabilityCheck{OK: r.OK, Skipped: skipped, InfoURL: r.InfoURL, FragmentsChecked: r.FragmentsChecked,
		Problems: append([]string(nil), r.Problems...)}
}

func toAPIDeployment(d *store.DeploymentRow, sites siteNames) api.Deployment {
	return api.Deployment{
		ID: d.ID, ComputerID: d.ComputerID, ComputerName: d.ComputerName, SiteID: d.SiteID, SiteName: sites.of(d.SiteID),
		PackageID: d.PackageID, PackageName: d.PackageName, State: d.State, ResultCode: d.ResultCode, ResultHelp: api.CodeHelp(d.ResultCode), Force: d.Force,
		Attempts: d.Attempts, FragmentsDone: d.FragmentsDone, FragmentsTotal: d.FragmentsTotal,
		BytesPeer: d.BytesPeer, BytesRelay: d.BytesRelay, BytesCentral: d.BytesCentral,
		NotifiedAt: utcPtr(d.NotifiedAt), FinishedAt: utcPtr(d.FinishedAt),
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

func toAPIDeployments(rows []store.DeploymentRow, sites siteNames) []api.Deployment {
	out := make([]api.Deployment, len(rows))
	for i := range rows {
		out[i] = toAPIDeployment(&rows[i], sites)
	}
	return out
}

func toAPIEvent(e *store.DeploymentEvent) api.DeploymentEvent {
	return api.DeploymentEvent{ID: e.ID, DeploymentID: e.DeploymentID, At: e.At.UTC(), FromState: e.FromState,
		ToState: e.ToState, Code: e.Code, Detail: e.Detail}
}

func toAPISite(s *store.Site, computers int64) api.Site {
	cidrs := make([]string, len(s.CIDRs))
	for i, c := range s.CIDRs {
		cidrs[i] = c.CIDR
	}
	return api.Site{ID: s.ID, Name: s.Name, Description: s.Description, CIDRs: cidrs, FragmentLocation: s.FragmentLocation, TimeZone: s.TimeZone, OCSTimings: s.OCSTimings, Window: s.Window,
		Computers: computers, CreatedAt: timePtr(s.CreatedAt), UpdatedAt: timePtr(s.UpdatedAt)}
}

func toAPIToken(t *store.APIToken) api.Token {
	return api.Token{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: timePtr(t.CreatedAt),
		ExpiresAt: utcPtr(t.ExpiresAt), LastUsed: utcPtr(t.LastUsed), Revoked: t.Revoked}
}

func toAPIAudit(e *store.AuditEvent) api.AuditEvent {
	return api.AuditEvent{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Detail: e.Detail, Remote: e.Remote}
}

// toAPISettings and fromAPISettings convert the agent timings.
func toAPISettings(c deploy.Config) api.Settings {
	d := c.Download
	return api.Settings{
		PrologFreqHours: c.PrologFreqHours, InventoryFrequencyDays: c.InventoryFrequencyDays,
		InventoryOnStartup: c.InventoryOnStartup,
		Download: api.DownloadSettings{Disabled: d.Disabled, CycleLatency: d.CycleLatency, FragLatency: d.FragLatency,
			PeriodLatency: d.PeriodLatency, PeriodLength: d.PeriodLength, TimeoutDays: d.TimeoutDays,
			ExecutionTimeoutMins: d.ExecutionTimeoutMins},
	}
}

func fromAPISettings(s api.Settings) deploy.Config {
	d := s.Download
	return deploy.Config{
		PrologFreqHours: s.PrologFreqHours, InventoryFrequencyDays: s.InventoryFrequencyDays,
		InventoryOnStartup: s.InventoryOnStartup,
		Download: deploy.DownloadConfig{Disabled: d.Disabled, CycleLatency: d.CycleLatency, FragLatency: d.FragLatency,
			PeriodLatency: d.PeriodLatency, PeriodLength: d.PeriodLength, TimeoutDays: d.TimeoutDays,
			ExecutionTimeoutMins: d.ExecutionTimeoutMins},
	}
}
