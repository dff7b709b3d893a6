// Package reexec runs registered functions in another process: a copy of
// the running program, executed again, most often inside the user's
// namespace (mapped with its subordinate ids, as root there), where work on
// files of subordinate ids must run: unpacking image layers with their
// owners, probing the overlay driver, copying an image for keep-id,
// removing a container's files.
//
// A function is registered by name, with typed argument and result (JSON
// between the processes), from a package's init or a var declaration:
//
//	var probe = reexec.Register("overlay.probe", func(ctx context.Context, dir string) (overlay.Detection, error) {
//		return overlay.Probe(dir)
//	})
//
// and run with [Func.Run]. The re-executed copy reaches the function
// through the program's init hook ([Main], which container.Init calls):
// every program that uses rless as a library calls container.Init first
// thing in main.
//
// A program may carry a function another program registers: when the
// running program lacks it, Run executes [Fallback]'s program instead (the
// rless command keeps its image engine, which links containers/image, in a
// program of its own that way).
package reexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rless/rless/internal/stage"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/rless/rless/pkg/userns"
)

// Stage is the userns stage name of a re-executed call.
const Stage = "call"

// Environment of a call: the function's name and its argument (JSON).
const (
	nameEnv = "_RLESS_CALL"
	argEnv  = "_RLESS_CALL_ARG"
	nsEnv   = "_RLESS_CALL_NS" // "1" inside a user namespace made by Run
)

// resultFD is the descriptor on which a call writes its events and result.
const resultFD = 4

// handler is a registered function, untyped.
type handler func(ctx context.Context, arg []byte, send func(any) error) (any, error)

var (
	mu       sync.Mutex
	registry = map[string]handler{}
)

// Func is a registered function with argument type A and result type R.
type Func[A, R any] struct{ name string }

// Register registers fn under name, which must be unique in the program,
// and returns the handle that runs it in another process. Call it from a
// package's initialisation.
func Register[A, R any](name string, fn func(ctx context.Context, arg A) (R, error)) *Func[A, R] {
	return RegisterWithEvents(name, func(ctx context.Context, arg A, _ func(any) error) (R, error) { return fn(ctx, arg) })
}

// RegisterWithEvents is Register for a function that sends events (any
// JSON value, through send) to the caller while it runs: Options.Events
// receives them.
func RegisterWithEvents[A, R any](name string, fn func(ctx context.Context, arg A, send func(any) error) (R, error)) *Func[A, R] {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("reexec: " + name + " registered twice")
	}
	registry[name] = func(ctx context.Context, raw []byte, send func(any) error) (any, error) {
		var arg A
		if err := json.Unmarshal(raw, &arg); err != nil {
			return nil, fmt.Errorf("%s: argument: %w", name, err)
		}
		return fn(ctx, arg, send)
	}
	return &Func[A, R]{name: name}
}

// Declare returns the handle of a function that the running program may
// not carry itself (see Fallback), without registering it.
func Declare[A, R any](name string) *Func[A, R] { return &Func[A, R]{name: name} }

// Registered reports whether the running program carries function name.
func Registered(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	_, ok := registry[name]
	return ok
}

// Fallback, if not nil, returns the path of a program that carries the
// functions the running one lacks (an rless program built with them). It
// is set by the program, before any Run.
var Fallback func() (string, error)

// Options say where and how a function runs.
type Options struct {
	// Host and Mapping: the user namespace to run in (see
	// userns.DetectHost and Host.Mapping), with a mount namespace of its
	// own. A nil Host runs the function as the user, without namespaces.
	Host    *userns.Host
	Mapping userns.Mapping
	// Stdin, Stdout and Stderr of the process (nil: /dev/null, except
	// Stderr: this process's).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Env is the process's environment (nil: this process's).
	Env []string
	// Events, if not nil, receives the events the function sends.
	Events func(json.RawMessage)
	// Program is the program to execute, which must carry the function:
	// "" for the running one (or Fallback's, when it lacks the function).
	Program string
	// Detach starts the process in a session of its own, free to outlive
	// this one (only without Host): Run returns the result the function
	// gives to Ready (or returns, or the error it fails with), while the
	// process goes on. It is reaped by this process while it lives.
	Detach bool
}

