// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"encoding/json"
	"slices"
	"testing"
)

// A map task's done elements are written as a bit set, and read from a
// bit set or from the list of booleans of format 1.
func TestBitset(t *testing.T) {
	done := []bool{true, false, false, true, true, false, false, false, true, false, true}
	b, err := json.Marshal(packBits(done))
	if err != nil || string(b) != `"GQU="` {
		t.Fatalf("%s %v", b, err)
	}
	for _, in := range []string{string(b), `[true,false,false,true,true,false,false,false,true,false,true]`} {
		var bs bitset
		if err := json.Unmarshal([]byte(in), &bs); err != nil {
			t.Fatal(err)
		}
		if got := bs.bools(len(done)); !slices.Equal(got, done) {
			t.Fatalf("%s: %v", in, got)
		}
	}
	var none bitset
	if err := json.Unmarshal([]byte(`null`), &none); err != nil || none != nil || none.bools(3) != nil {
		t.Fatal(none, err)
	}
	if err := json.Unmarshal([]byte(`"%%"`), &none); err == nil {
		t.Fatal("bad base64 accepted")
	}
	if packBits(nil) != nil || len(packBits(make([]bool, 10000))) != 1250 {
		t.Fatal("packBits sizes")
	}
}
