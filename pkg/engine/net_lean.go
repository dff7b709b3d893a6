//go:build rless_lean && !rless_netin

package engine

// The built-in network served by the stack appended to the rless program,
// a process of its own: this program does not link gVisor.
import _ "github.com/rless/rless/pkg/network/netstack"
