// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Shaped like the Go types the generator emits.
type testResult struct {
	Status string  `json:"status"`
	Note   *string `json:"note,omitempty"`
}

type testBody struct {
	Data    string            `json:"data"`
	Count   int64             `json:"count"`
	Score   float64           `json:"score"`
	Done    bool              `json:"done"`
	At      time.Time         `json:"at"`
	Raw     []byte            `json:"raw"`
	Tags    []string          `json:"tags"`
	Labels  map[string]int    `json:"labels"`
	Extra   any               `json:"extra"`
	Result  testResult        `json:"result"`
	Comment *string           `json:"comment,omitempty"`
	Maybe   map[string]string `json:"maybe,omitempty"`
}

var testResultSchema = &Schema{Kind: Object, Name: "Result", Fields: []Field{
	{Name: "status", Schema: &Schema{Kind: String, Enum: []string{"ok", "failed"}}},
	{Name: "note", Schema: &Schema{Kind: String}, Optional: true},
}}

var testBodySchema = &Schema{Kind: Object, Name: "Body", Fields: []Field{
	{Name: "data", Schema: &Schema{Kind: String, MaxLength: Len(10000)}},
	{Name: "count", Schema: &Schema{Kind: Int64, Min: Float(0)}},
	{Name: "score", Schema: &Schema{Kind: Float64, Min: Float(0), Max: Float(10)}},
	{Name: "done", Schema: &Schema{Kind: Bool}},
	{Name: "at", Schema: &Schema{Kind: Time}},
	{Name: "raw", Schema: &Schema{Kind: Bytes}},
	{Name: "tags", Schema: &Schema{Kind: List, Elem: &Schema{Kind: String, Pattern: `^[a-z]+$`}, MaxLength: Len(5)}},
	{Name: "labels", Schema: &Schema{Kind: Map, Elem: &Schema{Kind: Int}}},
	{Name: "extra", Schema: &Schema{Kind: Any}},
	{Name: "result", Schema: testResultSchema},
	{Name: "comment", Schema: &Schema{Kind: String}, Optional: true},
	{Name: "maybe", Schema: &Schema{Kind: Map, Elem: &Schema{Kind: String}}, Optional: true},
}}

func TestDecode(t *testing.T) {
	body := `{"data":"hello","count":9223372036854775807,"score":2.5,"done":true,
		"at":"2024-01-02T03:04:05.5+02:00","raw":"aGk=","tags":["a","b"],"labels":{"x y":1},
		"extra":{"k":[1,null]},"result":{"status":"ok","note":"fine"},"comment":"c","maybe":null}`
	var got testBody
	if err := Decode([]byte(body), testBodySchema, &got); err != nil {
		t.Fatal(err)
	}
	note, comment := "fine", "c"
	want := testBody{
		Data: "hello", Count: 9223372036854775807, Score: 2.5, Done: true,
		At:     time.Date(2024, 1, 2, 1, 4, 5, 5e8, time.UTC),
		Raw:    []byte("hi"),
		Tags:   []string{"a", "b"},
		Labels: map[string]int{"x y": 1},
		Extra:  map[string]any{"k": []any{1.0, nil}},
		Result: testResult{Status: "ok", Note: &note}, Comment: &comment,
	}
	if !got.At.Equal(want.At) {
		t.Errorf("At = %v, want %v", got.At, want.At)
	}
	got.At = want.At
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
	}

	// Optional fields absent or null stay nil.
	var opt testBody
	body = strings.Replace(body, `"comment":"c"`, `"comment":null`, 1)
	body = strings.Replace(body, `,"note":"fine"`, ``, 1)
	if err := Decode([]byte(body), testBodySchema, &opt); err != nil {
		t.Fatal(err)
	}
	if opt.Comment != nil || opt.Result.Note != nil || opt.Maybe != nil {
		t.Errorf("optional fields: comment %v, note %v, maybe %v; want nil", opt.Comment, opt.Result.Note, opt.Maybe)
	}
}

// TestDecodeCaseSensitive checks that encoding/json's case-insensitive
// matching never fills a field from a key of another case: such a key is an
// unknown field, and nothing is decoded.
func TestDecodeCaseSensitive(t *testing.T) {
	s := &Schema{Kind: Object, Name: "R", Fields: []Field{
		{Name: "status", Schema: &Schema{Kind: String}},
		{Name: "note", Schema: &Schema{Kind: String}, Optional: true},
	}}
	var r testResult
	err := Decode([]byte(`{"status":"ok","Note":"x"}`), s, &r)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || len(e.Errors) != 1 || e.Errors[0] != (FieldError{"Note", "unknown field"}) {
		t.Fatalf("Decode = %v, want Note: unknown field", err)
	}
	if r != (testResult{}) {
		t.Errorf("Decode filled %+v from an invalid body", r)
	}
}

func TestDecodeErrors(t *testing.T) {
	var dst testBody
	err := Decode([]byte(`{"data":1}`), testBodySchema, &dst)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("Decode = %v", err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "at: required; count: required; data: must be a string; and ") {
		t.Errorf("Error() = %q", got)
	}
	// A dst that does not fit the schema is a programming error, not an *Error.
	var wrong struct {
		Data int `json:"data"`
	}
	err = Decode([]byte(`{"data":"x"}`), field0("data", &Schema{Kind: String}), &wrong)
	if err == nil || errors.As(err, &e) {
		t.Errorf("Decode into a mismatched type = %v, want a plain error", err)
	}
	if err := Decode([]byte(`{}`), &Schema{Kind: List}, &dst); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("Decode with an invalid schema = %v, want ErrInvalidSchema", err)
	}
}

