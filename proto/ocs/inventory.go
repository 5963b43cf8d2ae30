package ocs

import "strings"

// Inventory is the CONTENT of a QUERY=INVENTORY request. Values are the
// strings the agent sent, trimmed: agents send numbers as text and
// sometimes garbage ("2 MiB (2 instances)", "-1 Mbps"), so conversion is left
// to the caller; Int and the small methods below help. Each repeated element
// becomes one entry, even an empty one (the Unix agent sends an empty
// <STORAGES></STORAGES>). Unknown sections and fields are ignored, and a
// field may be given as an attribute or as a child element. The xml tags
// name the wire fields; Marshal writes them back.
type Inventory struct {
	DeviceID string // the envelope's DEVICEID
	// OldDeviceID is CONTENT/OLD_DEVICEID (Windows agent), or the buggy
	// CONTENT/DOWNLOAD/HISTORY/OLD_DEVICEID variant the real server also
	// accepts: the machine's previous ID, whose record should be merged.
	OldDeviceID string

	Hardware    Hardware
	BIOS        BIOS
	CPUs        []CPU
	Memories    []Memory
	Storages    []Storage
	Drives      []Drive
	Networks    []Network
	Softwares   []Software
	Controllers []Controller
	AccountInfo []AccountInfo
	// OperatingSystem is FusionInventory's and the GLPI agent's
	// OPERATINGSYSTEM section: the distribution's version and the
	// architecture, which HARDWARE gives only as the kernel's.
	OperatingSystem OperatingSystem
	Monitors        []Monitor
	Printers        []Printer
	Videos          []Video
	LocalUsers      []LocalUser
	Users           []User // logged-on users
	// History lists DOWNLOAD/HISTORY/PACKAGE@ID: the packages this agent
	// reports as successfully deployed, in the order sent.
	History []string
}

// Hardware is the HARDWARE section (one per inventory).
type Hardware struct {
	Name               string `xml:"NAME,omitempty"` // host name
	Workgroup          string `xml:"WORKGROUP,omitempty"`
	UserDomain         string `xml:"USERDOMAIN,omitempty"`
	OSName             string `xml:"OSNAME,omitempty"`
	OSVersion          string `xml:"OSVERSION,omitempty"`
	OSComments         string `xml:"OSCOMMENTS,omitempty"`
	Arch               string `xml:"ARCH,omitempty"`       // Windows agent
	ProcessorType      string `xml:"PROCESSORT,omitempty"` // model name
	ProcessorSpeed     string `xml:"PROCESSORS,omitempty"` // MHz
	ProcessorCount     string `xml:"PROCESSORN,omitempty"`
	Memory             string `xml:"MEMORY,omitempty"` // MB
	Swap               string `xml:"SWAP,omitempty"`   // MB
	IPAddr             string `xml:"IPADDR,omitempty"`
	DNS                string `xml:"DNS,omitempty"`
	DefaultGateway     string `xml:"DEFAULTGATEWAY,omitempty"`
	Description        string `xml:"DESCRIPTION,omitempty"`
	UserID             string `xml:"USERID,omitempty"` // logged-in users joined with "/"
	UUID               string `xml:"UUID,omitempty"`
	Type               string `xml:"TYPE,omitempty"`
	ETime              string `xml:"ETIME,omitempty"`
	LastLoggedUser     string `xml:"LASTLOGGEDUSER,omitempty"`
	DateLastLoggedUser string `xml:"DATELASTLOGGEDUSER,omitempty"`
	InstallDate        string `xml:"INSTALLDATE,omitempty"`
	VMSystem           string `xml:"VMSYSTEM,omitempty"`
	WinCompany         string `xml:"WINCOMPANY,omitempty"`
	WinOwner           string `xml:"WINOWNER,omitempty"`
	WinProdID          string `xml:"WINPRODID,omitempty"`
	WinProdKey         string `xml:"WINPRODKEY,omitempty"`
	// Checksum is the bitmask of sections changed since the last accepted
	// inventory (§5.3). Every section is sent anyway.
	Checksum string `xml:"CHECKSUM,omitempty"`
}

// MemoryMB returns MEMORY as a number of megabytes (0 when unparsable).
func (h Hardware) MemoryMB() int64 { return Int(h.Memory) }

// SwapMB returns SWAP as a number of megabytes (0 when unparsable).
func (h Hardware) SwapMB() int64 { return Int(h.Swap) }

