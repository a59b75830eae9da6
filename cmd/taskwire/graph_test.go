// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"strings"
	"testing"
)

func TestGraphSVG(t *testing.T) {
	code, out, errOut := runCLI(t, "graph", "--pipeline", "report_daily", "--format", "svg", "../../specs/reports.yaml")
	if code != exitOK || !strings.HasPrefix(out, `<svg xmlns="http://www.w3.org/2000/svg"`) || !strings.Contains(out, `data-task="summarise_section"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	golden, err := os.ReadFile("../../runtime/graph/testdata/report_daily.svg")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(golden) {
		t.Error("the CLI's SVG differs from the renderer's golden drawing of the same pipeline")
	}
	// Several pipelines cannot share one image.
	code, _, errOut = runCLI(t, "graph", "--format", "svg", "../../specs/reports.yaml")
	if code != exitUsage || !strings.Contains(errOut, "--pipeline") {
		t.Errorf("svg of every pipeline: exit %d, %q", code, errOut)
	}
	// One pipeline needs no --pipeline.
	if code, out, _ := runCLI(t, "graph", "--format", "svg", "../../specs/secure_demo.yaml"); code != exitOK || !strings.Contains(out, `data-task="validate_result"`) {
		t.Errorf("svg of the only pipeline: exit %d", code)
	}
	if code, _, errOut := runCLI(t, "graph", "--format", "png", "../../specs/secure_demo.yaml"); code != exitUsage || !strings.Contains(errOut, "|svg") {
		t.Errorf("unknown format: exit %d, %q", code, errOut)
	}
}
