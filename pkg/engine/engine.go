// Package engine is rless's front door: the one package a Go program
// imports to do what the rless command does. An [Engine] is opened on an
// image store and a run root; it pulls and manages images, and creates
// containers from an image or a root directory, with everything `rless
// run` can express as typed fields of [Config]. A [Container] has the
// lifecycle of runc's: Start, Exec, Signal, Stop, Wait, Delete; [Engine.Load]
// gives the same handle to another process, so that a second program can
// exec into, stop or delete a container the first one created.
//
// The containers' first process, and the work that must run inside the
// user's namespace, are this program re-executed: a program that uses the
// engine calls [Init] first thing in main.
//
//	func main() {
//		engine.Init()
//		e, err := engine.Open()
//		...
//		c, err := e.Create(ctx, engine.Config{Image: "alpine", Command: []string{"echo", "hello"}, Stdout: os.Stdout})
//		...
//	}
package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/rless/rless/internal/stage"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/hostinfo"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
)

// Init runs the stage this process was re-executed for, if any (a
// container's init, a function run in the user's namespace), and then
// exits; in any other process it returns at once. Call it first thing in
// main.
func Init() { container.Init() }

// Engine manages the images of one store and the containers of one run
// root. Its methods are safe for concurrent use; several engines, in
// several processes, may share a store and a run root.
type Engine struct {
	root, runRoot string
	driver        string
	mountProgram  string
	// initProgram is the program of the containers' inits ("": this one;
	// the supervisor's is the rless program that started it).
	initProgram string
	warn        func(string)
	// emptyTrash empties the store's trash (Store.EmptyTrash) when a
	// container is made, by then or later (nil: in the background,
	// meanwhile; a supervisor does it once its starts are over).
	emptyTrash func(*store.Store)
	// spareInits has containers started with spare inits
	// (container.Config.Spare): a supervisor's.
	spareInits bool

	hostOnce sync.Once
	host     *userns.Host
	mapping  userns.Mapping
	hostErr  error

	storeOnce sync.Once
	store     *store.Store
	storeErr  error
}

// Option configures an Engine.
type Option func(*Engine) error

// WithRoot sets the image store's directory (default: DefaultRoot()).
func WithRoot(dir string) Option {
	return func(e *Engine) error { e.root = dir; return nil }
}

// WithRunRoot sets the directory of the containers' state (default:
// $XDG_RUNTIME_DIR/rless, else /tmp/rless-$UID).
func WithRunRoot(dir string) Option {
	return func(e *Engine) error { e.runRoot = dir; return nil }
}

// Storage drivers: how an image's layers become a container's root.
const (
	// StorageOverlay is the kernel's overlayfs in the user namespace, else
	// fuse-overlayfs, else a copy (the default).
	StorageOverlay = "overlay"
	// StorageVFS is a copy of the layers.
	StorageVFS = "vfs"
)

// WithStorageDriver sets the storage driver: StorageOverlay or StorageVFS.
func WithStorageDriver(name string) Option {
	return func(e *Engine) error {
		switch name {
		case StorageOverlay, "":
			e.driver = ""
		case StorageVFS:
			e.driver = overlay.Copy
		default:
			return fmt.Errorf("storage driver %q: want %s or %s", name, StorageOverlay, StorageVFS)
		}
		return nil
	}
}

// WithMountProgram makes the overlay driver mount with a FUSE overlay
// program (fuse-overlayfs, say: a name is looked up in PATH) instead of
// the kernel's overlayfs.
func WithMountProgram(program string) Option {
	return func(e *Engine) error {
		if program == "" {
			return errors.New("mount program: none given")
		}
		// Found here: the container's stage has no PATH of ours.
		path, err := lookPath(program)
		if err != nil {
			return fmt.Errorf("mount program: %w", err)
		}
		e.mountProgram = path
		return nil
	}
}

// WithWarnings sets where the engine's warnings go (default: slog.Warn).
func WithWarnings(warn func(msg string)) Option {
	return func(e *Engine) error { e.warn = warn; return nil }
}

