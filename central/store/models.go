package store

import "time"

// Computer sources.
const (
	SourceOCS   = "ocs"
	SourceShoal = "shoal"
)

// Computer is one managed machine. DeviceID is the OCS DEVICEID (or the Shoal
// agent's device ID) and is unique.
type Computer struct {
	ID        uint   `gorm:"primaryKey"`
	DeviceID  string `gorm:"uniqueIndex;not null"`
	Name      string `gorm:"index"`
	Workgroup string
	OSName    string `gorm:"index"`
	// OSVersion is the operating system's version (12.11, 10.0.19045),
	// never the kernel's.
	OSVersion  string
	OSComments string
	// KernelVersion is the kernel's version where the agent sends it
	// apart (FusionInventory, GLPI agent: OPERATINGSYSTEM/KERNEL_VERSION).
	KernelVersion  string
	Arch           string
	ProcessorType  string
	ProcessorCount int
	MemoryMB       int
	SwapMB         int
	IPAddr         string `gorm:"index"`
	DNS            string
	Gateway        string
	UUID           string
	Description    string
	UserID         string
	// LastLoggedUser is HARDWARE/LASTLOGGEDUSER.
	LastLoggedUser string
	VMSystem       string
	// UserDomain and the Win* fields are the Windows agents' HARDWARE
	// USERDOMAIN, WINCOMPANY, WINOWNER, WINPRODID and WINPRODKEY (the
	// registered organization and owner, the product ID and key); empty for
	// other systems.
	UserDomain string
	WinCompany string
	WinOwner   string
	WinProdID  string
	WinProdKey string
	// Serial is the BIOS system serial number (BIOS SSN).
	Serial string `gorm:"index"`
	// FirstMAC is the primary MAC address of the inventory, lower case:
	// the interface that carries IPAddr, else the first one up with an
	// address (central/inventory.PrimaryMAC).
	FirstMAC      string `gorm:"index"`
	UserAgent     string
	Checksum      int
	SiteID        *uint  `gorm:"index"`
	Source        string // SourceOCS or SourceShoal.
	Revoked       bool
	FirstSeen     time.Time
	LastInventory time.Time
	LastContact   time.Time
	CreatedAt     time.Time
	// UpdatedAt is indexed: the groups sweep reads the computers changed
	// since its last pass.
	UpdatedAt time.Time `gorm:"index"`
}

// TableName implements gorm's tabler.
func (Computer) TableName() string { return "computers" }

// BIOS is the single BIOS section of a computer.
type BIOS struct {
	ID                 uint `gorm:"primaryKey"`
	ComputerID         uint `gorm:"uniqueIndex;not null"`
	SystemModel        string
	SystemManufacturer string
	SystemSerial       string
	BiosDate           string
	BiosVersion        string
	BiosManufacturer   string
	BoardManufacturer  string
	BoardSerial        string
	BoardModel         string
	AssetTag           string
	Type               string
}

// TableName implements gorm's tabler.
func (BIOS) TableName() string { return "bios" }

// CPU is one CPUS entry.
type CPU struct {
	ID           uint `gorm:"primaryKey"`
	ComputerID   uint `gorm:"index;not null"`
	Manufacturer string
	Type         string
	SerialNumber string
	Speed        string
	CurrentSpeed string
	Cores        string
	LogicalCPUs  string
	Threads      string
	CPUArch      string
	DataWidth    string
	L2CacheSize  string
	Socket       string
	NBSocket     string
	Status       string
	Voltage      string
	HPT          string
}

// TableName implements gorm's tabler.
func (CPU) TableName() string { return "cpus" }

// Memory is one MEMORIES entry.
type Memory struct {
	ID                  uint `gorm:"primaryKey"`
	ComputerID          uint `gorm:"index;not null"`
	Caption             string
	Description         string
	Capacity            string
	Type                string
	Speed               string
	NumSlots            string
	SerialNumber        string
	Manufacturer        string
	ErrorCorrectionType string
}

