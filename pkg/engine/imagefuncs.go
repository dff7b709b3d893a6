//go:build !rless_lean

package engine

import (
	"context"
	"fmt"
	"os"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/image"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/store"
	"github.com/sirupsen/logrus"
	"golang.org/x/term"
)

// The image functions, on containers/image (pkg/image). They run in the
// user's namespace, in a re-executed copy of the program. A program built
// with the tag rless_lean does not carry them (see imagefuncs_lean.go).
var (
	pullFunc = reexec.RegisterWithEvents("image.pull", pullImage)
	saveFunc = reexec.Register("image.save", func(ctx context.Context, a pullArgs) (struct{}, error) {
		quietLibraries()
		s, err := store.Open(a.Root)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, image.Save(ctx, s, a.Refs, a.Format, a.Archive)
	})
	checkFunc = reexec.Register("image.check", checkStore)
	loadFunc  = reexec.RegisterWithEvents("image.load", func(ctx context.Context, a pullArgs, send func(any) error) ([]string, error) {
		quietLibraries()
		s, err := store.Open(a.Root)
		if err != nil {
			return nil, err
		}
		opts := image.PullOptions{}
		if a.Options.Display {
			opts.Progress = image.LineProgress(os.Stderr)
			opts.Warn = func(msg string) { fmt.Fprintf(os.Stderr, "WARN: %s\n", msg) }
		}
		imgs, err := image.Load(ctx, s, a.Archive, opts)
		ids := make([]string, 0, len(imgs))
		for _, img := range imgs {
			ids = append(ids, img.ID)
		}
		return ids, err
	})
)

// checkStore checks the store, and repairs it when asked, verifying the
// layers' files with their tar-split records.
func checkStore(ctx context.Context, a checkArgs) (CheckReport, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return CheckReport{}, err
	}
	known := map[string]bool{}
	for _, id := range a.Known {
		known[id] = true
	}
	opts := store.CheckOptions{
		MaxUnused:   a.Options.MaxUnused,
		Known:       func(id string) bool { return known[id] },
		VerifyLayer: func(diffID string) []store.Problem { return image.VerifyLayer(s, diffID, a.Options.Quick) },
	}
	r, err := s.Check(opts)
	if err != nil {
		return CheckReport{}, err
	}
	out := CheckReport{Problems: r.Problems, Images: map[string][]string{}}
	for _, img := range r.Images {
		out.Images[img.ID] = img.Names
	}
	if !a.Options.Repair || len(r.Problems) == 0 {
		return out, nil
	}
	out.Repaired, err = s.Repair(r, func(id string) bool { return container.UsesImage(a.RunRoot, id) })
	if err != nil {
		return out, err
	}
	after, err := s.Check(opts)
	if err != nil {
		return out, err
	}
	out.Remaining = after.Problems
	return out, nil
}

func pullImage(ctx context.Context, a pullArgs, send func(any) error) (string, error) {
	quietLibraries()
	s, err := store.Open(a.Root)
	if err != nil {
		return "", err
	}
	o := a.Options
	opts := image.PullOptions{
		Options: image.Options{AuthFile: o.AuthFile, Creds: o.Creds, PolicyPath: o.SignaturePolicy, TLSVerify: o.TLSVerify},
		Retry:   o.Retry, RetryDelay: o.RetryDelay, IdleTimeout: o.IdleTimeout,
	}
	if o.Platform != "" {
		if opts.Platform, err = image.ParsePlatform(o.Platform); err != nil {
			return "", err
		}
	}
	for _, p := range []struct{ v, field string }{{o.OS, "os"}, {o.Arch, "arch"}, {o.Variant, "variant"}} {
		if p.v == "" {
			continue
		}
		switch p.field {
		case "os":
			opts.Platform.OS = p.v
		case "arch":
			opts.Platform.Arch = p.v
		case "variant":
			opts.Platform.Variant = p.v
		}
	}
	var display image.Progress
	if o.Display {
		if term.IsTerminal(int(os.Stderr.Fd())) {
			display = image.BarProgress(os.Stderr)
		} else {
			display = image.LineProgress(os.Stderr)
		}
	}
	opts.Progress = eventProgress{display: display, send: send}
	opts.Warn = func(msg string) {
		if o.Display {
			fmt.Fprintf(os.Stderr, "WARN: %s\n", msg)
		}
		_ = send(PullEvent{Kind: "warning", Message: msg})
	}
	img, err := image.Pull(ctx, s, a.Ref, opts)
	opts.Progress.Wait()
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

// eventProgress passes a pull's steps on to a display (if any) and, as
// PullEvents, to the caller.
type eventProgress struct {
	display image.Progress
	send    func(any) error
}

func (p eventProgress) Trying(name string) {
	if p.display != nil {
		p.display.Trying(name)
	}
	_ = p.send(PullEvent{Kind: "trying", Name: name})
}

func (p eventProgress) Signatures() {
	if p.display != nil {
		p.display.Signatures()
	}
}

func (p eventProgress) Blob(digest string, size int64) image.BlobProgress {
	var b image.BlobProgress
	if p.display != nil {
		b = p.display.Blob(digest, size)
	}
	_ = p.send(PullEvent{Kind: "blob", Digest: digest, Size: size})
	return eventBlob{b: b, send: p.send, digest: digest}
}

func (p eventProgress) Skipped(digest string) {
	if p.display != nil {
		p.display.Skipped(digest)
	}
	_ = p.send(PullEvent{Kind: "skipped", Digest: digest})
}

func (p eventProgress) Config(digest string) {
	if p.display != nil {
		p.display.Config(digest)
	}
	_ = p.send(PullEvent{Kind: "config", Digest: digest})
}

func (p eventProgress) Writing() {
	if p.display != nil {
		p.display.Writing()
	}
	_ = p.send(PullEvent{Kind: "writing"})
}

func (p eventProgress) Wait() {
	if p.display != nil {
		p.display.Wait()
	}
}

type eventBlob struct {
	b      image.BlobProgress
	send   func(any) error
	digest string
}

func (b eventBlob) Add(n int) {
	if b.b != nil {
		b.b.Add(n)
	}
}

func (b eventBlob) Done(err error) {
	if b.b != nil {
		b.b.Done(err)
	}
	ev := PullEvent{Kind: "blob-done", Digest: b.digest}
	if err != nil {
		ev.Err = err.Error()
	}
	_ = b.send(ev)
}

// quietLibraries keeps containers/image's informational logging (logrus)
// out of the output unless the log level asks for it.
func quietLibraries() {
	switch os.Getenv(logging.Env) {
	case "DEBUG":
		logrus.SetLevel(logrus.DebugLevel)
	case "INFO":
		logrus.SetLevel(logrus.InfoLevel)
	default:
		logrus.SetLevel(logrus.ErrorLevel)
	}
}
