package diskfault

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	full := fmt.Errorf("write /s/layers/x: %w", &fs.PathError{Op: "write", Path: "/s/layers/x", Err: syscall.ENOSPC})
	err := Check(full, "a layer", "/s/layers")
	if err == nil || err.Error() != "no space left on device: writing a layer into /s/layers" || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Check of ENOSPC: %v", err)
	}
	// A fault already named keeps its place.
	if again := Check(fmt.Errorf("record: %w", err), "a volume", "/s/volumes"); again != err {
		t.Errorf("Check of a Fault: %v", again)
	}
	other := errors.New("permission denied")
	if Check(other, "a layer", "/s") != nil || Wrap(other, "a layer", "/s") != other || Is(other) || Check(nil, "a layer", "/s") != nil {
		t.Error("an error of another kind is taken for a disk fault")
	}
	if !Is(full) || Wrap(full, "a layer", "/s/layers").Error() != err.Error() {
		t.Error("Is/Wrap of ENOSPC")
	}
	if got := Check(syscall.EDQUOT, "a volume", "/v").Error(); got != "disk quota exceeded: writing a volume into /v" {
		t.Errorf("EDQUOT: %q", got)
	}
}