// BIOS is the BIOS section (one per inventory; empty in containers).
type BIOS struct {
	SystemModel        string `xml:"SMODEL,omitempty"`
	SystemManufacturer string `xml:"SMANUFACTURER,omitempty"`
	SystemSerial       string `xml:"SSN,omitempty"`
	BIOSDate           string `xml:"BDATE,omitempty"`
	BIOSVersion        string `xml:"BVERSION,omitempty"`
	BIOSManufacturer   string `xml:"BMANUFACTURER,omitempty"`
	BoardManufacturer  string `xml:"MMANUFACTURER,omitempty"`
	BoardSerial        string `xml:"MSN,omitempty"`
	BoardModel         string `xml:"MMODEL,omitempty"`
	AssetTag           string `xml:"ASSETTAG,omitempty"`
	Type               string `xml:"TYPE,omitempty"` // chassis type
}

// CPU is one CPUS entry (one per socket).
type CPU struct {
	Cores        string `xml:"CORES,omitempty"`
	Core         string `xml:"CORE,omitempty"` // FusionInventory's CORES
	CPUArch      string `xml:"CPUARCH,omitempty"`
	Arch         string `xml:"ARCH,omitempty"` // FusionInventory's CPUARCH
	CPUStatus    string `xml:"CPUSTATUS,omitempty"`
	CurrentSpeed string `xml:"CURRENT_SPEED,omitempty"` // MHz
	DataWidth    string `xml:"DATA_WIDTH,omitempty"`
	HPT          string `xml:"HPT,omitempty"`
	L2CacheSize  string `xml:"L2CACHESIZE,omitempty"`
	LogicalCPUs  string `xml:"LOGICAL_CPUS,omitempty"`
	Manufacturer string `xml:"MANUFACTURER,omitempty"`
	NBSocket     string `xml:"NBSOCKET,omitempty"`
	SerialNumber string `xml:"SERIALNUMBER,omitempty"`
	Socket       string `xml:"SOCKET,omitempty"`
	Speed        string `xml:"SPEED,omitempty"` // MHz
	Threads      string `xml:"THREADS,omitempty"`
	Thread       string `xml:"THREAD,omitempty"` // FusionInventory's THREADS
	Type         string `xml:"TYPE,omitempty"`   // model name
	Name         string `xml:"NAME,omitempty"`   // FusionInventory's TYPE
	Voltage      string `xml:"VOLTAGE,omitempty"`
}

// Memory is one MEMORIES entry (one per slot).
type Memory struct {
	Capacity            string `xml:"CAPACITY,omitempty"` // MB
	Caption             string `xml:"CAPTION,omitempty"`
	Description         string `xml:"DESCRIPTION,omitempty"`
	ErrorCorrectionType string `xml:"ERRORCORRECTIONTYPE,omitempty"`
	Manufacturer        string `xml:"MANUFACTURER,omitempty"`
	NumSlots            string `xml:"NUMSLOTS,omitempty"`
	SerialNumber        string `xml:"SERIALNUMBER,omitempty"`
	Speed               string `xml:"SPEED,omitempty"`
	Type                string `xml:"TYPE,omitempty"`
}

// Storage is one STORAGES entry (a physical disk).
type Storage struct {
	Description  string `xml:"DESCRIPTION,omitempty"`
	DiskSize     string `xml:"DISKSIZE,omitempty"` // MB, may have decimals
	Firmware     string `xml:"FIRMWARE,omitempty"`
	Manufacturer string `xml:"MANUFACTURER,omitempty"`
	Model        string `xml:"MODEL,omitempty"`
	Name         string `xml:"NAME,omitempty"`
	SerialNumber string `xml:"SERIALNUMBER,omitempty"`
	SCSIChID     string `xml:"SCSI_CHID,omitempty"`
	SCSICoID     string `xml:"SCSI_COID,omitempty"`
	SCSILun      string `xml:"SCSI_LUN,omitempty"`
	SCSIUnID     string `xml:"SCSI_UNID,omitempty"`
	Type         string `xml:"TYPE,omitempty"`
}

// DiskSizeMB returns DISKSIZE truncated to whole megabytes.
func (s Storage) DiskSizeMB() int64 { return Int(s.DiskSize) }

// Drive is one DRIVES entry (a mounted file system or a Windows volume).
type Drive struct {
	CreateDate string `xml:"CREATEDATE,omitempty"`
	Free       string `xml:"FREE,omitempty"` // MB
	Filesystem string `xml:"FILESYSTEM,omitempty"`
	Label      string `xml:"LABEL,omitempty"`
	Serial     string `xml:"SERIAL,omitempty"`
	Total      string `xml:"TOTAL,omitempty"`  // MB
	Type       string `xml:"TYPE,omitempty"`   // the mount point on Unix
	Volume     string `xml:"VOLUMN,omitempty"` // the device; the tag's misspelling is real
	Letter     string `xml:"LETTER,omitempty"` // Windows drive letter
}

