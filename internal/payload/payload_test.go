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
	if err := Append(&buf, strings.NewReader("host program"), strings.NewReader("the payload")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	r, err := Find(f)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "the payload" {
		t.Errorf("payload %q", got)
	}
	os.WriteFile(p, []byte("just a program, long enough for a trailer"), 0o600)
	g, _ := os.Open(p)
	defer g.Close()
	if _, err := Find(g); !errors.Is(err, ErrNone) {
		t.Errorf("Find of a plain file: %v", err)
	}
}
