package payload

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendFind(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	var buf bytes.Buffer
	err := Append(&buf, strings.NewReader("host program"),
		Payload{Engine, strings.NewReader("the engine")}, Payload{Netstack, strings.NewReader("the stack")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	for name, want := range map[string]string{Engine: "the engine", Netstack: "the stack"} {
		r, err := Find(f, name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if string(got) != want {
			t.Errorf("payload %s: %q", name, got)
		}
	}
	if _, err := Find(f, "RLESSXXX"); !errors.Is(err, ErrNone) {
		t.Errorf("Find of a missing payload: %v", err)
	}
	os.WriteFile(p, []byte("just a program, long enough for a trailer"), 0o600)
	g, _ := os.Open(p)
	defer g.Close()
	if _, err := Find(g, Engine); !errors.Is(err, ErrNone) {
		t.Errorf("Find of a plain file: %v", err)
	}
	if err := Append(io.Discard, strings.NewReader(""), Payload{"short", strings.NewReader("")}); err == nil {
		t.Error("a bad payload name was accepted")
	}
}

// TestExtractNone: the test binary carries no payload (bin/rless's are
// extracted in the end-to-end tests of the default network).
func TestExtractNone(t *testing.T) {
	if _, err := Extract(Netstack, t.TempDir()); !errors.Is(err, ErrNone) {
		t.Errorf("Extract from a program without payloads: %v", err)
	}
}