// TotalMB returns TOTAL as a number of megabytes (0 when unparsable).
func (d Drive) TotalMB() int64 { return Int(d.Total) }

// FreeMB returns FREE as a number of megabytes (0 when unparsable).
func (d Drive) FreeMB() int64 { return Int(d.Free) }

// Network is one NETWORKS entry. There is one entry per address, so a MAC
// address can repeat.
type Network struct {
	Base        string `xml:"BASE,omitempty"`
	BSSID       string `xml:"BSSID,omitempty"`
	Description string `xml:"DESCRIPTION,omitempty"` // interface name
	Driver      string `xml:"DRIVER,omitempty"`
	Duplex      string `xml:"DUPLEX,omitempty"`
	IPAddress   string `xml:"IPADDRESS,omitempty"`
	IPAddress6  string `xml:"IPADDRESS6,omitempty"` // FusionInventory, GLPI agent
	IPDHCP      string `xml:"IPDHCP,omitempty"`
	IPGateway   string `xml:"IPGATEWAY,omitempty"`
	IPMask      string `xml:"IPMASK,omitempty"`
	IPMask6     string `xml:"IPMASK6,omitempty"`
	IPSubnet    string `xml:"IPSUBNET,omitempty"`
	IPSubnet6   string `xml:"IPSUBNET6,omitempty"`
	MACAddr     string `xml:"MACADDR,omitempty"`
	Mode        string `xml:"MODE,omitempty"`
	MTU         string `xml:"MTU,omitempty"`
	PCISlot     string `xml:"PCISLOT,omitempty"`
	Slave       string `xml:"SLAVE,omitempty"`
	Speed       string `xml:"SPEED,omitempty"`
	SSID        string `xml:"SSID,omitempty"`
	Status      string `xml:"STATUS,omitempty"` // Up or Down
	Type        string `xml:"TYPE,omitempty"`
	TypeMIB     string `xml:"TYPEMIB,omitempty"` // Windows agent
	Version     string `xml:"VERSION,omitempty"`
	VirtualDev  string `xml:"VIRTUALDEV,omitempty"`
}

// Software is one SOFTWARES entry.
type Software struct {
	Name         string `xml:"NAME,omitempty"`
	Version      string `xml:"VERSION,omitempty"`
	Publisher    string `xml:"PUBLISHER,omitempty"`
	Architecture string `xml:"ARCHITECTURE,omitempty"`
	Arch         string `xml:"ARCH,omitempty"` // FusionInventory's and the GLPI agent's ARCHITECTURE
	InstallDate  string `xml:"INSTALLDATE,omitempty"`
	FileSize     string `xml:"FILESIZE,omitempty"` // bytes
	From         string `xml:"FROM,omitempty"`     // deb, rpm, …
	Comments     string `xml:"COMMENTS,omitempty"`
	Folder       string `xml:"FOLDER,omitempty"`
	Status       string `xml:"STATUS,omitempty"`
	GUID         string `xml:"GUID,omitempty"`      // Windows agent
	Language     string `xml:"LANGUAGE,omitempty"`  // Windows agent
	BitsWidth    string `xml:"BITSWIDTH,omitempty"` // Windows agent
}

// Size returns FILESIZE in bytes (0 when unparsable).
func (s Software) Size() int64 { return Int(s.FileSize) }

// Controller is one CONTROLLERS entry (a PCI device on Unix).
type Controller struct {
	Caption      string `xml:"CAPTION,omitempty"`
	Description  string `xml:"DESCRIPTION,omitempty"`
	Driver       string `xml:"DRIVER,omitempty"`
	Name         string `xml:"NAME,omitempty"`
	Manufacturer string `xml:"MANUFACTURER,omitempty"`
	PCIID        string `xml:"PCIID,omitempty"`
	PCISlot      string `xml:"PCISLOT,omitempty"`
	Type         string `xml:"TYPE,omitempty"`
	// VendorID and ProductID are FusionInventory's and the GLPI agent's
	// PCIID, split ("8086" and "0d57" for "8086:0d57").
	VendorID  string `xml:"VENDORID,omitempty"`
	ProductID string `xml:"PRODUCTID,omitempty"`
}

// ID returns the controller's PCI vendor:product ID: PCIID (OCS agents),
// else VENDORID:PRODUCTID (FusionInventory, GLPI agent), else "".
func (c Controller) ID() string {
	if c.PCIID != "" || c.VendorID == "" {
		return c.PCIID
	}
	return c.VendorID + ":" + c.ProductID
}

