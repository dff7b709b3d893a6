// Command payload writes OUT = HOST + ENGINE + trailer: `make` builds
// bin/rless this way (see internal/payload).
package main

import (
	"fmt"
	"os"

	"github.com/rless/rless/internal/payload"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: payload OUT HOST ENGINE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "payload:", err)
		os.Exit(1)
	}
}

func run(out, host, engine string) error {
	h, err := os.Open(host)
	if err != nil {
		return err
	}
	defer h.Close()
	e, err := os.Open(engine)
	if err != nil {
		return err
	}
	defer e.Close()
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if err := payload.Append(f, h, e); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
