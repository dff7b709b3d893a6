package test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultProxy stands between rless and the test registry and breaks what
// fault says: it returns a status code for manifests or blobs, corrupts or
// truncates blobs, resets connections, or slows blobs down.
type faultProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	fault string
}

func newFaultProxy(t *testing.T, fault string) *faultProxy {
	t.Helper()
	registry(t)
	p := &faultProxy{fault: fault}
	target, _ := url.Parse("http://" + regAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		fault := p.fault
		p.mu.Unlock()
		blob := strings.Contains(r.URL.Path, "/blobs/sha256:") && r.Method == http.MethodGet
		manifest := strings.Contains(r.URL.Path, "/manifests/")
		switch {
		case fault == "401" && manifest:
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		case (fault == "429" || fault == "500" || fault == "503") && manifest:
			code := map[string]int{"429": 429, "500": 500, "503": 503}[fault]
			w.Header().Set("Retry-After", "0")
			http.Error(w, http.StatusText(code), code)
			return
		case !blob:
			rp.ServeHTTP(w, r)
			return
		}
		// Blob faults hit layers (big blobs), not the config.
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) <= 4096 && fault != "slow" {
			fault = ""
		}
		if fault == "404-blob" {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`, http.StatusNotFound)
			return
		}
		if fault == "reset" {
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
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

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
// error line and exit 125, and leaves the store as it was.
func TestPullFaults(t *testing.T) {
	registry(t)
	root := imageStore(t)
	// The store is not empty, but lacks every layer of the image pulled.
	mustImg(t, root, "pull", "-q", regAddr+"/"+multiarchRef)
	for _, c := range []struct{ fault, want string }{
		{"401", "unauthorized"},
		{"429", "429"},
		{"500", "500"},
		{"503", "503"},
		{"404-blob", "blob unknown"},
		{"reset", "connection reset"},
		{"corrupt", "digest mismatch"},
		{"truncate", "truncated"},
		{"missing-image", "manifest unknown"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			p := newFaultProxy(t, c.fault)
			ref := p.addr() + "/" + multiRef
			if c.fault == "missing-image" {
				ref = p.addr() + "/rless/nosuchimage:latest"
			}
			before := storeListing(t, root)
			snap := takeSnapshot(t)
			r := rlessImg(t, root, "pull", "--tls-verify=false", ref)
			t.Log(strings.TrimSpace(r.stderr[strings.LastIndex(r.stderr, "Error: "):]))
			if r.code != 125 {
				t.Fatalf("exit %d, want 125\n%s", r.code, r.stderr)
			}
			errLines := 0
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(l, "Error: ") {
					errLines++
					if c.want != "" && !strings.Contains(l, c.want) {
						t.Errorf("error line %q does not say %q", l, c.want)
					}
				}
			}
			if errLines != 1 || strings.Contains(r.stderr, "level=") {
				t.Errorf("want one error line and no library log:\n%s", r.stderr)
			}
			if after := storeListing(t, root); after != before {
				t.Errorf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			assertClean(t, snap)
		})
	}
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
