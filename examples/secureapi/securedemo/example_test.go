// SPDX-License-Identifier: Apache-2.0

package securedemo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// tasks implements securedemo.Tasks: the spec's two tasks.
type tasks struct{}

func (tasks) ProcessData(ctx context.Context, data string) (securedemo.Result, error) {
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

func (tasks) ValidateResult(ctx context.Context, result securedemo.Result) (securedemo.Validated, error) {
	if result.Status != securedemo.ResultStatusOk {
		return securedemo.Validated{}, runtime.Permanent(errors.New("invalid result"))
	}
	return securedemo.Validated{Processed: result.Processed, Status: string(result.Status), Validated: true}, nil
}

// Run the pipeline from Go, without HTTP: bind the Tasks implementation to
// an in-memory engine, start a typed run and read its typed outputs.
func ExampleStartSecureDemoPipeline() {
	engine, err := securedemo.NewEngine(tasks{}) // in memory
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	defer engine.Shutdown(ctx)

	run, err := securedemo.StartSecureDemoPipeline(ctx, engine, securedemo.SecureDemoPipelineInput{Data: "hello"}, runtime.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := run.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.Validated.Processed, out.Validated.Status, out.Validated.Validated)
	// Output: HELLO ok true
}

// Serve the secure HTTP API over an engine and call it with an API key. The spec reads its
// keys from TASKWIRE_KEY_ADMIN_FULL and TASKWIRE_KEY_VIEWER_REPORTS;
// httpapi.WithGetenv supplies them here instead of the environment. The
// spec's audit log goes to audit.jsonl in the working directory. A request
// without a key gets 401.
func ExampleNewServer() {
	const adminKey = "sk_example_admin_0123456789abcdefghijklmnop"
	getenv := func(name string) string {
		switch name {
		case "TASKWIRE_KEY_ADMIN_FULL":
			return adminKey
		case "TASKWIRE_KEY_VIEWER_REPORTS":
			return "sk_example_viewer_0123456789abcdefghijklmno"
		}
		return ""
	}
	engine, err := securedemo.NewEngine(tasks{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Shutdown(context.Background())
	srv, err := securedemo.NewServer(engine, httpapi.WithGetenv(getenv))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	ts := httptest.NewServer(srv)
	defer ts.Close()

	for _, key := range []string{adminKey, ""} {
		req, err := http.NewRequest("GET", ts.URL+"/pipelines", nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// An RFC 9457 problem: print its detail.
			var problem struct{ Detail string }
			if err := json.Unmarshal(body, &problem); err != nil {
				fmt.Println(err)
				return
			}
			body = []byte(problem.Detail)
		}
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 {"pipelines":["secure_demo_pipeline"]}
	// 401 Not authenticated
}
