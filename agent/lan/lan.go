// Package lan finds the agents of the same site with memberlist.
package lan

import "github.com/hashicorp/memberlist"

var _ = memberlist.DefaultLANConfig
