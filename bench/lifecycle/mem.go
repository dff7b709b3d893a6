package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The memory measurement starts k containers of a variant (10 by default:
// `rless run -d IMAGE sleep 1000` and `podman run -d --init IMAGE sleep
// 1000`, both with the default network), waits, and sums the PSS
// (proportional set size: each page's size divided by the number of
// processes mapping it, from /proc/PID/smaps_rollup) of every process
// belonging to the containers except their own `sleep 1000` commands,
// divided by k. The processes are found by walking /proc (see
// containerProcs):
//
//   - rless: the containers' monitors run in one process, the supervisor,
//     whose environment (/proc/PID/environ, as exec'd) says
//     _RLESS_CALL=supervisor with an argument naming the benchmark's run
//     root. It leads a session of its own. Counted: the supervisor (which
//     also runs the containers' built-in network stacks, in process), its
//     descendants (each container's init, rless-init, and the command
//     under it) and its session, and any other live process of the user
//     whose command line or environment names the benchmark's rless store
//     or run root (whatever else rless left running).
//   - podman: each container's conmon is the process named conmon whose
//     command line holds the container's id (-c ID); it leads a session of
//     its own. Counted: conmon, its descendants (catatonit, podman's
//     --init, and the command under it) and its session, and any process
//     whose command line or environment names the benchmark's podman root,
//     run root or XDG_RUNTIME_DIR: slirp4netns (whose command line names
//     the container's network namespace under $XDG_RUNTIME_DIR/netns; it
//     stays in the session of the podman command that started it) and
//     podman's pause process. The pause process (its pid from
//     $XDG_RUNTIME_DIR/libpod/tmp/pause.pid) serves all the containers: it
//     is counted once, divided over the k.
//
// Left out: the containers' commands (processes whose command line is
// exactly "sleep 1000"; there must be k of them among those found) and
// the benchmark itself. Zombies have no memory and are skipped.

// maxMemRatio is the target: rless's per-container PSS at most this times
// podman's.
const maxMemRatio = 2.0

// memVariant is one way of starting the containers whose memory is
// measured.
type memVariant struct {
	name   string
	tool   string   // rless or podman
	flags  []string // run flags
	env    []string // added to the tool's environment
	binary string   // another rless binary (for -mem-alt)
}

// memVariants are the variants -mem-variants selects from. rless and
// podman are the compared ones; the others tell where the memory goes.
var memVariants = []memVariant{
	{name: "rless", tool: "rless"},
	{name: "podman", tool: "podman", flags: []string{"--init"}},
	{name: "rless --network none", tool: "rless", flags: []string{"--network", "none"}},
	{name: "rless --init=false", tool: "rless", flags: []string{"--init=false"}},
	{name: "rless --network none --init=false", tool: "rless", flags: []string{"--network", "none", "--init=false"}},
	// GOMEMLIMIT and GOGC reach the supervisor through the environment
	// of the rless run that starts it (not the inits, whose environment
	// rless makes).
	{name: "rless GOMEMLIMIT=4MiB", tool: "rless", env: []string{"GOMEMLIMIT=4MiB"}},
	{name: "rless GOGC=20", tool: "rless", env: []string{"GOGC=20"}},
	{name: "podman --network none", tool: "podman", flags: []string{"--init", "--network", "none"}},
	{name: "podman without --init", tool: "podman"},
	// The floor of a design with a Go process per container: k processes
	// of the smallest Go program (bench/lifecycle/idle, which only sleeps;
	// -idle), with no container.
	{name: "idle Go process", tool: "go-idle"},
}

func memVariantNames() []string {
	var names []string
	for _, v := range memVariants {
		names = append(names, strings.ReplaceAll(v.name, " ", "_"))
	}
	return names
}

// selectMemVariants returns the variants in list: "all", or names as
// memVariantNames spells them (spaces as underscores).
func selectMemVariants(list string) ([]memVariant, error) {
	if list == "all" {
		return slices.Clone(memVariants), nil
	}
	var out []memVariant
	for _, name := range splitList(list) {
		i := slices.Index(memVariantNames(), name)
		if i < 0 {
			return nil, fmt.Errorf("-mem-variants: unknown variant %q (known: %s)", name, strings.Join(memVariantNames(), ","))
		}
		out = append(out, memVariants[i])
	}
	return out, nil
}

func altVariant(name, binary string) memVariant {
	return memVariant{name: "rless build " + name, tool: "rless", binary: binary}
}

type kindResult struct {
	Kind         string `json:"kind"`
	Procs        int    `json:"procs"`
	PerContainer pss    `json:"per_container_kb"`
}

type memReading struct {
	AfterS       float64      `json:"after_s"`
	PerContainer pss          `json:"per_container_kb"`
	Kinds        []kindResult `json:"kinds"`
}

type memResult struct {
	Variant      string       `json:"variant"`
	Argv         []string     `json:"argv"`
	Env          []string     `json:"env,omitempty"`
	Containers   int          `json:"containers"`
	PerContainer pss          `json:"per_container_kb"` // at the last reading
	Readings     []memReading `json:"readings"`
}

// measureMemory measures each variant in turn: k containers started,
// read at each of after (from when the last one started), removed.
func measureMemory(ctx context.Context, c *config, vs []memVariant, k int, after []time.Duration) ([]memResult, error) {
	fmt.Printf("memory: PSS of the processes of %d running detached containers (sleep 1000) of each variant, their commands left out, per container\n", k)
	var rs []memResult
	for _, v := range vs {
		if v.tool == "go-idle" {
			if c.idle == "" {
				fmt.Printf("\n%s: skipped (no -idle program)\n", v.name)
				continue
			}
			r, err := measureIdle(ctx, c.idle, k, after)
			if err != nil {
				return rs, fmt.Errorf("memory, %s: %w", v.name, err)
			}
			r.Variant = v.name
			rs = append(rs, r)
			printMemory(r)
			continue
		}
		t := *c.pm
		if v.tool == "rless" {
			t = *c.rl
			if v.binary != "" {
				t.base = slices.Clone(t.base)
				t.base[0] = v.binary
			}
		}
		if len(v.env) > 0 {
			env := t.env
			if env == nil {
				env = os.Environ()
			}
			t.env = append(slices.Clone(env), v.env...)
		}
		r := memResult{Variant: v.name, Env: v.env, Containers: k,
			Argv: t.argv(append(append([]string{"run", "-d", "--pull=never"}, v.flags...), append([]string{imageName}, containerCmd...)...)...)}
		ids, err := startN(ctx, &t, k, v.flags...)
		started := time.Now()
		if err == nil {
			for _, a := range after {
				select {
				case <-ctx.Done():
					err = ctx.Err()
				case <-time.After(time.Until(started.Add(a))):
				}
				if err != nil {
					break
				}
				var m memReading
				if m, err = readMemory(c, v.tool, ids); err != nil {
					break
				}
				m.AfterS = a.Seconds()
				r.Readings = append(r.Readings, m)
				r.PerContainer = m.PerContainer
			}
		}
		if _, _, rmErr := runCmd(t.env, t.argv(append(slices.Clone(t.rmForce), "-a")...)); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		if err != nil {
			return rs, fmt.Errorf("memory, %s: %w", v.name, err)
		}
		rs = append(rs, r)
		printMemory(r)
	}
	return rs, nil
}

// containerProcs returns the processes of the containers ids of tool (see
// the comment at the top of this file), their commands left out, with the
// kind of each, and the pid of a process shared by all (podman's pause
// process; 0 if none).
func containerProcs(c *config, tool string, ids []string, t procTable) (kinds map[int]string, shared int, err error) {
	members := map[int]bool{}
	add := func(pids []int) {
		for _, pid := range pids {
			members[pid] = true
		}
	}
	kinds = map[int]string{}
	var dirs []string
	switch tool {
	case "rless":
		dirs = []string{c.store, c.runRoot}
		supervisors := 0
		for pid := range t {
			env := environ(pid)
			if !slices.Contains(env, "_RLESS_CALL=supervisor") {
				continue
			}
			arg := ""
			for _, e := range env {
				if a, ok := strings.CutPrefix(e, "_RLESS_CALL_ARG="); ok {
					arg = a
				}
			}
			if !strings.Contains(arg, c.runRoot+"/") {
				continue
			}
			supervisors++
			kinds[pid] = "supervisor (rless-call)"
			add(t.descendants(pid))
			add(t.inSession(t[pid].sid))
		}
		if supervisors != 1 {
			return nil, 0, fmt.Errorf("found %d rless supervisors, want 1", supervisors)
		}
	case "podman":
		dirs = []string{c.podmanRoot, c.podmanRunRoot, c.xdg}
		conmons := 0
		for pid, p := range t {
			if p.comm == "conmon" && slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(p.cmdline, id) }) {
				conmons++
				add(t.descendants(pid))
				add(t.inSession(p.sid))
			}
		}
		if conmons != len(ids) {
			return nil, 0, fmt.Errorf("found %d conmons for %d containers", conmons, len(ids))
		}
		shared = pausePid(c)
		if t[shared] == nil {
			return nil, 0, fmt.Errorf("podman's pause process (pid %d from its pid file) is not running", shared)
		}
	}
	for pid := range t {
		refs := append(slices.Clone(t[pid].cmdline), environ(pid)...)
		if slices.ContainsFunc(refs, func(s string) bool {
			return slices.ContainsFunc(dirs, func(d string) bool { return strings.Contains(s, d) })
		}) {
			members[pid] = true
		}
	}
	delete(members, os.Getpid())
	delete(members, shared)
	commands := 0
	for pid := range members {
		p := t[pid]
		switch {
		case p.isCommand():
			commands++
			continue
		case kinds[pid] != "":
		case len(p.cmdline) > 0 && strings.HasPrefix(p.cmdline[0], "rless-"):
			kinds[pid] = p.cmdline[0]
		case len(p.cmdline) > 0 && filepath.Base(p.cmdline[0]) != p.comm:
			kinds[pid] = p.comm + " (" + filepath.Base(p.cmdline[0]) + ")"
		default:
			kinds[pid] = p.comm
		}
	}
	if commands != len(ids) {
		return nil, 0, fmt.Errorf("found %d container commands (%s) among %d processes for %d containers", commands, strings.Join(containerCmd, " "), len(members), len(ids))
	}
	for pid := range kinds {
		if !members[pid] || t[pid].isCommand() {
			delete(kinds, pid)
		}
	}
	if shared > 0 {
		kinds[shared] = "pause process (shared, 1/k each)"
	}
	return kinds, shared, nil
}

