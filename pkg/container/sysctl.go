package container

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// setSysctls writes the spec's linux.sysctl into /proc/sys of the
// container, which must be mounted and still writable (after rootfs.Setup,
// before rootfs.ReadonlyPaths). checkSpec has kept only the sysctls of the
// container's own namespaces, whose root (the container's) may write them.
func setSysctls(sysctl map[string]string) error {
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == "" || strings.ContainsAny(key, "/\x00") {
			return fmt.Errorf("sysctl %q: bad key", key)
		}
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(path, []byte(sysctl[key]), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, sysctl[key], err)
		}
	}
	return nil
}
