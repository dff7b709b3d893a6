package spec

import (
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "SIGTERM": syscall.SIGTERM, "sigusr1": syscall.SIGUSR1, "9": syscall.SIGKILL,
		"RTMIN": 34, "SIGRTMIN+3": 37, "RTMAX-1": 63, "RTMAX": 64, "WINCH": syscall.SIGWINCH,
	} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, err := ParseSignal(SignalName(got)); err != nil || back != got {
			t.Errorf("SignalName(%d) = %q, parsed as %d, %v", got, SignalName(got), back, err)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "NOPE", "RTMIN+31", "RTMAX+1", "RTMIN-1", "SIG"} {
		if sig, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) = %d, want an error", bad, sig)
		}
	}
	if sig := StopSignal(&specs.Spec{}); sig != syscall.SIGTERM {
		t.Errorf("default stop signal %d", sig)
	}
	s := &specs.Spec{Annotations: map[string]string{AnnotationStopSignal: "SIGQUIT"}}
	if sig := StopSignal(s); sig != syscall.SIGQUIT {
		t.Errorf("stop signal %d", sig)
	}
}
