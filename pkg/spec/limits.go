package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultPidsLimit is the number of processes a container may have unless
// told otherwise (podman's default).
const DefaultPidsLimit = 2048

// ulimitNames are the names --ulimit accepts, as podman and Docker do.
var ulimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// Unlimited is the value of an unlimited resource (RLIM_INFINITY).
const Unlimited = math.MaxUint64

// ParseUlimit parses a --ulimit value, "name=soft[:hard]" (a missing hard
// limit equals the soft one; -1 is unlimited).
func ParseUlimit(v string) (specs.POSIXRlimit, error) {
	name, limits, ok := strings.Cut(v, "=")
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("ulimit %q: want name=soft[:hard]", v)
	}
	typ, ok := ulimitNames[strings.ToLower(name)]
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("ulimit %q: unknown limit %q", v, name)
	}
	softStr, hardStr, hasHard := strings.Cut(limits, ":")
	soft, err := parseLimit(softStr)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("ulimit %q: %w", v, err)
	}
	hard := soft
	if hasHard {
		if hard, err = parseLimit(hardStr); err != nil {
			return specs.POSIXRlimit{}, fmt.Errorf("ulimit %q: %w", v, err)
		}
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("ulimit %q: soft limit %s is above the hard limit %s", v, softStr, hardStr)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

func parseLimit(s string) (uint64, error) {
	if s == "-1" || s == "unlimited" {
		return Unlimited, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad limit %q", s)
	}
	return n, nil
}

// PidsRlimit returns the RLIMIT_NPROC that enforces a limit of pids
// processes when no cgroup can (Linux counts it per user namespace since
// 5.14), or false for no limit (pids <= 0).
func PidsRlimit(pids int64) (specs.POSIXRlimit, bool) {
	if pids <= 0 {
		return specs.POSIXRlimit{}, false
	}
	return specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: uint64(pids), Hard: uint64(pids)}, true
}