// Error is a failure the function returned, as the caller gets it.
type Error struct {
	Func string
	Msg  string
	// Code is the exit status the function's error carried (see
	// ExitCoder), or 0.
	Code int
}

func (e *Error) Error() string { return e.Msg }

// ExitCoder is an error that carries an exit status; Run's *Error keeps
// it.
type ExitCoder interface{ ExitCode() int }

// ExitCode returns the status the function's error carried.
func (e *Error) ExitCode() int { return e.Code }

// message is one line of the result descriptor.
type message struct {
	Event  json.RawMessage `json:"event,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *string         `json:"error,omitempty"`
	Code   int             `json:"code,omitempty"`
}

// Run runs f with arg in a new process, as opts say, and returns its
// result. When ctx is done the process is killed.
func (f *Func[A, R]) Run(ctx context.Context, opts Options, arg A) (R, error) {
	var zero R
	raw, err := json.Marshal(arg)
	if err != nil {
		return zero, fmt.Errorf("%s: argument: %w", f.name, err)
	}
	prog := "/proc/self/exe"
	if opts.Program != "" {
		prog = opts.Program
	} else if !Registered(f.name) {
		if Fallback == nil {
			return zero, fmt.Errorf("%s: not in this program", f.name)
		}
		if prog, err = Fallback(); err != nil {
			return zero, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return zero, err
	}
	defer r.Close()
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env[:len(env):len(env)], nameEnv+"="+f.name, argEnv+"="+string(raw))
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	var wait func() (int, error)
	if opts.Detach && opts.Host != nil {
		return zero, fmt.Errorf("%s: a detached call runs without namespaces", f.name)
	}
	if opts.Host == nil {
		cmd := exec.CommandContext(ctx, prog)
		cmd.Args = []string{"rless-" + Stage}
		cmd.Env = append(env, stage.StageEnv+"="+Stage)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, stderr
		cmd.ExtraFiles = []*os.File{nil, w} // fd 3 unused, 4 the result
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if opts.Detach {
			cmd = exec.Command(prog)
			cmd.Args, cmd.Env = []string{"rless-" + Stage}, append(env, stage.StageEnv+"="+Stage)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, stderr
			cmd.ExtraFiles = []*os.File{nil, w}
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}
		err = cmd.Start()
		wait = func() (int, error) { err := cmd.Wait(); return cmd.ProcessState.ExitCode(), err }
		if err == nil && opts.Detach {
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			wait = func() (int, error) {
				select {
				case <-exited:
					return cmd.ProcessState.ExitCode(), nil
				default:
					return 0, nil // it goes on
				}
			}
		}
	} else {
		var c *stage.Child
		c, err = stage.Spawn(ctx, stage.SpawnOptions{
			Stage: Stage, Path: prog, Env: append(env, nsEnv+"=1"),
			Cloneflags: syscall.CLONE_NEWNS,
			Stdin:      opts.Stdin, Stdout: opts.Stdout, Stderr: stderr,
			ExtraFiles: []*os.File{w},
			Host:       opts.Host, Mapping: opts.Mapping,
		})
		if err == nil {
			wait = func() (int, error) {
				defer c.Sync.Close()
				err := c.Wait(ctx, nil, nil)
				if c.Cmd.ProcessState == nil {
					return -1, err
				}
				return stage.ExitCode(c.Cmd.ProcessState), nil
			}
		}
	}
	w.Close()
	if err != nil {
		return zero, fmt.Errorf("%s: start: %w", f.name, err)
	}
	var result *message
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		if m.Event != nil {
			if opts.Events != nil {
				opts.Events(m.Event)
			}
			continue
		}
		result = &m
	}
	code, werr := wait()
	switch {
	case result != nil && result.Error != nil:
		return zero, &Error{Func: f.name, Msg: *result.Error, Code: result.Code}
	case result != nil:
		var out R
		if err := json.Unmarshal(result.Result, &out); err != nil {
			return zero, fmt.Errorf("%s: result: %w", f.name, err)
		}
		return out, nil
	case ctx.Err() != nil:
		return zero, ctx.Err()
	case werr != nil:
		return zero, fmt.Errorf("%s: %w", f.name, werr)
	default:
		return zero, fmt.Errorf("%s: ended (status %d) without a result", f.name, code)
	}
}

// Main runs the registered function this process was re-executed for and
// exits; in any other process it returns at once. container.Init calls it.
func Main() {
	if stage.Stage() != Stage {
		return
	}
	os.Exit(call())
}

func call() int {
	// Not inherited by what the function starts: the caller reads until
	// every copy is closed.
	syscall.CloseOnExec(resultFD)
	out := os.NewFile(resultFD, "result")
	enc := json.NewEncoder(out)
	var encMu sync.Mutex
	put := func(m message) error {
		encMu.Lock()
		defer encMu.Unlock()
		return enc.Encode(m)
	}
	fail := func(err error) int {
		msg := err.Error()
		code := 0
		var ec ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		_ = put(message{Error: &msg, Code: code})
		return 1
	}
	name, raw := os.Getenv(nameEnv), os.Getenv(argEnv)
	for _, k := range []string{nameEnv, argEnv, stage.StageEnv} {
		os.Unsetenv(k)
	}
	if os.Getenv(nsEnv) == "1" {
		os.Unsetenv(nsEnv)
		conn, err := stage.WaitMapped(nil)
		if err != nil {
			return fail(err)
		}
		defer conn.Close()
		// containers/image asks these (as podman sets them) whether it
		// runs for a rootless user, to pick per-user paths.
		if os.Getenv("_CONTAINERS_USERNS_CONFIGURED") == "" {
			os.Setenv("_CONTAINERS_USERNS_CONFIGURED", "done")
		}
	}
	mu.Lock()
	h, ok := registry[name]
	mu.Unlock()
	if !ok {
		return fail(fmt.Errorf("%s: not in this program", name))
	}
	// SIGTERM and SIGINT cancel the function's context.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	answered := false
	ctx = context.WithValue(ctx, readyKey{}, func(res any, err error) {
		encMu.Lock()
		done := answered
		answered = true
		encMu.Unlock()
		if done {
			return
		}
		if err != nil {
			fail(err)
		} else if data, merr := json.Marshal(res); merr != nil {
			fail(fmt.Errorf("%s: result: %w", name, merr))
		} else {
			_ = put(message{Result: data})
		}
		out.Close()
	})
	res, err := h(ctx, []byte(raw), func(ev any) error {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return put(message{Event: data})
	})
	encMu.Lock()
	done := answered
	answered = true
	encMu.Unlock()
	if done {
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	}
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return fail(fmt.Errorf("%s: result: %w", name, err))
	}
	if err := put(message{Result: data}); err != nil {
		return 1
	}
	return 0
}

// readyKey is the context key of Ready's function.
type readyKey struct{}

// Ready gives the caller of a function run with Options.Detach its result
// (or error) before the function returns: Run returns it while the
// function goes on. Later calls, and the function's own return value, are
// then not sent. In a function not called through Run it does nothing.
func Ready(ctx context.Context, result any, err error) {
	if f, ok := ctx.Value(readyKey{}).(func(any, error)); ok {
		f(result, err)
	}
}

// RootlessEnv returns the variables containers/image reads (as podman
// sets them) to know that it runs for a rootless user inside its
// namespace, for the user of this process.
func RootlessEnv() []string {
	return []string{
		"_CONTAINERS_ROOTLESS_UID=" + strconv.Itoa(os.Getuid()),
		"_CONTAINERS_ROOTLESS_GID=" + strconv.Itoa(os.Getgid()),
		"_CONTAINERS_USERNS_CONFIGURED=done",
	}
}
