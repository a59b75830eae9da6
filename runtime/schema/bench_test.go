// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"encoding/json"
	"testing"
)

type benchBody struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Count   int64    `json:"count"`
	Score   float64  `json:"score"`
	Tags    []string `json:"tags"`
	Comment *string  `json:"comment,omitempty"`
}

var benchSchema = &Schema{Kind: Object, Name: "Bench", Fields: []Field{
	{Name: "id", Schema: &Schema{Kind: String, Pattern: `^[a-z0-9-]+$`}},
	{Name: "name", Schema: &Schema{Kind: String, MinLength: Len(1), MaxLength: Len(200)}},
	{Name: "count", Schema: &Schema{Kind: Int64, Min: Float(0), Max: Float(1000)}},
	{Name: "score", Schema: &Schema{Kind: Float64, Min: Float(0), Max: Float(10)}},
	{Name: "tags", Schema: &Schema{Kind: List, Elem: &Schema{Kind: String, Enum: []string{"alpha", "beta", "gamma"}}, MaxLength: Len(10)}},
	{Name: "comment", Schema: &Schema{Kind: String}, Optional: true},
}}

// benchData is a 5-field body of about 200 bytes.
var benchData = []byte(`{"id":"3f2b8c1e-7d4a-4e59-9b6a-0c1d2e3f4a5b","name":"Quarterly revenue report for the north-east region, second draft for review","count":42,"score":7.25,"tags":["alpha","beta","gamma"]}`)

func BenchmarkDecode(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	for b.Loop() {
		var v benchBody
		if err := Decode(benchData, benchSchema, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(benchData, benchSchema); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal is the baseline: plain encoding/json, no validation.
func BenchmarkUnmarshal(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	for b.Loop() {
		var v benchBody
		if err := json.Unmarshal(benchData, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateInvalid measures a body with errors of both kinds.
func BenchmarkValidateInvalid(b *testing.B) {
	data := []byte(`{"id":"UPPER","name":"","count":-1,"score":11,"tags":["alpha","delta"],"extra":true}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if Validate(data, benchSchema) == nil {
			b.Fatal("valid")
		}
	}
}