// readMemory reads the PSS of the processes of containers ids of tool.
func readMemory(c *config, tool string, ids []string) (memReading, error) {
	t, err := readProcs()
	if err != nil {
		return memReading{}, err
	}
	kinds, _, err := containerProcs(c, tool, ids, t)
	if err != nil {
		return memReading{}, err
	}
	k := float64(len(ids))
	byKind := map[string]*kindResult{}
	var m memReading
	for pid, kind := range kinds {
		p, err := readPSS(pid)
		if err != nil {
			return memReading{}, err
		}
		kr := byKind[kind]
		if kr == nil {
			kr = &kindResult{Kind: kind}
			byKind[kind] = kr
		}
		kr.Procs++
		kr.PerContainer = kr.PerContainer.plus(p.scaled(1 / k))
		m.PerContainer = m.PerContainer.plus(p.scaled(1 / k))
	}
	for _, kr := range byKind {
		m.Kinds = append(m.Kinds, *kr)
	}
	slices.SortFunc(m.Kinds, func(a, b kindResult) int {
		if a.PerContainer.Pss != b.PerContainer.Pss {
			if a.PerContainer.Pss > b.PerContainer.Pss {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return m, nil
}

// environ returns the environment process pid was exec'd with (nil if it
// cannot be read).
func environ(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func printMemory(r memResult) {
	fmt.Printf("\n%s: %s\n", r.Variant, strings.Join(append(slices.Clone(r.Env), r.Argv...), " "))
	for _, m := range r.Readings {
		fmt.Printf("  after %4.0f s: PSS %7.0f kB per container (anon %.0f, file %.0f, shmem %.0f; RSS %.0f)\n",
			m.AfterS, m.PerContainer.Pss, m.PerContainer.Anon, m.PerContainer.File, m.PerContainer.Shmem, m.PerContainer.Rss)
		for _, kr := range m.Kinds {
			fmt.Printf("    %-40s %3d procs  PSS %7.0f kB per container (anon %.0f, file %.0f)\n",
				kr.Kind, kr.Procs, kr.PerContainer.Pss, kr.PerContainer.Anon, kr.PerContainer.File)
		}
	}
}

// measureIdle starts k processes of the program idle (each in a session
// of its own, as a monitor) and reads their PSS at each of after.
func measureIdle(ctx context.Context, idle string, k int, after []time.Duration) (memResult, error) {
	r := memResult{Argv: []string{idle}, Containers: k}
	var cmds []*exec.Cmd
	defer func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	for range k {
		cmd := exec.Command(idle)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return r, err
		}
		cmds = append(cmds, cmd)
	}
	started := time.Now()
	for _, a := range after {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(time.Until(started.Add(a))):
		}
		m := memReading{AfterS: a.Seconds()}
		kr := kindResult{Kind: filepath.Base(idle), Procs: k}
		for _, cmd := range cmds {
			p, err := readPSS(cmd.Process.Pid)
			if err != nil {
				return r, err
			}
			kr.PerContainer = kr.PerContainer.plus(p.scaled(1 / float64(k)))
		}
		m.PerContainer, m.Kinds = kr.PerContainer, []kindResult{kr}
		r.Readings = append(r.Readings, m)
		r.PerContainer = m.PerContainer
	}
	return r, nil
}
