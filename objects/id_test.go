package objects_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

func TestIDParseRoundTrip(t *testing.T) {
	// BLAKE3-256 of the empty input, from the BLAKE3 test vectors.
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	id := objects.Sum(nil)
	if id.String() != empty {
		t.Fatalf("Sum(nil) = %s, want %s", id, empty)
	}
	back, err := objects.ParseID(empty)
	if err != nil || back != id {
		t.Fatalf("ParseID(%s) = %v, %v", empty, back, err)
	}
	if id.Short() != empty[:12] {
		t.Errorf("Short() = %s, want %s", id.Short(), empty[:12])
	}
	if id.IsZero() || !(objects.ID{}).IsZero() {
		t.Error("IsZero wrong")
	}
	if objects.MustParseID(empty) != id {
		t.Error("MustParseID differs")
	}
	for i := 0; i < 256; i++ {
		id := objects.Sum([]byte{byte(i)})
		back, err := objects.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("round trip of %s: %v, %v", id, back, err)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	good := objects.Sum(nil).String()
	for _, s := range []string{
		"",
		good[:63],
		good + "0",
		good[:62],
		good + good,
		strings.ToUpper(good),
		good[:10] + "A" + good[11:],
		good[:63] + "g",
		"0x" + good[:62],
		" " + good[:63],
		good[:63] + "\n",
		good[:31] + "é" + good[33:],
		strings.Repeat("\x00", 64),
		strings.Repeat("z", 1000),
	} {
		if id, err := objects.ParseID(s); err == nil {
			t.Errorf("ParseID(%q) = %s, want an error", s, id)
		}
		var id objects.ID
		if err := id.UnmarshalText([]byte(s)); err == nil || !id.IsZero() {
			t.Errorf("UnmarshalText(%q) = %v, id %s", s, err, id)
		}
	}
}

func TestMustParseIDPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParseID of a bad ID did not panic")
		}
	}()
	objects.MustParseID("nope")
}

func TestIDText(t *testing.T) {
	id := objects.Sum([]byte("text"))
	b, err := id.MarshalText()
	if err != nil || string(b) != id.String() {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var back objects.ID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Fatalf("UnmarshalText = %s, %v", back, err)
	}
	// As a JSON value and as a JSON map key.
	type doc struct {
		ID   objects.ID
		Refs map[objects.ID]int
	}
	j, err := json.Marshal(doc{ID: id, Refs: map[objects.ID]int{id: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ID":"` + id.String() + `","Refs":{"` + id.String() + `":1}}`
	if string(j) != want {
		t.Fatalf("JSON %s, want %s", j, want)
	}
	var d doc
	if err := json.Unmarshal(j, &d); err != nil || d.ID != id || d.Refs[id] != 1 {
		t.Fatalf("JSON round trip: %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"ID":"`+strings.ToUpper(id.String())+`"}`), &d); err == nil {
		t.Error("JSON accepted an uppercase ID")
	}
}

func TestIDCompare(t *testing.T) {
	a, b := idOf(1), idOf(2)
	b2 := a
	b2[31] = 2
	for _, tc := range []struct {
		x, y objects.ID
		want int
	}{
		{a, a, 0}, {a, b, -1}, {b, a, 1}, {a, b2, -1}, {b2, a, 1}, {objects.ID{}, a, -1},
	} {
		if got := tc.x.Compare(tc.y); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.x.Short(), tc.y.Short(), got, tc.want)
		}
	}
}
