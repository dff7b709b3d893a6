package spec

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// AnnotationStopSignal is the OCI annotation of the signal that stops the
// container (an image's StopSignal, or --stop-signal), as podman writes it.
const AnnotationStopSignal = "org.opencontainers.image.stopSignal"

// Real-time signals as Docker and podman number them (glibc keeps 32 and 33).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal parses a signal as Docker and podman take it: a name with or
// without SIG (TERM, SIGTERM, case-insensitive), RTMIN+N or RTMAX-N, or a
// number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"RTMIN", sigRTMin, 1}, {"RTMAX", sigRTMax, -1}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil || n*rt.sign < 0 {
				return 0, fmt.Errorf("invalid signal %q", s)
			}
			off = n
		}
		if sig := rt.base + off; sig >= sigRTMin && sig <= sigRTMax {
			return syscall.Signal(sig), nil
		}
		return 0, fmt.Errorf("invalid signal %q", s)
	}
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

// StopSignal returns the signal that stops the container of s: its
// AnnotationStopSignal, or SIGTERM.
func StopSignal(s *specs.Spec) syscall.Signal {
	if s != nil {
		if sig, err := ParseSignal(s.Annotations[AnnotationStopSignal]); err == nil {
			return sig
		}
	}
	return syscall.SIGTERM
}

// SignalName returns the name of sig as ParseSignal takes it (SIGTERM,
// SIGRTMIN+3), or its number.
func SignalName(sig syscall.Signal) string {
	if sig >= sigRTMin && sig <= sigRTMax {
		return fmt.Sprintf("SIGRTMIN+%d", sig-sigRTMin)
	}
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return strconv.Itoa(int(sig))
}
