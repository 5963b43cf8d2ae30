package api

import (
	"bytes"
	"testing"
)

// TestCSVFormulaCells checks that a software name an agent reported as a
// spreadsheet formula is exported as text.
func TestCSVFormulaCells(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHoldersCSV(&b, []SoftwareHolder{{ComputerID: 7, ComputerName: "pc", Name: `=HYPERLINK("http://x")`, Version: "-1", Publisher: "@evil"}}); err != nil {
		t.Fatal(err)
	}
	want := "computer_id,computer,site,name,version,publisher,last_inventory\n7,pc,,\"'=HYPERLINK(\"\"http://x\"\")\",'-1,'@evil,\n"
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
}
