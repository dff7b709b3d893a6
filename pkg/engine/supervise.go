package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/rless/rless/internal/payload"
	"github.com/rless/rless/internal/workingset"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/store"
	"golang.org/x/sys/unix"
)

// The supervisor's side of supervisor.go's protocol.

// supervisor is the state of the supervisor process.
type supervisor struct {
	ctx      context.Context
	a        supervisorArgs
	ln       net.Listener
	mu       sync.Mutex
	monitors map[string]*monitor // running, by container id
	starting int                 // requests taken whose monitor is not in monitors yet
	sock     os.FileInfo         // the socket this supervisor made
	wg       sync.WaitGroup
	idle     chan struct{} // signalled when the last monitor ends
	// init is the program of the containers' inits ("": this one), a
	// descriptor that supervise keeps open.
	init string
	// trim and retrim give back what starts took (trimSoon).
	trim, retrim *time.Timer
	// trash are the stores whose trash to empty after the starts
	// (trimSoon), by root.
	trash map[string]*store.Store
}

// trimAfter is how long after the last container start the supervisor
// gives back what the starts took, and retrimAfter how long after that it
// unmaps its program's pages again (see trimSoon).
const (
	trimAfter   = 2 * time.Second
	retrimAfter = 10 * time.Second
)

// trimSoon has the supervisor give back what starting containers took,
// trimAfter from now, unless another start comes first: the space of the
// containers removed before (their stores' trash, see laterTrash), the
// memory that the starts allocated and no longer use (a collection, then
// the free pages to the system), and its program's pages
// (workingset.Trim: most of what starting the supervisor and containers
// maps of it does not run again while the monitors wait). Once after a
// burst of starts, not after each: a collection during the next start
// would take the CPU it needs. The program's pages are unmapped again
// retrimAfter later: what ran once after the first trim (measured: the
// collection's sweeping and finalizers and the containers' first seconds
// map 3 MB of the supervisor's program again within a second, of which
// little runs later).
func (s *supervisor) trimSoon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trim == nil {
		s.trim = time.AfterFunc(trimAfter, s.giveBack)
		s.retrim = time.AfterFunc(trimAfter+retrimAfter, trimProgram)
		return
	}
	s.trim.Reset(trimAfter)
	s.retrim.Reset(trimAfter + retrimAfter)
}

// giveBack is what trimSoon does trimAfter after the last start.
func (s *supervisor) giveBack() {
	s.mu.Lock()
	trash := s.trash
	s.trash = nil
	s.mu.Unlock()
	for _, st := range trash {
		st.EmptyTrash()
	}
	debug.FreeOSMemory()
	trimProgram()
}

// trimProgram unmaps the supervisor's program's pages (workingset.Trim).
func trimProgram() {
	if err := workingset.Trim(); err != nil {
		slog.Debug("trim the supervisor's program", "err", err)
	}
}

// laterTrash is the supervisor's Engine.emptyTrash: the trash of st is
// emptied after the starts (trimSoon), not during one, where removing the
// files of containers removed before would take the CPU and the file
// system's time that the start needs.
func (s *supervisor) laterTrash(st *store.Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trash == nil {
		s.trash = map[string]*store.Store{}
	}
	s.trash[st.Root()] = st
}

// supervise runs the supervisor until its last monitor has ended, or
// until ctx is done (SIGTERM), which stops every container it supervises.
func supervise(ctx context.Context, a supervisorArgs) (struct{}, error) {
	s := &supervisor{ctx: ctx, a: a, monitors: map[string]*monitor{}, idle: make(chan struct{}, 1)}
	if a.Init != "" {
		f, err := openProgram(a.Init)
		if err != nil {
			return struct{}{}, fmt.Errorf("the containers' program: %w", err)
		}
		defer f.Close()
		s.init = fdPath(f)
		payload.Source = s.init
		// The inits' own program, when the rless program carries it.
		if p, err := payload.Extract(payload.Init, filepath.Join(container.DefaultRunRoot(), ".bin")); err == nil {
			if f, err := openProgram(p); err == nil {
				defer f.Close()
				s.init = fdPath(f)
			}
		} else if !errors.Is(err, payload.ErrNone) {
			slog.Warn("the inits' program", "err", err)
		}
	}
	_ = os.Remove(a.Sock) // a killed supervisor's
	err := viaDir(a.Sock, func(addr string) (err error) {
		s.ln, err = net.Listen("unix", addr)
		return err
	})
	if err != nil {
		return struct{}{}, fmt.Errorf("supervisor socket: %w", err)
	}
	if s.sock, err = os.Stat(a.Sock); err != nil {
		s.ln.Close()
		return struct{}{}, fmt.Errorf("supervisor socket: %w", err)
	}
	// Its monitors are of commands run from anywhere: none keeps the
	// first one's directory busy.
	if err := os.Chdir("/"); err != nil {
		return struct{}{}, err
	}
	reexec.Ready(ctx, struct{}{}, nil)
	s.wg.Add(1)
	go s.serve()
	for {
		select {
		case <-ctx.Done():
			s.ln.Close()
			s.removeSock()
			s.wg.Wait()
			return struct{}{}, nil
		case <-s.idle:
			select {
			case <-ctx.Done():
				continue
			case <-time.After(supervisorLinger):
			}
			if s.end() {
				s.wg.Wait()
				return struct{}{}, nil
			}
		}
	}
}

