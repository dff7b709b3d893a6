package sandbox

import (
	"slices"
	"strings"
)

// PassedEnv lists the host variables a sandbox gets besides those
// Profile.Env sets and Profile.PassEnv names; an entry ending in "*" is a
// prefix. Everything else (tokens and keys in particular) stays out.
var PassedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "COLORTERM", "LANG", "LANGUAGE", "LC_*", "TZ", "EDITOR", "VISUAL"}

// environ returns the sandbox's environment from host, the host's
// (os.Environ's form), and p.
func environ(host []string, p Profile) []string {
	var env []string
	for _, kv := range host {
		k, _, _ := strings.Cut(kv, "=")
		if passed(k) || slices.Contains(p.PassEnv, k) {
			env = append(env, kv)
		}
	}
	return append(env, p.Env...)
}

func passed(k string) bool {
	for _, p := range PassedEnv {
		if p == k || strings.HasSuffix(p, "*") && strings.HasPrefix(k, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// setEnv replaces or adds k=v in env.
func setEnv(env []string, k, v string) []string {
	env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
	return append(env, k+"="+v)
}

// hasEnv reports whether env sets k.
func hasEnv(env []string, k string) bool {
	return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
}
