package test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/pkg/terminal"
)

// ptyRun is rless running with a host pseudo-terminal as its controlling
// terminal and standard streams, as in an interactive shell.
type ptyRun struct {
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func startPTY(t *testing.T, size terminal.Size, args ...string) *ptyRun {
	t.Helper()
	return startPTYCmd(t, size, rlessCmd(args...))
}

// startPTYCmd is startPTY of a command made by the caller.
func startPTYCmd(t *testing.T, size terminal.Size, cmd *exec.Cmd) *ptyRun {
	t.Helper()
	master, slave, _, err := terminal.Open("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	if err := terminal.SetSize(slave, size); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	p := &ptyRun{cmd: cmd, master: master, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		r := bufio.NewReader(master)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		master.Close()
	})
	return p
}

// waitFor waits until the terminal output contains s.
func (p *ptyRun) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ok := strings.Contains(p.out.String(), s)
		p.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("terminal output never showed %q; got %q", s, p.output())
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for rless to end and returns its exit status.
func (p *ptyRun) wait(t *testing.T) int {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.cmd.Wait() }()
	select {
	case err := <-errc:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("rless did not exit; output %q", p.output())
		return -1
	}
}

func (p *ptyRun) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.master, s); err != nil {
		t.Fatal(err)
	}
}

func TestTTY(t *testing.T) {
	before := takeSnapshot(t)
	p := startPTY(t, terminal.Size{Rows: 30, Cols: 100}, "run", "-t", "--rootfs", rootfs, "sh", "-c", "tty; stty size; echo $TERM")
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d, output %q", code, p.output())
	}
	<-p.done
	// The container's terminal turns \n into \r\n, and without -i the host
	// terminal is not raw and adds another \r.
	out := strings.ReplaceAll(p.output(), "\r", "")
	if out != "/dev/pts/0\n30 100\nxterm\n" {
		t.Errorf("output %q, want /dev/pts/0, 30 100, xterm", out)
	}
	assertClean(t, before)
}

func TestTTYNotATerminalWithoutT(t *testing.T) {
	r := runIn(t, nil, "tty")
	if r.code == 0 || !strings.Contains(r.stdout, "not a tty") {
		t.Errorf("without -t: tty exit %d, output %q", r.code, r.stdout)
	}
}

func TestCtrlC(t *testing.T) {
	before := takeSnapshot(t)
	p := startPTY(t, terminal.Size{Rows: 24, Cols: 80}, "run", "-it", "--rootfs", rootfs,
		"sh", "-c", `trap 'echo GOT-INT; exit 3' INT; echo READY; while :; do sleep 0.1; done`)
	p.waitFor(t, "READY")
	p.write(t, "\x03")
	if code := p.wait(t); code != 3 {
		t.Fatalf("exit %d, want 3; output %q", code, p.output())
	}
	<-p.done
	if !strings.Contains(p.output(), "GOT-INT") {
		t.Errorf("the command did not get SIGINT: %q", p.output())
	}
	assertClean(t, before)
}

