//go:build !windows && !shoalwinpeer

package jobs

import "github.com/shoal-project/shoal/proto"

// platform is the package platform this agent installs, and its OS name
// for the refusal message.
const platform, osName = proto.PlatformLinux, "Linux"
