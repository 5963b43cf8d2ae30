package api

import (
	"strconv"
	"time"
)

// Package is one entry of the package catalogue. ID is the OCS FILEID.
type Package struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Platform is LINUX, WINDOWS or MACOSX.
	Platform string `json:"platform"`
	// Action is EXECUTE, STORE or LAUNCH; Command, Path and LaunchName
	// complete it.
	Action     string `json:"action"`
	Command    string `json:"command,omitempty"`
	Path       string `json:"path,omitempty"`
	LaunchName string `json:"launch_name,omitempty"`
	// Priority is 0 (highest) to 10.
	Priority int    `json:"priority"`
	Size     int64  `json:"size"`
	MD5      string `json:"md5"`
	SHA256   string `json:"sha256"`
	// OCSFragmentCount is the number of OCS fragment files <ID>-1..n.
	OCSFragmentCount int `json:"ocs_fragment_count"`
	// FragmentSize and FragmentCount describe the Shoal fragments.
	FragmentSize       int64      `json:"fragment_size"`
	FragmentCount      int        `json:"fragment_count"`
	NotifyUser         bool       `json:"notify_user"`
	NotifyText         string     `json:"notify_text,omitempty"`
	NotifyCountdown    string     `json:"notify_countdown,omitempty"`
	NotifyCanAbort     bool       `json:"notify_can_abort"`
	NotifyCanDelay     bool       `json:"notify_can_delay"`
	NeedDoneAction     bool       `json:"need_done_action"`
	NeedDoneActionText string     `json:"need_done_action_text,omitempty"`
	ManifestKeyID      string     `json:"manifest_key_id"`
	Active             bool       `json:"active"`
	InfoLoc            string     `json:"info_loc,omitempty"`
	PackLoc            string     `json:"pack_loc,omitempty"`
	Proto              string     `json:"proto,omitempty"`
	ActivatedAt        *time.Time `json:"activated_at,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// PackageDetail is GET /packages/{id}: the package, its fragments and
// digests from the signed manifest, the signature status, deployment counts
// and download counters.
type PackageDetail struct {
	Package
	Signature Signature `json:"signature"`
	// Fragments are the Shoal fragments, OCSFragments the OCS files.
	Fragments        []Fragment       `json:"fragments"`
	OCSFragments     []Fragment       `json:"ocs_fragments"`
	DeploymentCounts map[string]int64 `json:"deployment_counts"`
	Downloads        DownloadStats    `json:"downloads"`
}

// Signature statuses.
const (
	SignatureValid   = "valid"
	SignatureInvalid = "invalid"
)

// Signature is the result of verifying a package's manifest with central's
// key.
type Signature struct {
	// Status is SignatureValid or SignatureInvalid.
	Status string `json:"status"`
	KeyID  string `json:"key_id,omitempty"`
	// Error says why the manifest does not verify.
	Error string `json:"error,omitempty"`
}

// Fragment is one byte range of a package and its CID.
type Fragment struct {
	Index  int    `json:"index"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	CID    string `json:"cid"`
}

// Form field names of POST /packages (multipart/form-data). The file part
// comes last so central knows every field before it streams the file.
const (
	FormFile               = "file"
	FormName               = "name"
	FormDescription        = "description"
	FormPlatform           = "platform"
	FormAction             = "action"
	FormCommand            = "command"
	FormPath               = "path"
	FormLaunchName         = "launch_name"
	FormPriority           = "priority"
	FormFragments          = "fragments"
	FormFragmentSize       = "fragment_size"
	FormNotifyUser         = "notify_user"
	FormNotifyText         = "notify_text"
	FormNotifyCountdown    = "notify_countdown"
	FormNotifyCanAbort     = "notify_can_abort"
	FormNotifyCanDelay     = "notify_can_delay"
	FormNeedDoneAction     = "need_done_action"
	FormNeedDoneActionText = "need_done_action_text"
)

// PackageSpec is what POST /packages asks for, besides the file.
type PackageSpec struct {
	// Name defaults to the file name.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Platform defaults to LINUX.
	Platform string `json:"platform,omitempty"`
	// Action is EXECUTE (or RUN), STORE or LAUNCH.
	Action     string `json:"action"`
	Command    string `json:"command,omitempty"`
	Path       string `json:"path,omitempty"`
	LaunchName string `json:"launch_name,omitempty"`
	// Priority defaults to 5 when nil.
	Priority *int `json:"priority,omitempty"`
	// Fragments is the OCS fragment count; FragmentSize the wanted OCS
	// fragment size. Set one or neither.
	Fragments          int    `json:"fragments,omitempty"`
	FragmentSize       int64  `json:"fragment_size,omitempty"`
	NotifyUser         bool   `json:"notify_user,omitempty"`
	NotifyText         string `json:"notify_text,omitempty"`
	NotifyCountdown    string `json:"notify_countdown,omitempty"`
	NotifyCanAbort     bool   `json:"notify_can_abort,omitempty"`
	NotifyCanDelay     bool   `json:"notify_can_delay,omitempty"`
	NeedDoneAction     bool   `json:"need_done_action,omitempty"`
	NeedDoneActionText string `json:"need_done_action_text,omitempty"`
}

