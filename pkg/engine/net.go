package engine

// The drivers of the external network modes, slirp4netns and pasta; the
// built-in stack's is chosen by net_full.go (in this process) and
// net_lean.go (a process of its own).
import _ "github.com/rless/rless/pkg/network/external"
