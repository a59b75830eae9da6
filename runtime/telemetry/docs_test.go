// SPDX-License-Identifier: Apache-2.0

package telemetry_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/runtime/telemetry"
)

var metricName = regexp.MustCompile(`taskwire_[a-z_]+`)

// families returns the names of the families a new Metrics exposes (once
// every labelled family has a child), with their histogram series.
func families(t *testing.T) map[string]bool {
	m := telemetry.NewMetrics()
	m.Route("r").Request(200, 0)
	m.Route("r").RateLimited()
	m.AuthFailure("missing")
	m.ReloadFailed()
	m.AnonymousShed(telemetry.ShedLowDisk)
	m.RunInProgress("p", 0)
	m.RunEnded("p", "succeeded", 0)
	m.TaskEnded("p", "t", "retrying")
	m.AttemptDone("p", "t", 0)
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "taskwire_") {
			names[metricName.FindString(line)] = true
		}
	}
	if len(names) < 13 {
		t.Fatalf("only %d taskwire series names", len(names))
	}
	return names
}

// TestDashboardAndAlertsUseRealMetrics checks that the Grafana dashboard
// and the alerting rules of docs/observability query only metrics the
// service exposes, and that promtool accepts the rules.
func TestDashboardAndAlertsUseRealMetrics(t *testing.T) {
	names := families(t)
	raw, err := os.ReadFile("../../docs/observability/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				if !names[n] {
					t.Errorf("dashboard panel %q queries %s, which the service does not expose", p.Title, n)
				}
			}
		}
	}
	rules, err := os.ReadFile("../../docs/observability/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range metricName.FindAllString(string(rules), -1) {
		if !names[n] {
			t.Errorf("alerts.yml queries %s, which the service does not expose", n)
		}
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install -y prometheus)")
		}
		t.Skip("promtool not installed")
	}
	if out, err := exec.Command(bin, "check", "rules", "../../docs/observability/alerts.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