// TableName implements gorm's tabler.
func (Memory) TableName() string { return "memories" }

// Storage is one STORAGES entry (a physical disk).
type Storage struct {
	ID           uint `gorm:"primaryKey"`
	ComputerID   uint `gorm:"index;not null"`
	Name         string
	Manufacturer string
	Model        string
	Description  string
	Type         string
	DiskSize     string
	SerialNumber string
	Firmware     string
	SCSIChID     string
	SCSICoID     string
	SCSILun      string
	SCSIUnID     string
}

// TableName implements gorm's tabler.
func (Storage) TableName() string { return "storages" }

// Drive is one DRIVES entry (a mounted file system).
type Drive struct {
	ID         uint `gorm:"primaryKey"`
	ComputerID uint `gorm:"index;not null"`
	Letter     string
	Type       string // the mount point on Unix
	FileSystem string
	TotalMB    int64
	FreeMB     int64
	Label      string
	Volume     string // OCS VOLUMN
	Serial     string
	CreateDate string
}

// TableName implements gorm's tabler.
func (Drive) TableName() string { return "drives" }

// Network is one NETWORKS entry; OCS sends one entry per address, so a MAC
// may repeat.
type Network struct {
	ID          uint   `gorm:"primaryKey"`
	ComputerID  uint   `gorm:"index;not null"`
	Description string // interface name
	IPAddress   string `gorm:"index"`
	IPMask      string
	IPSubnet    string
	IPGateway   string
	IPDHCP      string
	MACAddr     string
	Status      string
	Type        string
	Speed       string
	MTU         string
	Driver      string
	Virtual     string
}

// TableName implements gorm's tabler.
func (Network) TableName() string { return "networks" }

// Software is one SOFTWARES entry. Name has no index: searches match
// LOWER(name) LIKE '%…%' on the distinct names (SoftwareName), then read
// the matching computers from the (name_id, version_key, computer_id)
// index alone, without the table (software.go, search.go;
// docs/BENCHMARKS.md has the measurements).
type Software struct {
	ID         uint `gorm:"primaryKey"`
	ComputerID uint `gorm:"index;not null;index:idx_softwares_name_version,priority:3"`
	// NameID is SoftwareNameID(Name); VersionKey is VersionKey(Version).
	// The store sets both at ingest.
	NameID       int64  `gorm:"not null;default:0;index:idx_softwares_name_version,priority:1"`
	VersionKey   string `gorm:"index:idx_softwares_name_version,priority:2"`
	Name         string
	Version      string
	Publisher    string
	Architecture string
	InstallDate  string
	FileSize     int64
	// From is the OCS FROM field (deb, rpm, …). The column is called
	// "origin" because FROM is reserved in SQL.
	From     string `gorm:"column:origin"`
	Comments string
	Folder   string
}

// TableName implements gorm's tabler.
func (Software) TableName() string { return "softwares" }

// Controller is one CONTROLLERS entry.
type Controller struct {
	ID           uint `gorm:"primaryKey"`
	ComputerID   uint `gorm:"index;not null"`
	Name         string
	Manufacturer string
	Description  string
	Type         string
	Driver       string
	PCIID        string
	PCISlot      string
}

// TableName implements gorm's tabler.
func (Controller) TableName() string { return "controllers" }

// AccountTag is the ACCOUNTINFO key name of the OCS tag.
const AccountTag = "TAG"

// AccountInfo is one administrative key/value pair of a computer (OCS
// ACCOUNTINFO, e.g. TAG). The server's values win over the agent's.
type AccountInfo struct {
	ID         uint   `gorm:"primaryKey"`
	ComputerID uint   `gorm:"uniqueIndex:idx_account_infos_computer_key;not null;index:idx_account_infos_value,priority:3"`
	KeyName    string `gorm:"uniqueIndex:idx_account_infos_computer_key;not null;index:idx_account_infos_value,priority:1"`
	// KeyValue is indexed with KeyName so that a TAG search (and a
	// TAG-scoped user's every query) finds its computers without a scan.
	KeyValue string `gorm:"index:idx_account_infos_value,priority:2"`
}

