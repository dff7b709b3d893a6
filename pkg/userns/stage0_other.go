//go:build !amd64

package userns

// stage0 is not carried for this architecture: children re-execute rless.
var stage0 []byte
