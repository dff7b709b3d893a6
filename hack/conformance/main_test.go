package main

import "testing"

func TestParseTAP(t *testing.T) {
	for _, c := range []struct {
		name, tap string
		pass      bool
		ok, tot   int
		reason    string
	}{
		{"points", "TAP version 13\nok 1 - a\nok 2 # SKIP b\n1..2\n", true, 2, 2, ""},
		{"a failing point", "TAP version 13\nok 1 - a\nnot ok 2 - b works\n  ---\n  {\n    \"error\": \"exit status 1\",\n    \"stderr\": \"Error: no\\nmore\"\n  }\n  ...\n1..2\n",
			false, 1, 2, "b works: exit status 1"},
		{"no points, no error", "TAP version 13\n1..0\n", true, 0, 0, ""},
		{"no points, an error", "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called\\nRefer to: x\"\n  }\n  ...\n1..0\n",
			false, 0, 0, "Hooks MUST be called"},
		{"silent", "", true, 0, 0, ""},
		{"points without a plan, none ok", "TAP version 13\n", false, 0, 0, ""},
	} {
		r := parseTAP([]byte(c.tap))
		if r.Pass != c.pass || r.Ok != c.ok || r.Tot != c.tot || r.Reason != c.reason {
			t.Errorf("%s: got %+v, want pass %v ok %d/%d reason %q", c.name, r, c.pass, c.ok, c.tot, c.reason)
		}
	}
}