// TableName implements gorm's tabler.
func (AccountInfo) TableName() string { return "account_infos" }

// DownloadHistory records a package the agent reports as installed.
type DownloadHistory struct {
	ID         uint   `gorm:"primaryKey"`
	ComputerID uint   `gorm:"uniqueIndex:idx_download_histories_pair;not null"`
	PackageID  string `gorm:"uniqueIndex:idx_download_histories_pair;not null"`
}

// TableName implements gorm's tabler.
func (DownloadHistory) TableName() string { return "download_histories" }

// Site is a branch: a named set of CIDR ranges with an optional place where
// OCS agents fetch fragments (host[:port]/path, no scheme).
type Site struct {
	ID               uint   `gorm:"primaryKey"`
	Name             string `gorm:"uniqueIndex;not null"`
	Description      string
	FragmentLocation string
	// TimeZone is the site's IANA time zone (Europe/Paris), "" for UTC.
	TimeZone string
	// OCSTimings picks the DOWNLOAD latencies OCS agents of the site get:
	// "" follows central's agents.relay_site_timings when a relay serves
	// the site, "short" or "default" force one (deploy.Service.Prolog).
	OCSTimings string
	// Window is the site's deployment window (deploy.ParseWindow), in
	// TimeZone: agents install only inside it; "" is always open.
	Window    string     `gorm:"column:deploy_window"`
	CIDRs     []SiteCIDR `gorm:"foreignKey:SiteID"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName implements gorm's tabler.
func (Site) TableName() string { return "sites" }

// SiteCIDR is one range of a site, stored canonically (masked). A range
// belongs to at most one site.
type SiteCIDR struct {
	ID     uint   `gorm:"primaryKey"`
	SiteID uint   `gorm:"index;not null"`
	CIDR   string `gorm:"column:cidr;uniqueIndex;not null"`
}

// TableName implements gorm's tabler.
func (SiteCIDR) TableName() string { return "site_cidrs" }

// Package protocols for fragments.
const (
	ProtoHTTP  = "HTTP"
	ProtoHTTPS = "HTTPS"
)

// Package is one entry of the package catalogue. ID is the OCS FILEID
// (digits only).
type Package struct {
	ID                 string `gorm:"primaryKey"`
	Name               string `gorm:"not null"`
	Description        string
	Platform           string
	Action             string // EXECUTE, LAUNCH or STORE
	Command            string
	Path               string
	LaunchName         string
	Priority           int
	Size               int64
	MD5                string
	SHA256             string
	OCSFragments       int
	FragmentSize       int64
	ShoalFragments     int
	NotifyUser         bool
	NotifyText         string
	NotifyCountdown    string
	NotifyCanAbort     bool
	NotifyCanDelay     bool
	NeedDoneAction     bool
	NeedDoneActionText string
	ManifestKeyID      string
	Active             bool `gorm:"index"`
	InfoLoc            string
	PackLoc            string
	Proto              string // ProtoHTTP or ProtoHTTPS
	ActivatedAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// TableName implements gorm's tabler.
func (Package) TableName() string { return "packages" }

// Deployment states.
const (
	StateWaiting     = "waiting"
	StateNotified    = "notified"
	StateDownloading = "downloading"
	StateDownloaded  = "downloaded"
	StateRunning     = "running"
	StateSuccess     = "success"
	StateError       = "error"
	StateCancelled   = "cancelled"
)

// Result codes the store itself writes.
const (
	CodeAlreadyInHistory = "SUCCESS_ALREADY_IN_HISTORY"
	CodeUnknown          = "UNKNOWN_CODE"
)

// Deployment is one (computer, package) pair and its state.
type Deployment struct {
	ID         uint   `gorm:"primaryKey"`
	ComputerID uint   `gorm:"uniqueIndex:idx_deployments_pair;not null"`
	PackageID  string `gorm:"uniqueIndex:idx_deployments_pair;index;not null"`
	State      string `gorm:"index;not null"`
	// ResultCode is the raw OCS code (SUCCESS, ERR_BAD_DIGEST, SUCCESS_3, …).
	ResultCode string
	// Force makes the package be deployed even when it is in the history.
	Force bool
	// Attempts counts the times the deployment went from waiting to notified.
	Attempts       int
	NotifiedAt     *time.Time
	FinishedAt     *time.Time
	FragmentsDone  int
	FragmentsTotal int
	BytesPeer      int64
	BytesRelay     int64
	BytesCentral   int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName implements gorm's tabler.
func (Deployment) TableName() string { return "deployments" }

// Finished reports whether the deployment reached a final state.
func (d Deployment) Finished() bool {
	switch d.State {
	case StateSuccess, StateError, StateCancelled:
		return true
	}
	return false
}

// DeploymentEvent is one state change of a deployment.
type DeploymentEvent struct {
	ID           uint `gorm:"primaryKey"`
	DeploymentID uint `gorm:"index;not null"`
	At           time.Time
	FromState    string
	ToState      string
	Code         string
	Detail       string
}

// TableName implements gorm's tabler.
func (DeploymentEvent) TableName() string { return "deployment_events" }

// API token roles.
const (
	RoleAdmin    = "admin"
	RoleReadonly = "readonly"
)

// APIToken is a REST API credential. Hash is the lower-case hex SHA-256 of
// the token; the token itself is never stored.
type APIToken struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"not null"`
	Hash string `gorm:"uniqueIndex;not null"`
	Role string `gorm:"not null"`
	// Owner is the UI user who minted the token (shoalctl login); the
	// token then acts with at most that user's permissions and scope, and
	// stops working when the user is deleted. Empty for tokens minted by
	// the built-in administrator.
	Owner     string `gorm:"not null;default:''"`
	CreatedAt time.Time
	LastUsed  *time.Time
	ExpiresAt *time.Time
	Revoked   bool
}

