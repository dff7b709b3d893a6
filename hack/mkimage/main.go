// Command mkimage writes a one-layer OCI image layout holding the given
// files, for `make demo`:
//
//	mkimage -o DIR -tag TAG -entrypoint /hello /hello=bin/hello /etc/demo-release=@text
//
// Each argument is PATH-IN-IMAGE=HOST-FILE, or PATH-IN-IMAGE=@TEXT for a
// file holding TEXT and a newline.
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/testimage"
)

func main() {
	out := flag.String("o", "", "the layout `DIR` to write")
	tag := flag.String("tag", "latest", "the image's `TAG` in the layout")
	entrypoint := flag.String("entrypoint", "", "the image's entrypoint")
	flag.Parse()
	if err := run(*out, *tag, *entrypoint, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out, tag, entrypoint string, files []string) error {
	if out == "" || len(files) == 0 {
		return fmt.Errorf("usage: mkimage -o DIR [-tag TAG] [-entrypoint PATH] PATH=FILE [PATH=FILE]")
	}
	var entries []testimage.Entry
	dirs := map[string]bool{}
	for _, f := range files {
		dst, src, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(dst, "/") {
			return fmt.Errorf("%q: want /PATH=FILE or /PATH=@TEXT", f)
		}
		for d := path.Dir(dst); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			entries = append([]testimage.Entry{{Name: strings.TrimPrefix(d, "/") + "/", Type: '5'}}, entries...)
		}
		e := testimage.Entry{Name: strings.TrimPrefix(dst, "/"), Mode: 0o644}
		if text, ok := strings.CutPrefix(src, "@"); ok {
			e.Body = text + "\n"
		} else {
			data, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			fi, _ := os.Stat(src)
			e.Body, e.Mode = string(data), int64(fi.Mode().Perm())
		}
		entries = append(entries, e)
	}
	l, err := testimage.NewLayout(out)
	if err != nil {
		return err
	}
	cfg := v1.ImageConfig{Env: []string{"PATH=/"}}
	if entrypoint != "" {
		cfg.Entrypoint = []string{entrypoint}
	}
	d, err := l.Add(testimage.Image{Layers: []testimage.Layer{{Tar: testimage.Tar(entries...)}}, Config: cfg})
	if err != nil {
		return err
	}
	return l.Tag(d, tag)
}
