package hostinfo

import "testing"

func TestKernelAtLeast(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		want         bool
	}{
		{"6.18.44-fc-v657", 5, 11, true},
		{"6.18.44-fc-v657", 6, 18, true},
		{"6.18.44-fc-v657", 6, 19, false},
		{"6.18.44-fc-v657", 7, 0, false},
		{"5.11.0", 5, 11, true},
		{"5.11.0", 5, 12, false},
		{"5.11.0", 5, 6, true},
		{"5.11.0", 4, 99, true},
		{"5.10.200", 5, 11, false},
		{"5.10.200", 5, 10, true},
		{"5.10.200", 5, 6, true},
		{"4.19", 5, 11, false},
		{"4.19", 4, 19, true},
		{"4.19", 4, 20, false},
		{"4.19", 3, 99, true},
		{"5.11", 5, 11, true},
		{"5.11+", 5, 11, true},
		{"5.11.0-rc1", 5, 11, true},
		{"5.15.0-91-generic", 5, 11, true},
		{"6.1.0-18-amd64", 5, 12, true},
		{"4.18.0-513.el8.x86_64", 5, 11, false},
		{"3.10.0-1160.el7.x86_64", 3, 10, true},
		{"garbage", 5, 11, false},
		{"garbage", 0, 0, false},
		{"", 5, 11, false},
		{"6", 5, 11, false},
	}
	for _, tt := range tests {
		if got := kernelAtLeast(tt.release, tt.major, tt.minor); got != tt.want {
			t.Errorf("kernelAtLeast(%q, %d, %d) = %v, want %v", tt.release, tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestCstr(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"nil", nil, ""},
		{"empty", []byte{}, ""},
		{"only NUL", []byte{0}, ""},
		{"leading NUL", []byte{0, 'a', 'b'}, ""},
		{"NUL terminated with padding", []byte{'6', '.', '1', 0, 0, 0, 0}, "6.1"},
		{"stops at the first NUL", []byte{'a', 0, 'b', 0}, "a"},
		{"no NUL uses all bytes", []byte("host"), "host"},
		{"utsname-sized field", append([]byte("box"), make([]byte, 62)...), "box"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cstr(tt.in); got != tt.want {
				t.Errorf("cstr(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKernelAtLeastTwoPartSuffix(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{{"5.11-rc1", true}, {"5.11-1", true}, {"5.12-arch1", true}, {"5.10-rc7", false}} {
		if got := kernelAtLeast(c.release, 5, 11); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 11) = %v, want %v", c.release, got, c.want)
		}
	}
}