// programFD is the lowest descriptor openProgram gives.
const programFD = 200

// openProgram opens the program at path, to execute as /proc/self/fd/N,
// with N at least programFD: a child's descriptors (its stdio and extra
// files, and those Go's fork moves out of their way) are numbered from 0
// up, and must not cover N before the child executes it. Under a limit
// of open files below programFD, N is what open gives.
func openProgram(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, programFD)
	if err != nil {
		return f, nil
	}
	f.Close()
	return os.NewFile(uintptr(fd), path), nil
}

// fdPath is the path by which this process and its children reach f.
func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// end ends the supervisor if it has no monitor: it stops listening, with
// the clients' lock held. It reports whether it did. When the lock cannot
// be opened (its run root was removed: no client finds this supervisor
// any more), it ends without it.
func (s *supervisor) end() bool {
	lock, err := os.OpenFile(s.a.Lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		slog.Debug("supervisor lock", "err", err)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.monitors) > 0 || s.starting > 0 {
			return false
		}
		s.ln.Close()
		return true
	}
	defer lock.Close()
	if err := flock(s.ctx, lock); err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.monitors) > 0 || s.starting > 0 {
		return false
	}
	s.ln.Close()
	s.removeSock()
	return true
}

// removeSock removes the supervisor's socket, if it is still the one this
// supervisor made: after its run root was wiped, the path may be that of
// a supervisor started since.
func (s *supervisor) removeSock() {
	if fi, err := os.Stat(s.a.Sock); err == nil && os.SameFile(fi, s.sock) {
		_ = os.Remove(s.a.Sock)
	}
}

// serve serves the socket until it is closed. The wait group counts it
// and each connection, so that every Add happens while it is above zero.
func (s *supervisor) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		// Only this user's processes get here: the socket is in the
		// user's 0700 run root.
		s.wg.Add(1)
		go s.handle(conn)
	}
}

func (s *supervisor) handle(conn net.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return
	}
	reply := func(err error) {
		var rep superviseReply
		if err != nil {
			rep.Error = err.Error()
			var ec reexec.ExitCoder
			if errors.As(err, &ec) {
				rep.Code = ec.ExitCode()
			}
		}
		data, _ := json.Marshal(rep)
		_, _ = conn.Write(append(data, '\n'))
	}
	var req superviseRequest
	if err := json.Unmarshal(line, &req); err != nil {
		reply(fmt.Errorf("supervisor: bad request: %w", err))
		return
	}
	switch {
	case req.Start != nil:
		s.mu.Lock()
		s.starting++
		s.mu.Unlock()
		reply(nil)
		s.runMonitor(*req.Start, reply)
	case req.Kill != "":
		s.mu.Lock()
		m := s.monitors[req.Kill]
		s.mu.Unlock()
		if m == nil {
			reply(fmt.Errorf("no monitor of container %s", req.Kill))
			return
		}
		m.kill()
		reply(nil)
	default:
		reply(errors.New("supervisor: empty request"))
	}
}

// runMonitor runs the monitor a describes, giving started's answer to
// reply, until it ends.
func (s *supervisor) runMonitor(a monitorArgs, reply func(error)) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var once sync.Once
	started := func(err error) {
		once.Do(func() {
			reply(err)
			s.trimSoon()
		})
	}
	registered := false
	defer func() {
		s.mu.Lock()
		if registered {
			delete(s.monitors, a.ID)
		} else {
			s.starting--
		}
		idle := len(s.monitors) == 0 && s.starting == 0
		s.mu.Unlock()
		if idle {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
	}()
	e, err := Open(WithRoot(a.Root), WithRunRoot(a.RunRoot))
	if err != nil {
		started(err)
		return
	}
	e.driver, e.mountProgram, e.initProgram = a.Driver, a.MountProgram, s.init
	e.emptyTrash, e.spareInits = s.laterTrash, true
	a.supervisor = s.a.Sock
	err = e.runMonitor(ctx, a, cancel, func(m *monitor) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.monitors[a.ID] != nil {
			return fmt.Errorf("container %s is running already", a.ID)
		}
		s.monitors[a.ID] = m
		s.starting--
		registered = true
		return nil
	}, started)
	if err != nil {
		started(err)
		slog.Error("monitor", "id", a.ID, "err", err)
	}
}
