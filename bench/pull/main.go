// Command bench-pull measures pulling an image of 5 layers and about
// 150 MB (uncompressed) from a registry on 127.0.0.1 with rless and with
// podman, rootless, each run into a fresh store, and compares their wall
// times and the disk space their stores take.
//
// It starts its own registry (Debian's docker-registry) with a temporary
// storage directory, builds a deterministic image (a busybox base layer and
// four layers of generated files, text and pseudo-random data from a fixed
// seed, gzip-compressed) and pushes it there. Then, in each round, it runs
// one pull of each tool, alternating which goes first:
//
//	rless --root S --runroot SR pull -q --tls-verify=false REF
//	podman --root R --runroot RR pull -q --tls-verify=false REF
//
// (podman with CONTAINERS_STORAGE_CONF naming a storage.conf with the
// overlay driver and R, RR; rootless podman picks native overlay or
// fuse-overlayfs, which the output says). Each pull runs under a small
// process of its own (bench-pull __measure) that reports its wall time,
// CPU time and max RSS. After each pull it measures the store with
// du -s -B1 (blocks, hardlinks once) inside the user namespace of the tool
// (`rless unshare`, `podman unshare`: the layers hold files of subordinate
// ids). The stores are removed there at the end (see removeStores for why
// not after each pull), so the benchmark needs about 0.35 GB of disk per
// round in -dir.
//
// podman keeps a per-user "pause process" that holds its user namespace:
// a podman command that finds one joins it instead of creating a user
// namespace with newuidmap/newgidmap. rless has no such process, so by
// default (-pause fresh) the pause process is stopped with `podman system
// migrate` before every timed podman pull, and each pull, like rless's,
// sets up its user namespace itself; -pause keep leaves the one that the
// benchmark's first podman command starts (podman's usual warm state). A
// pause process found at the start is stopped either way, and none is
// left at the end.
//
// It must run as an unprivileged user with a subordinate id range; as root,
// use bench/pull/run.sh, which runs it as the test user. It is a
// measurement, not a test: a missed target is reported, not an error.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/benchio"
	"github.com/rless/rless/internal/busybox"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/internal/testimage"
)

// Targets of the acceptance line: rless's median wall time at most 0.7x
// podman's, its store no larger than podman's.
const (
	maxTimeRatio = 0.7
	maxDiskRatio = 1.0
)

const imageRepo = "bench/big:latest"

// seed makes the generated layers (and so the image digest) the same on
// every run.
const seed = 0x7e55_b1c0

type config struct {
	rless  string // absolute path of rless
	podman string // path of podman
	ref    string // 127.0.0.1:PORT/bench/big:latest
	work   string // the benchmark's temporary directory
	runs   string // a short directory for run roots (podman wants < 50 characters)
	pause  string // fresh or keep
	detail bool   // print where each store's space goes
	// removals remove the stores, at the end: see removeStores.
	removals []func(context.Context) error
	podEnv   []string
	podConfs string // directory of podman's containers.conf
}

// runResult is one timed pull.
type runResult struct {
	Tool        string  `json:"tool"`
	Round       int     `json:"round"`
	Order       int     `json:"order"` // 1 if the tool went first in its round
	WallS       float64 `json:"wall_s"`
	UserS       float64 `json:"user_cpu_s"`
	SysS        float64 `json:"sys_cpu_s"`
	MaxRSSMB    float64 `json:"max_rss_mb"`
	DiskBytes   int64   `json:"disk_bytes"`
	Inodes      int64   `json:"inodes"`
	ImageID     string  `json:"image_id"`
	PauseBefore *bool   `json:"pause_process_before,omitempty"`
	Error       string  `json:"error,omitempty"`
	Detail      string  `json:"detail,omitempty"` // du of the store's directories (-detail)
}

type summary struct {
	Tool         string    `json:"tool"`
	Runs         int       `json:"runs"`
	MedianWallS  float64   `json:"median_wall_s"`
	MinWallS     float64   `json:"min_wall_s"`
	MaxWallS     float64   `json:"max_wall_s"`
	MedianCPUS   float64   `json:"median_cpu_s"`
	MedianRSSMB  float64   `json:"median_max_rss_mb"`
	MedianDisk   int64     `json:"median_disk_bytes"`
	MedianInodes int64     `json:"median_inodes"`
	WallS        []float64 `json:"wall_s"`
	Disk         []int64   `json:"disk_bytes"`
}

type targetResult struct {
	What     string   `json:"what"`
	MaxRatio float64  `json:"max_ratio"`
	Ratio    *float64 `json:"ratio"`
	Met      *bool    `json:"met"`
}

