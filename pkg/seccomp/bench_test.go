package seccomp

import (
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func BenchmarkCompileDefault(b *testing.B) {
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	sc, err := profiles.GetDefaultProfile(s)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := Compile(sc); err != nil {
			b.Fatal(err)
		}
	}
}
