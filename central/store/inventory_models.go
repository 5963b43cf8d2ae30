package store

// Monitor is one MONITORS entry of a computer.
type Monitor struct {
	ID           uint `gorm:"primaryKey"`
	ComputerID   uint `gorm:"index;not null"`
	Name         string
	Manufacturer string
	Caption      string
	Description  string
	Type         string
	Serial       string
	Port         string
}

// TableName implements gorm's tabler.
func (Monitor) TableName() string { return "monitors" }

// Printer is one PRINTERS entry of a computer.
type Printer struct {
	ID          uint `gorm:"primaryKey"`
	ComputerID  uint `gorm:"index;not null"`
	Name        string
	Driver      string
	Port        string
	Description string
	ServerName  string
	ShareName   string
	Resolution  string
	Comment     string
	Shared      string
	Network     string
	Serial      string
	Status      string
}

// TableName implements gorm's tabler.
func (Printer) TableName() string { return "printers" }

// Video is one VIDEOS entry (a graphics adapter) of a computer.
type Video struct {
	ID         uint `gorm:"primaryKey"`
	ComputerID uint `gorm:"index;not null"`
	Name       string
	Chipset    string
	MemoryMB   int64
	Resolution string
	PCISlot    string
}

// TableName implements gorm's tabler.
func (Video) TableName() string { return "videos" }

// LocalUser is one LOCAL_USERS entry: an account defined on the computer.
type LocalUser struct {
	ID         uint `gorm:"primaryKey"`
	ComputerID uint `gorm:"index;not null"`
	Login      string
	Name       string
	UID        string
	GID        string
	Home       string
	Shell      string
}

// TableName implements gorm's tabler.
func (LocalUser) TableName() string { return "local_users" }

func (r *Monitor) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Printer) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Video) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *LocalUser) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

// inventoryModels are the inventory sections added after the first schema
// (monitors, printers, video adapters, local accounts).
func inventoryModels() []any {
	return []any{&Monitor{}, &Printer{}, &Video{}, &LocalUser{}}
}
