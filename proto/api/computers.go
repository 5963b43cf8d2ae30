package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Computer is one managed machine as lists show it.
type Computer struct {
	ID             uint       `json:"id"`
	DeviceID       string     `json:"device_id"`
	Name           string     `json:"name"`
	Workgroup      string     `json:"workgroup,omitempty"`
	OSName         string     `json:"os_name"`
	OSVersion      string     `json:"os_version,omitempty"`
	Arch           string     `json:"arch,omitempty"`
	IPAddr         string     `json:"ip_addr"`
	Serial         string     `json:"serial,omitempty"`
	MAC            string     `json:"mac,omitempty"`
	ProcessorType  string     `json:"processor_type,omitempty"`
	ProcessorCount int        `json:"processor_count"`
	MemoryMB       int        `json:"memory_mb"`
	UserID         string     `json:"user_id,omitempty"`
	UserAgent      string     `json:"user_agent,omitempty"`
	Source         string     `json:"source"`
	SiteID         *uint      `json:"site_id,omitempty"`
	SiteName       string     `json:"site_name,omitempty"`
	Revoked        bool       `json:"revoked"`
	FirstSeen      *time.Time `json:"first_seen,omitempty"`
	LastInventory  *time.Time `json:"last_inventory,omitempty"`
	LastContact    *time.Time `json:"last_contact,omitempty"`
}

// ComputerDetail is a computer with its whole inventory and deployment
// history: GET /computers/{id}.
type ComputerDetail struct {
	Computer
	OSComments  string `json:"os_comments,omitempty"`
	SwapMB      int    `json:"swap_mb"`
	DNS         string `json:"dns,omitempty"`
	Gateway     string `json:"gateway,omitempty"`
	UUID        string `json:"uuid,omitempty"`
	Description string `json:"description,omitempty"`
	VMSystem    string `json:"vm_system,omitempty"`
	// KernelVersion is the kernel's version where the agent sends it
	// apart from the OS version (FusionInventory, GLPI agent).
	KernelVersion  string `json:"kernel_version,omitempty"`
	LastLoggedUser string `json:"last_logged_user,omitempty"`
	// UserDomain and the Win* fields are the Windows agents' HARDWARE
	// USERDOMAIN, WINCOMPANY, WINOWNER, WINPRODID and WINPRODKEY.
	UserDomain string `json:"user_domain,omitempty"`
	WinCompany string `json:"win_company,omitempty"`
	WinOwner   string `json:"win_owner,omitempty"`
	WinProdID  string `json:"win_prod_id,omitempty"`
	WinProdKey string `json:"win_prod_key,omitempty"`
	// WinProdKeyMasked is true when WinProdKey is masked (all but its
	// last five characters are '*') because the caller lacks the
	// computers.secrets permission.
	WinProdKeyMasked bool              `json:"win_prod_key_masked,omitempty"`
	BIOS             *BIOS             `json:"bios,omitempty"`
	CPUs             []CPU             `json:"cpus"`
	Memories         []Memory          `json:"memories"`
	Storages         []Storage         `json:"storages"`
	Drives           []Drive           `json:"drives"`
	Networks         []Network         `json:"networks"`
	Softwares        []Software        `json:"softwares"`
	Controllers      []Controller      `json:"controllers"`
	Monitors         []Monitor         `json:"monitors"`
	Printers         []Printer         `json:"printers"`
	Videos           []Video           `json:"videos"`
	LocalUsers       []LocalUser       `json:"local_users"`
	AccountInfo      map[string]string `json:"account_info"`
	// History lists the package IDs the agent reports as installed.
	History []string `json:"history"`
	// Deployments is the computer's deployment history, oldest first.
	Deployments []Deployment `json:"deployments"`
}

// BIOS is a computer's BIOS and board.
type BIOS struct {
	SystemModel        string `json:"system_model,omitempty"`
	SystemManufacturer string `json:"system_manufacturer,omitempty"`
	SystemSerial       string `json:"system_serial,omitempty"`
	BiosDate           string `json:"bios_date,omitempty"`
	BiosVersion        string `json:"bios_version,omitempty"`
	BiosManufacturer   string `json:"bios_manufacturer,omitempty"`
	BoardManufacturer  string `json:"board_manufacturer,omitempty"`
	BoardSerial        string `json:"board_serial,omitempty"`
	BoardModel         string `json:"board_model,omitempty"`
	AssetTag           string `json:"asset_tag,omitempty"`
	Type               string `json:"type,omitempty"`
}

