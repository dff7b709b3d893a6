package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/pflag"
)

// lifeFlags are the flags of run and create about a container's life:
// its name, labels, detaching, restart policy, healthcheck and log.
type lifeFlags struct {
	detach      bool
	name        string
	labels      []string
	envFiles    []string
	cidfile     string
	restart     string
	stopTimeout int
	detachKeys  string
	logDriver   string
	logOpts     []string
	health      healthFlags
}

type healthFlags struct {
	cmd, interval, timeout, startPeriod, onFailure string
	retries                                        int
	none                                           bool
}

func (f *lifeFlags) register(fl *pflag.FlagSet, run bool) {
	if run {
		fl.BoolVarP(&f.detach, "detach", "d", false, "run the container in the background (its monitor, in the supervisor, runs it) and print its id")
		fl.StringVar(&f.detachKeys, "detach-keys", engine.DefaultDetachKeys, "keys that detach from the container's terminal with -it (it goes on running)")
	}
	fl.StringVar(&f.name, "name", "", "give the container a name (unique)")
	stringsVar(fl, &f.labels, "label", "l", "set a label KEY=VALUE on the container", false)
	stringsVar(fl, &f.envFiles, "env-file", "", "read environment variables from a file (NAME=VALUE lines; # comments)", false)
	fl.StringVar(&f.cidfile, "cidfile", "", "write the container's id to this file (which must not exist)")
	fl.StringVar(&f.restart, "restart", "", "restart policy of a detached container: no, on-failure[:N], always or unless-stopped")
	fl.IntVar(&f.stopTimeout, "stop-timeout", 10, "seconds the container has to stop before it is killed")
	fl.StringVar(&f.logDriver, "log-driver", "k8s-file", "where a detached container's output goes: k8s-file or none")
	stringsVar(fl, &f.logOpts, "log-opt", "", "log option: max-size=SIZE (the log file's cap, as 10m)", false)
	fl.StringVar(&f.health.cmd, "health-cmd", "", "command to check the container's health (run with /bin/sh -c, or a JSON array run as it is); \"none\" disables the image's")
	fl.StringVar(&f.health.interval, "health-interval", "30s", "time between healthchecks (\"disable\": only by hand)")
	fl.IntVar(&f.health.retries, "health-retries", 3, "failed healthchecks in a row that make the container unhealthy")
	fl.StringVar(&f.health.timeout, "health-timeout", "30s", "time a healthcheck may take")
	fl.StringVar(&f.health.startPeriod, "health-start-period", "0s", "time after the start during which failed healthchecks do not count")
	fl.StringVar(&f.health.onFailure, "health-on-failure", "none", "what to do when the container turns unhealthy: none, kill, restart or stop")
	fl.BoolVar(&f.health.none, "no-healthcheck", false, "disable any healthcheck")
}

// apply fills cfg's life fields from the flags.
func (f *lifeFlags) apply(fl *pflag.FlagSet, cfg *engine.Config) error {
	cfg.Name = f.name
	cfg.Detach = f.detach
	if len(f.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range f.labels {
			k, v, _ := strings.Cut(l, "=")
			if k == "" {
				return fmt.Errorf("--label %q: no key", l)
			}
			cfg.Labels[k] = v
		}
	}
	for _, p := range f.envFiles {
		env, err := readEnvFile(p)
		if err != nil {
			return fmt.Errorf("--env-file: %w", err)
		}
		// The files first: -e overrides them.
		cfg.Env = append(env, cfg.Env...)
	}
	if f.restart != "" {
		name, n, hasN := strings.Cut(f.restart, ":")
		cfg.Restart.Name = name
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || name != "on-failure" {
				return fmt.Errorf("--restart %q: want no, on-failure[:N], always or unless-stopped", f.restart)
			}
			cfg.Restart.MaxRetries = v
		}
	}
	if fl.Changed("stop-timeout") {
		cfg.StopTimeout = time.Duration(f.stopTimeout) * time.Second
	}
	cfg.Log.Driver = f.logDriver
	for _, o := range f.logOpts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "max-size":
			n, err := parseBytes(v)
			if err != nil {
				return fmt.Errorf("--log-opt max-size: %w", err)
			}
			cfg.Log.MaxSize = n
		case "path", "tag":
			return fmt.Errorf("--log-opt %s: not supported by rless", k)
		default:
			return fmt.Errorf("--log-opt %q: unknown option", o)
		}
	}
	h, err := f.health.config(fl)
	if err != nil {
		return err
	}
	cfg.Healthcheck = h
	return nil
}

// config returns the healthcheck the flags describe, nil when none.
func (f *healthFlags) config(fl *pflag.FlagSet) (*engine.Healthcheck, error) {
	if f.none || strings.EqualFold(f.cmd, "none") {
		return &engine.Healthcheck{Test: []string{"NONE"}}, nil
	}
	if f.cmd == "" {
		for _, n := range []string{"health-interval", "health-retries", "health-timeout", "health-start-period", "health-on-failure"} {
			if fl.Changed(n) {
				return nil, fmt.Errorf("--%s needs --health-cmd", n)
			}
		}
		return nil, nil
	}
	h := &engine.Healthcheck{Test: []string{"CMD-SHELL", f.cmd}, Retries: f.retries, OnFailure: f.onFailure}
	if strings.HasPrefix(strings.TrimSpace(f.cmd), "[") {
		var args []string
		if err := json.Unmarshal([]byte(f.cmd), &args); err != nil || len(args) == 0 {
			return nil, fmt.Errorf("--health-cmd %q: not a JSON array of strings", f.cmd)
		}
		h.Test = append([]string{"CMD"}, args...)
	}
	var err error
	if f.interval == "disable" {
		h.Interval = -1
	} else if h.Interval, err = parseDuration("health-interval", f.interval); err != nil {
		return nil, err
	}
	if h.Timeout, err = parseDuration("health-timeout", f.timeout); err != nil {
		return nil, err
	}
	if h.StartPeriod, err = parseDuration("health-start-period", f.startPeriod); err != nil {
		return nil, err
	}
	if f.retries < 1 {
		return nil, errors.New("--health-retries must be at least 1")
	}
	switch f.onFailure {
	case "none", "kill", "restart", "stop":
	default:
		return nil, fmt.Errorf("--health-on-failure %q: want none, kill, restart or stop", f.onFailure)
	}
	return h, nil
}

func parseDuration(flag, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--%s %q: not a duration (as 30s, 1m)", flag, v)
	}
	if flag == "health-interval" && d > 0 && d < time.Second {
		return 0, fmt.Errorf("--%s %q: must be at least 1s", flag, v)
	}
	return d, nil
}

// readEnvFile reads NAME=VALUE lines (blank lines and # comments
// skipped; a bare NAME takes the host's value), as podman's --env-file.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if name, _, ok := strings.Cut(line, "="); ok {
			if name == "" {
				return nil, fmt.Errorf("%s: %q: no variable name", path, line)
			}
			out = append(out, line)
		} else if v, ok := os.LookupEnv(line); ok {
			out = append(out, line+"="+v)
		}
	}
	return out, sc.Err()
}

// writeCidfile writes id to path, which must not exist (as podman).
func writeCidfile(path, id string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("container id file exists. Ensure another container is not using it or delete %s", path)
		}
		return fmt.Errorf("--cidfile: %w", err)
	}
	_, err = f.WriteString(id)
	return errors.Join(err, f.Close())
}
