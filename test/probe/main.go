// Command probe is a static helper the end-to-end tests copy into a
// container's root filesystem to look at it from inside with system calls
// busybox does not make.
//
//	probe keyring KEYID   describe the session keyring, then try to read key KEYID
//	probe keycalls        try add_key, request_key and keyctl, and print what each returned
//	probe udp ADDR MSG    send MSG to the UDP address ADDR and print the reply (3 s at most)
//	probe get URL         print the body of an HTTP GET of URL (3 s at most)
//	probe udpecho PORT... answer each UDP datagram to a PORT with "echo " and
//	                      the datagram, until killed
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe keyring KEYID")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "keyring":
		id, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		session, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
		fmt.Printf("session %d %v\n", session, err)
		if desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, session); err == nil {
			fmt.Printf("describe %s\n", desc)
		}
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			fmt.Printf("read %d: %v\n", id, err)
			os.Exit(1)
		}
		fmt.Printf("read %d: %q\n", id, buf[:n])
	case "keycalls":
		_, err := unix.AddKey("user", "rless-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		fmt.Printf("add_key: %v\n", errText(err))
		_, err = unix.RequestKey("user", "rless-probe", "", unix.KEY_SPEC_PROCESS_KEYRING)
		fmt.Printf("request_key: %v\n", errText(err))
		_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
		fmt.Printf("keyctl: %v\n", errText(err))
	case "get":
		c := &http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			os.Exit(1)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
	case "udp":
		c, err := net.Dial("udp", os.Args[2])
		if err == nil {
			c.SetDeadline(time.Now().Add(3 * time.Second))
			_, err = c.Write([]byte(os.Args[3]))
		}
		buf := make([]byte, 1500)
		n := 0
		if err == nil {
			n, err = c.Read(buf)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "udp:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\n", buf[:n])
	case "udpecho":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: probe udpecho PORT...")
			os.Exit(2)
		}
		for _, port := range os.Args[2:] {
			pc, err := net.ListenPacket("udp", ":"+port)
			if err != nil {
				fmt.Fprintln(os.Stderr, "udpecho:", err)
				os.Exit(1)
			}
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						fmt.Fprintln(os.Stderr, "udpecho:", err)
						os.Exit(1)
					}
					pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
				}
			}()
		}
		select {}
	default:
		fmt.Fprintln(os.Stderr, "unknown probe", os.Args[1])
		os.Exit(2)
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