// TableName implements gorm's tabler.
func (APIToken) TableName() string { return "api_tokens" }

// Valid reports whether the token may be used at now.
func (t APIToken) Valid(now time.Time) bool {
	if t.Revoked {
		return false
	}
	return t.ExpiresAt == nil || now.Before(*t.ExpiresAt)
}

// Setting is one runtime-editable setting; Value is JSON.
type Setting struct {
	Key       string `gorm:"primaryKey"`
	Value     string
	UpdatedAt time.Time
}

// TableName implements gorm's tabler.
func (Setting) TableName() string { return "settings" }

// allModels lists every model, for CountRows and for TestMigrationsMatchModels,
// which checks that the migrations under migrations/ create exactly the
// tables, columns and indexes that gorm AutoMigrate makes of these models.
// A new model or field needs a new migration file per dialect
// (migrations/README.md).
func allModels() []any {
	m := []any{
		&Computer{}, &BIOS{}, &CPU{}, &Memory{}, &Storage{}, &Drive{},
		&Network{}, &Software{}, &Controller{}, &AccountInfo{},
		&DownloadHistory{}, &Site{}, &SiteCIDR{}, &Package{},
		&Deployment{}, &DeploymentEvent{}, &APIToken{}, &Setting{},
	}
	// Models of later features live beside their queries.
	m = append(m, agentModels()...)
	m = append(m, uiModels()...)
	m = append(m, siteGossipModels()...)
	m = append(m, relayModels()...)
	m = append(m, groupModels()...)
	m = append(m, inventoryModels()...)
	m = append(m, &SoftwareName{})
	m = append(m, searchModels()...)
	m = append(m, catalogModels()...)
	m = append(m, mergeModels()...)
	m = append(m, wakeModels()...)
	return append(m, auditModels()...)
}
