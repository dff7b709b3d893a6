package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/busybox"
	"github.com/rless/rless/internal/testimage"
)

// The image tests pull from a real registry (Debian's docker-registry, the
// distribution registry) that the first of them starts on 127.0.0.1 and
// fills with images built here. registries.conf makes it the mirror of
// docker.io, so that "alpine" resolves to it.
var (
	regOnce    sync.Once
	regErr     error
	regAddr    string // host:port of the registry
	stopReg    func()
	regConf    string // the registries.conf the image tests use
	regLayout  *testimage.Layout
	alpineFile = "3.20.3\n"
	webBody    = "served by rless/web\n"
)

// Images in the registry.
const (
	alpineRef     = "library/alpine:latest"
	multiRef      = "rless/multilayer:latest"
	sharedRef     = "rless/shared:latest" // shares alpine's base layer
	multiarchRef  = "rless/multiarch:latest"
	webRef        = "rless/web:latest"    // busybox httpd serving webBody on port 80
	debianRef     = "rless/debian:latest" // Debian's apt-get, with files of Debian's system users
	bigRef        = "rless/big:latest"    // alpine's base and 6 MB that do not compress
	multilayerUID = 1234
)

// registry starts the registry and pushes the test images, once.
func registry(t *testing.T) {
	t.Helper()
	regOnce.Do(func() { regErr = startRegistry() })
	if regErr != nil {
		t.Fatalf("test registry: %v", regErr)
	}
}

func startRegistry() error {
	var err error
	regAddr, stopReg, err = testimage.StartRegistry(filepath.Join(workDir, "registry"))
	if err != nil {
		return err
	}
	regConf = filepath.Join(workDir, "registries.conf")
	err = os.WriteFile(regConf, []byte(fmt.Sprintf(`unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "%[1]s"
insecure = true

[[registry]]
location = "%[1]s"
insecure = true
`, regAddr)), 0o644)
	if err != nil {
		return err
	}
	return pushImages()
}

func stopRegistry() {
	if stopReg != nil {
		stopReg()
	}
}

// pushImages builds the test images and pushes them.
func pushImages() error {
	ctx := context.Background()
	base, err := baseLayer()
	if err != nil {
		return err
	}
	l, err := testimage.NewLayout(filepath.Join(workDir, "layout"))
	if err != nil {
		return err
	}
	regLayout = l
	release := testimage.Tar(testimage.Entry{Name: "etc/", Type: '5'}, testimage.Entry{Name: "etc/alpine-release", Body: alpineFile})
	images := map[string]testimage.Image{
		alpineRef: {
			Layers: []testimage.Layer{{Tar: base}, {Tar: release}},
			Config: v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		},
		multiRef: {
			Layers: []testimage.Layer{{Tar: base}, {Tar: multiLayer2(), Compression: testimage.Zstd}, {Tar: multiLayer3()}},
			Config: v1.ImageConfig{
				User: "alice", WorkingDir: "/data", Cmd: []string{"sh"}, StopSignal: "SIGUSR2",
				Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RLESS_TEST=multilayer"},
			},
		},
		webRef: {
			Layers: []testimage.Layer{{Tar: base}, {Tar: testimage.Tar(testimage.Entry{Name: "www/", Type: '5'}, testimage.Entry{Name: "www/index.html", Body: webBody})}},
			Config: v1.ImageConfig{
				Cmd:          []string{"sh", "-c", "echo web starting; exec httpd -f -v -p 80 -h /www"},
				Env:          []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
				ExposedPorts: map[string]struct{}{"80/tcp": {}},
			},
		},
		sharedRef: {
			Layers: []testimage.Layer{{Tar: base}, {Tar: testimage.Tar(testimage.Entry{Name: "shared", Body: "shared\n"}), Compression: testimage.None}},
			Config: v1.ImageConfig{Cmd: []string{"sh"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}}},
		},
	}
	deb, err := debianLayer()
	if err != nil {
		return fmt.Errorf("debian image: %w", err)
	}
	noise := make([]byte, 6<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(noise)
	images[bigRef] = testimage.Image{
		Layers: []testimage.Layer{{Tar: base}, {Tar: testimage.Tar(testimage.Entry{Name: "noise", Body: string(noise)})}},
		Config: v1.ImageConfig{Cmd: []string{"sh"}},
	}
	images[debianRef] = testimage.Image{
		Layers: []testimage.Layer{{Tar: deb}},
		Config: v1.ImageConfig{Cmd: []string{"apt-get", "--version"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	}
	for ref, img := range images {
		d, err := l.Add(img)
		if err != nil {
			return err
		}
		tag := layoutTag(ref)
		if err := l.Tag(d, tag); err != nil {
			return err
		}
		if err := l.Copy(ctx, tag, "docker://"+regAddr+"/"+ref); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	// A manifest list: this machine's architecture and arm64, told apart
	// by /etc/platform.
	var ds []v1.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := l.Add(testimage.Image{
			Arch:   arch,
			Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.Entry{Name: "etc/platform", Body: arch + "\n"})}},
		})
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	if err := l.TagList(ds, "multiarch"); err != nil {
		return err
	}
	if err := l.Copy(ctx, "multiarch", "docker://"+regAddr+"/"+multiarchRef); err != nil {
		return fmt.Errorf("push %s: %w", multiarchRef, err)
	}
	return nil
}