func TestInteractiveInputAndResize(t *testing.T) {
	before := takeSnapshot(t)
	p := startPTY(t, terminal.Size{Rows: 24, Cols: 80}, "run", "-it", "--rootfs", rootfs,
		"sh", "-c", `stty size; echo READY; read line; echo "got:$line"; stty size`)
	p.waitFor(t, "READY")
	// Resizing the host terminal sends SIGWINCH to rless, which resizes
	// the container's terminal.
	if err := terminal.SetSize(p.master, terminal.Size{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	p.write(t, "hello\r")
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d; output %q", code, p.output())
	}
	<-p.done
	out := strings.ReplaceAll(p.output(), "\r\n", "\n")
	for _, want := range []string{"24 80\nREADY\n", "got:hello\n40 120\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	assertClean(t, before)
}

func TestInteractivePipe(t *testing.T) {
	cmd := rlessCmd("run", "-i", "--rootfs", rootfs, "sh", "-c", "tr a-z A-Z")
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "HELLO\n" {
		t.Errorf("-i: output %q, err %v", out, err)
	}
	// Without -i the command's stdin is empty.
	cmd = rlessCmd("run", "--rootfs", rootfs, "cat")
	cmd.Stdin = strings.NewReader("not passed\n")
	out, err = cmd.Output()
	if err != nil || len(out) != 0 {
		t.Errorf("without -i: output %q, err %v", out, err)
	}
}

// startPiped starts rless with its output in a pipe read line by line.
func startPiped(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := rlessCmd(args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read output: %v (got %q)", err, line)
	}
	return strings.TrimSpace(line)
}

func TestSignalsForwarded(t *testing.T) {
	cases := []struct {
		name   string
		flags  []string
		script string
		sig    syscall.Signal
		code   int
		line   string
	}{
		{"handler", nil, `trap 'echo TERM; exit 42' TERM; echo READY; while :; do sleep 0.1; done`, syscall.SIGTERM, 42, "TERM"},
		{"handler, no init", []string{"--init=false"}, `trap 'echo HUP; exit 41' HUP; echo READY; while :; do sleep 0.1; done`, syscall.SIGHUP, 41, "HUP"},
		{"usr1", nil, `trap 'echo USR1; exit 40' USR1; echo READY; while :; do sleep 0.1; done`, syscall.SIGUSR1, 40, "USR1"},
		// No handler: the init still delivers the signal and its default
		// action kills the command.
		{"no handler", nil, `echo READY; exec sleep 60`, syscall.SIGTERM, 143, ""},
		{"no handler, SIGINT", nil, `echo READY; exec sleep 60`, syscall.SIGINT, 130, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := takeSnapshot(t)
			args := append(append([]string{"run"}, c.flags...), "--rootfs", rootfs, "sh", "-c", c.script)
			cmd, out := startPiped(t, args...)
			if got := readLine(t, out); got != "READY" {
				t.Fatalf("got %q, want READY", got)
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			if c.line != "" {
				if got := readLine(t, out); got != c.line {
					t.Errorf("got %q, want %q", got, c.line)
				}
			}
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != c.code {
				t.Errorf("exit %d, want %d (%v)", code, c.code, err)
			}
			assertClean(t, before)
		})
	}
}

// startSleeping starts a container that prints READY and sleeps, and
// returns once it has printed READY.
func startSleeping(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd, out := startPiped(t, "run", "--rootfs", rootfs, "sh", "-c", "echo READY; exec sleep 60")
	if got := readLine(t, out); got != "READY" {
		t.Fatalf("got %q", got)
	}
	return cmd
}

func TestKilledRlessLeavesNoProcess(t *testing.T) {
	// SIGKILL cannot be forwarded: the container must die with rless.
	before := takeSnapshot(t)
	cmd := startSleeping(t)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	after := waitProcessesGone(t, before)
	if left := newPids(before, after); len(left) > 0 {
		t.Errorf("processes left after rless was killed: %v", left)
	}
	// A killed rless cannot remove its state directory: the next run
	// removes it, since its process is gone.
	if len(after.state) != 1 {
		t.Fatalf("state directories after the kill: %v, want the killed run's", after.state)
	}
	mustRun(t, nil, "true")
	assertClean(t, before)
}

func TestRunningContainerStateKept(t *testing.T) {
	// A second run removes stale state, never that of a running container.
	before := takeSnapshot(t)
	cmd := startSleeping(t)
	state := takeSnapshot(t).state
	if len(state) != 1 {
		t.Fatalf("state directories of the running container: %v", state)
	}
	mustRun(t, nil, "true")
	if _, err := os.Stat(filepath.Join(runRoot, state[0], "state.json")); err != nil {
		t.Errorf("a second run removed the running container's state: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	assertClean(t, before)
}
