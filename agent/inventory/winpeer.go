//go:build !windows && shoalwinpeer

package inventory

// The shoalwinpeer test build of the Linux agent installs Windows packages
// (agent/jobs/platform_winpeer.go) and tells central it runs Windows, so
// that central lets a Windows package be affected to it: itest
// TestWindowsAgentFromLinuxPeers puts such agents next to a real Windows
// agent (under wine) in one site.
func init() { winPeerOS = "Microsoft Windows (shoalwinpeer test build on Linux)" }
