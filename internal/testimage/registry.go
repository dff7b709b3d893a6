package testimage

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartRegistry starts docker-registry on a free port of 127.0.0.1 with
// its storage in dir, and returns its address and a function stopping it.
func StartRegistry(dir string) (string, func(), error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", nil, fmt.Errorf("docker-registry not installed (Debian package docker-registry; `make deps` installs it): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	addr, err := freePort()
	if err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "config.yml")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s/data
  delete:
    enabled: true
http:
  addr: %s
`, dir, addr)), 0o644)
	if err != nil {
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return "", nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", conf)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return "", nil, fmt.Errorf("registry does not answer on %s: %w\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, stop, nil
}
