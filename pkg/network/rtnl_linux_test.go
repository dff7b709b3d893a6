package network

import (
	"bytes"
	"testing"
)

// TestAttr checks route attributes' layout: length (header and data, not
// the padding), type, data, padded to 4 bytes.
func TestAttr(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want []byte
	}{
		{[]byte{1, 2, 3, 4}, []byte{8, 0, 7, 0, 1, 2, 3, 4}},
		{[]byte{1}, []byte{5, 0, 7, 0, 1, 0, 0, 0}},
		{nil, []byte{4, 0, 7, 0}},
	} {
		got := attr([]byte{0xff}, 7, c.data)
		if want := append([]byte{0xff}, c.want...); !bytes.Equal(got, want) {
			t.Errorf("attr(%v) = %v, want %v", c.data, got, want)
		}
	}
}