// CPU is one processor.
type CPU struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Type         string `json:"type,omitempty"`
	Speed        string `json:"speed,omitempty"`
	Cores        string `json:"cores,omitempty"`
	LogicalCPUs  string `json:"logical_cpus,omitempty"`
	Arch         string `json:"arch,omitempty"`
	Socket       string `json:"socket,omitempty"`
}

// Memory is one memory slot.
type Memory struct {
	Caption      string `json:"caption,omitempty"`
	Description  string `json:"description,omitempty"`
	Capacity     string `json:"capacity,omitempty"`
	Type         string `json:"type,omitempty"`
	Speed        string `json:"speed,omitempty"`
	NumSlots     string `json:"num_slots,omitempty"`
	SerialNumber string `json:"serial_number,omitempty"`
}

// Storage is one physical disk.
type Storage struct {
	Name         string `json:"name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Description  string `json:"description,omitempty"`
	Type         string `json:"type,omitempty"`
	DiskSize     string `json:"disk_size,omitempty"`
	SerialNumber string `json:"serial_number,omitempty"`
}

// Drive is one mounted file system.
type Drive struct {
	Letter     string `json:"letter,omitempty"`
	MountPoint string `json:"mount_point,omitempty"`
	FileSystem string `json:"file_system,omitempty"`
	TotalMB    int64  `json:"total_mb"`
	FreeMB     int64  `json:"free_mb"`
	Label      string `json:"label,omitempty"`
	Volume     string `json:"volume,omitempty"`
}

// Network is one address of a network interface.
type Network struct {
	Description string `json:"description,omitempty"`
	IPAddress   string `json:"ip_address,omitempty"`
	IPMask      string `json:"ip_mask,omitempty"`
	IPSubnet    string `json:"ip_subnet,omitempty"`
	IPGateway   string `json:"ip_gateway,omitempty"`
	IPDHCP      string `json:"ip_dhcp,omitempty"`
	MACAddr     string `json:"mac_addr,omitempty"`
	Status      string `json:"status,omitempty"`
	Type        string `json:"type,omitempty"`
	Speed       string `json:"speed,omitempty"`
}

// Software is one installed software.
type Software struct {
	Name         string `json:"name"`
	Version      string `json:"version,omitempty"`
	Publisher    string `json:"publisher,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	InstallDate  string `json:"install_date,omitempty"`
	From         string `json:"from,omitempty"`
}

