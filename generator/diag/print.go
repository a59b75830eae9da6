// SPDX-License-Identifier: Apache-2.0

package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes one diagnostic per line as FILE:LINE:COL: SEVERITY: MESSAGE.
func WriteText(w io.Writer, ds []Diagnostic) error {
	for _, d := range ds {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// WriteJSON writes the diagnostics as a JSON array of
// {file, line, column, severity, message} objects (an empty array when there are none).
func WriteJSON(w io.Writer, ds []Diagnostic) error {
	out := make([]jsonDiagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, jsonDiagnostic{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Severity: d.Severity.String(), Message: d.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteGitHub writes the diagnostics as GitHub Actions workflow commands
// (::error file=F,line=L,col=C::MESSAGE), escaped as GitHub requires. Infos
// become ::notice, GitHub's name for them.
func WriteGitHub(w io.Writer, ds []Diagnostic) error {
	for _, d := range ds {
		command := d.Severity.String()
		if d.Severity == Info {
			command = "notice"
		}
		_, err := fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d::%s\n",
			command, ghProperty(d.Pos.File), d.Pos.Line, d.Pos.Col, ghData(d.Message))
		if err != nil {
			return err
		}
	}
	return nil
}

var ghDataEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")

var ghPropertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")

func ghData(s string) string     { return ghDataEscaper.Replace(s) }
func ghProperty(s string) string { return ghPropertyEscaper.Replace(s) }
