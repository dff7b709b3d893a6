package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/container"
)

// Health states, as podman names them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Healthcheck defaults, podman's.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
)

// ErrNoHealthcheck is returned by Healthcheck for a container without one.
var ErrNoHealthcheck = errors.New("container has no defined healthcheck")

// effectiveHealthcheck returns cfg's healthcheck with its defaults
// filled in, or nil when it has none.
func effectiveHealthcheck(cfg Config) *Healthcheck {
	h := cfg.Healthcheck
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	c := *h
	if c.Interval == 0 {
		c.Interval = defaultHealthInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultHealthTimeout
	}
	if c.Retries <= 0 {
		c.Retries = defaultHealthRetries
	}
	return &c
}

func (m *monitor) healthcheck() *Healthcheck { return effectiveHealthcheck(m.d.Config) }

// runHealthchecks runs the container's healthcheck every interval while
// the run lasts (ctx), and does what OnFailure says when the container
// turns unhealthy.
func (m *monitor) runHealthchecks(ctx context.Context, c *container.Container, h *Healthcheck, started time.Time) {
	_ = m.e.writeHealth(m.d.ID, healthState{Status: HealthStarting})
	if h.Interval < 0 {
		return
	}
	handle := &Container{e: m.e, id: m.d.ID, c: c}
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, _ := m.e.checkHealth(ctx, handle, h, time.Since(started) < h.StartPeriod)
		if st.Status != HealthUnhealthy || ctx.Err() != nil {
			continue
		}
		switch h.OnFailure {
		case "kill":
			_ = m.e.markStopping(m.d.ID)
			_ = c.Signal(syscall.SIGKILL)
		case "stop":
			_ = m.e.markStopping(m.d.ID)
			_ = c.Stop(context.Background(), m.d.Config.StopTimeout)
		case "restart":
			m.mu.Lock()
			m.forceRestart = true
			m.mu.Unlock()
			_ = c.Stop(context.Background(), m.d.Config.StopTimeout)
		default:
			continue
		}
		slog.Info("container unhealthy", "id", m.d.ID, "action", h.OnFailure)
		return
	}
}

// checkHealth runs healthcheck h once in container c and records the
// result; failures during the start period do not count.
func (e *Engine) checkHealth(ctx context.Context, c *Container, h *Healthcheck, startPeriod bool) (healthState, HealthResult) {
	args := h.Test[1:]
	if h.Test[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	}
	res := HealthResult{Start: time.Now(), ExitCode: -1}
	var out bytes.Buffer
	cctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	p, err := c.Exec(cctx, Process{Args: args, Stdout: &out, Stderr: &out})
	if err == nil {
		res.ExitCode, err = p.Wait()
	}
	res.End = time.Now()
	if err != nil {
		if cctx.Err() != nil {
			err = fmt.Errorf("healthcheck timed out after %s", h.Timeout)
		}
		out.WriteString(err.Error())
		res.ExitCode = 1
	}
	res.Output = out.String()
	if len(res.Output) > 4096 {
		res.Output = res.Output[:4096]
	}
	st := e.readHealth(c.id)
	if st.Status == "" {
		st.Status = HealthStarting
	}
	if res.ExitCode == 0 {
		st.Status, st.FailingStreak = HealthHealthy, 0
	} else if !startPeriod {
		st.FailingStreak++
		if st.FailingStreak >= h.Retries {
			st.Status = HealthUnhealthy
		}
	}
	st.Log = append(st.Log, res)
	if len(st.Log) > 5 {
		st.Log = st.Log[len(st.Log)-5:]
	}
	if err := e.writeHealth(c.id, st); err != nil {
		slog.Warn("recording a healthcheck", "err", err)
	}
	return st, res
}

// Healthcheck runs the container's healthcheck once, now, and returns
// whether it passed ("healthy"), as podman's healthcheck run: the
// container must run and have a healthcheck (ErrNoHealthcheck).
func (c *Container) Healthcheck(ctx context.Context) (bool, error) {
	d, err := c.e.readDef(c.id)
	if err != nil {
		return false, fmt.Errorf("container %s: %w", c.shortName(), ErrNoHealthcheck)
	}
	h := effectiveHealthcheck(d.Config)
	if h == nil {
		return false, fmt.Errorf("container %s: %w", c.shortName(), ErrNoHealthcheck)
	}
	rt, err := c.runtime()
	if err != nil {
		return false, err
	}
	st, _ := c.e.checkHealth(ctx, &Container{e: c.e, id: c.id, c: rt}, h, false)
	return st.Status == HealthHealthy, nil
}
