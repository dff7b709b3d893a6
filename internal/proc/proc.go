// Package proc answers questions about host processes.
package proc

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/rless/rless/internal/atomicfile"
)

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool { return Running(pid, 0) }

// StartTime returns the start time of process pid, in clock ticks since
// boot (field 22 of /proc/PID/stat): with the pid, it names a process for
// good, since a pid is reused only by a process started later.
func StartTime(pid int) (uint64, error) {
	start, _, err := readStat(pid)
	return start, err
}

// Running reports whether the process pid started at start (see
// StartTime; 0: any) exists and is not a zombie, from one reading of
// /proc/PID/stat.
func Running(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	t, state, err := readStat(pid)
	return err == nil && (start == 0 || t == start) && state != 'Z'
}

// readStat returns the start time and the state of process pid.
func readStat(pid int) (uint64, byte, error) {
	stat, err := atomicfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return startAndState(stat)
}

// startAndState returns fields 22 (the start time) and 3 (the state) of a
// /proc/PID/stat, without the allocations of statFields: `ps` reads one
// per container.
func startAndState(stat []byte) (uint64, byte, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc/PID/stat: no command name")
	}
	var state byte
	field := 2 // the command name's
	rest := stat[i+1:]
	for len(rest) > 0 {
		rest = bytes.TrimLeft(rest, " ")
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			break
		}
		field++
		switch field {
		case 3:
			state = rest[0]
		case 22:
			start, err := strconv.ParseUint(string(bytes.TrimSpace(rest[:end])), 10, 64)
			return start, state, err
		}
		rest = rest[end:]
	}
	return 0, 0, errors.New("/proc/PID/stat: too few fields")
}

// statFields returns the fields of a /proc/PID/stat after the command
// name, which is in parentheses: fields[0] is field 3 (the state),
// fields[19] field 22 (the start time).
func statFields(stat []byte) ([]string, error) {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return nil, errors.New("/proc/PID/stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return nil, errors.New("/proc/PID/stat: too few fields")
	}
	return fields, nil
}
