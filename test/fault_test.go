package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultProxy stands between rless and the test registry and breaks what
// fault says: it returns a status code for manifests or blobs, corrupts,
// truncates or stalls blobs, resets connections, slows blobs down, stalls
// or redirects manifests, or answers them with what is not JSON. It
// counts the manifest requests (one per try of a pull) and the requests
// it broke, and, with limit set, breaks only the first limit of them.
type faultProxy struct {
	srv       *httptest.Server
	done      chan struct{} // closed when the test ends: stalls end
	mu        sync.Mutex
	fault     string
	limit     int // break only the first limit requests (0: all)
	broken    int // requests broken
	manifests int // manifest GETs
	hellos    int // TLS handshakes begun
	tls       bool
}

// proxyOption sets up a faultProxy.
type proxyOption func(*faultProxy)

// withTLS serves the proxy over HTTPS, with a certificate of a CA the
// system does not know.
func withTLS(p *faultProxy) { p.tls = true }

// withLimit breaks only the first n requests the fault aims at.
func withLimit(n int) proxyOption { return func(p *faultProxy) { p.limit = n } }

func newFaultProxy(t *testing.T, fault string, opts ...proxyOption) *faultProxy {
	t.Helper()
	registry(t)
	p := &faultProxy{fault: fault, done: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	target, _ := url.Parse("http://" + regAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	// stall keeps the request open, sending nothing more, until rless
	// gives up on it (or the test ends).
	stall := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-p.done:
		}
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blob := strings.Contains(r.URL.Path, "/blobs/sha256:") && r.Method == http.MethodGet
		manifest := strings.Contains(r.URL.Path, "/manifests/")
		p.mu.Lock()
		fault := p.fault
		if manifest && r.Method == http.MethodGet {
			p.manifests++
		}
		p.mu.Unlock()
		switch {
		case fault == "401" && manifest && p.take():
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		case (fault == "429" || fault == "500" || fault == "503") && manifest && p.take():
			code, _ := strconv.Atoi(fault)
			w.Header().Set("Retry-After", "0")
			http.Error(w, http.StatusText(code), code)
			return
		case fault == "stall-manifest" && manifest && p.take():
			stall(r)
			return
		case fault == "redirect-loop" && manifest && p.take():
			http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
			return
		case fault == "not-json" && manifest && p.take():
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write([]byte("<html><body>Registry maintenance</body></html>\n"))
			return
		case !blob:
			rp.ServeHTTP(w, r)
			return
		}
		// Blob faults hit layers (big blobs), not the config.
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch fault {
		case "404-blob", "503-blob", "reset", "corrupt", "truncate", "stall":
			if len(body) <= 4096 || !p.take() {
				fault = ""
			}
		case "slow":
		default:
			fault = ""
		}
		switch fault {
		case "404-blob":
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`, http.StatusNotFound)
			return
		case "503-blob":
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		case "reset":
			hj, _ := w.(http.Hijacker)
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				conn.Close()
			}
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		switch fault {
		case "corrupt":
			body = slices.Clone(body)
			body[len(body)/2] ^= 0xff
			w.Write(body)
		case "truncate":
			w.Write(body[:len(body)/2])
			// then drop the connection: the length promised is not met
			hj, _ := w.(http.Hijacker)
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		case "stall":
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			stall(r)
		case "slow":
			for len(body) > 0 {
				n := min(len(body), 32<<10)
				if _, err := w.Write(body[:n]); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				body = body[n:]
				time.Sleep(15 * time.Millisecond)
			}
		default:
			w.Write(body)
		}
	}))
	// rless's refusal of the certificate is the test's, not news.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if p.tls {
		p.srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			p.mu.Lock()
			p.hellos++
			p.mu.Unlock()
			return nil, nil
		}}
		p.srv.StartTLS()
	} else {
		p.srv.Start()
	}
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(p.done) })
	return p
}

// take counts a request the fault aims at, and reports whether to break
// it.
func (p *faultProxy) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit > 0 && p.broken >= p.limit {
		return false
	}
	p.broken++
	return true
}

// counts returns the manifest GETs, the requests broken and the TLS
// handshakes so far.
func (p *faultProxy) counts() (manifests, broken, hellos int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.manifests, p.broken, p.hellos
}

func (p *faultProxy) addr() string { return p.srv.Listener.Addr().String() }

// storeListing lists what a store holds: index, images, layers, trash.
func storeListing(t *testing.T, root string) string {
	t.Helper()
	var out []string
	index, _ := os.ReadFile(filepath.Join(root, "images.json"))
	out = append(out, string(index))
	for _, d := range []string{"images", "layers", "trash"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".lock") {
				out = append(out, d+"/"+e.Name())
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestPullFaults: each registry or transfer fault fails the pull with one
// error line that names the registry and the fault, exit 125, after as
// many tries as the fault deserves, and leaves the store as it was.
func TestPullFaults(t *testing.T) {
	registry(t)
	root := imageStore(t)
	// The store is not empty, but lacks every layer of the image pulled.
	mustImg(t, root, "pull", "-q", regAddr+"/"+multiarchRef)
	for _, c := range []struct {
		fault, want string
		// tries: the pulls tried, counted as manifest requests; 0: not
		// counted (containers/image itself tries a 429 again, and
		// follows a redirect 10 times).
		tries int
		opts  []proxyOption
		args  []string // pull's flags, besides --retry-delay
		env   []string
	}{
		{fault: "401", want: "unauthorized", tries: 1},
		{fault: "429", want: "429"},
		{fault: "500", want: "500", tries: 4},
		{fault: "503", want: "503", tries: 4},
		{fault: "404-blob", want: "blob unknown", tries: 1},
		{fault: "503-blob", want: "503", tries: 3, args: []string{"--retry=2"}},
		{fault: "reset", want: "connection reset", tries: 4},
		{fault: "corrupt", want: "digest mismatch", tries: 1},
		{fault: "truncate", want: "truncated", tries: 1},
		{fault: "missing-image", want: "manifest unknown", tries: 1},
		{fault: "stall", want: "no data for 1s (stalled connection)", tries: 2, args: []string{"--retry=1"}, env: []string{"RLESS_PULL_IDLE_TIMEOUT=1s"}},
		{fault: "stall-manifest", want: "no data for 1s (stalled connection)", tries: 2, args: []string{"--retry=1"}, env: []string{"RLESS_PULL_IDLE_TIMEOUT=1s"}},
		{fault: "redirect-loop", want: "stopped after 10 redirects"},
		{fault: "not-json", want: "invalid character '<'", tries: 1},
		{fault: "unknown-ca", want: "certificate signed by unknown authority", opts: []proxyOption{withTLS}},
	} {
		t.Run(c.fault, func(t *testing.T) {
			p := newFaultProxy(t, c.fault, c.opts...)
			ref := p.addr() + "/" + multiRef
			if c.fault == "missing-image" {
				ref = p.addr() + "/rless/nosuchimage:latest"
			}
			args := append([]string{"pull", "--retry-delay=1ms"}, c.args...)
			if c.fault != "unknown-ca" {
				args = append(args, "--tls-verify=false")
			}
			before := storeListing(t, root)
			snap := takeSnapshot(t)
			cmd := imgCmd(root, append(args, ref)...)
			cmd.Env = append(cmd.Env, c.env...)
			r := runCmd(t, cmd)
			t.Log(strings.TrimSpace(r.stderr[max(strings.LastIndex(r.stderr, "Error: "), 0):]))
			if r.code != 125 {
				t.Fatalf("exit %d, want 125\n%s", r.code, r.stderr)
			}
			errLines := 0
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(l, "Error: ") {
					errLines++
					if !strings.Contains(l, c.want) {
						t.Errorf("error line %q does not say %q", l, c.want)
					}
					if !strings.Contains(l, p.addr()) {
						t.Errorf("error line %q does not name the registry %s", l, p.addr())
					}
				}
			}
			if errLines != 1 || strings.Contains(r.stderr, "level=") {
				t.Errorf("want one error line and no library log:\n%s", r.stderr)
			}
			manifests, _, hellos := p.counts()
			if c.tries != 0 && manifests != c.tries {
				t.Errorf("%d tries (manifest requests), want %d:\n%s", manifests, c.tries, r.stderr)
			}
			if retries := strings.Count(r.stderr, "Failed, retrying in"); c.tries != 0 && retries != c.tries-1 {
				t.Errorf("%d retries announced, want %d:\n%s", retries, c.tries-1, r.stderr)
			}
			if c.fault == "unknown-ca" && hellos != 1 {
				t.Errorf("%d TLS handshakes: an untrusted certificate is not tried again", hellos)
			}
			if after := storeListing(t, root); after != before {
				t.Errorf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			assertClean(t, snap)
		})
	}
}

// TestPullRetries: a registry that fails a few requests with 500, 429 or
// 503 and then answers gets the image pulled, whole, after that many
// retries; a registry that keeps failing gets 1+N tries for --retry=N.
func TestPullRetries(t *testing.T) {
	for _, c := range []struct {
		fault string
		limit int      // requests failed
		args  []string // pull's flags, besides --retry-delay
		ok    bool     // the pull succeeds
		tries int      // manifest requests
	}{
		{fault: "500", limit: 2, ok: true, tries: 3},
		{fault: "429", limit: 2, ok: true, tries: 3},
		{fault: "503-blob", limit: 2, ok: true},
		{fault: "500", args: []string{"--retry=2"}, tries: 3},
		{fault: "500", args: []string{"--retry=0"}, tries: 1},
		{fault: "503", args: []string{"--retry=5"}, tries: 6},
	} {
		t.Run(fmt.Sprintf("%s-%d%s", c.fault, c.limit, strings.Join(c.args, "")), func(t *testing.T) {
			var opts []proxyOption
			if c.limit > 0 {
				opts = append(opts, withLimit(c.limit))
			}
			p := newFaultProxy(t, c.fault, opts...)
			root := imageStore(t)
			snap := takeSnapshot(t)
			args := append([]string{"pull", "--tls-verify=false", "--retry-delay=1ms"}, c.args...)
			r := rlessImg(t, root, append(args, p.addr()+"/"+multiRef)...)
			manifests, broken, _ := p.counts()
			t.Logf("exit %d, %d manifest requests, %d failed", r.code, manifests, broken)
			if c.ok {
				if r.code != 0 {
					t.Fatalf("exit %d\n%s", r.code, r.stderr)
				}
				if broken != c.limit {
					t.Errorf("%d requests failed, want %d", broken, c.limit)
				}
				checkStoreWhole(t, root)
				if n := len(listImages(t, root)); n != 1 {
					t.Errorf("%d images, want 1", n)
				}
			} else {
				if r.code != 125 {
					t.Fatalf("exit %d, want 125\n%s", r.code, r.stderr)
				}
				if after := storeListing(t, root); strings.Contains(after, "/") {
					t.Errorf("a failed pull left:\n%s", after)
				}
			}
			if c.tries != 0 && manifests != c.tries {
				t.Errorf("%d tries (manifest requests), want %d\n%s", manifests, c.tries, r.stderr)
			}
			assertClean(t, snap)
		})
	}
}

// TestPullTLSVerifyFalse: a registry whose certificate no known CA signed
// (TestPullFaults' unknown-ca) is pulled from with --tls-verify=false.
func TestPullTLSVerifyFalse(t *testing.T) {
	p := newFaultProxy(t, "", withTLS)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "--tls-verify=false", p.addr()+"/"+multiRef)
	if _, _, hellos := p.counts(); hellos == 0 {
		t.Error("the pull did not go through the TLS proxy")
	}
	checkStoreWhole(t, root)
}

// TestPullKilled kills pulls at several points and checks that a normal
// pull then completes a store whose images are whole.
func TestPullKilled(t *testing.T) {
	p := newFaultProxy(t, "slow")
	root := imageStore(t)
	ref := p.addr() + "/" + multiRef
	for i, delay := range []time.Duration{30, 120, 250, 400, 600, 900} {
		snap := takeSnapshot(t)
		cmd := imgCmd(root, "pull", "-q", "--tls-verify=false", ref)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The pull in the user namespace dies with the killed rless.
		if left := newPids(snap, waitProcessesGone(t, snap)); len(left) > 0 {
			t.Errorf("processes left after killing a pull: %v", left)
		}
		r := rlessImg(t, root, "pull", "-q", "--tls-verify=false", ref)
		if r.code != 0 {
			t.Fatalf("pull after a kill at %v (run %d): exit %d\n%s", delay*time.Millisecond, i, r.code, r.stderr)
		}
		checkStoreWhole(t, root)
		// Start again from an empty store half the time, else from one
		// with the image (the kill then hits a pull with nothing to do).
		if i%2 == 0 {
			mustImg(t, root, "rmi", "-f", strings.TrimSpace(r.stdout))
		}
	}
}

// checkStoreWhole checks that every image of root has all its layers, each
// complete, and that the index and files agree.
func checkStoreWhole(t *testing.T, root string) {
	t.Helper()
	for _, img := range listImages(t, root) {
		for _, l := range img.Layers {
			if _, err := os.Stat(filepath.Join(filepath.Dir(diffDir(root, l)), "layer.json")); err != nil {
				t.Errorf("image %s: layer %s incomplete: %v", img.ID[:12], l, err)
			}
		}
		for _, f := range []string{"manifest.json", "config.json"} {
			if _, err := os.Stat(filepath.Join(root, "images", img.ID, f)); err != nil {
				t.Errorf("image %s: %v", img.ID[:12], err)
			}
		}
		// It runs (the multi-layer image is checked through its files).
		if len(img.Layers) >= 2 {
			r := mustImg(t, root, "run", "--rm", "--pull=never", "-u", "0", img.ID, "sh", "-c", "test ! -e /data/keep || cat /data/keep /opaque/new; echo ok")
			if want := "ok\n"; len(img.Layers) == 3 && r.stdout != "keep\nnew\n"+want || len(img.Layers) != 3 && r.stdout != want {
				t.Errorf("image %s runs and says %q", img.ID[:12], r.stdout)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "layers"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary layer %s left after a complete pull", e.Name())
		}
	}
}

// TestPullConcurrent: two pulls of one image at once both succeed and
// store it once.
func TestPullConcurrent(t *testing.T) {
	p := newFaultProxy(t, "slow")
	root := imageStore(t)
	ref := p.addr() + "/" + multiRef
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := imgCmd(root, "pull", "-q", "--tls-verify=false", ref)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			results[i] = result{stdout.String(), stderr.String(), 0}
			if err != nil {
				results[i].code = -1
				results[i].stderr += err.Error()
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("pull %d failed: %s", i, r.stderr)
		}
	}
	if results[0].stdout != results[1].stdout {
		t.Errorf("the pulls disagree: %q %q", results[0].stdout, results[1].stdout)
	}
	imgs := listImages(t, root)
	if len(imgs) != 1 {
		t.Fatalf("images: %+v", imgs)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "layers"))
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 3 {
		t.Errorf("layer directories %v, want the image's 3", dirs)
	}
	checkStoreWhole(t, root)
}
