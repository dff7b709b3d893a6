// Package userns creates the user namespace an unprivileged user runs
// containers in.
//
// It looks up the caller's subordinate id ranges in /etc/subuid and
// /etc/subgid, lays them out the way podman does (container id 0 is the
// caller, ids 1..N are the subordinate range), writes the mapping with the
// setuid helpers newuidmap and newgidmap, and falls back to a single mapping
// (container root = the caller) when there is no range or no helper.
//
// Because a Go program is multithreaded, namespaces are created by
// re-executing the current binary (see [Start]); the re-executed child calls
// [WaitMapped] before it does anything that needs its new identity.
package userns

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Range is a contiguous range of host ids: Start, Start+1, ..., Start+Count-1.
type Range struct {
	Start uint32 `json:"start"`
	Count uint32 `json:"count"`
}

// SubUIDFile and SubGIDFile are the files the subordinate ranges are read from.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// ParseSubIDs returns the ranges of r (in /etc/subuid format,
// "name-or-uid:start:count" per line) that belong to the user named name or
// with numeric id id. Malformed lines are skipped, as shadow-utils does.
func ParseSubIDs(r io.Reader, name string, id int) ([]Range, error) {
	idStr := strconv.Itoa(id)
	var out []Range
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != idStr) || f[0] == "" {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		out = append(out, Range{Start: uint32(start), Count: uint32(count)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// LookupSubIDs reads file (SubUIDFile or SubGIDFile) and returns the ranges of
// the user named name or with id id. A missing file means no ranges.
func LookupSubIDs(file, name string, id int) ([]Range, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subordinate ids: %w", err)
	}
	defer f.Close()
	rs, err := ParseSubIDs(f, name, id)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return rs, nil
}