func field0(name string, s *Schema) *Schema {
	return &Schema{Kind: Object, Fields: []Field{{Name: name, Schema: s}}}
}

// fuzzSchema covers every kind and constraint, recursively.
var fuzzSchema = &Schema{Kind: Object, Name: "Fuzz"}

type fuzzType struct {
	S  string              `json:"s"`
	I  int                 `json:"i"`
	I6 int64               `json:"i6"`
	F  float64             `json:"f"`
	B  bool                `json:"b"`
	T  time.Time           `json:"t"`
	Y  []byte              `json:"y"`
	A  any                 `json:"a"`
	L  []int64             `json:"l"`
	M  map[string]float64  `json:"m"`
	N  *fuzzType           `json:"n"`
	C  []fuzzType          `json:"c"`
	E  string              `json:"e"`
	MM map[string][]string `json:"mm"`
}

func init() {
	opt := func(name string, s *Schema) Field { return Field{Name: name, Schema: s, Optional: true} }
	fuzzSchema.Fields = []Field{
		opt("s", &Schema{Kind: String, MinLength: Len(1), MaxLength: Len(8), Pattern: `^[a-z]`}),
		opt("i", &Schema{Kind: Int, Min: Float(-5), Max: Float(5)}),
		opt("i6", &Schema{Kind: Int64, Min: Float(-9.3e18), Max: Float(9007199254740992)}),
		opt("f", &Schema{Kind: Float64, Min: Float(-1.5), Max: Float(1e300)}),
		opt("b", &Schema{Kind: Bool}),
		opt("t", &Schema{Kind: Time}),
		opt("y", &Schema{Kind: Bytes, MaxLength: Len(4)}),
		opt("a", &Schema{Kind: Any}),
		opt("l", &Schema{Kind: List, Elem: &Schema{Kind: Int64}, MaxLength: Len(3)}),
		opt("m", &Schema{Kind: Map, Elem: &Schema{Kind: Float64}, MinLength: Len(1)}),
		opt("n", fuzzSchema),
		opt("c", &Schema{Kind: List, Elem: fuzzSchema}),
		opt("e", &Schema{Kind: String, Enum: []string{"ok", "failed"}}),
		opt("mm", &Schema{Kind: Map, Elem: &Schema{Kind: List, Elem: &Schema{Kind: String}}}),
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"s":"abc","i":3,"i6":-9223372036854775808,"f":1e3,"b":true,"t":"2024-01-02T03:04:05Z","y":"aGk=","a":{"x":[1,"2",null]},"l":[1,2],"m":{"a":1.5},"e":"ok"}`,
		`{"n":{"n":{"c":[{"s":"x"},{"i":9}]}},"mm":{"a b":["x"],"\u00e9":[]}}`,
		`{"s":"ABC","i":1.5,"i6":9223372036854775808,"f":"x","b":null,"t":"2024","y":"a","l":[1,2,3,4],"m":{},"e":"no"}`,
		`{"s":"a","s":"b","S":1,"x":2}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"s":"\ud800\udc00\u0041\"\\\/\b\f\n\r\t"}`,
		`{"f":-0.0e-0}  `,
		`{"i":1} x`,
		`{"y":"a\/8=\r\n"}`,
		"{\"s\":\"\xff\"}",
		`[`, `"`, `-`, `{"`, `{"s"`, `{"s":`, `nul`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var dst fuzzType
		err := Decode(data, fuzzSchema, &dst)
		if err == nil {
			if !json.Valid(data) {
				t.Fatalf("Decode accepted invalid JSON %q", data)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode(%q) = %v, not an *Error", data, err)
		}
		if e.Status != 400 && e.Status != 422 {
			t.Fatalf("Decode(%q): status %d", data, e.Status)
		}
		if len(e.Errors) == 0 || len(e.Errors) > MaxErrors {
			t.Fatalf("Decode(%q): %d errors", data, len(e.Errors))
		}
		for i := 1; i < len(e.Errors); i++ {
			a, b := e.Errors[i-1], e.Errors[i]
			if c := comparePaths(a.Path, b.Path); c > 0 || c == 0 && a.Message >= b.Message {
				t.Fatalf("Decode(%q): errors out of order or repeated: %v", data, e.Errors)
			}
		}
		if e.Status == 422 && !json.Valid(data) {
			t.Fatalf("Decode(%q): 422 for invalid JSON", data)
		}
		if !json.Valid(data) && !bytes.HasPrefix([]byte(e.Errors[0].Message), []byte("invalid JSON")) &&
			e.Errors[0].Message != "trailing data after the JSON value" {
			t.Fatalf("Decode(%q): invalid JSON reported as %v", data, e)
		}
		if json.Valid(data) && utf8.Valid(data) && strings.HasPrefix(e.Errors[0].Message, "invalid JSON") {
			t.Fatalf("Decode(%q): valid JSON reported as %v", data, e)
		}
	})
}
