package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// oaMethods are the operation keys of an OpenAPI path item.
var oaMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// oaParse decodes the embedded document twice: generically (for $ref
// resolution) and into the few typed fields the checks read.
func oaParse(t *testing.T) (doc map[string]any, paths map[string]map[string]json.RawMessage) {
	t.Helper()
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	var typed struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &typed); err != nil {
		t.Fatalf("openapi.json paths: %v", err)
	}
	return doc, typed.Paths
}

// oaOperation is the part of an operation object the checks read.
type oaOperation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Description string                     `json:"description"`
	Parameters  []json.RawMessage          `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// oaRoutePath converts a ServeMux pattern path to OpenAPI form:
// "{name...}" becomes "{name}" and a trailing "{$}" is dropped.
func oaRoutePath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return strings.ReplaceAll(p, "...}", "}")
}

func TestOpenAPIVersion(t *testing.T) {
	doc, _ := oaParse(t)
	v, _ := doc["openapi"].(string)
	if !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info == nil || info["title"] == "" || info["version"] == "" {
		t.Fatalf("info.title and info.version are required, got %v", info)
	}
}

// TestOpenAPIMatchesRoutes checks that the document describes exactly the
// routes in routeTable(): no route undocumented, no documented route that
// is not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	_, paths := oaParse(t)

	served := map[string]bool{}
	for _, rt := range New(Deps{}).routeTable() {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q has no method or no absolute path; the document cannot describe it", rt.pattern)
			continue
		}
		key := method + " " + oaRoutePath(path)
		if served[key] {
			t.Errorf("route %q is registered twice", rt.pattern)
		}
		served[key] = true
	}
	if len(served) == 0 {
		t.Fatal("routeTable() is empty")
	}

	documented := map[string]bool{}
	for path, item := range paths {
		for key := range item {
			if oaMethods[key] {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}

	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is served but not in openapi.json", k)
	}
	for _, k := range extra {
		t.Errorf("openapi.json documents %s, which is not in routeTable()", k)
	}
}

var oaPathParam = regexp.MustCompile(`\{([^}/]+)\}`)

// TestOpenAPIOperations checks each operation: a summary, a unique
// operationId, at least one 2xx response, and a declared path parameter
// for every template in its path.
func TestOpenAPIOperations(t *testing.T) {
	doc, paths := oaParse(t)
	ids := map[string]string{}
	for path, item := range paths {
		var itemParams []json.RawMessage
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &itemParams); err != nil {
				t.Errorf("%s: parameters: %v", path, err)
			}
		}
		for key, raw := range item {
			if !oaMethods[key] {
				continue
			}
			name := strings.ToUpper(key) + " " + path
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s has no summary", name)
			}
			if strings.TrimSpace(op.Description) == "" {
				t.Errorf("%s has no description", name)
			}
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", name)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q is used by both %s and %s", op.OperationID, prev, name)
			} else {
				ids[op.OperationID] = name
			}
			ok2xx := false
			for code := range op.Responses {
				if len(code) == 3 && code[0] == '2' || code == "2XX" {
					ok2xx = true
				}
			}
			if !ok2xx {
				t.Errorf("%s has no 2xx response", name)
			}

			declared := map[string]bool{}
			for _, p := range append(append([]json.RawMessage{}, itemParams...), op.Parameters...) {
				var v any
				if err := json.Unmarshal(p, &v); err != nil {
					t.Errorf("%s: parameter: %v", name, err)
					continue
				}
				param, ok := oaDeref(doc, v).(map[string]any)
				if !ok {
					t.Errorf("%s: parameter %s does not resolve to an object", name, p)
					continue
				}
				if param["in"] == "path" {
					n, _ := param["name"].(string)
					declared[n] = true
					if param["required"] != true {
						t.Errorf("%s: path parameter %q must be required", name, n)
					}
				}
			}
			for _, m := range oaPathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", name, m[1])
				}
				delete(declared, m[1])
			}
			for n := range declared {
				t.Errorf("%s: declares path parameter %q that is not in the path", name, n)
			}
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref is a local reference to a
// component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc, _ := oaParse(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"]; ok {
				s, _ := r.(string)
				refs = append(refs, s)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, "#/components/") {
			t.Errorf("$ref %q is not a local component reference", r)
			continue
		}
		if _, ok := oaPointer(doc, r); !ok {
			t.Errorf("$ref %q does not resolve", r)
		}
	}
}

// TestOpenAPIServed checks that GET /openapi.json serves the embedded
// document as JSON.
func TestOpenAPIServed(t *testing.T) {
	srv := New(Deps{})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Error("GET /openapi.json does not return the embedded document")
	}
}

// oaPointer resolves a "#/a/b" JSON Pointer (RFC 6901) in doc.
func oaPointer(doc any, ref string) (any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if frag == "" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// oaDeref follows $ref chains (at most a few hops) to the target object.
func oaDeref(doc, v any) any {
	for range 8 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		if v, ok = oaPointer(doc, r); !ok {
			return nil
		}
	}
	return nil
}
