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
	CPUArch      string `xml:"CPUARCH,omitempty"`
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
	Type         string `xml:"TYPE,omitempty"` // model name
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
	IPDHCP      string `xml:"IPDHCP,omitempty"`
	IPGateway   string `xml:"IPGATEWAY,omitempty"`
	IPMask      string `xml:"IPMASK,omitempty"`
	IPSubnet    string `xml:"IPSUBNET,omitempty"`
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
