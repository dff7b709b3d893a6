package oci

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// SendConsole sends the pseudo-terminal master to the unix socket at path,
// as runc does for --console-socket: one message whose payload is the
// master's name and whose SCM_RIGHTS carry its descriptor.
func SendConsole(path string, master *os.File) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	name := master.Name()
	if name == "" {
		name = "/dev/ptmx"
	}
	if _, _, err := conn.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("send the terminal to the console socket %s: %w", path, err)
	}
	return nil
}

// RecvConsole receives a descriptor sent by SendConsole on conn: what an
// engine does with its console socket.
func RecvConsole(conn *net.UnixConn) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive the terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the terminal: no descriptor (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive the terminal: no descriptor (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
