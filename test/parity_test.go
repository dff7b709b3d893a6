package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The differential suite: each case is one command line, run by rootless
// podman (with its own runtime, runc) and by rless on the same image from
// the test registry. Exit status, stdout (after normalising what must
// differ: ids, times) and the gist of stderr must be the same. Where rless
// differs on purpose, the case names an entry of PARITY.md and says how
// its output differs; PARITY.md lists nothing no case uses.

// parityCase is one command line of the differential suite.
type parityCase struct {
	name string
	args []string // after the program name: ["run", "--rm", ...]
	// gist, when set, is what both stderrs must contain (case-insensitive).
	// When unset, rless's stderr must be empty where podman's is.
	gist string
	// norm normalises both stdouts further (after the common normalising).
	norm func(string) string
	// exception names the PARITY.md entry that explains a deliberate
	// difference; want turns podman's normalised stdout into rless's.
	exception string
	want      func(string) string
	code      func(int) int // rless's exit status from podman's, for an exception
}

// img is the image every case runs.
const parityImage = "alpine"

func runArgs(flags []string, cmd ...string) []string {
	a := append([]string{"run", "--rm"}, flags...)
	a = append(a, parityImage)
	return append(a, cmd...)
}

func shc(script string) []string { return []string{"sh", "-c", script} }

var (
	longID  = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	shortID = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
)

// normalise replaces what must differ between two runs of one engine.
func normalise(s string) string {
	s = longID.ReplaceAllString(s, "<ID>")
	return shortID.ReplaceAllString(s, "<id>")
}

// sortLines sorts the lines of s.
func sortLines(s string) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n") + "\n"
}

// parityExceptions reads the entry names (### headings) of PARITY.md.
func parityExceptions(t *testing.T) map[string]bool {
	b, err := os.ReadFile("../PARITY.md")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(l, "### "); ok {
			m[strings.Trim(name, "` ")] = false
		}
	}
	return m
}

// TestParity runs the differential suite.
func TestParity(t *testing.T) {
	registry(t)
	p := newPodmanWith(t, "runc")
	root := imageStore(t)
	p.must(t, "pull", "-q", parityImage)
	mustImg(t, root, "pull", "-q", parityImage)

	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# a comment\nFROM_FILE=one\nSPACED=a b\n\nPASSED\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exceptions := parityExceptions(t)
	for _, c := range parityCases(envFile) {
		if c.exception != "" {
			if _, ok := exceptions[c.exception]; !ok {
				t.Errorf("case %s names %q, which PARITY.md does not list", c.name, c.exception)
			}
			exceptions[c.exception] = true
		}
		t.Run(c.name, func(t *testing.T) {
			pc := p.cmd(c.args...)
			pc.Env = append(pc.Env, "PASSED=from-env")
			want := runCmd(t, pc)
			rc := imgCmd(root, c.args...)
			rc.Env = append(rc.Env, "PASSED=from-env")
			got := runCmd(t, rc)
			wantOut, gotOut := normalise(want.stdout), normalise(got.stdout)
			if c.norm != nil {
				wantOut, gotOut = c.norm(wantOut), c.norm(gotOut)
			}
			if c.want != nil {
				wantOut = c.want(wantOut)
			}
			if c.code != nil {
				want.code = c.code(want.code)
			}
			if got.code != want.code {
				t.Errorf("exit status %d, podman's %d\nrless stderr: %s\npodman stderr: %s", got.code, want.code, got.stderr, want.stderr)
			}
			if gotOut != wantOut {
				t.Errorf("stdout differs\nrless:\n%s\npodman:\n%s", gotOut, wantOut)
			}
			switch {
			case c.gist != "":
				for who, s := range map[string]string{"rless": got.stderr, "podman": want.stderr} {
					if !strings.Contains(strings.ToLower(s), strings.ToLower(c.gist)) {
						t.Errorf("%s's stderr lacks %q: %s", who, c.gist, s)
					}
				}
			case want.stderr == "" && got.stderr != "":
				t.Errorf("rless wrote to stderr, podman did not: %s", got.stderr)
			case want.stderr != "" && got.stderr == "":
				t.Errorf("podman wrote to stderr, rless did not: %s", want.stderr)
			}
			if got.code == 125 && strings.Count(got.stderr, "Error:") != 1 {
				t.Errorf("rless's error is not one line: %s", got.stderr)
			}
		})
	}
	for name, used := range exceptions {
		if !used {
			t.Errorf("PARITY.md lists %q, which no case uses", name)
		}
	}
}

