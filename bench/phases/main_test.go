package main

import (
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := func(h, m, s, us int) time.Duration {
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(us)*time.Microsecond
	}
	for _, c := range []struct {
		line  string
		clock time.Duration
		msg   string
		ok    bool
	}{
		{`time=09:11:38.123456 level=DEBUG msg="spawn container init" pid=4242`, at(9, 11, 38, 123456), "spawn container init", true},
		{`time=09:11:38.124001 level=DEBUG msg=mapped pid=4243`, at(9, 11, 38, 124001), "mapped", true},
		{`time=23:59:59.999999 level=INFO msg=end`, at(23, 59, 59, 999999), "end", true},
		{`time=00:00:00.000001 level=WARN msg="say \"hi\" = x" pid=1`, at(0, 0, 0, 1), `say "hi" = x`, true},
		{`time=00:00:00.000000 level=DEBUG msg="" pid=1`, 0, "", true},
		{`time=09:11:38.123 level=DEBUG msg=mapped`, 0, "", false}, // not internal/logging's layout
		{`time=2026-11-23T09:11:38.123+00:00 level=DEBUG msg=mapped`, 0, "", false},
		{`time=09:11:38.123456 level=DEBUG msg="unterminated`, 0, "", false},
		{`time=09:11:38.123456 msg=mapped`, 0, "", false},
		{`hello from the container`, 0, "", false},
		{``, 0, "", false},
	} {
		clock, msg, ok := parseLine(c.line)
		if ok != c.ok || ok && (clock != c.clock || msg != c.msg) {
			t.Errorf("parseLine(%q) = %v, %q, %v; want %v, %q, %v", c.line, clock, msg, ok, c.clock, c.msg, c.ok)
		}
	}
}

func TestOffset(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	start := time.Date(2026, 11, 23, 9, 11, 38, 500_000_000, loc)
	clock := 9*time.Hour + 11*time.Minute + 38*time.Second
	if got, want := offset(start, clock+600*time.Millisecond), 100*time.Millisecond; got != want {
		t.Errorf("offset = %v, want %v", got, want)
	}
	if got, want := offset(start, clock), -500*time.Millisecond; got != want {
		t.Errorf("offset before start = %v, want %v", got, want)
	}
	// Across midnight, both ways.
	late := time.Date(2026, 11, 23, 23, 59, 59, 900_000_000, loc)
	if got, want := offset(late, 50*time.Millisecond), 150*time.Millisecond; got != want {
		t.Errorf("offset after midnight = %v, want %v", got, want)
	}
	early := time.Date(2026, 11, 24, 0, 0, 0, 100_000_000, loc)
	if got, want := offset(early, 24*time.Hour-100*time.Millisecond), -200*time.Millisecond; got != want {
		t.Errorf("offset before midnight = %v, want %v", got, want)
	}
}
