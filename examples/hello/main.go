// Command hello is the content of rless's demo image (`make demo`): a
// static program that says where it runs.
package main

import (
	"fmt"
	"os"
)

func main() {
	host, _ := os.Hostname()
	fmt.Printf("Hello from rless! I am PID %d, uid %d, on host %s.\n", os.Getpid(), os.Getuid(), host)
	if data, err := os.ReadFile("/etc/demo-release"); err == nil {
		fmt.Printf("This image was built from rless's own sources: %s", data)
	}
}
