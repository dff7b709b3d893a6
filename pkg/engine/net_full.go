//go:build !rless_lean || rless_netin

package engine

// The built-in network served by gVisor's netstack in this process.
import _ "github.com/rless/rless/pkg/slirp"
