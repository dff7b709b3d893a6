package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/pkg/layer"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

// DefaultRetry is how many times a failed pull is tried again (podman's
// --retry default).
const DefaultRetry = 3

// DefaultIdleTimeout is how long a pull waits for a registry that sends
// nothing before it gives up on the connection.
const DefaultIdleTimeout = 30 * time.Second

// IdleTimeoutEnv names the environment variable that sets the idle
// timeout of pulls whose PullOptions leave it 0 (a Go duration: "10s").
const IdleTimeoutEnv = "RLESS_PULL_IDLE_TIMEOUT"

// retries returns how many times a failed pull is tried again.
func (o PullOptions) retries() int {
	if o.Retry == nil {
		return DefaultRetry
	}
	return int(*o.Retry)
}

// idleTimeout returns the time a pull waits for a silent registry.
func (o PullOptions) idleTimeout() time.Duration {
	if o.IdleTimeout > 0 {
		return o.IdleTimeout
	}
	if d, err := time.ParseDuration(os.Getenv(IdleTimeoutEnv)); err == nil && d > 0 {
		return d
	}
	return DefaultIdleTimeout
}

// retryDelay returns the wait before try number attempt+1 (attempt from
// 0): RetryDelay when set, else 2s doubled at each try, as podman
// documents; plus up to a tenth of it, as containers/common adds, so that
// clients failed by one blip do not come back together.
func (o PullOptions) retryDelay(attempt int) time.Duration {
	d := o.RetryDelay
	if d <= 0 {
		d = 2 * time.Second << min(attempt, 10)
	}
	if d >= 10 {
		d += rand.N(d / 10)
	}
	return d
}

// withRetry runs op, and again while it fails with an error that another
// try may not meet (see retryable), up to opts.Retry more times, waiting
// opts.retryDelay between tries. Each retry is announced through
// opts.Warn, in podman's words, with the error named by name.
func withRetry(ctx context.Context, opts PullOptions, name func(error) error, op func() error) error {
	err := op()
	for attempt := 0; err != nil && attempt < opts.retries() && retryable(err) && ctx.Err() == nil; attempt++ {
		delay := opts.retryDelay(attempt)
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("Failed, retrying in %s ... (%d/%d). Error: %v", delay.Round(time.Millisecond), attempt+1, opts.retries(), name(err)))
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		err = op()
	}
	return err
}

// retryStatuses are the HTTP statuses of a registry worth another try:
// those containers/common's retry package retries (502, 503, 504, and 429
// by way of containers/image), and also 500 and 408, which a registry
// under load answers as often.
var retryStatuses = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// retryErrnos are the network errors worth another try (containers/common's
// list).
var retryErrnos = []syscall.Errno{
	syscall.ECONNREFUSED, syscall.EINTR, syscall.EAGAIN, syscall.EBUSY, syscall.ENETDOWN, syscall.ENETUNREACH,
	syscall.ENETRESET, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
}

// statusText finds the status containers/image gives, as text only, of a
// 4xx answer whose body is not the registry's JSON error.
var statusText = regexp.MustCompile(`StatusCode: (\d{3}), `)

