package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// addImage adds an image with the given layers (created empty) and names.
func addImage(t *testing.T, s *Store, id string, layers []string, names ...string) {
	t.Helper()
	for _, l := range layers {
		w, err := s.NewLayer(l)
		if errors.Is(err, ErrLayerExists) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.Dir(), "f"), []byte(l), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(Layer{Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.AddImage(Image{ID: id, Names: names, Layers: layers, Size: int64(10 * len(layers))}, []byte("{}"), []byte(`{"id":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
}

func hexID(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func layerID(c byte) string { return "sha256:" + hexID(c) }

func TestLookupTagRemove(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := hexID('a'), hexID('b')
	addImage(t, s, a, []string{layerID('1'), layerID('2')}, "docker.io/library/alpine:latest")
	addImage(t, s, b, []string{layerID('1'), layerID('3')}, "quay.io/x/tool:1")

	for ref, want := range map[string]string{
		"alpine": a, "alpine:latest": a, "docker.io/library/alpine": a, "library/alpine": a,
		"sha256:" + a: a, a[:5]: a, "tool:1": b, "x/tool:1": b, "quay.io/x/tool:1": b,
	} {
		img, err := s.Lookup(ref)
		if err != nil || img.ID != want {
			t.Errorf("Lookup(%q) = %s, %v; want %s", ref, img.ID, err, want[:4])
		}
	}
	for _, ref := range []string{"tool", "alpine:3", "nosuch", "ccc"} {
		if _, err := s.Lookup(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q): %v, want ErrNotFound", ref, err)
		}
	}
	if err := s.Tag("alpine", "mine:v1"); err != nil {
		t.Fatal(err)
	}
	if img, _ := s.Lookup("localhost/mine:v1"); img.ID != a {
		t.Errorf("tag did not name the image under localhost/")
	}
	// Untag one of two names; an ID with two names needs force.
	res, err := s.Remove([]string{"mine:v1"}, false, nil)
	if err != nil || len(res.Untagged) != 1 || len(res.Deleted) != 0 {
		t.Errorf("remove a name: %+v, %v", res, err)
	}
	if err := s.Tag(a, "other:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove([]string{a}, false, nil); err == nil {
		t.Error("remove by ID of an image with two names: no error")
	}
	if _, err := s.Remove([]string{a}, true, func(string) bool { return true }); !errors.Is(err, ErrInUse) {
		t.Errorf("remove of an image in use: %v", err)
	}
	res, err = s.Remove([]string{a}, true, nil)
	if err != nil || len(res.Deleted) != 1 {
		t.Fatalf("forced remove: %+v, %v", res, err)
	}
	// The shared layer stays, a's own goes.
	if !s.HasLayer(layerID('1')) || s.HasLayer(layerID('2')) || !s.HasLayer(layerID('3')) {
		t.Errorf("layers after removal: 1 %v, 2 %v, 3 %v", s.HasLayer(layerID('1')), s.HasLayer(layerID('2')), s.HasLayer(layerID('3')))
	}
	if _, err := os.Stat(s.ImageDir(a)); !os.IsNotExist(err) {
		t.Errorf("image directory left: %v", err)
	}
}

func TestPruneAndUsage(t *testing.T) {
	s, _ := Open(t.TempDir())
	a, b := hexID('a'), hexID('b')
	addImage(t, s, a, []string{layerID('1')}, "x/a:1")
	addImage(t, s, b, []string{layerID('2')}, "x/a:1") // takes the name: a dangles
	u, err := s.Usage()
	if err != nil || u.Images != 2 || u.ActiveImages != 1 || u.Layers != 2 || u.Reclaimable != 10 {
		t.Errorf("usage %+v, %v", u, err)
	}
	ids, err := s.Prune(false, nil)
	if err != nil || len(ids) != 1 || ids[0] != a {
		t.Errorf("prune: %v, %v", ids, err)
	}
	ids, err = s.Prune(true, func(id string) bool { return id == b })
	if err != nil || len(ids) != 0 {
		t.Errorf("prune -a with the image in use: %v, %v", ids, err)
	}
	if imgs, _ := s.Images(); len(imgs) != 1 || imgs[0].ID != b {
		t.Errorf("images after prune: %+v", imgs)
	}
}

// TestNewLayerConcurrent: of writers of one layer, one writes it and the
// others find it present; a temporary directory of a killed writer goes.
func TestNewLayerConcurrent(t *testing.T) {
	s, _ := Open(t.TempDir())
	l := layerID('7')
	stale := filepath.Join(s.Root(), "layers", ".tmp-"+hexID('7'), "diff")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "junk"), nil, 0o644)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrote, existed := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.NewLayer(l)
			if errors.Is(err, ErrLayerExists) {
				mu.Lock()
				existed++
				mu.Unlock()
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := os.Stat(filepath.Join(w.Dir(), "junk")); err == nil {
				t.Error("a killed writer's files are in the new layer")
			}
			if err := w.Commit(Layer{}); err != nil {
				t.Error(err)
			}
			mu.Lock()
			wrote++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if wrote != 1 || existed != 7 {
		t.Errorf("%d writers wrote, %d found it present", wrote, existed)
	}
	if got, _ := s.ReadLayer(l); got.DiffID != l {
		t.Errorf("layer record %+v", got)
	}
}

func TestVolumes(t *testing.T) {
	s, _ := Open(t.TempDir())
	v, err := s.CreateVolume("data")
	if err != nil || v.Name != "data" || filepath.Base(v.Mountpoint) != "_data" {
		t.Fatalf("CreateVolume: %+v, %v", v, err)
	}
	if _, err := s.CreateVolume("data"); !errors.Is(err, ErrVolumeExists) {
		t.Errorf("second create: %v", err)
	}
	for _, bad := range []string{"../x", ".hidden", "a/b", "-a"} {
		if _, err := s.CreateVolume(bad); err == nil {
			t.Errorf("CreateVolume(%q): no error", bad)
		}
		if _, err := s.Volume(bad); !errors.Is(err, ErrNoVolume) {
			t.Errorf("Volume(%q): %v", bad, err)
		}
	}
	anon, err := s.CreateVolume("")
	if err != nil || len(anon.Name) != 64 {
		t.Errorf("anonymous volume: %+v %v", anon, err)
	}
	if vs, _ := s.Volumes(); len(vs) != 2 {
		t.Errorf("Volumes: %+v", vs)
	}
	os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644)
	if err := s.RemoveVolume("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Volume("data"); !errors.Is(err, ErrNoVolume) {
		t.Errorf("after removal: %v", err)
	}
}

// TestStaleContainers: storage whose rless is gone is removed, from the
// moment it exists (its name or its owner file names its rless), and
// storage of a live rless is left alone.
func TestStaleContainers(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addImage(t, s, hexID('a'), []string{layerID('1')}, "docker.io/library/img:latest")
	img, err := s.Lookup("img")
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.CreateContainer(hexID('c'), img)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(live.Dir, ownerFile)); err != nil || string(data) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("owner: %q %v", data, err)
	}
	for _, d := range []string{live.Layout.Upper, live.Layout.Work, live.Rootfs} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	// A dead rless's: one whose pid is that of a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, err := s.CreateContainer(hexID('d'), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale.Dir, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Storage a dead rless was making when it was killed, before its owner
	// file was written; and one a live rless is making.
	half := filepath.Join(filepath.Dir(live.Dir), fmt.Sprintf("%s%d-%s", tmpPrefix, dead.Process.Pid, hexID('e')))
	making := filepath.Join(filepath.Dir(live.Dir), fmt.Sprintf("%s%d-%s", tmpPrefix, os.Getppid(), hexID('f')))
	for _, d := range []string{half, making} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.RemoveStaleContainers()
	if _, err := os.Stat(half); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("storage a dead rless was making is still there: %v", err)
	}
	if err := os.Remove(making); err != nil {
		t.Errorf("storage a live rless is making: %v", err)
	}
	if _, err := os.Stat(stale.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dead rless's storage is still there: %v", err)
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Errorf("a live rless's storage went: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(live.Dir)); len(entries) != 1 {
		t.Errorf("containers: %v, want the live one alone", entries)
	}
}