type layerInfo struct {
	Digest     string `json:"digest"`
	Compressed int64  `json:"compressed_bytes"`
	TarBytes   int64  `json:"tar_bytes"`
	Files      int    `json:"files"`
	Dirs       int    `json:"dirs"`
	Links      int    `json:"links"`
	Content    int64  `json:"content_bytes"`
}

type imageInfo struct {
	Ref        string      `json:"ref"`
	ID         string      `json:"id"`
	Layers     []layerInfo `json:"layers"`
	Compressed int64       `json:"compressed_bytes"`
	TarBytes   int64       `json:"tar_bytes"`
	Files      int         `json:"files"`
}

type report struct {
	Time          time.Time         `json:"time"`
	Runs          int               `json:"runs"`
	Warmup        int               `json:"warmup"`
	Pause         string            `json:"pause"`
	Workdir       string            `json:"workdir"`
	Filesystem    string            `json:"filesystem"`
	Kernel        string            `json:"kernel"`
	CPUs          int               `json:"cpus"`
	Versions      map[string]string `json:"versions"`
	PodmanDriver  string            `json:"podman_graph_driver"`
	PodmanOptions string            `json:"podman_graph_options"`
	PodmanStatus  string            `json:"podman_graph_status"`
	PodmanOverlay string            `json:"podman_overlay"` // native or fuse-overlayfs
	Image         imageInfo         `json:"image"`
	Results       []runResult       `json:"results"`
	Summaries     []summary         `json:"summaries"`
	Targets       []targetResult    `json:"targets"`
	PauseNote     string            `json:"pause_note,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == measureArg {
		os.Exit(measure(os.Args[2:]))
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-pull: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	rlessPath := flag.String("rless", "", "path of the rless `binary` (required; built with hack/build.sh)")
	podmanPath := flag.String("podman", "podman", "podman `binary`")
	n := flag.Int("n", 5, "timed rounds (one pull of each tool per round)")
	warmup := flag.Int("warmup", 1, "untimed rounds first")
	sizeMB := flag.Int("mb", 150, "uncompressed image size in `MB` (approximate)")
	dir := flag.String("dir", "/var/tmp", "`directory` for the registry, the image and the stores (a disk, not tmpfs)")
	pause := flag.String("pause", "fresh", "podman's pause process before each timed pull: fresh (stopped with `podman system migrate`) or keep")
	detail := flag.Bool("detail", false, "print the disk use of each store's directories, two levels down")
	commit := flag.String("commit", "", "`description` of the rless build (run.sh passes git describe), printed and recorded")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	if os.Getuid() == 0 {
		return errors.New("running as root: the benchmark compares rootless pulls and must run as an unprivileged user with a subordinate id range; use bench/pull/run.sh, which runs it as the test user")
	}
	if *rlessPath == "" {
		return errors.New("-rless is required")
	}
	if *n < 1 || *warmup < 0 || *sizeMB < 10 {
		return errors.New("-n must be at least 1, -warmup at least 0 and -mb at least 10")
	}
	if *pause != "fresh" && *pause != "keep" {
		return fmt.Errorf("-pause: %q is neither fresh nor keep", *pause)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var cfg config
	var err error
	if cfg.rless, err = filepath.Abs(*rlessPath); err != nil {
		return err
	}
	if fi, err := os.Stat(cfg.rless); err != nil {
		return fmt.Errorf("-rless: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("-rless: %s is not an executable file", cfg.rless)
	}
	if cfg.podman, err = exec.LookPath(*podmanPath); err != nil {
		return fmt.Errorf("-podman: %w", err)
	}
	cfg.pause, cfg.detail = *pause, *detail
	if cfg.work, err = os.MkdirTemp(*dir, "bench-pull-"); err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(cfg.work); err != nil {
			fmt.Fprintf(os.Stderr, "bench-pull: warning: removing %s: %v\n", cfg.work, err)
		}
	}()

	if cfg.runs, err = os.MkdirTemp("/tmp", "bp-"); err != nil {
		return err
	}
	defer os.RemoveAll(cfg.runs)

	rep := report{Time: time.Now().UTC(), Runs: *n, Warmup: *warmup, Pause: *pause, Workdir: cfg.work, CPUs: numCPU()}
	rep.Filesystem = fsType(cfg.work)
	rep.Kernel = strings.TrimSpace(readFile("/proc/sys/kernel/osrelease"))
	rep.Versions = map[string]string{
		"rless":           version(cfg.rless) + commitSuffix(*commit),
		"podman":          version(cfg.podman),
		"docker-registry": version("docker-registry"),
	}

	// The registry.
	addr, stopRegistry, err := testimage.StartRegistry(filepath.Join(cfg.work, "registry"))
	if err != nil {
		return err
	}
	defer stopRegistry()
	cfg.ref = addr + "/" + imageRepo

	// The image.
	fmt.Printf("building a %d MB image and pushing it to %s ...\n", *sizeMB, cfg.ref)
	t0 := time.Now()
	img, err := buildAndPush(ctx, cfg.work, cfg.ref, int64(*sizeMB)*1_000_000)
	if err != nil {
		return err
	}
	rep.Image = img
	fmt.Printf("image built and pushed in %.1f s\n", time.Since(t0).Seconds())

	// podman's configuration and its graph driver.
	cfg.podConfs = filepath.Join(cfg.runs, "conf") // in /tmp: see stopPause
	if err := os.MkdirAll(cfg.podConfs, 0o755); err != nil {
		return err
	}
	containersConf := filepath.Join(cfg.podConfs, "containers.conf")
	// cgroupfs and the file event logger: what podman picks here anyway
	// without a systemd user session, said so that it does not look for
	// one.
	if err := os.WriteFile(containersConf, []byte("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"), 0o644); err != nil {
		return err
	}
	cfg.podEnv = append(os.Environ(), "CONTAINERS_CONF="+containersConf)
	// A pause process left from before (by this user's earlier podman
	// commands) would be joined, with its mount namespace as it was when
	// it started: start from none.
	if err := stopPause(ctx, &cfg); err != nil {
		return fmt.Errorf("podman system migrate: %w", err)
	}
	if err := podmanInfo(ctx, &cfg, &rep); err != nil {
		return err
	}

	printHeader(&rep, &cfg)
	defer func() {
		ctx := context.WithoutCancel(ctx)
		removeStores(ctx, &cfg)
		// Leave no pause process behind.
		_ = stopPause(ctx, &cfg)
	}()

	// The rounds.
	tools := []string{"rless", "podman"}
	for round := -*warmup + 1; round <= *n; round++ {
		order := tools
		if (round+*warmup)%2 == 0 {
			order = []string{"podman", "rless"}
		}
		for i, tool := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var r runResult
			if tool == "rless" {
				r = rlessRun(ctx, &cfg)
			} else {
				r = podmanRun(ctx, &cfg)
			}
			r.Round, r.Order = round, i+1
			if r.Error == "" && r.ImageID != img.ID {
				r.Error = fmt.Sprintf("printed image ID %q, not the image's %s", r.ImageID, img.ID)
			}
			label := fmt.Sprintf("round %d", round)
			if round <= 0 {
				label = "warm-up"
			}
			printRun(label, r)
			if round > 0 {
				rep.Results = append(rep.Results, r)
			}
		}
	}
	fmt.Println()
	med := map[string]summary{}
	for _, tool := range tools {
		s, ok := summarize(tool, rep.Results)
		if !ok {
			fmt.Printf("%s: no successful run\n", tool)
			continue
		}
		rep.Summaries = append(rep.Summaries, s)
		med[tool] = s
	}
	printSummaries(rep.Summaries)
	fmt.Println()

	r, okR := med["rless"]
	p, okP := med["podman"]
	tt := targetResult{What: "wall time, rless / podman medians", MaxRatio: maxTimeRatio}
	dt := targetResult{What: "disk, rless / podman medians", MaxRatio: maxDiskRatio}
	if okR && okP {
		tq := r.MedianWallS / p.MedianWallS
		dq := float64(r.MedianDisk) / float64(p.MedianDisk)
		tm, dm := tq <= maxTimeRatio, dq <= maxDiskRatio
		tt.Ratio, tt.Met = &tq, &tm
		dt.Ratio, dt.Met = &dq, &dm
	}
	rep.Targets = []targetResult{tt, dt}
	for _, t := range rep.Targets {
		fmt.Printf("target: %s <= %.2f: ", t.What, t.MaxRatio)
		if t.Ratio == nil {
			fmt.Println("not measured (a tool had no successful run)")
			continue
		}
		verdict := "met"
		if !*t.Met {
			verdict = "NOT met"
		}
		fmt.Printf("%.3f, %s\n", *t.Ratio, verdict)
	}

	var paused, podmanRuns int
	for _, r := range rep.Results {
		if r.PauseBefore != nil {
			podmanRuns++
			if *r.PauseBefore {
				paused++
			}
		}
	}
	rep.PauseNote = fmt.Sprintf("-pause %s: podman's pause process was running before %d of %d timed podman pulls", *pause, paused, podmanRuns)
	fmt.Println(rep.PauseNote)

	failed := 0
	for _, r := range rep.Results {
		if r.Error != "" {
			failed++
		}
	}

	if err := benchio.WriteJSON(*jsonOut, rep); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d timed pulls failed", failed, len(rep.Results))
	}
	return nil
}

// ---- registry ----

// ---- the image ----

// buildAndPush builds the image (about total bytes of layer tars) in an
// OCI layout under work and pushes it to ref.
func buildAndPush(ctx context.Context, work, ref string, total int64) (imageInfo, error) {
	info := imageInfo{Ref: ref}
	rootfs := filepath.Join(work, "base-rootfs")
	if err := busybox.Rootfs(rootfs, nil); err != nil {
		return info, err
	}
	base, err := testimage.TarDir(rootfs)
	if err != nil {
		return info, err
	}
	if base, err = normalizeTar(base); err != nil {
		return info, err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return info, err
	}
	tars := [][]byte{base}
	stats := []layerInfo{tarStats(base)}
	// The generated layers share the rest unevenly, as real images do.
	weights := []float64{0.35, 0.30, 0.20, 0.15}
	rest := total - int64(len(base))
	if rest < 0 {
		rest = 0
	}
	for i, w := range weights {
		t, st := genLayer(i+1, int64(float64(rest)*w))
		tars = append(tars, t)
		stats = append(stats, st)
	}

	l, err := testimage.NewLayout(filepath.Join(work, "layout"))
	if err != nil {
		return info, err
	}
	img := testimage.Image{Config: v1.ImageConfig{
		Cmd: []string{"/bin/sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}}
	for _, t := range tars {
		img.Layers = append(img.Layers, testimage.Layer{Tar: t, Compression: testimage.Gzip})
	}
	d, err := l.Add(img)
	if err != nil {
		return info, err
	}
	if err := l.Tag(d, "big"); err != nil {
		return info, err
	}
	mb, err := os.ReadFile(filepath.Join(l.Dir, "blobs", "sha256", d.Digest.Encoded()))
	if err != nil {
		return info, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return info, err
	}
	info.ID = m.Config.Digest.Encoded()
	for i, ld := range m.Layers {
		st := stats[i]
		st.Digest = ld.Digest.String()
		st.Compressed = ld.Size
		info.Layers = append(info.Layers, st)
		info.Compressed += ld.Size
		info.TarBytes += st.TarBytes
		info.Files += st.Files
	}
	if err := l.Copy(ctx, "big", "docker://"+ref); err != nil {
		return info, fmt.Errorf("push %s: %w", ref, err)
	}
	// The registry holds the blobs now: the layout is not needed.
	return info, os.RemoveAll(l.Dir)
}

// normalizeTar drops the access and change times (and any other PAX
// record) that tar.FileInfoHeader took from the files, so that the base
// layer, and the image, are the same on every run.
func normalizeTar(t []byte) ([]byte, error) {
	var out bytes.Buffer
	tr := tar.NewReader(bytes.NewReader(t))
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.AccessTime, h.ChangeTime, h.PAXRecords = time.Time{}, time.Time{}, nil
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return out.Bytes(), err
}

// tarStats counts the entries of a layer.
func tarStats(t []byte) layerInfo {
	st := layerInfo{TarBytes: int64(len(t))}
	tr := tar.NewReader(bytes.NewReader(t))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		switch h.Typeflag {
		case tar.TypeDir:
			st.Dirs++
		case tar.TypeLink, tar.TypeSymlink:
			st.Links++
		default:
			st.Files++
			st.Content += h.Size
		}
	}
	return st
}

// gen makes the content of generated files: text from a Zipf-distributed
// vocabulary (gzip compresses it about 3-4x) and pseudo-random bytes
// (incompressible), both from fixed seeds.
type gen struct {
	r     *rand.Rand
	raw   *rand.ChaCha8
	words []string
	zipf  *rand.Zipf
}

func newGen(layer int) *gen {
	var key [32]byte
	copy(key[:], fmt.Sprintf("bench-pull layer %d", layer))
	g := &gen{r: rand.New(rand.NewPCG(seed, uint64(layer))), raw: rand.NewChaCha8(key)}
	// One vocabulary for every layer.
	vr := rand.New(rand.NewPCG(seed, 0))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for i := 0; i < 4096; i++ {
		n := 2 + vr.IntN(9)
		b := make([]byte, n)
		for j := range b {
			b[j] = letters[vr.IntN(len(letters))]
		}
		if vr.IntN(8) == 0 {
			b = append(b, '_')
			b = strconv.AppendInt(b, int64(vr.IntN(100)), 10)
		}
		g.words = append(g.words, string(b))
	}
	g.zipf = rand.NewZipf(g.r, 1.07, 2, uint64(len(g.words)-1))
	return g
}

// text returns n bytes of lines of words.
func (g *gen) text(n int) []byte {
	b := make([]byte, 0, n+64)
	for len(b) < n {
		indent := g.r.IntN(4) * 4
		for i := 0; i < indent; i++ {
			b = append(b, ' ')
		}
		words := 3 + g.r.IntN(12)
		for i := 0; i < words; i++ {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, g.words[g.zipf.Uint64()]...)
		}
		switch g.r.IntN(6) {
		case 0:
			b = append(b, ';')
		case 1:
			b = append(b, " = "...)
			b = strconv.AppendInt(b, g.r.Int64N(1_000_000), 10)
		case 2:
			b = append(b, '.')
		}
		b = append(b, '\n')
	}
	return b[:n]
}

// random returns n pseudo-random bytes.
func (g *gen) random(n int) []byte {
	b := make([]byte, n)
	_, _ = g.raw.Read(b)
	return b
}

// logUniform returns an int in [lo, hi) with a log-uniform distribution.
func (g *gen) logUniform(lo, hi int) int {
	return int(math.Exp(math.Log(float64(lo)) + g.r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
}

// genLayer returns a layer of about budget bytes of file content under
// opt/app<k>/: many small files (40% of the bytes: sources, configuration,
// small libraries; mostly text) and some large ones (1-8 MB: libraries,
// data; 3 in 5 text, the others random), in 16 directories, with a few symlinks,
// hardlinks and files of a non-root owner.
func genLayer(k int, budget int64) ([]byte, layerInfo) {
	g := newGen(k)
	root := fmt.Sprintf("opt/app%d/", k)
	entries := []testimage.Entry{
		{Name: "opt/", Type: '5'},
		{Name: root, Type: '5'},
	}
	const ndirs = 16
	for d := 0; d < ndirs; d++ {
		entries = append(entries, testimage.Entry{Name: fmt.Sprintf("%sd%02d/", root, d), Type: '5'})
	}
	var content int64
	small := budget * 4 / 10
	add := func(name string, body []byte) {
		e := testimage.Entry{Name: name, Body: string(body)}
		if g.r.IntN(20) == 0 {
			e.UID, e.GID = 1000, 1000
		}
		if g.r.IntN(10) == 0 {
			e.Mode = 0o755
		}
		entries = append(entries, e)
		// What the file takes in the tar: its body, header and padding.
		content += int64(len(body)) + 768
	}
	for i := 0; content < small; i++ {
		size := g.logUniform(200, 64<<10)
		var body []byte
		if g.r.IntN(100) < 85 {
			body = g.text(size)
		} else {
			body = g.random(size)
		}
		name := fmt.Sprintf("%sd%02d/f%05d", root, i%ndirs, i)
		add(name, body)
		if i%200 == 7 {
			entries = append(entries, testimage.Entry{Name: name + ".link", Type: '2', Link: filepath.Base(name)})
		}
		if i%500 == 11 {
			entries = append(entries, testimage.Entry{Name: name + ".hard", Type: '1', Link: name})
		}
	}
	for i := 0; content < budget; i++ {
		size := int64(1<<20 + g.r.IntN(7<<20))
		size = min(size, budget-content)
		var body []byte
		if i%5 < 3 {
			body = g.text(int(size))
		} else {
			body = g.random(int(size))
		}
		add(fmt.Sprintf("%sd%02d/large%03d.bin", root, i%ndirs, i), body)
	}
	t := testimage.Tar(entries...)
	return t, tarStats(t)
}

// ---- the runs ----

// runCmd runs argv with env (nil: the environment) and returns its
// stdout. stderr is in the error when it fails.
func runCmd(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\nstderr:\n%s", strings.Join(argv, " "), err, tail(stderr.String(), 40))
	}
	return stdout.String(), nil
}

// measureArg makes bench-pull run the rest of its arguments and write
// their measurement to file descriptor 3 (see timedCmd).
const measureArg = "__measure"

// measurement is what measure reports of a command.
type measurement struct {
	Wall   time.Duration `json:"wall"`
	User   time.Duration `json:"user"`
	Sys    time.Duration `json:"sys"`
	MaxRSS int64         `json:"max_rss_kb"`
}

// measure runs argv, with this process's standard files, and writes its
// wall time and resource use to file descriptor 3. It runs in a process
// of its own, so that the command's max RSS is its own: a process started
// from the benchmark's (which held the image, hundreds of MB) would count
// the benchmark's high-water mark as its own.
func measure(argv []string) int {
	if len(argv) == 0 {
		return 2
	}
	out := os.NewFile(3, "measurement")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	m := measurement{Wall: time.Since(start)}
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "bench-pull: %v\n", err)
		return 127
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.User, m.Sys, m.MaxRSS = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss
	}
	_ = json.NewEncoder(out).Encode(m)
	return cmd.ProcessState.ExitCode()
}

// timedCmd runs argv like runCmd, measured by a measure process.
func timedCmd(ctx context.Context, env []string, argv ...string) (string, measurement, error) {
	var m measurement
	self, err := os.Executable()
	if err != nil {
		return "", m, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", m, err
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{measureArg}, argv...)...)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{pw}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return "", m, err
	}
	data, _ := io.ReadAll(pr)
	err = cmd.Wait()
	if jerr := json.Unmarshal(data, &m); jerr != nil && err == nil {
		err = fmt.Errorf("no measurement: %w", jerr)
	}
	if err != nil {
		return stdout.String(), m, fmt.Errorf("%s: %w\nstderr:\n%s", strings.Join(argv, " "), err, tail(stderr.String(), 40))
	}
	return stdout.String(), m, nil
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = append([]string{"..."}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

func fill(r *runResult, out string, m measurement) {
	r.WallS = m.Wall.Seconds()
	r.ImageID = strings.TrimSpace(out)
	r.UserS, r.SysS = m.User.Seconds(), m.Sys.Seconds()
	r.MaxRSSMB = float64(m.MaxRSS) / 1024
}

// duScript prints the blocks (du -s -B1) and the inodes of $1: du counts
// each hardlinked inode once.
const duScript = `du -s -B1 "$1" | cut -f1; du -s --inodes "$1" | cut -f1`

// detailScript lists the directories of $1 two levels down of more than
// 64 KiB, largest first.
const detailScript = `du -B1 --max-depth=2 "$1" | sort -rn | awk '$1 > 65536 { printf "    %10.1f kB  %s\n", $1/1000, $2 }' | sed "s|$1|STORE|"`

func parseDu(out string) (int64, int64, error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("du printed %q", out)
	}
	b, err1 := strconv.ParseInt(f[0], 10, 64)
	n, err2 := strconv.ParseInt(f[1], 10, 64)
	return b, n, errors.Join(err1, err2)
}

// removeStores removes the stores of the runs. It runs at the end, not
// after each run: on ext4 without a journal (as on these VMs) the inode
// allocator skips inodes freed in the last minutes (recently_deleted()),
// so that creating thousands of files right after removing thousands
// costs much more system time, which would burden each pull with the
// removal of the one before.
func removeStores(ctx context.Context, cfg *config) {
	for _, remove := range cfg.removals {
		if err := remove(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "bench-pull: warning: removing a store: %v\n", err)
		}
	}
	cfg.removals = nil
}

// rlessRun pulls into a fresh store and measures it.
func rlessRun(ctx context.Context, cfg *config) (r runResult) {
	r.Tool = "rless"
	dir, err := os.MkdirTemp(cfg.work, "rless-")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	store, runRoot := filepath.Join(dir, "store"), filepath.Join(cfg.runs, filepath.Base(dir))
	rl := func(args ...string) []string {
		return append([]string{cfg.rless, "--root", store, "--runroot", runRoot}, args...)
	}
	cfg.removals = append(cfg.removals, func(ctx context.Context) error {
		_, err := runCmd(ctx, nil, rl("unshare", "rm", "-rf", store)...)
		return errors.Join(err, os.RemoveAll(dir), os.RemoveAll(runRoot))
	})
	syscall.Sync()
	out, m, err := timedCmd(ctx, nil, rl("pull", "-q", "--tls-verify=false", cfg.ref)...)
	fill(&r, out, m)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	du, err := runCmd(ctx, nil, rl("unshare", "sh", "-c", duScript, "sh", store)...)
	if err == nil {
		r.DiskBytes, r.Inodes, err = parseDu(du)
	}
	if err == nil && cfg.detail {
		r.Detail, err = runCmd(ctx, nil, rl("unshare", "sh", "-c", detailScript, "sh", store)...)
	}
	if err != nil {
		r.Error = "measure store: " + err.Error()
	}
	return r
}

// podmanStore is a fresh podman store: graph root, run root and the
// storage.conf naming them.
type podmanStore struct {
	dir, root, runRoot string
	env                []string
}

func newPodmanStore(cfg *config, base, prefix string) (*podmanStore, error) {
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return nil, err
	}
	rr, err := os.MkdirTemp(cfg.runs, "")
	if err != nil {
		return nil, err
	}
	s := &podmanStore{dir: dir, root: filepath.Join(dir, "root"), runRoot: filepath.Join(rr, "rr")}
	conf := filepath.Join(dir, "storage.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", s.root, s.runRoot)), 0o644)
	s.env = append(slices.Clone(cfg.podEnv), "CONTAINERS_STORAGE_CONF="+conf)
	return s, err
}

func (s *podmanStore) argv(cfg *config, args ...string) []string {
	return append([]string{cfg.podman, "--root", s.root, "--runroot", s.runRoot}, args...)
}

// remove removes the store: in podman's user namespace, where podman
// also bind-mounts the overlay directory onto itself, then what podman
// leaves or recreates on its way out, which is the user's.
func (s *podmanStore) remove(ctx context.Context, cfg *config) error {
	script := `umount "$1/overlay" 2>/dev/null; rm -rf "$1" "$2"`
	_, err := runCmd(ctx, s.env, s.argv(cfg, "unshare", "sh", "-c", script, "sh", s.root, s.runRoot)...)
	if err != nil {
		return err
	}
	return errors.Join(os.RemoveAll(s.dir), os.RemoveAll(filepath.Dir(s.runRoot)))
}

// pausePidFile is where rootless podman records its pause process.
func pausePidFile() string {
	rd := os.Getenv("XDG_RUNTIME_DIR")
	if rd == "" {
		rd = fmt.Sprintf("/run/user/%d", os.Getuid())
		if fi, err := os.Stat(rd); err != nil || !fi.IsDir() {
			rd = fmt.Sprintf("/tmp/podman-run-%d", os.Getuid())
		}
	}
	return filepath.Join(rd, "libpod", "tmp", "pause.pid")
}

// pauseRunning reports whether podman's pause process is alive.
func pauseRunning() bool {
	b, err := os.ReadFile(pausePidFile())
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && pid > 0 && proc.Alive(pid)
}

// stopPause stops podman's pause process with `podman system migrate`,
// run on a throwaway store so that the store to measure stays empty. The
// throwaway store is in /tmp: podman runs migrate in the mount namespace of
// the pause process, which does not see file systems mounted after it
// started (such as a -dir mounted for the benchmark).
func stopPause(ctx context.Context, cfg *config) error {
	s, err := newPodmanStore(cfg, cfg.runs, "podman-migrate-")
	if err != nil {
		return err
	}
	_, err = runCmd(ctx, s.env, s.argv(cfg, "system", "migrate")...)
	// migrate ran outside any user namespace: its store is the user's.
	return errors.Join(err, os.RemoveAll(s.dir), os.RemoveAll(filepath.Dir(s.runRoot)))
}

// podmanRun pulls into a fresh store and measures it.
func podmanRun(ctx context.Context, cfg *config) (r runResult) {
	r.Tool = "podman"
	if cfg.pause == "fresh" {
		if err := stopPause(ctx, cfg); err != nil {
			r.Error = "podman system migrate: " + err.Error()
			return r
		}
	}
	p := pauseRunning()
	r.PauseBefore = &p
	s, err := newPodmanStore(cfg, cfg.work, "podman-")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	cfg.removals = append(cfg.removals, func(ctx context.Context) error { return s.remove(ctx, cfg) })
	syscall.Sync()
	out, m, err := timedCmd(ctx, s.env, s.argv(cfg, "pull", "-q", "--tls-verify=false", cfg.ref)...)
	fill(&r, out, m)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	du, err := runCmd(ctx, s.env, s.argv(cfg, "unshare", "sh", "-c", duScript, "sh", s.root)...)
	if err == nil {
		r.DiskBytes, r.Inodes, err = parseDu(du)
	}
	if err == nil && cfg.detail {
		r.Detail, err = runCmd(ctx, s.env, s.argv(cfg, "unshare", "sh", "-c", detailScript, "sh", s.root)...)
	}
	if err != nil {
		r.Error = "measure store: " + err.Error()
	}
	return r
}

// podmanInfo records podman's graph driver as podman picks it for a store
// like the benchmark's.
func podmanInfo(ctx context.Context, cfg *config, rep *report) error {
	s, err := newPodmanStore(cfg, cfg.work, "podman-info-")
	if err != nil {
		return err
	}
	out, err := runCmd(ctx, s.env, s.argv(cfg, "info", "--format", "{{.Store.GraphDriverName}}\n{{.Store.GraphOptions}}\n{{.Store.GraphStatus}}")...)
	rerr := s.remove(ctx, cfg)
	if err != nil {
		return fmt.Errorf("podman info: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("remove podman info store: %w", rerr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for len(lines) < 3 {
		lines = append(lines, "")
	}
	rep.PodmanDriver, rep.PodmanOptions, rep.PodmanStatus = lines[0], lines[1], lines[2]
	switch {
	case rep.PodmanDriver != "overlay":
		rep.PodmanOverlay = "none"
	case strings.Contains(rep.PodmanOptions, "mount_program"):
		rep.PodmanOverlay = "fuse-overlayfs"
	default:
		rep.PodmanOverlay = "native"
	}
	return nil
}

// ---- output ----

func printHeader(rep *report, cfg *config) {
	fmt.Printf("rless:    %s (%s)\n", rep.Versions["rless"], cfg.rless)
	fmt.Printf("podman:   %s, graph driver %s (%s), options %s, status %s\n", rep.Versions["podman"], rep.PodmanDriver, rep.PodmanOverlay, rep.PodmanOptions, rep.PodmanStatus)
	fmt.Printf("registry: %s\n", rep.Versions["docker-registry"])
	fmt.Printf("kernel %s, %d CPUs, stores in %s (%s)\n", rep.Kernel, rep.CPUs, cfg.work, rep.Filesystem)
	img := rep.Image
	fmt.Printf("image %s (id %s): %d layers, %s uncompressed (tar), %s gzip (%.2fx), %d files\n",
		img.Ref, short(img.ID), len(img.Layers), mb(img.TarBytes), mb(img.Compressed), float64(img.TarBytes)/float64(img.Compressed), img.Files)
	for i, l := range img.Layers {
		fmt.Printf("  layer %d: %9s tar, %9s gzip, %5d files, %4d dirs, %3d links\n", i+1, mb(l.TarBytes), mb(l.Compressed), l.Files, l.Dirs, l.Links)
	}
	fmt.Printf("runs: %d rounds (+%d warm-up), one pull of each tool per round, the first tool alternating\n", rep.Runs, rep.Warmup)
	fmt.Printf("  rless:  %s --root S --runroot SR pull -q --tls-verify=false %s\n", cfg.rless, cfg.ref)
	fmt.Printf("  podman: CONTAINERS_STORAGE_CONF=... %s --root R --runroot RR pull -q --tls-verify=false %s\n", cfg.podman, cfg.ref)
	if cfg.pause == "fresh" {
		fmt.Println("  podman's pause process is stopped (podman system migrate) before each podman pull")
	} else {
		fmt.Println("  podman's pause process (started by the first podman command) is kept between runs")
	}
	fmt.Println("  disk: du -s -B1 of the store in the tool's user namespace, after the pull")
	fmt.Println("  stores are removed at the end (each takes about the image's size on disk)")
	fmt.Println()
}

func printRun(label string, r runResult) {
	pause := ""
	if r.PauseBefore != nil {
		pause = " (no pause process before)"
		if *r.PauseBefore {
			pause = " (pause process running before)"
		}
	}
	if r.Error != "" {
		fmt.Printf("%-8s %-6s FAILED after %.2f s: %s\n", label, r.Tool, r.WallS, r.Error)
		return
	}
	fmt.Printf("%-8s %-6s %7.2f s  cpu %5.2f+%5.2f s  rss %4.0f MB  disk %s (%d inodes)%s\n",
		label, r.Tool, r.WallS, r.UserS, r.SysS, r.MaxRSSMB, mb(r.DiskBytes), r.Inodes, pause)
	fmt.Print(r.Detail)
}

func summarize(tool string, rs []runResult) (summary, bool) {
	s := summary{Tool: tool}
	var cpu, rss []float64
	var inodes []int64
	for _, r := range rs {
		if r.Tool != tool || r.Error != "" {
			continue
		}
		s.WallS = append(s.WallS, r.WallS)
		s.Disk = append(s.Disk, r.DiskBytes)
		cpu = append(cpu, r.UserS+r.SysS)
		rss = append(rss, r.MaxRSSMB)
		inodes = append(inodes, r.Inodes)
	}
	s.Runs = len(s.WallS)
	if s.Runs == 0 {
		return s, false
	}
	s.MedianWallS = benchio.Median(s.WallS)
	s.MinWallS, s.MaxWallS = slices.Min(s.WallS), slices.Max(s.WallS)
	s.MedianCPUS = benchio.Median(cpu)
	s.MedianRSSMB = benchio.Median(rss)
	s.MedianDisk = medianInt(s.Disk)
	s.MedianInodes = medianInt(inodes)
	return s, true
}

func printSummaries(ss []summary) {
	fmt.Printf("%-6s  %4s  %9s  %7s  %7s  %10s  %10s  %11s  %8s\n", "tool", "runs", "median s", "min s", "max s", "median cpu", "median rss", "median disk", "inodes")
	for _, s := range ss {
		fmt.Printf("%-6s  %4d  %9.2f  %7.2f  %7.2f  %8.2f s  %7.0f MB  %11s  %8d\n",
			s.Tool, s.Runs, s.MedianWallS, s.MinWallS, s.MaxWallS, s.MedianCPUS, s.MedianRSSMB, mb(s.MedianDisk), s.MedianInodes)
	}
}

// medianInt is benchio.Median of v, rounded to the nearest integer.
func medianInt(v []int64) int64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return int64(math.Round(benchio.Median(f)))
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ---- small helpers ----

func output(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return string(out)
}

func commitSuffix(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

// version returns the first line of what `prog --version` prints.
func version(prog string) string {
	return benchio.FirstLine(strings.TrimSpace(output(prog, "--version")))
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func numCPU() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "processor") {
			n++
		}
	}
	return n
}

// fsType names the file system type of dir (from /proc/self/mountinfo:
// the longest mount point that contains it).
func fsType(dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	best, typ := "", "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options... - type source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(sf) < 1 {
			continue
		}
		mp := pf[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, sf[0]
		}
	}
	return typ
}
