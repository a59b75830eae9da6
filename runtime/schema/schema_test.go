// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// obj builds an Object schema of required fields.
func obj(name string, fields ...Field) *Schema {
	return &Schema{Kind: Object, Name: name, Fields: fields}
}

// field wraps s as the only, required field "v" of an object, so that every
// case also checks the path.
func field(s *Schema) *Schema { return obj("T", Field{Name: "v", Schema: s}) }

func listOf(s *Schema) *Schema { return &Schema{Kind: List, Elem: s} }
func mapOf(s *Schema) *Schema  { return &Schema{Kind: Map, Elem: s} }

var nodeSchema = &Schema{Kind: Object, Name: "Node"}

func init() {
	nodeSchema.Fields = []Field{
		{Name: "name", Schema: &Schema{Kind: String, MinLength: Len(1)}},
		{Name: "children", Schema: listOf(nodeSchema), Optional: true},
		{Name: "parent", Schema: nodeSchema, Optional: true},
	}
}

type validateCase struct {
	name   string
	schema *Schema
	body   string
	status int      // 0: valid
	errs   []string // "path: message"
}

func runCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate([]byte(c.body), c.schema)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want nil", c.body, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%s) = %#v, want an *Error", c.body, err)
			}
			var got []string
			for _, fe := range e.Errors {
				got = append(got, fe.String())
			}
			if e.Status != c.status || strings.Join(got, "\n") != strings.Join(c.errs, "\n") {
				t.Errorf("Validate(%s):\n got %d %q\nwant %d %q", c.body, e.Status, got, c.status, c.errs)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	const bad, unproc = http.StatusBadRequest, http.StatusUnprocessableEntity
	str := field(&Schema{Kind: String})
	i := field(&Schema{Kind: Int})
	i64 := field(&Schema{Kind: Int64})
	f64 := field(&Schema{Kind: Float64})
	b := field(&Schema{Kind: Bool})
	tm := field(&Schema{Kind: Time})
	bs := field(&Schema{Kind: Bytes})
	anyS := field(&Schema{Kind: Any})
	list := field(listOf(&Schema{Kind: Int}))
	m := field(mapOf(&Schema{Kind: Int}))
	runCases(t, []validateCase{
		{"string", str, `{"v":"x"}`, 0, nil},
		{"string escaped", str, `{"v":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, 0, nil},
		{"string number", str, `{"v":1}`, bad, []string{"v: must be a string"}},
		{"string null", str, `{"v":null}`, bad, []string{"v: must be a string"}},
		{"string object", str, `{"v":{"a":[1]}}`, bad, []string{"v: must be a string"}},

		{"int", i, `{"v":-12}`, 0, nil},
		{"int minus zero", i, `{"v":-0}`, 0, nil},
		{"int fraction", i, `{"v":1.5}`, bad, []string{"v: must be an integer"}},
		{"int point zero", i, `{"v":1.0}`, bad, []string{"v: must be an integer"}},
		{"int exponent", i, `{"v":1e3}`, bad, []string{"v: must be an integer"}},
		{"int string", i, `{"v":"1"}`, bad, []string{"v: must be an integer"}},
		{"int64 max", i64, `{"v":9223372036854775807}`, 0, nil},
		{"int64 min", i64, `{"v":-9223372036854775808}`, 0, nil},
		{"int64 above max", i64, `{"v":9223372036854775808}`, bad, []string{"v: must be an integer between -9223372036854775808 and 9223372036854775807"}},
		{"int64 below min", i64, `{"v":-9223372036854775809}`, bad, []string{"v: must be an integer between -9223372036854775808 and 9223372036854775807"}},
		{"int64 huge", i64, `{"v":` + strings.Repeat("9", 1000) + `}`, bad, []string{"v: must be an integer between -9223372036854775808 and 9223372036854775807"}},

		{"float", f64, `{"v":-1.5e-3}`, 0, nil},
		{"float integer", f64, `{"v":3}`, 0, nil},
		{"float exponent", f64, `{"v":1E+3}`, 0, nil},
		{"float underflow", f64, `{"v":1e-400}`, 0, nil},
		{"float overflow", f64, `{"v":1e400}`, bad, []string{"v: must be a number within the float64 range"}},
		{"float string", f64, `{"v":"1.5"}`, bad, []string{"v: must be a number"}},
		{"float bool", f64, `{"v":true}`, bad, []string{"v: must be a number"}},

		{"bool true", b, `{"v":true}`, 0, nil},
		{"bool false", b, `{"v":false}`, 0, nil},
		{"bool string", b, `{"v":"true"}`, bad, []string{"v: must be a boolean"}},
		{"bool number", b, `{"v":0}`, bad, []string{"v: must be a boolean"}},

		{"time", tm, `{"v":"2024-01-02T03:04:05Z"}`, 0, nil},
		{"time nanos offset", tm, `{"v":"2024-01-02T03:04:05.123456789+02:00"}`, 0, nil},
		{"time date only", tm, `{"v":"2024-01-02"}`, bad, []string{"v: must be an RFC 3339 time"}},
		{"time bad month", tm, `{"v":"2024-13-02T03:04:05Z"}`, bad, []string{"v: must be an RFC 3339 time"}},
		{"time number", tm, `{"v":1700000000}`, bad, []string{"v: must be an RFC 3339 time"}},
		// encoding/json does not unescape times, so neither may we.
		{"time escaped", tm, `{"v":"2024-01-02T03:04:05\u005a"}`, bad, []string{"v: must be an RFC 3339 time"}},

		{"bytes", bs, `{"v":"aGVsbG8="}`, 0, nil},
		{"bytes empty", bs, `{"v":""}`, 0, nil},
		{"bytes escaped slash", bs, `{"v":"a\/8="}`, 0, nil},
		{"bytes no padding", bs, `{"v":"aGVsbG8"}`, bad, []string{"v: must be base64-encoded bytes"}},
		{"bytes url alphabet", bs, `{"v":"a-8="}`, bad, []string{"v: must be base64-encoded bytes"}},
		{"bytes number", bs, `{"v":12}`, bad, []string{"v: must be base64-encoded bytes"}},

		{"any null", anyS, `{"v":null}`, 0, nil},
		{"any nested", anyS, `{"v":{"a":[1,{"b":null}],"c":"d"}}`, 0, nil},
		{"any duplicate key", anyS, `{"v":{"a":1,"b":[{"c":1,"c":2}],"a":2}}`, bad, []string{"v.a: duplicate key", "v.b[0].c: duplicate key"}},

		{"list", list, `{"v":[1,2,3]}`, 0, nil},
		{"list empty", list, `{"v":[]}`, 0, nil},
		{"list element", list, `{"v":[1,"x",3,null]}`, bad, []string{"v[1]: must be an integer", "v[3]: must be an integer"}},
		{"list object", list, `{"v":{}}`, bad, []string{"v: must be an array"}},
		{"list null", list, `{"v":null}`, bad, []string{"v: must be an array"}},

		{"map", m, `{"v":{"a":1,"b c":2}}`, 0, nil},
		{"map empty", m, `{"v":{}}`, 0, nil},
		{"map value", m, `{"v":{"a-1_B":"x","b c":true,"é":null,"q\"":1.5}}`, bad, []string{
			`v.a-1_B: must be an integer`, `v["b c"]: must be an integer`, `v["q\""]: must be an integer`, `v["é"]: must be an integer`}},
		{"map empty key", m, `{"v":{"":"x"}}`, bad, []string{`v[""]: must be an integer`}},
		{"map duplicate key", m, `{"v":{"a":1,"b":2,"a":3}}`, bad, []string{"v.a: duplicate key"}},
		{"map duplicate escaped key", m, `{"v":{"ab":1,"\u0061b":2}}`, bad, []string{"v.ab: duplicate key"}},
		{"map long key", m, `{"v":{"` + strings.Repeat("a", 127) + `é":"x"}}`, bad, []string{`v["` + strings.Repeat("a", 127) + `..."]: must be an integer`}},
		{"map array", m, `{"v":[]}`, bad, []string{"v: must be an object"}},

		{"object", field(obj("Inner", Field{Name: "x", Schema: &Schema{Kind: Int}})), `{"v":{"x":1}}`, 0, nil},
		{"object string", field(obj("Inner")), `{"v":"x"}`, bad, []string{"v: must be an object"}},
		{"body", obj("T"), `[]`, bad, []string{"must be an object"}},
		{"body null", obj("T"), `null`, bad, []string{"must be an object"}},
		{"body string", &Schema{Kind: String}, `"x"`, 0, nil},
		{"body list path", listOf(&Schema{Kind: Bool}), `[true,1]`, bad, []string{"[1]: must be a boolean"}},
	})
}

func TestConstraints(t *testing.T) {
	const bad, unproc = http.StatusBadRequest, http.StatusUnprocessableEntity
	enum := field(&Schema{Kind: String, Enum: []string{"ok", "failed"}})
	longEnum := make([]string, 20)
	for i := range longEnum {
		longEnum[i] = fmt.Sprint("v", i)
	}
	minmax := field(&Schema{Kind: Int, Min: Float(0), Max: Float(10)})
	fminmax := field(&Schema{Kind: Float64, Min: Float(0.5), Max: Float(1e21)})
	big := field(&Schema{Kind: Int64, Max: Float(9007199254740992)})
	fbig := field(&Schema{Kind: Float64, Max: Float(9007199254740992)})
	fracBound := field(&Schema{Kind: Int, Min: Float(-1.5), Max: Float(2.5)})
	slen := field(&Schema{Kind: String, MinLength: Len(2), MaxLength: Len(4)})
	blen := field(&Schema{Kind: Bytes, MinLength: Len(1), MaxLength: Len(4)})
	llen := field(&Schema{Kind: List, Elem: &Schema{Kind: Int}, MinLength: Len(1), MaxLength: Len(2)})
	mlen := field(&Schema{Kind: Map, Elem: &Schema{Kind: Int}, MinLength: Len(1), MaxLength: Len(2)})
	pat := field(&Schema{Kind: String, Pattern: `^[A-Z]{3}$`})
	unanchored := field(&Schema{Kind: String, Pattern: `[0-9]`})
	runCases(t, []validateCase{
		{"enum ok", enum, `{"v":"failed"}`, 0, nil},
		{"enum", enum, `{"v":"OK"}`, unproc, []string{"v: must be one of [ok failed]"}},
		{"enum escaped", enum, `{"v":"\u006fk"}`, 0, nil},
		{"long enum", field(&Schema{Kind: String, Enum: longEnum}), `{"v":"v19"}`, 0, nil},
		{"long enum bad", field(&Schema{Kind: String, Enum: longEnum[:9]}), `{"v":"v19"}`, unproc, []string{"v: must be one of [v0 v1 v2 v3 v4 v5 v6 v7 v8]"}},

		{"min ok", minmax, `{"v":0}`, 0, nil},
		{"max ok", minmax, `{"v":10}`, 0, nil},
		{"min", minmax, `{"v":-1}`, unproc, []string{"v: must be at least 0"}},
		{"max", minmax, `{"v":11}`, unproc, []string{"v: must be at most 10"}},
		{"float min", fminmax, `{"v":0.4999}`, unproc, []string{"v: must be at least 0.5"}},
		{"float max rounding to the bound", fminmax, `{"v":1.0000000000000001e21}`, unproc, []string{"v: must be at most 1e+21"}}, // rounds to 1e21 but exceeds it
		{"float max exact", fminmax, `{"v":1000000000000000000001}`, unproc, []string{"v: must be at most 1e+21"}},
		{"float max equal", fminmax, `{"v":1e21}`, 0, nil},
		{"int above 2^53", big, `{"v":9007199254740993}`, unproc, []string{"v: must be at most 9007199254740992"}},
		{"int at 2^53", big, `{"v":9007199254740992}`, 0, nil},
		{"float above 2^53", fbig, `{"v":9007199254740993}`, unproc, []string{"v: must be at most 9007199254740992"}},
		{"float at 2^53", fbig, `{"v":9007199254740992.000}`, 0, nil},
		{"float just above 2^53", fbig, `{"v":9007199254740992.0000000001}`, unproc, []string{"v: must be at most 9007199254740992"}},
		{"float way above 2^53 in exponent form", fbig, `{"v":90071992547409920000001e-4}`, unproc, []string{"v: must be at most 9007199254740992"}},
		{"decimal bound", field(&Schema{Kind: Float64, Min: Float(0.1), Max: Float(0.3)}), `{"v":0.1}`, 0, nil},
		{"decimal bound max", field(&Schema{Kind: Float64, Min: Float(0.1), Max: Float(0.3)}), `{"v":0.3}`, 0, nil},
		{"decimal bound other notation", field(&Schema{Kind: Float64, Min: Float(0.1), Max: Float(0.3)}), `{"v":1e-1}`, 0, nil},
		{"below a decimal bound, same float64", field(&Schema{Kind: Float64, Min: Float(0.1)}), `{"v":0.09999999999999999999}`, unproc, []string{"v: must be at least 0.1"}},
		{"above a decimal bound, same float64", field(&Schema{Kind: Float64, Max: Float(0.3)}), `{"v":0.30000000000000000001}`, unproc, []string{"v: must be at most 0.3"}},
		{"fractional bounds", fracBound, `{"v":-1}`, 0, nil},
		{"fractional min", fracBound, `{"v":-2}`, unproc, []string{"v: must be at least -1.5"}},
		{"fractional max", fracBound, `{"v":3}`, unproc, []string{"v: must be at most 2.5"}},

		{"string length ok", slen, `{"v":"héé"}`, 0, nil},
		{"string min length", slen, `{"v":"é"}`, unproc, []string{"v: must be at least 2 characters long"}},
		{"string max length runes", slen, `{"v":"ééééé"}`, unproc, []string{"v: must be at most 4 characters long"}},
		{"string length escaped", slen, `{"v":"\u00e9\ud83d\ude00"}`, 0, nil},
		{"bytes max length", blen, `{"v":"aGVsbG8="}`, unproc, []string{"v: must be at most 4 bytes long"}},
		{"bytes min length", blen, `{"v":""}`, unproc, []string{"v: must be at least 1 bytes long"}},
		{"list max length", llen, `{"v":[1,2,3]}`, unproc, []string{"v: must be at most 2 items long"}},
		{"list min length", llen, `{"v":[]}`, unproc, []string{"v: must be at least 1 items long"}},
		{"map max length", mlen, `{"v":{"a":1,"b":2,"c":3}}`, unproc, []string{"v: must be at most 2 entries long"}},
		{"map min length", mlen, `{"v":{}}`, unproc, []string{"v: must be at least 1 entries long"}},
		{"pattern ok", pat, `{"v":"EUR"}`, 0, nil},
		{"pattern", pat, `{"v":"EURO"}`, unproc, []string{"v: must match pattern ^[A-Z]{3}$"}},
		{"pattern unanchored", unanchored, `{"v":"a1b"}`, 0, nil},
		{"pattern unanchored fails", unanchored, `{"v":"ab"}`, unproc, []string{"v: must match pattern [0-9]"}},
		{"every constraint reported", field(&Schema{Kind: String, Enum: []string{"abc"}, MaxLength: Len(2), Pattern: `^a`}), `{"v":"bcde"}`,
			unproc, []string{"v: must be at most 2 characters long", "v: must be one of [abc]", "v: must match pattern ^a"}},
		{"type error wins", obj("T",
			Field{Name: "a", Schema: &Schema{Kind: Int, Max: Float(1)}},
			Field{Name: "b", Schema: &Schema{Kind: Int}}), `{"a":2,"b":"x"}`,
			bad, []string{"a: must be at most 1", "b: must be an integer"}},
		{"constraints on a type error are not checked", field(&Schema{Kind: String, MinLength: Len(3)}), `{"v":1}`, bad, []string{"v: must be a string"}},
	})
}

func TestObjects(t *testing.T) {
	const bad = http.StatusBadRequest
	result := obj("Result",
		Field{Name: "status", Schema: &Schema{Kind: String, Enum: []string{"ok", "failed"}}},
		Field{Name: "note", Schema: &Schema{Kind: String}, Optional: true},
	)
	body := obj("Body",
		Field{Name: "data", Schema: &Schema{Kind: String}},
		Field{Name: "result", Schema: result},
	)
	many := make([]Field, 12)
	for i := range many {
		many[i] = Field{Name: fmt.Sprint("f", i), Schema: &Schema{Kind: Int}, Optional: i > 0}
	}
	runCases(t, []validateCase{
		{"ok", body, `{"data":"x","result":{"status":"ok"}}`, 0, nil},
		{"whitespace", body, " \t\r\n{ \"data\" : \"x\" , \"result\" : { \"status\" : \"ok\" } } \n", 0, nil},
		{"optional null", body, `{"data":"x","result":{"status":"ok","note":null}}`, 0, nil},
		{"nested path", body, `{"data":"x","result":{"status":"bad"}}`, 422, []string{"result.status: must be one of [ok failed]"}},
		{"required", body, `{"result":{}}`, bad, []string{"data: required", "result.status: required"}},
		{"unknown", body, `{"data":"x","result":{"status":"ok","extra":[1,{"deep":true}]},"x y":1}`, bad,
			[]string{`["x y"]: unknown field`, `result.extra: unknown field`}},
		{"duplicate", body, `{"data":"x","data":"y","result":{"status":"ok"}}`, bad, []string{"data: duplicate key"}},
		{"duplicate escaped", body, `{"data":"x","d\u0061ta":"y","result":{"status":"ok"}}`, bad, []string{"data: duplicate key"}},
		{"escaped key matches", body, `{"d\u0061ta":"x","result":{"status":"ok"}}`, 0, nil},
		{"case-sensitive", body, `{"Data":"x","RESULT":{"status":"ok"}}`, bad,
			[]string{"Data: unknown field", "RESULT: unknown field", "data: required", "result: required"}},
		// encoding/json would match "\u017ftatus" (ſtatus) to "status" by Unicode case folding.
		{"folded key", body, `{"data":"x","result":{"\u017ftatus":"ok"}}`, bad, []string{"result.status: required", "result[\"\u017ftatus\"]: unknown field"}},
		{"both statuses", body, `{"data":"x","result":{"status":"bad"},"extra":1}`, bad,
			[]string{"extra: unknown field", "result.status: must be one of [ok failed]"}},
		{"many fields", obj("Many", many...), `{"f11":1,"f0":2,"f5":3}`, 0, nil},
		{"many fields missing", obj("Many", many...), `{"f11":1,"f12":1,"f5":"x"}`, bad,
			[]string{"f0: required", "f12: unknown field", "f5: must be an integer"}},
		{"recursive", nodeSchema, `{"name":"a","children":[{"name":"b"},{"name":"c","children":[{"name":""},{"name":1}]}],"parent":{"name":"p","parent":null}}`,
			bad, []string{"children[1].children[0].name: must be at least 1 characters long", "children[1].children[1].name: must be a string"}},
		{"recursive missing", nodeSchema, `{"name":"a","parent":{"children":[{}]}}`, bad, []string{"parent.children[0].name: required", "parent.name: required"}},
		{"sorted by index", listOf(&Schema{Kind: Bool}), `[1,true,true,true,true,true,true,true,true,true,1,true,1]`, bad,
			[]string{"[0]: must be a boolean", "[10]: must be a boolean", "[12]: must be a boolean"}},
	})
}

func TestSyntax(t *testing.T) {
	const bad = http.StatusBadRequest
	body := obj("Body", Field{Name: "v", Schema: &Schema{Kind: Any}, Optional: true})
	invalid := func(off int, msg string) []string {
		return []string{fmt.Sprintf("invalid JSON at offset %d: %s", off, msg)}
	}
	runCases(t, []validateCase{
		{"empty", body, ``, bad, invalid(0, "unexpected end of JSON input")},
		{"spaces", body, `   `, bad, invalid(3, "unexpected end of JSON input")},
		{"missing value", body, `{"v": }`, bad, invalid(6, "invalid character '}' looking for beginning of value")},
		{"truncated", body, `{"v":[1,2`, bad, invalid(9, "unexpected end of JSON input")},
		{"missing colon", body, `{"v" 1}`, bad, invalid(5, "invalid character '1' after object key")},
		{"missing comma", body, `{"v":1 "w":2}`, bad, invalid(7, "invalid character '\"' after object key:value pair")},
		{"trailing comma", body, `{"v":1,}`, bad, invalid(7, "invalid character '}' looking for beginning of object key string")},
		{"trailing comma in array", body, `{"v":[1,]}`, bad, invalid(8, "invalid character ']' looking for beginning of value")},
		{"single quotes", body, `{'v':1}`, bad, invalid(1, `invalid character '\'' looking for beginning of object key string`)},
		{"bad literal", body, `{"v":tru}`, bad, invalid(8, "invalid character '}' in literal true (expecting 'e')")},
		{"leading zero", body, `{"v":01}`, bad, invalid(6, "invalid character '1' after object key:value pair")},
		{"bare minus", body, `{"v":-}`, bad, invalid(6, "invalid character '}' in numeric literal")},
		{"bare point", body, `{"v":1.}`, bad, invalid(7, "invalid character '}' after decimal point in numeric literal")},
		{"bad exponent", body, `{"v":1e}`, bad, invalid(7, "invalid character '}' in exponent of numeric literal")},
		{"NaN", body, `{"v":NaN}`, bad, invalid(5, "invalid character 'N' looking for beginning of value")},
		{"control char", body, "{\"v\":\"a\nb\"}", bad, invalid(7, `invalid character '\n' in string literal`)},
		{"bad escape", body, `{"v":"\x"}`, bad, invalid(7, "invalid character 'x' in string escape code")},
		{"bad unicode escape", body, `{"v":"\u12g4"}`, bad, invalid(10, `invalid character 'g' in \u hexadecimal character escape`)},
		{"invalid UTF-8", body, "{\"v\":\"a\xffb\"}", bad, invalid(7, "invalid UTF-8 in string")},
		{"invalid UTF-8 key", body, "{\"\xc3\":1}", bad, invalid(2, "invalid UTF-8 in string")},
		{"lone surrogate escape", body, `{"v":"\ud800"}`, 0, nil},
		{"BOM", body, "\ufeff{}", bad, invalid(0, "invalid character 'ï' looking for beginning of value")},
		{"trailing data", body, `{"v":1} x`, bad, []string{"trailing data after the JSON value"}},
		{"second value", body, `{"v":1}{}`, bad, []string{"trailing data after the JSON value"}},
		{"trailing number", &Schema{Kind: Int}, `12 3`, bad, []string{"trailing data after the JSON value"}},
		{"trailing whitespace", body, "{\"v\":1} \r\n\t", 0, nil},
		{"malformed wins", body, `{"v":1,"x":2,"y":}`, bad, invalid(17, "invalid character '}' looking for beginning of value")},
		{"malformed inside a wrong type", field(&Schema{Kind: String}), `{"v":[1,2}`, bad, invalid(9, "invalid character '}' after array element")},
		{"malformed inside an unknown field", body, `{"w":{"a" 1}}`, bad, invalid(10, "invalid character '1' after object key")},
		{"deep garbage", body, strings.Repeat("[", 100000), bad, invalid(100000, "unexpected end of JSON input")},
		{"deep garbage in field", body, `{"v":` + strings.Repeat(`{"a":[`, 50000), bad, invalid(5+6*50000, "unexpected end of JSON input")},
	})
}

func TestDepth(t *testing.T) {
	const bad = http.StatusBadRequest
	anyBody := obj("Body", Field{Name: "v", Schema: &Schema{Kind: Any}})
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepPath := "v" + strings.Repeat("[0]", 63)
	lists := &Schema{Kind: Int}
	for range 70 {
		lists = listOf(lists)
	}
	chain := `{"name":"x"}`
	for range 64 {
		chain = `{"name":"x","parent":` + chain + `}`
	}
	runCases(t, []validateCase{
		{"any 64 levels", anyBody, `{"v":` + nest(63) + `}`, 0, nil},
		{"any 65 levels", anyBody, `{"v":` + nest(64) + `}`, bad, []string{deepPath + ": nested deeper than 64 levels"}},
		{"any very deep", anyBody, `{"v":` + nest(100000) + `}`, bad, []string{deepPath + ": nested deeper than 64 levels"}},
		{"lists 64 levels", lists, nest(64), 0, nil},
		{"lists 65 levels", lists, nest(65), bad, []string{strings.Repeat("[0]", 64) + ": nested deeper than 64 levels"}},
		{"recursive objects 65 levels", nodeSchema, chain, bad, []string{strings.TrimPrefix(strings.Repeat(".parent", 64), ".") + ": nested deeper than 64 levels"}},
		{"unknown field very deep", anyBody, `{"v":1,"w":` + nest(100000) + `}`, bad, []string{"w: unknown field"}},
	})
}

func TestErrorCap(t *testing.T) {
	ints := listOf(&Schema{Kind: Int, Max: Float(0)})
	many := "[" + strings.TrimSuffix(strings.Repeat("1,", 150), ",")
	for _, c := range []struct {
		name   string
		body   string
		status int
		last   string
	}{
		{"constraints", many + "]", 422, "[99]: must be at most 0"},
		{"type error past the cap", many + `,1,"x",1]`, 400, "[151]: must be an integer"},
		{"type errors", "[" + strings.TrimSuffix(strings.Repeat(`"x",`, 100000), ",") + "]", 400, "[99]: must be an integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e *Error
			if !errors.As(Validate([]byte(c.body), ints), &e) {
				t.Fatal("no *Error")
			}
			if len(e.Errors) != MaxErrors || e.Status != c.status || e.Errors[len(e.Errors)-1].String() != c.last {
				t.Errorf("got %d %d errors, last %q; want %d %d errors, last %q",
					e.Status, len(e.Errors), e.Errors[len(e.Errors)-1], c.status, MaxErrors, c.last)
			}
		})
	}
	// Malformed JSON after the cap still wins.
	var e *Error
	if !errors.As(Validate([]byte(many+`,"x",}`), ints), &e) || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0].Message, "invalid JSON at offset") {
		t.Errorf("malformed after the cap: got %v", e)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Status: 400, Errors: []FieldError{
		{"", "must be an object"}, {"a", "required"}, {"b.c", "unknown field"}, {"d", "required"}, {"e", "required"},
	}}
	if got, want := e.Error(), "must be an object; a: required; b.c: unknown field; and 2 more"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Errors = e.Errors[1:3]
	if got, want := e.Error(), "a: required; b.c: unknown field"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestInvalidSchema(t *testing.T) {
	for _, s := range []*Schema{
		nil,
		{Kind: Kind(99)},
		{Kind: List},
		{Kind: String, Pattern: "("},
		{Kind: Float64, Min: Float(0), Max: Float(nanValue())},
		{Kind: String, MinLength: Len(-1)},
		obj("T", Field{Name: "a", Schema: &Schema{Kind: Int}}, Field{Name: "a", Schema: &Schema{Kind: Int}}),
		obj("T", Field{Name: "a"}),
		field(listOf(mapOf(&Schema{Kind: String, Pattern: "a**"}))),
	} {
		err := Validate([]byte(`{}`), s)
		if !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("Validate with %+v: got %v, want ErrInvalidSchema", s, err)
		}
		if s != nil && !errors.Is(s.Compile(), ErrInvalidSchema) {
			t.Errorf("Compile %+v: got nil, want ErrInvalidSchema", s)
		}
	}
	if err := nodeSchema.Compile(); err != nil {
		t.Errorf("Compile(Node) = %v", err)
	}
}

func nanValue() float64 {
	var zero float64
	return zero / zero
}

// TestConcurrent checks under -race that a fresh Schema is prepared once,
// safely, by concurrent first uses.
func TestConcurrent(t *testing.T) {
	s := &Schema{Kind: Object, Name: "Node"}
	s.Fields = []Field{
		{Name: "code", Schema: &Schema{Kind: String, Pattern: `^[A-Z]{3}$`}},
		{Name: "children", Schema: listOf(s), Optional: true},
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"code":"ABC","children":[{"code":"x%d"}]}`, i)
			var e *Error
			if !errors.As(Validate([]byte(body), s), &e) || e.Status != 422 || e.Errors[0].Path != "children[0].code" {
				t.Errorf("got %v", e)
			}
		})
	}
	wg.Wait()
}

func TestComparePaths(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"a[2]", "a[10]", -1},
		{"a[10]", "a[2]", 1},
		{"a[10].b", "a[10].c", -1},
		{"a", "a.b", -1},
		{"a", "a", 0},
		{"", "a", -1},
		{"a[1]", "a.b", 1},
	} {
		if got := comparePaths(c.a, c.b); got != c.want {
			t.Errorf("comparePaths(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