// baseLayer is a busybox root filesystem with users alice (1234) and bob.
func baseLayer() ([]byte, error) {
	dir := filepath.Join(workDir, "base-rootfs")
	err := busybox.Rootfs(dir, map[string]string{
		// As alpine's: root is a member of other groups, and nobody exists.
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1234:Alice:/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
		"etc/group":  "root:x:0:root\nwheel:x:10:root\nalice:x:1234:\nstaff:x:50:alice\nnobody:x:65534:\n",
	})
	if err != nil {
		return nil, err
	}
	return testimage.TarDir(dir)
}

// debianLayer is this machine's /usr/bin/apt-get (Debian's) with the
// libraries it loads, Debian's passwd and group, and files owned by
// Debian's system users and groups (_apt 42, shadow 42), as a Debian image
// has them.
func debianLayer() ([]byte, error) {
	out, err := exec.Command("ldd", "/usr/bin/apt-get").Output()
	if err != nil {
		return nil, fmt.Errorf("ldd /usr/bin/apt-get: %w", err)
	}
	// apt reads dpkg's architecture tables.
	files := []string{"/usr/bin/apt-get", "/usr/share/dpkg/cputable", "/usr/share/dpkg/tupletable", "/usr/share/dpkg/ostable"}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			files = append(files, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			files = append(files, f[0])
		}
	}
	dirs := map[string]bool{}
	var entries []testimage.Entry
	addDirs := func(p string) {
		var parts []string
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			parts = append([]string{d}, parts...)
		}
		for _, d := range parts {
			if !dirs[d] {
				dirs[d] = true
				entries = append(entries, testimage.Entry{Name: d[1:] + "/", Type: '5'})
			}
		}
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		addDirs(f)
		entries = append(entries, testimage.Entry{Name: f[1:], Body: string(body), Mode: 0o755})
	}
	for _, d := range []string{"/etc/apt/apt.conf.d/x", "/var/cache/apt/x", "/var/lib/apt/lists/x", "/var/lib/dpkg/x"} {
		addDirs(d)
	}
	entries = append(entries,
		testimage.Entry{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		testimage.Entry{Name: "etc/group", Body: "root:x:0:\ndaemon:x:1:\nadm:x:4:\nshadow:x:42:\nnogroup:x:65534:\n"},
		testimage.Entry{Name: "etc/shadow", Body: "root:*:19000:0:99999:7:::\n", Mode: 0o640, GID: 42},
		testimage.Entry{Name: "var/lib/apt/lists/partial/", Type: '5', Mode: 0o700, UID: 42},
		testimage.Entry{Name: "var/cache/apt/archives/", Type: '5'},
		testimage.Entry{Name: "var/lib/dpkg/status", Body: ""},
		testimage.Entry{Name: "var/cache/apt/archives/partial/", Type: '5', Mode: 0o700, UID: 42},
	)
	return testimage.Tar(entries...), nil
}