// imagesNorm drops the CREATED column of `images` (a time relative to
// now) and the run of spaces between columns.
func imagesNorm(s string) string {
	created := regexp.MustCompile(`\s{2,}(CREATED|About an? \w+ ago|\d+ \w+ ago|Less than a second ago)\s{2,}`)
	s = created.ReplaceAllString(s, "  ")
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, "  ")
}

// jsonKeys is the sorted keys of the objects of a JSON array, one object
// per line.
func jsonKeys(s string) string {
	var objs []map[string]any
	if err := json.Unmarshal([]byte(s), &objs); err != nil {
		return "not a JSON array of objects: " + err.Error()
	}
	var out strings.Builder
	for _, o := range objs {
		keys := slices.Sorted(maps.Keys(o))
		out.WriteString(strings.Join(keys, " ") + "\n")
	}
	return out.String()
}

// pidsLimit turns podman's `ulimit -a` output into rless's: the process
// limit is rless's default (PARITY.md, pids-limit).
func pidsLimit(s string) string {
	return regexp.MustCompile(`(max user processes +\(-u\)) \d+`).ReplaceAllString(s, "${1} 2048")
}

// podmanOnlyCaps are the capabilities podman gives by default that rless
// does not (PARITY.md, default-caps): CAP_MKNOD, CAP_NET_RAW and
// CAP_AUDIT_WRITE.
const podmanOnlyCaps = 1<<27 | 1<<13 | 1<<29

// dropCaps removes podmanOnlyCaps from the capability sets of
// /proc/self/status lines.
func dropCaps(s string) string {
	return regexp.MustCompile(`(Cap\w+:\s+)([0-9a-f]{16})`).ReplaceAllStringFunc(s, func(m string) string {
		i := strings.LastIndexAny(m, " \t") + 1
		v, err := strconv.ParseUint(m[i:], 16, 64)
		if err != nil {
			return m
		}
		return m[:i] + fmt.Sprintf("%016x", v&^podmanOnlyCaps)
	})
}

// containerEnv is podman's environment with rless's container variable
// (PARITY.md, container-env).
func containerEnv(s string) string {
	return strings.ReplaceAll(s, "container=podman", "container=rless")
}

// hostGateway is podman's /etc/hosts with rless's host.containers.internal
// entry (PARITY.md, host-gateway): both names, and on rless's own network
// its gateway to the host, 192.0.2.2.
func hostGateway(ownNetwork bool) func(string) string {
	return func(s string) string {
		return regexp.MustCompile(`(?m)^(\S+)\thost\.containers\.internal$`).ReplaceAllStringFunc(s, func(m string) string {
			ip, _, _ := strings.Cut(m, "\t")
			if ownNetwork {
				ip = "192.0.2.2"
			}
			return ip + "\thost.containers.internal host.docker.internal"
		})
	}
}

// randomName drops the name podman makes up for a container without
// --name from an /etc/hosts line (rless gives such a container none).
func randomName(s string) string {
	return regexp.MustCompile(`(?m)^(\S+\t<id>) [a-z]+_[a-z]+$`).ReplaceAllString(s, "$1")
}

// rootFS hides the filesystem type of / (podman's storage here is vfs, a
// directory of the host's filesystem; rless's an overlay).
func rootFS(s string) string {
	return regexp.MustCompile(`(?m)^/ \S+ `).ReplaceAllString(s, "/ <fs> ")
}

// initExit is the exit status of a shell that signals itself: under
// podman it is PID 1 and ignores the signal (exit 0); under rless its
// init is PID 1 and the shell dies of it (PARITY.md, init-pid1).
func initExit(sig int) func(int) int {
	return func(code int) int {
		if code == 0 {
			return 128 + sig
		}
		return code
	}
}
