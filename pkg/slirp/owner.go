package slirp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rless/rless/internal/proc"
)

// sockOwner finds the process of the container that owns the socket of a
// flow: proto ("tcp" or "udp") from local port (the container's side) to
// remote. root is the container's first process (host pid), whose
// network namespace is the container's: the socket's inode is looked up
// in its /proc/PID/net tables, then among the descriptors of root and
// its descendants. It returns the pid as the container sees it (the last
// of NSpid) and the command name; ok is false when the socket or its
// process is not found (it may have gone).
func sockOwner(root int, proto string, local uint16, remote netip.AddrPort) (pid int, comm string, ok bool) {
	if root <= 0 {
		return 0, "", false
	}
	dir := "/proc/" + strconv.Itoa(root)
	var inode string
	for _, f := range []string{proto, proto + "6"} {
		data, err := os.ReadFile(dir + "/net/" + f)
		if err != nil {
			continue
		}
		if inode = findSocket(data, proto == "udp", local, remote); inode != "" {
			break
		}
	}
	if inode == "" {
		return 0, "", false
	}
	table, err := proc.Table()
	if err != nil {
		return 0, "", false
	}
	link := "socket:[" + inode + "]"
	for _, p := range proc.Descendants(table, root) {
		fdDir := "/proc/" + strconv.Itoa(p) + "/fd/"
		entries, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if l, err := os.Readlink(fdDir + e.Name()); err == nil && l == link {
				return nsPid(p), readComm(p), true
			}
		}
	}
	return 0, "", false
}

// findSocket returns the inode of the socket that data, a /proc/net/tcp,
// tcp6, udp or udp6 table, lists as bound to local port and connected to
// remote (or, with unconnected, not connected), "" when none.
func findSocket(data []byte, unconnected bool, local uint16, remote netip.AddrPort) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // the header
	var loose string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		l, ok1 := parseSockAddr(f[1])
		r, ok2 := parseSockAddr(f[2])
		if !ok1 || !ok2 || l.Port() != local || f[9] == "0" {
			continue
		}
		if r.Addr().Unmap() == remote.Addr().Unmap() && r.Port() == remote.Port() {
			return f[9]
		}
		if unconnected && r.Port() == 0 && r.Addr().IsUnspecified() && loose == "" {
			loose = f[9]
		}
	}
	return loose
}

// parseSockAddr parses an address of a /proc/net table: the address in
// hexadecimal, 32-bit words in host byte order, a colon and the port.
func parseSockAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		// Printed as a number: undo the host order of each word.
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// nsPid returns process p's pid in its own pid namespace (the last of
// NSpid in its status), p itself when unknown.
func nsPid(p int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
	if err != nil {
		return p
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
					return n
				}
			}
		}
	}
	return p
}

// readComm returns process p's command name, "" when unknown.
func readComm(p int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}