// OperatingSystem is the OPERATINGSYSTEM section of FusionInventory and the
// GLPI agent (one per inventory; absent from the OCS agents' inventories).
type OperatingSystem struct {
	Arch          string `xml:"ARCH,omitempty"`
	FullName      string `xml:"FULL_NAME,omitempty"`
	KernelName    string `xml:"KERNEL_NAME,omitempty"`
	KernelVersion string `xml:"KERNEL_VERSION,omitempty"`
	Name          string `xml:"NAME,omitempty"`
	ServicePack   string `xml:"SERVICE_PACK,omitempty"`
	Version       string `xml:"VERSION,omitempty"` // the distribution's, e.g. 12.11
	FQDN          string `xml:"FQDN,omitempty"`
	InstallDate   string `xml:"INSTALL_DATE,omitempty"`
	BootTime      string `xml:"BOOT_TIME,omitempty"`
}

// Monitor is one MONITORS entry. The EDID blobs (BASE64, UUENCODE) are not
// kept.
type Monitor struct {
	AltSerial    string `xml:"ALTSERIAL,omitempty"`
	Caption      string `xml:"CAPTION,omitempty"`
	Description  string `xml:"DESCRIPTION,omitempty"`
	Manufacturer string `xml:"MANUFACTURER,omitempty"`
	Name         string `xml:"NAME,omitempty"`
	Port         string `xml:"PORT,omitempty"`
	Serial       string `xml:"SERIAL,omitempty"`
	Type         string `xml:"TYPE,omitempty"`
}

// Printer is one PRINTERS entry.
type Printer struct {
	Comment     string `xml:"COMMENT,omitempty"`
	Description string `xml:"DESCRIPTION,omitempty"`
	Driver      string `xml:"DRIVER,omitempty"`
	Name        string `xml:"NAME,omitempty"`
	Network     string `xml:"NETWORK,omitempty"`
	Port        string `xml:"PORT,omitempty"`
	Resolution  string `xml:"RESOLUTION,omitempty"`
	Serial      string `xml:"SERIAL,omitempty"`
	ServerName  string `xml:"SERVERNAME,omitempty"`
	Shared      string `xml:"SHARED,omitempty"`
	ShareName   string `xml:"SHARENAME,omitempty"`
	Status      string `xml:"STATUS,omitempty"`
}

// Video is one VIDEOS entry (a graphics adapter).
type Video struct {
	Chipset    string `xml:"CHIPSET,omitempty"`
	Memory     string `xml:"MEMORY,omitempty"` // MB
	Name       string `xml:"NAME,omitempty"`
	PCISlot    string `xml:"PCISLOT,omitempty"`
	Resolution string `xml:"RESOLUTION,omitempty"`
}

// LocalUser is one LOCAL_USERS entry (an account defined on the machine).
type LocalUser struct {
	GID    string `xml:"GID,omitempty"`
	Home   string `xml:"HOME,omitempty"`
	ID     string `xml:"ID,omitempty"` // FusionInventory's ID_USER
	IDUser string `xml:"ID_USER,omitempty"`
	Login  string `xml:"LOGIN,omitempty"`
	Name   string `xml:"NAME,omitempty"`
	Shell  string `xml:"SHELL,omitempty"`
}

// UID returns the account's numeric ID as the agent sent it (ID_USER, or
// FusionInventory's ID).
func (u LocalUser) UID() string {
	if u.IDUser != "" {
		return u.IDUser
	}
	return u.ID
}

// User is one USERS entry: a user logged on when the inventory ran.
type User struct {
	Domain string `xml:"DOMAIN,omitempty"`
	Login  string `xml:"LOGIN,omitempty"`
}

// AccountInfo is one administrative key/value pair (ACCOUNTINFO). The agent's
// --tag arrives as KeyName "TAG".
type AccountInfo struct {
	KeyName  string `xml:"KEYNAME"`
	KeyValue string `xml:"KEYVALUE"`
}

// Tag returns the value of the TAG account info field, or "".
func (inv *Inventory) Tag() string {
	for _, a := range inv.AccountInfo {
		if a.KeyName == "TAG" {
			return a.KeyValue
		}
	}
	return ""
}

// Int reads the leading integer of an agent's numeric text: surrounding
// space is ignored, an optional sign is accepted, and reading stops at the
// first non-digit, so "24105" is 24105, "274877.906944" is 274877 and
// "-1 Mbps" is -1. Text without a leading digit gives 0; values beyond int64
// saturate.
func Int(s string) int64 {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	const limit = 1<<63 - 1
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := int64(s[i] - '0')
		if n > (limit-d)/10 {
			n = limit
			break
		}
		n = n*10 + d
	}
	if neg {
		return -n
	}
	return n
}
