package ocs

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// parseContent reads the CONTENT element just opened. It always records
// CONTENT/DEVICEID (the envelope's fallback); with a non-nil inv it also
// fills the inventory sections, otherwise it skips them.
func parseContent(r *reader, start xml.StartElement, inv *Inventory, deviceID *string) error {
	for _, a := range start.Attr {
		if localName(a.Name) == "DEVICEID" && *deviceID == "" {
			*deviceID = strings.TrimSpace(a.Value)
		}
	}
	d := r.depth()
	for {
		c, ok, err := r.child(d)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		name := localName(c.Name)
		switch {
		case name == "DEVICEID":
			v, err := r.text()
			if err != nil {
				return err
			}
			if *deviceID == "" {
				*deviceID = v
			}
		case inv == nil:
			if err := r.skip(); err != nil {
				return err
			}
		default:
			if err := parseSection(r, c, name, inv); err != nil {
				return err
			}
		}
	}
}

// parseSection reads one child element of CONTENT into inv.
func parseSection(r *reader, c xml.StartElement, name string, inv *Inventory) error {
	switch name {
	case "HARDWARE":
		return r.recordInto(c, &inv.Hardware)
	case "BIOS":
		return r.recordInto(c, &inv.BIOS)
	case "CPUS":
		return appendRecord(r, c, &inv.CPUs)
	case "MEMORIES":
		return appendRecord(r, c, &inv.Memories)
	case "STORAGES":
		return appendRecord(r, c, &inv.Storages)
	case "DRIVES":
		return appendRecord(r, c, &inv.Drives)
	case "NETWORKS":
		return appendRecord(r, c, &inv.Networks)
	case "SOFTWARES":
		return appendRecord(r, c, &inv.Softwares)
	case "CONTROLLERS":
		return appendRecord(r, c, &inv.Controllers)
	case "ACCOUNTINFO":
		return appendRecord(r, c, &inv.AccountInfo)
	case "OPERATINGSYSTEM":
		return r.recordInto(c, &inv.OperatingSystem)
	case "MONITORS":
		return appendRecord(r, c, &inv.Monitors)
	case "PRINTERS":
		return appendRecord(r, c, &inv.Printers)
	case "VIDEOS":
		return appendRecord(r, c, &inv.Videos)
	case "LOCAL_USERS":
		return appendRecord(r, c, &inv.LocalUsers)
	case "USERS":
		return appendRecord(r, c, &inv.Users)
	case "OLD_DEVICEID":
		v, err := r.text()
		if err == nil && inv.OldDeviceID == "" {
			inv.OldDeviceID = v
		}
		return err
	case "DOWNLOAD":
		return parseDownloadHistory(r, inv)
	}
	return r.skip()
}

// appendRecord appends a zero entry to list and reads the element just opened
// into it.
func appendRecord[T any](r *reader, c xml.StartElement, list *[]T) error {
	var zero T
	*list = append(*list, zero)
	return r.recordInto(c, &(*list)[len(*list)-1])
}

// parseDownloadHistory reads CONTENT/DOWNLOAD: the IDs of HISTORY/PACKAGE
// (attribute, or child element as a fallback), once each in the order sent,
// and the OLD_DEVICEID that some Windows agents put inside HISTORY.
func parseDownloadHistory(r *reader, inv *Inventory) error {
	seen := make(map[string]bool, len(inv.History))
	for _, id := range inv.History {
		seen[id] = true
	}
	dl := r.depth()
	for {
		h, ok, err := r.child(dl)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if localName(h.Name) != "HISTORY" {
			if err := r.skip(); err != nil {
				return err
			}
			continue
		}
		hd := r.depth()
		for {
			p, ok, err := r.child(hd)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch localName(p.Name) {
			case "PACKAGE":
				var id string
				err := r.record(p, func(name, value string) {
					if name == "ID" && id == "" {
						id = value
					}
				})
				if err != nil {
					return err
				}
				if id != "" && !seen[id] {
					seen[id] = true
					inv.History = append(inv.History, id)
				}
			case "OLD_DEVICEID":
				v, err := r.text()
				if err != nil {
					return err
				}
				if inv.OldDeviceID == "" {
					inv.OldDeviceID = v
				}
			default:
				if err := r.skip(); err != nil {
					return err
				}
			}
		}
	}
}