// Open returns an engine with opts. It makes nothing on disk until used.
func Open(opts ...Option) (*Engine, error) {
	e := &Engine{root: DefaultRoot(), runRoot: DefaultRunRoot()}
	e.warn = func(msg string) { slog.Warn(msg) }
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	if e.driver == overlay.Copy {
		e.mountProgram = ""
	}
	return e, nil
}

// DefaultRoot returns the default image store: $XDG_DATA_HOME/rless, else
// ~/.local/share/rless.
func DefaultRoot() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "rless")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("rless-data-%d", os.Getuid()))
	}
	return filepath.Join(home, ".local", "share", "rless")
}

// DefaultRunRoot returns the default directory of the containers' state:
// $XDG_RUNTIME_DIR/rless, else /tmp/rless-$UID.
func DefaultRunRoot() string { return container.DefaultRunRoot() }

// Root returns the store's directory.
func (e *Engine) Root() string { return e.root }

// RunRoot returns the directory of the containers' state.
func (e *Engine) RunRoot() string { return e.runRoot }

// Host returns what this host offers the user (subordinate ids, the
// id-mapping helpers) and the mapping containers get by default,
// warning once (per boot) when it is the single mapping.
func (e *Engine) Host() (*userns.Host, userns.Mapping, error) {
	e.hostOnce.Do(func() {
		e.host, e.hostErr = userns.DetectHost()
		if e.hostErr != nil {
			return
		}
		var fallback string
		e.mapping, fallback = e.host.Mapping()
		if fallback != "" {
			e.warnOnce("single-mapping", fallback+": using a single mapping (container root = your user); other ids, and chown to them, are unavailable")
		}
	})
	return e.host, e.mapping, e.hostErr
}

// warnOnce gives a warning the first time it is given under key since the
// run root was created (that is, once per boot when it is on a tmpfs).
func (e *Engine) warnOnce(key, msg string) {
	marker := filepath.Join(e.runRoot, ".warned-"+key)
	if _, err := os.Stat(marker); err == nil {
		return
	}
	e.warn(msg)
	if os.MkdirAll(e.runRoot, 0o700) == nil {
		_ = os.WriteFile(marker, nil, 0o600)
	}
}

// openStore opens the image store (once).
func (e *Engine) openStore() (*store.Store, error) {
	e.storeOnce.Do(func() { e.store, e.storeErr = store.Open(e.root) })
	return e.store, e.storeErr
}

// Unshare runs argv, a host command, as root of the user's namespace (the
// mapping containers get) in a mount namespace of its own, as `podman
// unshare` does, and returns its exit status. env is its environment
// (nil: this process's).
func (e *Engine) Unshare(ctx context.Context, argv, env []string) (int, error) {
	host, mapping, err := e.Host()
	if err != nil {
		return 0, err
	}
	if env == nil {
		env = os.Environ()
	}
	return stage.Unshare(ctx, host, mapping, argv, env)
}

// Info is what `rless info` reports: the user's ranges and helpers, kernel
// features, helper programs, network modes, limits and store paths.
type Info = hostinfo.Info

// IDRange is a range of subordinate ids.
type IDRange = userns.Range

// Overlay drivers, as Info.Store.Overlay names them.
const (
	OverlayNative = overlay.Native // the kernel's overlayfs in the user namespace
	OverlayFuse   = overlay.Fuse   // a FUSE program (fuse-overlayfs)
	OverlayCopy   = overlay.Copy   // a copy of the layers
)

// Info reports what this host offers rless, with the overlay driver that
// works for the store (probed, inside the user's namespace, when no answer
// is cached yet).
func (e *Engine) Info(ctx context.Context) (*Info, error) {
	info, err := hostinfo.Collect(e.root, e.runRoot)
	if err != nil {
		return nil, err
	}
	if info.IDs == nil {
		return info, nil
	}
	if d, err := e.overlayDetection(ctx, info.IDs); err == nil {
		info.Store.Overlay = &d
	} else {
		slog.Debug("overlay probe failed", "err", err)
	}
	return info, nil
}