// multiLayer2 adds files the third layer deletes, a file of uid 1234, a
// hardlink and a setuid file.
func multiLayer2() []byte {
	return testimage.Tar(
		testimage.Entry{Name: "data/", Type: '5'},
		testimage.Entry{Name: "data/keep", Body: "keep\n"},
		testimage.Entry{Name: "data/gone", Body: "gone\n"},
		testimage.Entry{Name: "opaque/", Type: '5'},
		testimage.Entry{Name: "opaque/old1", Body: "old\n"},
		testimage.Entry{Name: "opaque/old2", Body: "old\n"},
		testimage.Entry{Name: "home/", Type: '5'},
		testimage.Entry{Name: "home/alice/", Type: '5', UID: multilayerUID, GID: multilayerUID, Mode: 0o700},
		testimage.Entry{Name: "home/alice/owned", Body: "alice's\n", UID: multilayerUID, GID: multilayerUID},
		testimage.Entry{Name: "data/hard1", Body: "linked\n"},
		testimage.Entry{Name: "data/hard2", Type: '1', Link: "data/hard1"},
		testimage.Entry{Name: "data/setuid", Body: "#!/bin/sh\n", Mode: 0o4755},
	)
}

// multiLayer3 deletes data/gone and bin/vi and makes opaque/ opaque.
func multiLayer3() []byte {
	return testimage.Tar(
		testimage.Entry{Name: "data/", Type: '5'},
		testimage.Entry{Name: "data/.wh.gone"},
		testimage.Entry{Name: "bin/", Type: '5'},
		testimage.Entry{Name: "bin/.wh.vi"},
		testimage.Entry{Name: "opaque/", Type: '5'},
		testimage.Entry{Name: "opaque/.wh..wh..opq"},
		testimage.Entry{Name: "opaque/new", Body: "new\n"},
	)
}

// imageStore returns a fresh store directory for a test. Its layers hold
// files of subordinate ids: it is removed inside the user namespace.
func imageStore(t *testing.T) string {
	t.Helper()
	return imageStoreIn(t, t.TempDir())
}

// imageStoreIn is imageStore at parent/store.
func imageStoreIn(t *testing.T, parent string) string {
	t.Helper()
	root := filepath.Join(parent, "store")
	t.Cleanup(func() {
		// A test that failed half-way leaves no detached container
		// running to the next ones.
		_ = imgCmd(root, "rm", "-fa").Run()
		if out, err := rlessCmd("unshare", "rm", "-rf", root).CombinedOutput(); err != nil {
			t.Errorf("remove store %s: %v\n%s", root, err, out)
		}
	})
	return root
}

// rlessImg runs rless with the test registries.conf and store root.
func rlessImg(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runCmd(t, imgCmd(root, args...))
}

func imgCmd(root string, args ...string) *exec.Cmd {
	cmd := rlessCmd(append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+regConf, "REGISTRY_AUTH_FILE="+filepath.Join(workDir, "auth.json"))
	return cmd
}

// mustImg is rlessImg requiring exit status 0.
func mustImg(t *testing.T, root string, args ...string) result {
	t.Helper()
	r := rlessImg(t, root, args...)
	if r.code != 0 {
		t.Fatalf("rless %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// layoutTag is the tag of image ref in the test OCI layout.
func layoutTag(ref string) string { return strings.NewReplacer("/", "-", ":", "-").Replace(ref) }
