package syncmsg

import "testing"

func FuzzDecode(f *testing.F) {
	f.Add(encode(Msg{Type: Failed, Error: "x", Code: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decode(b); err == nil {
			if _, err := decode(encode(m)); err != nil {
				t.Fatal(err)
			}
		}
	})
}
