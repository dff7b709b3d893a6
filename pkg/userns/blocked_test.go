package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlocked(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  string // in the line; "" for none
	}{
		{map[string]string{"kernel/unprivileged_userns_clone": "1\n", "user/max_user_namespaces": "63000\n"}, ""},
		{map[string]string{}, ""},
		{map[string]string{"kernel/unprivileged_userns_clone": "0\n"}, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{map[string]string{"user/max_user_namespaces": "0\n"}, "sysctl -w user.max_user_namespaces="},
		{map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1\n", "user/max_user_namespaces": "63000\n"}, "apparmor_parser -r /etc/apparmor.d/rless"},
		{map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "0\n"}, ""},
	} {
		dir := t.TempDir()
		for name, v := range tc.files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got := blockedIn(dir)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.files, got, tc.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("%v: more than one line: %q", tc.files, got)
		}
	}
	if got := Blocked(); got != "" {
		t.Errorf("this host (which runs the tests' user namespaces): %q", got)
	}
}
