//go:build !windows && shoalwinpeer

package jobs

import "github.com/shoal-project/shoal/proto"

// platform is WINDOWS in a Linux test build (tag shoalwinpeer) that
// installs Windows packages whose command also runs under sh, so that
// Linux agents and a Windows agent can share one package's fragments in
// one site (itest TestWindowsAgentFromLinuxPeers). Release builds never
// carry the tag.
const platform, osName = proto.PlatformWindows, "Linux (shoalwinpeer test build)"