// FormFields returns the form fields of s that are set, in a fixed order.
func (s PackageSpec) FormFields() [][2]string {
	var out [][2]string
	str := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	boolean := func(k string, v bool) {
		if v {
			out = append(out, [2]string{k, "true"})
		}
	}
	str(FormName, s.Name)
	str(FormDescription, s.Description)
	str(FormPlatform, s.Platform)
	str(FormAction, s.Action)
	str(FormCommand, s.Command)
	str(FormPath, s.Path)
	str(FormLaunchName, s.LaunchName)
	if s.Priority != nil {
		str(FormPriority, strconv.Itoa(*s.Priority))
	}
	if s.Fragments != 0 {
		str(FormFragments, strconv.Itoa(s.Fragments))
	}
	if s.FragmentSize != 0 {
		str(FormFragmentSize, strconv.FormatInt(s.FragmentSize, 10))
	}
	boolean(FormNotifyUser, s.NotifyUser)
	str(FormNotifyText, s.NotifyText)
	str(FormNotifyCountdown, s.NotifyCountdown)
	boolean(FormNotifyCanAbort, s.NotifyCanAbort)
	boolean(FormNotifyCanDelay, s.NotifyCanDelay)
	boolean(FormNeedDoneAction, s.NeedDoneAction)
	str(FormNeedDoneActionText, s.NeedDoneActionText)
	return out
}

// ActivateRequest names where a package is published: POST
// /packages/{id}/activate. Empty locations take central's defaults.
type ActivateRequest struct {
	// InfoLoc and PackLoc are host[:port]/path without a scheme, as OCS.
	InfoLoc string `json:"info_loc,omitempty"`
	PackLoc string `json:"pack_loc,omitempty"`
	// Proto is HTTP (default) or HTTPS, for fragments.
	Proto string `json:"proto,omitempty"`
	// SkipCheck activates without the availability check.
	SkipCheck bool `json:"skip_check,omitempty"`
}

// ActivateResult is the answer to a successful activation. A failed
// availability check is a 422 Error whose detail lists Check.Problems.
type ActivateResult struct {
	Package Package           `json:"package"`
	Check   AvailabilityCheck `json:"check"`
}

// AvailabilityCheck is the outcome of fetching a package's info file and
// fragments from where agents will look for them.
type AvailabilityCheck struct {
	OK               bool     `json:"ok"`
	Skipped          bool     `json:"skipped"`
	InfoURL          string   `json:"info_url,omitempty"`
	FragmentsChecked int      `json:"fragments_checked"`
	Problems         []string `json:"problems,omitempty"`
}

// AffectRequest assigns a package to computers: POST /packages/{id}/affect.
// The computers are ComputerIDs plus those Filter selects.
type AffectRequest struct {
	ComputerIDs []uint          `json:"computer_ids,omitempty"`
	Filter      *ComputerFilter `json:"filter,omitempty"`
	// Force deploys again where the package already succeeded or is in
	// the computer's history.
	Force bool `json:"force,omitempty"`
	// DryRun only counts the computers the request selects.
	DryRun bool `json:"dry_run,omitempty"`
	// All must be true when Filter is empty (it selects every computer),
	// so that a forgotten filter never deploys everywhere.
	All bool `json:"all,omitempty"`
}

// AffectResult tells how many computers were selected, and (unless DryRun)
// how many deployments were created or reset.
type AffectResult struct {
	Selected int  `json:"selected"`
	Created  int  `json:"created"`
	DryRun   bool `json:"dry_run"`
	// Excluded counts the selected computers left out (their OS is not the
	// package's platform); Exclusions say how many of which and why.
	Excluded   int         `json:"excluded"`
	Exclusions []Exclusion `json:"exclusions,omitempty"`
}

// Exclusion is a group of computers an affectation leaves out.
type Exclusion struct {
	// Platform is the platform those computers run: LINUX, WINDOWS or MACOSX.
	Platform string `json:"platform"`
	Count    int    `json:"count"`
	// Reason is a sentence, e.g. "3 computers run Windows: the package is
	// for Linux, so they are excluded".
	Reason string `json:"reason"`
}
