package hostile

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

const testCanary = "/tmp/some dir/canary"

// readAll reads the headers of a layer with archive/tar.
func readAll(layer []byte) ([]*tar.Header, error) {
	var hdrs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return hdrs, nil
		}
		if err != nil {
			return hdrs, err
		}
		hdrs = append(hdrs, hdr) // Next skips the content
	}
}

func TestCases(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	cases := Cases(testCanary)
	if len(cases) < 30 {
		t.Errorf("only %d cases", len(cases))
	}
	for i, c := range cases {
		if !valid.MatchString(c.Name) || seen[c.Name] {
			t.Errorf("case %d: bad or duplicate name %q", i, c.Name)
		}
		seen[c.Name] = true
		if len(c.Layers) == 0 {
			t.Errorf("%s: no layers", c.Name)
		}
		if c.Refused && c.Check != nil {
			t.Errorf("%s: a refused case has nothing to check", c.Name)
		}
		var readErr error
		names := map[string]bool{}
		for _, l := range c.Layers {
			hdrs, err := readAll(l)
			readErr = errors.Join(readErr, err)
			for _, h := range hdrs {
				names[h.Name] = true
			}
		}
		if readErr != nil && !c.Refused {
			t.Errorf("%s: layers do not read back: %v", c.Name, readErr)
		}
		if c.Entry != "" && !names[c.Entry] {
			t.Errorf("%s: no entry %q in the layers", c.Name, c.Entry)
		}
	}
	// deterministic
	again := Cases(testCanary)
	for i := range cases {
		for j := range cases[i].Layers {
			if !bytes.Equal(cases[i].Layers[j], again[i].Layers[j]) {
				t.Errorf("%s: layer %d differs between calls", cases[i].Name, j)
			}
		}
	}
}

func find(t *testing.T, name string) Case {
	for _, c := range Cases(testCanary) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return Case{}
}

func TestCanaryTargets(t *testing.T) {
	hdrs, _ := readAll(find(t, "dotdot").Layers[0])
	if len(hdrs) != 1 || !strings.HasPrefix(hdrs[0].Name, "../../../") || !strings.HasSuffix(hdrs[0].Name, "/tmp/some dir/canary") {
		t.Errorf("dotdot: %+v", hdrs)
	}
	hdrs, _ = readAll(find(t, "abs-canary").Layers[0])
	if len(hdrs) != 1 || hdrs[0].Name != testCanary {
		t.Errorf("abs-canary: %+v", hdrs)
	}
	hdrs, _ = readAll(find(t, "hardlink-abs-canary").Layers[0])
	if len(hdrs) != 1 || hdrs[0].Typeflag != tar.TypeLink || hdrs[0].Linkname != testCanary {
		t.Errorf("hardlink-abs-canary: %+v", hdrs)
	}
}

func TestSparse(t *testing.T) {
	for _, name := range []string{"sparse-gnu", "sparse-pax"} {
		tr := tar.NewReader(bytes.NewReader(find(t, name).Layers[0]))
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sparse := hdr.Typeflag == tar.TypeGNUSparse
		for k := range hdr.PAXRecords {
			sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
		}
		if !sparse || hdr.Size != HugeSize || hdr.Name != "big" {
			t.Errorf("%s: read back as %q type %q size %d records %v", name, hdr.Name, hdr.Typeflag, hdr.Size, hdr.PAXRecords)
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Errorf("%s: after the file: %v", name, err)
		}
	}
	// the same encodings, small enough to read: data at the offset,
	// zeros elsewhere
	for name, layer := range map[string][]byte{
		"gnu": GNUSparse("s", 1<<20, 1<<19, []byte(Content)),
		"pax": PAXSparse("s", 1<<20, 1<<19, []byte(Content)),
	} {
		tr := tar.NewReader(bytes.NewReader(layer))
		hdr, err := tr.Next()
		if err != nil || hdr.Name != "s" || hdr.Size != 1<<20 {
			t.Fatalf("%s: %+v, %v", name, hdr, err)
		}
		b, err := io.ReadAll(tr)
		want := make([]byte, 1<<20)
		copy(want[1<<19:], Content)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: wrong content (%d bytes), %v", name, len(b), err)
		}
	}
}

func TestTruncated(t *testing.T) {
	tr := tar.NewReader(bytes.NewReader(find(t, "truncated-huge").Layers[0]))
	hdr, err := tr.Next()
	if err != nil || hdr.Size != HugeSize {
		t.Fatalf("%+v, %v", hdr, err)
	}
	if n, err := io.Copy(io.Discard, tr); !errors.Is(err, io.ErrUnexpectedEOF) || n != int64(len(Content)) {
		t.Errorf("read %d bytes, %v", n, err)
	}
	for _, name := range []string{"truncated-header", "truncated-content", "garbage"} {
		if _, err := readAll(find(t, name).Layers[0]); err == nil {
			t.Errorf("%s: reads back without an error", name)
		}
	}
}

func TestNULName(t *testing.T) {
	hdrs, err := readAll(find(t, "nul-name").Layers[0])
	if err != nil || len(hdrs) != 1 || hdrs[0].Name != "inside" {
		t.Errorf("%+v, %v", hdrs, err)
	}
}

func TestDeep(t *testing.T) {
	hdrs, err := readAll(find(t, "deep").Layers[0])
	if err != nil || len(hdrs) != 201 || len(hdrs[200].Name) < 2000 {
		t.Errorf("%d entries, %v", len(hdrs), err)
	}
}
