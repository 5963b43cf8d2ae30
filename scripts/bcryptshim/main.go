// Command bcryptshim writes bcryptprimitives.dll for Debian's wine 8.0, which
// lacks it: a resource-free 64-bit PE DLL whose only export, ProcessPrng,
// forwards to advapi32's SystemFunction036 (RtlGenRandom). The Go runtime
// (1.22 and later) loads ProcessPrng at start-up and aborts without it, so
// no Go Windows binary runs under that wine otherwise. The DLL has no code:
// the loader resolves the forwarder, so nothing here runs on Windows.
//
// Usage: go run ./scripts/bcryptshim -o $WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
)

const (
	fileAlign = 0x200
	sectRVA   = 0x1000
)

func main() {
	out := flag.String("o", "bcryptprimitives.dll", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, build(), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "bcryptshim: %v\n", err)
		os.Exit(1)
	}
}

// build lays out the DLL: headers in the first 0x200 bytes, then one
// read-only section at RVA 0x1000 holding the export directory.
func build() []byte {
	// The export section: directory (40 bytes), the three arrays, then strings.
	const (
		dirSize   = 40
		funcs     = sectRVA + dirSize // AddressOfFunctions: 1 RVA
		names     = funcs + 4         // AddressOfNames: 1 RVA
		ordinals  = names + 4         // AddressOfNameOrdinals: 1 uint16
		strings0  = ordinals + 2
		dllName   = "bcryptprimitives.dll\x00"
		fnName    = "ProcessPrng\x00"
		forwarder = "advapi32.SystemFunction036\x00"
	)
	dllNameRVA := uint32(strings0)
	fnNameRVA := dllNameRVA + uint32(len(dllName))
	fwdRVA := fnNameRVA + uint32(len(fnName))
	var sec bytes.Buffer
	le := func(v any) { binary.Write(&sec, binary.LittleEndian, v) }
	le(uint32(0))        // Characteristics
	le(uint32(0))        // TimeDateStamp
	le(uint16(0))        // MajorVersion
	le(uint16(0))        // MinorVersion
	le(dllNameRVA)       // Name
	le(uint32(1))        // Base
	le(uint32(1))        // NumberOfFunctions
	le(uint32(1))        // NumberOfNames
	le(uint32(funcs))    // AddressOfFunctions
	le(uint32(names))    // AddressOfNames
	le(uint32(ordinals)) // AddressOfNameOrdinals
	le(fwdRVA)           // the function: an RVA inside the export directory is a forwarder
	le(fnNameRVA)        // its name
	le(uint16(0))        // its ordinal index
	sec.WriteString(dllName)
	sec.WriteString(fnName)
	sec.WriteString(forwarder)
	exportSize := uint32(sec.Len())
	for sec.Len()%fileAlign != 0 {
		sec.WriteByte(0)
	}

	var h bytes.Buffer
	w := func(v any) { binary.Write(&h, binary.LittleEndian, v) }
	// DOS header: "MZ", and e_lfanew at 0x3c pointing at the PE header at 0x40.
	dos := make([]byte, 0x40)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], 0x40)
	h.Write(dos)
	h.WriteString("PE\x00\x00")
	// COFF file header.
	w(uint16(0x8664)) // Machine: AMD64
	w(uint16(1))      // NumberOfSections
	w(uint32(0))      // TimeDateStamp
	w(uint32(0))      // PointerToSymbolTable
	w(uint32(0))      // NumberOfSymbols
	w(uint16(240))    // SizeOfOptionalHeader (PE32+ with 16 directories)
	w(uint16(0x2022)) // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL
	// Optional header (PE32+).
	w(uint16(0x20b))            // Magic
	w(uint8(14))                // MajorLinkerVersion
	w(uint8(0))                 // MinorLinkerVersion
	w(uint32(0))                // SizeOfCode
	w(uint32(sec.Len()))        // SizeOfInitializedData
	w(uint32(0))                // SizeOfUninitializedData
	w(uint32(0))                // AddressOfEntryPoint: none
	w(uint32(0))                // BaseOfCode
	w(uint64(0x180000000))      // ImageBase
	w(uint32(0x1000))           // SectionAlignment
	w(uint32(fileAlign))        // FileAlignment
	w(uint16(6))                // MajorOperatingSystemVersion
	w(uint16(0))                // MinorOperatingSystemVersion
	w(uint16(0))                // MajorImageVersion
	w(uint16(0))                // MinorImageVersion
	w(uint16(6))                // MajorSubsystemVersion
	w(uint16(0))                // MinorSubsystemVersion
	w(uint32(0))                // Win32VersionValue
	w(uint32(sectRVA + 0x1000)) // SizeOfImage
	w(uint32(fileAlign))        // SizeOfHeaders
	w(uint32(0))                // CheckSum
	w(uint16(3))                // Subsystem: console
	w(uint16(0))                // DllCharacteristics: fixed base, no relocations needed (no code)
	w(uint64(0x100000))         // SizeOfStackReserve
	w(uint64(0x1000))           // SizeOfStackCommit
	w(uint64(0x100000))         // SizeOfHeapReserve
	w(uint64(0x1000))           // SizeOfHeapCommit
	w(uint32(0))                // LoaderFlags
	w(uint32(16))               // NumberOfRvaAndSizes
	w(uint32(sectRVA))          // Export table RVA
	w(exportSize)               // Export table size
	h.Write(make([]byte, 15*8)) // the other 15 directories: empty
	// Section header.
	name := [8]byte{}
	copy(name[:], ".rdata")
	h.Write(name[:])
	w(exportSize)         // VirtualSize
	w(uint32(sectRVA))    // VirtualAddress
	w(uint32(sec.Len()))  // SizeOfRawData
	w(uint32(fileAlign))  // PointerToRawData
	w(uint32(0))          // PointerToRelocations
	w(uint32(0))          // PointerToLinenumbers
	w(uint16(0))          // NumberOfRelocations
	w(uint16(0))          // NumberOfLinenumbers
	w(uint32(0x40000040)) // INITIALIZED_DATA | MEM_READ
	for h.Len() < fileAlign {
		h.WriteByte(0)
	}
	return append(h.Bytes(), sec.Bytes()...)
}
