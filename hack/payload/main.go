// Command payload writes OUT = HOST + each NAME=FILE payload with its
// trailer: `make` builds bin/rless this way (see internal/payload).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/rless/rless/internal/payload"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: payload OUT HOST NAME=FILE...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "payload:", err)
		os.Exit(1)
	}
}

func run(out, host string, specs []string) error {
	h, err := os.Open(host)
	if err != nil {
		return err
	}
	defer h.Close()
	var ps []payload.Payload
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=FILE", s)
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		ps = append(ps, payload.Payload{Name: name, R: f})
	}
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if err := payload.Append(f, h, ps...); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