// retryable reports whether another try of a pull failed with err may
// succeed, after containers/common's retry.IsErrorRetryable: network
// errors that may pass (a reset or refused connection, a timeout, a
// stalled transfer, an early EOF) and a registry's answers that say to
// come back (see retryStatuses). A full disk, a layer refused for its
// content, a wrong digest, a manifest that does not parse, an unknown
// image, refused credentials and an untrusted certificate are not.
func retryable(err error) bool {
	var stall *StallError
	switch {
	case err == nil:
		return false
	case errors.As(err, &stall):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		diskfault.Is(err), errors.As(err, new(*layer.EntryError)):
		return false
	}
	var status docker.UnexpectedHTTPStatusError
	if errors.As(err, &status) {
		return slices.Contains(retryStatuses, status.StatusCode)
	}
	if errors.Is(err, docker.ErrTooManyRequests) {
		return true
	}
	var ec errcode.Error
	if errors.As(err, &ec) {
		return ec.Code == errcode.ErrorCodeTooManyRequests || ec.Code == errcode.ErrorCodeUnavailable
	}
	if m := statusText.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		return slices.Contains(retryStatuses, code)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return slices.Contains(retryErrnos, errno)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Err == io.EOF {
		// The registry accepted the connection and closed it.
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// registryNamer returns what names the registry in an error of a pull of
// ref: a message that does not name its host already gets "pulling from
// HOST/REPOSITORY: " before it. Other transports' errors stay as they are.
func registryNamer(ref types.ImageReference) func(error) error {
	named := ref.DockerReference()
	if ref.Transport().Name() != "docker" || named == nil {
		return func(err error) error { return err }
	}
	host := reference.Domain(named)
	return func(err error) error {
		if err == nil || strings.Contains(err.Error(), host) {
			return err
		}
		return fmt.Errorf("pulling from %s: %w", named.Name(), err)
	}
}

// StallError is a transfer from a registry that stopped sending data
// while its connection stayed open.
type StallError struct {
	What    string        // what was read ("" for a layer, named by the caller)
	Timeout time.Duration // how long nothing came
}

func (e *StallError) Error() string {
	msg := fmt.Sprintf("no data for %s (stalled connection)", e.Timeout)
	if e.What != "" {
		msg = e.What + ": " + msg
	}
	return msg
}

// idleGuard cancels its context when a wait for the registry (a read of a
// blob, a request) lasts longer than its timeout. Time spent elsewhere
// (unpacking what arrived) does not count.
type idleGuard struct {
	ctx     context.Context
	cancel  context.CancelFunc
	what    string
	timeout time.Duration
	timer   *time.Timer
	fired   atomic.Bool
}

// newIdleGuard returns a guard of parent with timeout, disarmed, for
// reading what; stop releases it.
func newIdleGuard(parent context.Context, timeout time.Duration, what string) *idleGuard {
	g := &idleGuard{what: what, timeout: timeout}
	g.ctx, g.cancel = context.WithCancel(parent)
	g.timer = time.AfterFunc(time.Hour, func() {
		g.fired.Store(true)
		g.cancel()
	})
	g.timer.Stop()
	return g
}

// arm starts the timeout; disarm stops it.
func (g *idleGuard) arm()    { g.timer.Reset(g.timeout) }
func (g *idleGuard) disarm() { g.timer.Stop() }

// wait runs f, which waits for the registry, under the timeout.
func (g *idleGuard) wait(f func()) {
	g.arm()
	defer g.disarm()
	f()
}

// explain returns err, or the stall that caused it (a full disk stays
// the cause it is).
func (g *idleGuard) explain(err error) error {
	if err != nil && g.fired.Load() && !diskfault.Is(err) {
		return &StallError{What: g.what, Timeout: g.timeout}
	}
	return err
}

func (g *idleGuard) stop() {
	g.timer.Stop()
	g.cancel()
}

// guardedSource is an image source whose blob requests and reads are
// watched by an idleGuard.
type guardedSource struct {
	types.ImageSource
	g *idleGuard
}

func (s guardedSource) GetBlob(ctx context.Context, info types.BlobInfo, cache types.BlobInfoCache) (rc io.ReadCloser, size int64, err error) {
	s.g.wait(func() { rc, size, err = s.ImageSource.GetBlob(ctx, info, cache) })
	if err != nil {
		return nil, 0, err
	}
	return guardedReader{rc, s.g}, size, nil
}

type guardedReader struct {
	io.ReadCloser
	g *idleGuard
}

func (r guardedReader) Read(p []byte) (n int, err error) {
	r.g.wait(func() { n, err = r.ReadCloser.Read(p) })
	return n, err
}
