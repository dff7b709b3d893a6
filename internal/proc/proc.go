// Package proc answers questions about host processes.
package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// StartTime returns the start time of process pid, in clock ticks since
// boot (field 22 of /proc/PID/stat): with the pid, it names a process for
// good, since a pid is reused only by a process started later.
func StartTime(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses: state is
	// field 3, start time field 22.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return 0, errors.New("/proc/PID/stat: too few fields")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
