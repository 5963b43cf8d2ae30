package inventory

import (
	"strconv"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// This file holds the computer-row part of the change history: what an
// inventory changed in the facts the computer row keeps (name, OS,
// hardware, address, site). The store records the software part itself
// (installed, removed, upgraded), from the rows it rewrites anyway, so the
// history costs an ingest no extra read.

// computerChanges returns the history entries for what c (the new row)
// changed in old, dated at.
func computerChanges(old *store.Computer, c *store.Computer, at time.Time) []store.HistoryEntry {
	var out []store.HistoryEntry
	add := func(kind, subject, o, n string) {
		if o == n {
			return
		}
		out = append(out, store.HistoryEntry{ComputerID: old.ID, At: at, Kind: kind, Subject: subject, Old: o, New: n})
	}
	add(store.ChangeName, "name", old.Name, c.Name)
	add(store.ChangeOS, "os_name", old.OSName, c.OSName)
	add(store.ChangeOS, "os_version", old.OSVersion, c.OSVersion)
	add(store.ChangeOS, "arch", old.Arch, c.Arch)
	add(store.ChangeHardware, "processor", old.ProcessorType, c.ProcessorType)
	add(store.ChangeHardware, "processors", itoa(old.ProcessorCount), itoa(c.ProcessorCount))
	add(store.ChangeHardware, "memory_mb", itoa(old.MemoryMB), itoa(c.MemoryMB))
	add(store.ChangeHardware, "serial", old.Serial, c.Serial)
	add(store.ChangeNetwork, "ip", old.IPAddr, c.IPAddr)
	add(store.ChangeNetwork, "mac", old.FirstMAC, c.FirstMAC)
	add(store.ChangeSite, "site", siteText(old.SiteID), siteText(c.SiteID))
	return out
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// siteText is a site ID as the history keeps it ("" for none).
func siteText(id *uint) string {
	if id == nil {
		return ""
	}
	return strconv.FormatUint(uint64(*id), 10)
}
