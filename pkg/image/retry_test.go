package image

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/rless/rless/internal/diskfault"
	"go.podman.io/image/v5/docker"
)

func TestRetryable(t *testing.T) {
	get := func(err error) error { return &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: err} }
	var syntax *json.SyntaxError
	jerr := json.Unmarshal([]byte("<html>"), new(map[string]any))
	if !errors.As(jerr, &syntax) {
		t.Fatalf("not a syntax error: %v", jerr)
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{docker.UnexpectedHTTPStatusError{StatusCode: 500}, true},
		{fmt.Errorf("reading manifest: %w", docker.UnexpectedHTTPStatusError{StatusCode: 503}), true},
		{docker.UnexpectedHTTPStatusError{StatusCode: 404}, false},
		{docker.UnexpectedHTTPStatusError{StatusCode: 501}, false},
		{docker.ErrTooManyRequests, true},
		{errors.New(`reading manifest latest in r.example/a: StatusCode: 429, "Too Many Requests\n"`), true},
		{errors.New(`reading manifest latest in r.example/a: StatusCode: 400, "bad"`), false},
		{errcode.ErrorCodeTooManyRequests.WithMessage("slow down"), true},
		{fmt.Errorf("x: %w", errcode.ErrorCodeUnauthorized.WithMessage("no")), false},
		{v2.ErrorCodeManifestUnknown.WithMessage("manifest unknown"), false},
		{v2.ErrorCodeBlobUnknown.WithMessage("blob unknown"), false},
		{docker.ErrUnauthorizedForCredentials{Err: errors.New("401")}, false},
		{get(syscall.ECONNRESET), true},
		{get(syscall.ECONNREFUSED), true},
		{get(io.EOF), true},
		{get(x509.UnknownAuthorityError{}), false},
		{fmt.Errorf("layer sha256:ab: %w", &StallError{Timeout: time.Second}), true},
		{fmt.Errorf("layer: %w", &diskfault.Fault{Err: syscall.ENOSPC, What: "a layer", Dir: "/s"}), false},
		{fmt.Errorf("write: %w", syscall.ENOSPC), false},
		{errors.New("blob digest mismatch: got sha256:00"), false},
		{fmt.Errorf("parse: %w", jerr), false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{nil, false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	o := PullOptions{}
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if d := o.retryDelay(i); d < want || d > want+want/10 {
			t.Errorf("retry %d: delay %s, want %s and up to a tenth more", i+1, d, want)
		}
	}
	o.RetryDelay = 10 * time.Millisecond
	if d := o.retryDelay(2); d < o.RetryDelay || d > o.RetryDelay+o.RetryDelay/10 {
		t.Errorf("delay %s with --retry-delay %s", d, o.RetryDelay)
	}
}

func TestWithRetry(t *testing.T) {
	three := uint(3)
	for _, c := range []struct {
		name     string
		retry    *uint
		failures int   // tries that fail before one succeeds
		err      error // what they fail with
		tries    int
		ok       bool
	}{
		{"mended", &three, 2, docker.UnexpectedHTTPStatusError{StatusCode: 500}, 3, true},
		{"persistent", &three, 100, docker.UnexpectedHTTPStatusError{StatusCode: 500}, 4, false},
		{"default", nil, 100, docker.UnexpectedHTTPStatusError{StatusCode: 503}, 1 + DefaultRetry, false},
		{"never", new(uint), 100, docker.UnexpectedHTTPStatusError{StatusCode: 500}, 1, false},
		{"hopeless", &three, 100, v2.ErrorCodeManifestUnknown.WithMessage("manifest unknown"), 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var warnings []string
			opts := PullOptions{Retry: c.retry, RetryDelay: time.Microsecond, Warn: func(s string) { warnings = append(warnings, s) }}
			tries := 0
			err := withRetry(context.Background(), opts, func(err error) error { return fmt.Errorf("pulling from r.example: %w", err) }, func() error {
				tries++
				if tries <= c.failures {
					return c.err
				}
				return nil
			})
			if tries != c.tries || (err == nil) != c.ok {
				t.Errorf("%d tries, error %v; want %d tries, success %v", tries, err, c.tries, c.ok)
			}
			if len(warnings) != c.tries-1 {
				t.Errorf("warnings %q, want %d", warnings, c.tries-1)
			}
			for _, w := range warnings {
				if !strings.HasPrefix(w, "Failed, retrying in ") || !strings.Contains(w, "r.example") {
					t.Errorf("warning %q", w)
				}
			}
		})
	}
}

func TestIdleGuard(t *testing.T) {
	g := newIdleGuard(context.Background(), time.Millisecond, "reading the manifest")
	defer g.stop()
	var err error
	g.wait(func() {
		<-g.ctx.Done()
		err = g.ctx.Err()
	})
	err = g.explain(err)
	var stall *StallError
	if !errors.As(err, &stall) || err.Error() != "reading the manifest: no data for 1ms (stalled connection)" {
		t.Errorf("stalled wait gives %v", err)
	}
	// Time outside a wait does not count.
	g2 := newIdleGuard(context.Background(), time.Millisecond, "")
	defer g2.stop()
	time.Sleep(5 * time.Millisecond)
	if g2.ctx.Err() != nil || g2.explain(io.EOF) != io.EOF {
		t.Error("a disarmed guard fired")
	}
}

func TestRegistryNamer(t *testing.T) {
	ref, _, err := ParseReference("127.0.0.1:5000/rless/multilayer")
	if err != nil {
		t.Fatal(err)
	}
	name := registryNamer(ref)
	if got := name(errors.New("layer sha256:ab: blob truncated")).Error(); got != "pulling from 127.0.0.1:5000/rless/multilayer: layer sha256:ab: blob truncated" {
		t.Errorf("got %q", got)
	}
	named := errors.New("reading manifest latest in 127.0.0.1:5000/rless/multilayer: manifest unknown")
	if got := name(named); got != named {
		t.Errorf("a named error named again: %q", got)
	}
	dir, _, _ := ParseReference("dir:/tmp/x")
	plain := errors.New("open /tmp/x/manifest.json: no such file")
	if got := registryNamer(dir)(plain); got != plain {
		t.Errorf("a dir: error named: %q", got)
	}
}