// The wire form of an inventory request, in the Unix agent's layout
// (sections sorted by name).
type (
	wireInventory struct {
		XMLName  xml.Name    `xml:"REQUEST"`
		Content  wireContent `xml:"CONTENT"`
		DeviceID string      `xml:"DEVICEID"`
		Query    string      `xml:"QUERY"`
	}
	wireContent struct {
		AccountInfo []AccountInfo `xml:"ACCOUNTINFO"`
		BIOS        BIOS          `xml:"BIOS"`
		Controllers []Controller  `xml:"CONTROLLERS"`
		CPUs        []CPU         `xml:"CPUS"`
		Download    wireDownload  `xml:"DOWNLOAD"`
		Drives      []Drive       `xml:"DRIVES"`
		Hardware    Hardware      `xml:"HARDWARE"`
		LocalUsers  []LocalUser   `xml:"LOCAL_USERS"`
		Memories    []Memory      `xml:"MEMORIES"`
		Monitors    []Monitor     `xml:"MONITORS"`
		Networks    []Network     `xml:"NETWORKS"`
		OldDeviceID string        `xml:"OLD_DEVICEID,omitempty"`
		// OS is written only when set: the OCS agents send no
		// OPERATINGSYSTEM.
		OS        *OperatingSystem `xml:"OPERATINGSYSTEM,omitempty"`
		Printers  []Printer        `xml:"PRINTERS"`
		Softwares []Software       `xml:"SOFTWARES"`
		Storages  []Storage        `xml:"STORAGES"`
		Users     []User           `xml:"USERS"`
		Videos    []Video          `xml:"VIDEOS"`
	}
	wireDownload struct {
		Packages []wirePackage `xml:"HISTORY>PACKAGE"`
	}
	wirePackage struct {
		ID string `xml:"ID,attr"`
	}
)

// Marshal writes inv as a complete QUERY=INVENTORY request (uncompressed),
// laid out like the Unix agent's: an XML declaration, CONTENT with the
// sections sorted by name, then DEVICEID and QUERY. It is meant for agents
// and test agents; ParseInventory reads it back unchanged.
func (inv *Inventory) Marshal() ([]byte, error) {
	if !ValidDeviceID(inv.DeviceID) {
		return nil, fmt.Errorf("marshal inventory: deviceid %q: %w", truncate(inv.DeviceID, 80), ErrDeviceID)
	}
	w := wireInventory{
		DeviceID: inv.DeviceID,
		Query:    QueryInventory,
		Content: wireContent{
			AccountInfo: inv.AccountInfo,
			BIOS:        inv.BIOS,
			Controllers: inv.Controllers,
			CPUs:        inv.CPUs,
			Drives:      inv.Drives,
			Hardware:    inv.Hardware,
			LocalUsers:  inv.LocalUsers,
			Memories:    inv.Memories,
			Monitors:    inv.Monitors,
			Networks:    inv.Networks,
			OldDeviceID: inv.OldDeviceID,
			Printers:    inv.Printers,
			Softwares:   inv.Softwares,
			Storages:    inv.Storages,
			Users:       inv.Users,
			Videos:      inv.Videos,
		},
	}
	if inv.OperatingSystem != (OperatingSystem{}) {
		os := inv.OperatingSystem
		w.Content.OS = &os
	}
	for _, id := range inv.History {
		w.Content.Download.Packages = append(w.Content.Download.Packages, wirePackage{ID: id})
	}
	out, err := xml.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal inventory: %w", err)
	}
	doc := make([]byte, 0, len(xmlDeclDouble)+len(out)+1)
	doc = append(doc, xmlDeclDouble...)
	doc = append(doc, out...)
	return append(doc, '\n'), nil
}

// xmlDeclDouble is the declaration agents and the console write.
const xmlDeclDouble = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