// Controller is one hardware controller.
type Controller struct {
	Name         string `json:"name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Type         string `json:"type,omitempty"`
	Driver       string `json:"driver,omitempty"`
	PCIID        string `json:"pci_id,omitempty"`
}

// ComputerFilter selects computers by inventory. Empty fields do not
// filter; the fields that are set must all match. It is the query string
// of GET /computers (see Values) and the filter of an affectation.
type ComputerFilter struct {
	// Name and OS match case-insensitively anywhere in the name / OS name.
	Name string `json:"name,omitempty"`
	OS   string `json:"os,omitempty"`
	// Software matches anywhere in an installed software's name;
	// SoftwareVersion, when set, compares that software's version: a bare
	// version must be equal, one after <, <=, >, >=, = or != compares
	// version-aware ("< 24.00" matches 9.20 and 23.01, not 24.08).
	Software        string `json:"software,omitempty"`
	SoftwareVersion string `json:"software_version,omitempty"`
	// NoSoftware keeps the computers with no installed software whose
	// name contains it.
	NoSoftware string `json:"no_software,omitempty"`
	// IP is an address or a CIDR prefix such as 10.1.0.0/16.
	IP string `json:"ip,omitempty"`
	// Tag equals the OCS TAG.
	Tag    string `json:"tag,omitempty"`
	SiteID *uint  `json:"site_id,omitempty"`
	// ContactSince and ContactBefore bound the last contact (PROLOG or
	// inventory): since is inclusive, before exclusive.
	ContactSince  *time.Time `json:"contact_since,omitempty"`
	ContactBefore *time.Time `json:"contact_before,omitempty"`
}

// Query parameter names of a ComputerFilter.
const (
	QueryName            = "name"
	QueryOS              = "os"
	QuerySoftware        = "software"
	QuerySoftwareVersion = "software_version"
	QueryNoSoftware      = "no_software"
	QueryIP              = "ip"
	QueryTag             = "tag"
	QuerySite            = "site"
	QueryContactSince    = "contact_since"
	QueryContactBefore   = "contact_before"
)

// ComputerFilterParams lists the query parameters of a ComputerFilter.
func ComputerFilterParams() []string {
	return []string{QueryName, QueryOS, QuerySoftware, QuerySoftwareVersion, QueryNoSoftware, QueryIP,
		QueryTag, QuerySite, QueryContactSince, QueryContactBefore}
}

// Empty reports whether f selects every computer.
func (f ComputerFilter) Empty() bool {
	return f.Name == "" && f.OS == "" && f.Software == "" && f.SoftwareVersion == "" && f.NoSoftware == "" && f.IP == "" &&
		f.Tag == "" && f.SiteID == nil && f.ContactSince == nil && f.ContactBefore == nil
}

// Values encodes f as query parameters; times are RFC 3339.
func (f ComputerFilter) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(QueryName, f.Name)
	set(QueryOS, f.OS)
	set(QuerySoftware, f.Software)
	set(QuerySoftwareVersion, f.SoftwareVersion)
	set(QueryNoSoftware, f.NoSoftware)
	set(QueryIP, f.IP)
	set(QueryTag, f.Tag)
	if f.SiteID != nil {
		v.Set(QuerySite, strconv.FormatUint(uint64(*f.SiteID), 10))
	}
	if f.ContactSince != nil {
		v.Set(QueryContactSince, f.ContactSince.UTC().Format(time.RFC3339))
	}
	if f.ContactBefore != nil {
		v.Set(QueryContactBefore, f.ContactBefore.UTC().Format(time.RFC3339))
	}
	return v
}

// ErrInvalidFilter reports a filter parameter that cannot be parsed.
var ErrInvalidFilter = errors.New("invalid filter")

// ParseComputerFilter decodes the query parameters of a ComputerFilter. A
// time is RFC 3339, a date (2006-01-02, midnight UTC), or a Go duration
// such as 36h meaning that long before now.
func ParseComputerFilter(v url.Values, now time.Time) (ComputerFilter, error) {
	f := ComputerFilter{
		Name: v.Get(QueryName), OS: v.Get(QueryOS), Software: v.Get(QuerySoftware),
		SoftwareVersion: v.Get(QuerySoftwareVersion), NoSoftware: v.Get(QueryNoSoftware), IP: strings.TrimSpace(v.Get(QueryIP)), Tag: v.Get(QueryTag),
	}
	if s := strings.TrimSpace(v.Get(QuerySite)); s != "" {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil || id == 0 {
			return f, fmt.Errorf("%s must be a site id, got %q: %w", QuerySite, s, ErrInvalidFilter)
		}
		sid := uint(id)
		f.SiteID = &sid
	}
	var err error
	if f.ContactSince, err = ParseTime(v.Get(QueryContactSince), now); err != nil {
		return f, fmt.Errorf("%s: %w", QueryContactSince, err)
	}
	if f.ContactBefore, err = ParseTime(v.Get(QueryContactBefore), now); err != nil {
		return f, fmt.Errorf("%s: %w", QueryContactBefore, err)
	}
	return f, nil
}

// ParseTime reads an RFC 3339 time, a date (2006-01-02) or a duration
// before now (36h, 90m). Empty gives nil.
func ParseTime(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		t := now.Add(-d).UTC()
		return &t, nil
	}
	return nil, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration like 24h: %w", s, ErrInvalidFilter)
}

// Monitor is one display attached to a computer.
type Monitor struct {
	Name         string `json:"name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Caption      string `json:"caption,omitempty"`
	Description  string `json:"description,omitempty"`
	Type         string `json:"type,omitempty"`
	Serial       string `json:"serial,omitempty"`
}

// Printer is one printer a computer knows.
type Printer struct {
	Name        string `json:"name"`
	Driver      string `json:"driver,omitempty"`
	Port        string `json:"port,omitempty"`
	Description string `json:"description,omitempty"`
	ServerName  string `json:"server_name,omitempty"`
	ShareName   string `json:"share_name,omitempty"`
	Network     string `json:"network,omitempty"`
}

// Video is one graphics adapter.
type Video struct {
	Name       string `json:"name,omitempty"`
	Chipset    string `json:"chipset,omitempty"`
	MemoryMB   int64  `json:"memory_mb,omitempty"`
	Resolution string `json:"resolution,omitempty"`
}

// LocalUser is one account defined on a computer.
type LocalUser struct {
	Login string `json:"login"`
	Name  string `json:"name,omitempty"`
	UID   string `json:"uid,omitempty"`
	GID   string `json:"gid,omitempty"`
	Home  string `json:"home,omitempty"`
	Shell string `json:"shell,omitempty"`
}

// TagRequest sets a computer's OCS TAG (PUT /computers/{id}/tag) and is the
// answer, with the TAG as stored (trimmed).
type TagRequest struct {
	Tag string `json:"tag"`
}
