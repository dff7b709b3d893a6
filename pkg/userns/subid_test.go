package userns

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# /etc/subuid
alice:100000:65536

bob:165536:65536
1000:300000:1000
   # indented comment
alice:400000:10
carol:500000:65536
`
	tests := []struct {
		name  string
		input string
		user  string
		id    int
		want  []Range
	}{
		{
			name:  "by name, several ranges in file order",
			input: file,
			user:  "alice",
			id:    4242,
			want:  []Range{{100000, 65536}, {400000, 10}},
		},
		{
			name:  "by numeric uid",
			input: file,
			user:  "nosuchuser",
			id:    1000,
			want:  []Range{{300000, 1000}},
		},
		{
			name:  "by name and numeric uid, file order kept",
			input: file,
			user:  "alice",
			id:    1000,
			want:  []Range{{100000, 65536}, {300000, 1000}, {400000, 10}},
		},
		{
			name:  "other users ignored",
			input: file,
			user:  "dave",
			id:    2000,
			want:  nil,
		},
		{
			name:  "empty input",
			input: "",
			user:  "alice",
			id:    1000,
			want:  nil,
		},
		{
			name:  "only comments and blank lines",
			input: "# alice:100000:65536\n\n   \n\t\n#1000:1:1\n",
			user:  "alice",
			id:    1000,
			want:  nil,
		},
		{
			name:  "surrounding whitespace trimmed",
			input: "  alice:100000:65536  \n\talice:200000:5\t\n",
			user:  "alice",
			id:    1000,
			want:  []Range{{100000, 65536}, {200000, 5}},
		},
		{
			name: "malformed lines skipped",
			input: strings.Join([]string{
				"alice",                 // one field
				"alice:100000",          // two fields
				"alice:100000:65536:x",  // four fields
				"alice:abc:65536",       // non-numeric start
				"alice:100000:lots",     // non-numeric count
				"alice:-1:65536",        // negative start
				"alice:100000:-5",       // negative count
				"alice: 100000:65536",   // space inside a field
				"alice:100000:0",        // empty range
				"alice:4294967296:1",    // start does not fit in 32 bits
				"alice:1:4294967296",    // count does not fit in 32 bits
				"alice:4294967295:1",    // range ends past 2^32-1
				"alice:4294967000:1000", // range ends past 2^32-1
				"alice:0:4294967295:",   // trailing colon: four fields
				"alice:600000:7",        // the only good line
				"Alice:700000:1",        // names are case-sensitive
				"alice :800000:1",       // name with trailing space
			}, "\n"),
			user: "alice",
			id:   1000,
			want: []Range{{600000, 7}},
		},
		{
			name:  "range ending exactly at 2^32-2 accepted",
			input: "alice:4294967294:1\nalice:4294967200:95\nalice:0:4294967295\n",
			user:  "alice",
			id:    1000,
			want:  []Range{{4294967294, 1}, {4294967200, 95}, {0, 4294967295}},
		},
		{
			name:  "empty name never matches an empty first field",
			input: ":100000:65536\n1000:200000:10\n",
			user:  "",
			id:    1000,
			want:  []Range{{200000, 10}},
		},
		{
			name:  "empty name and unmatched id",
			input: ":100000:65536\n",
			user:  "",
			id:    1001,
			want:  nil,
		},
		{
			name:  "numeric name lines do not match another id",
			input: "1001:100000:65536\n10000:200000:1\n",
			user:  "alice",
			id:    1000,
			want:  nil,
		},
		{
			name:  "no trailing newline",
			input: "alice:100000:65536",
			user:  "alice",
			id:    1000,
			want:  []Range{{100000, 65536}},
		},
		{
			name:  "CRLF line endings",
			input: "alice:100000:65536\r\nalice:200000:1\r\n",
			user:  "alice",
			id:    1000,
			want:  []Range{{100000, 65536}, {200000, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubIDs(strings.NewReader(tt.input), tt.user, tt.id)
			if err != nil {
				t.Fatalf("ParseSubIDs: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSubIDs(%q, %d) = %v, want %v", tt.user, tt.id, got, tt.want)
			}
		})
	}
}

func TestParseSubIDsLineTooLong(t *testing.T) {
	// bufio.Scanner's token limit: a line past it is a read error, not a
	// silently truncated result.
	input := "alice:100000:65536\n" + strings.Repeat("x", 70*1024) + "\n"
	got, err := ParseSubIDs(strings.NewReader(input), "alice", 1000)
	if err == nil {
		t.Fatalf("ParseSubIDs with an over-long line = %v, nil; want an error", got)
	}
	if got != nil {
		t.Errorf("ParseSubIDs returned ranges %v with error %v; want nil", got, err)
	}
}

func TestLookupSubIDsMissingFile(t *testing.T) {
	rs, err := LookupSubIDs(t.TempDir()+"/does-not-exist", "alice", 1000)
	if err != nil || rs != nil {
		t.Errorf("LookupSubIDs(missing file) = %v, %v; want nil, nil", rs, err)
	}
}

func TestLookupSubIDsFile(t *testing.T) {
	path := t.TempDir() + "/subuid"
	if err := os.WriteFile(path, []byte("alice:100000:65536\nbob:1:1\n1000:200000:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := LookupSubIDs(path, "alice", 1000)
	if err != nil {
		t.Fatalf("LookupSubIDs: %v", err)
	}
	want := []Range{{100000, 65536}, {200000, 2}}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("LookupSubIDs = %v, want %v", rs, want)
	}
}

func TestLookupSubIDsUnreadable(t *testing.T) {
	// A directory opens but does not read: the error names the file.
	dir := t.TempDir()
	rs, err := LookupSubIDs(dir, "alice", 1000)
	if err == nil {
		t.Fatalf("LookupSubIDs(directory) = %v, nil; want an error", rs)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("LookupSubIDs(directory) error %q does not name %s", err, dir)
	}
}
