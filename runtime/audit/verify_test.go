// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Verify pairs request records with their intents and lists the intents
// no request record answers.
func TestVerifyIntents(t *testing.T) {
	write := func(t *testing.T, recs func(l *Logger) error) string {
		t.Helper()
		l, path := openLog(t, Options{})
		if err := recs(l); err != nil {
			t.Fatal(err)
		}
		l.Close()
		return path
	}
	intent := func(l *Logger, id string) uint64 {
		seq, err := l.Append(Record{Type: TypeIntent, RequestID: id, Route: "cancel_run", Outcome: OutcomePending})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	outcome := func(l *Logger, id string, in uint64) error {
		return l.Log(Record{Type: TypeRequest, RequestID: id, Outcome: "ok", Status: 200, Intent: in})
	}

	t.Run("answered and open", func(t *testing.T) {
		path := write(t, func(l *Logger) error {
			a := intent(l, "a")
			intent(l, "b") // the server stopped before b's answer
			return outcome(l, "a", a)
		})
		sum, err := Verify(path)
		if err != nil || sum.Records != 3 || sum.Intents != 2 {
			t.Fatalf("verify: %+v %v", sum, err)
		}
		if len(sum.Open) != 1 || sum.Open[0].RequestID != "b" || sum.Open[0].Seq != 2 || sum.Open[0].Line != 2 || sum.Open[0].File != path {
			t.Fatalf("open intents %+v, want b's at line 2", sum.Open)
		}
	})
	for name, c := range map[string]struct {
		recs func(l *Logger) error
		want string
	}{
		"no such intent": {func(l *Logger) error {
			l.Log(Record{Type: TypeRequest, Outcome: "ok"})
			return outcome(l, "a", 1)
		}, "not an unanswered intent record"},
		"answered twice": {func(l *Logger) error {
			a := intent(l, "a")
			outcome(l, "a", a)
			return outcome(l, "a", a)
		}, "not an unanswered intent record"},
		"another request's intent": {func(l *Logger) error {
			a := intent(l, "a")
			return outcome(l, "b", a)
		}, `which is request "a"'s`},
		"an intent after it": {func(l *Logger) error {
			return outcome(l, "a", 5)
		}, "does not come before it"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(write(t, c.recs))
			var p *Problem
			if !errors.As(err, &p) || !strings.Contains(p.Reason, c.want) {
				t.Fatalf("verify = %v, want a problem saying %q", err, c.want)
			}
		})
	}
	t.Run("partial chain", func(t *testing.T) {
		path := write(t, func(l *Logger) error {
			a := intent(l, "a")
			l.Log(Record{Type: TypeRequest, Outcome: "ok"})
			return outcome(l, "a", a)
		})
		cut := filepath.Join(t.TempDir(), "cut.jsonl")
		writeLines(t, cut, lines(t, path)[1:])
		if sum, err := VerifyPartial(cut); err != nil || sum.Records != 2 || len(sum.Open) != 0 {
			t.Fatalf("VerifyPartial = %+v, %v", sum, err)
		}
	})
}
