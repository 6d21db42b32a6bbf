package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// decodeError is malformed input: bad JSON, a wrong type, an unknown field.
type decodeError struct {
	msg      string
	field    string
	fieldMsg string
}

func (e *decodeError) Error() string { return "decode: " + e.msg }

// maxJSONDepth bounds nesting so hostile documents cannot exhaust the stack.
const maxJSONDepth = 32

// decodeJSON reads exactly one JSON object from the body into dst. Unknown
// fields are refused (U12: only whitelisted fields are accepted), as are
// trailing data, wrong types and bodies over the limit (413, via the
// MaxBytesReader the middleware installed).
func decodeJSON(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return &decodeError{msg: "could not read the request body"}
	}
	return decodeBytes(body, dst)
}

// decodeBytes is decodeJSON without the reader (and the fuzz target).
func decodeBytes(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return &decodeError{msg: "the request body must be a JSON object"}
	}
	if trimmed[0] != '{' {
		return &decodeError{msg: "the request body must be a JSON object"}
	}
	// encoding/json would silently turn invalid bytes into U+FFFD.
	if !utf8.Valid(trimmed) {
		return &decodeError{msg: "the request body must be valid UTF-8"}
	}
	// No text Gatehouse stores may hold NUL (PostgreSQL text cannot).
	if bytes.Contains(trimmed, []byte(`\u0000`)) {
		return &decodeError{msg: "strings must not contain NUL characters"}
	}
	if depth(trimmed) > maxJSONDepth {
		return &decodeError{msg: "the JSON document is nested too deeply"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describe(err)
	}
	if dec.More() {
		return &decodeError{msg: "the request body must hold a single JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &decodeError{msg: "the request body must hold a single JSON object"}
	}
	return nil
}

func describe(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &decodeError{msg: fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &decodeError{msg: "malformed JSON: unexpected end of input"}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return &decodeError{msg: "a field has the wrong type", field: field, fieldMsg: "must be " + jsonKind(te.Type.Kind().String())}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &decodeError{msg: "unknown field " + name, field: name, fieldMsg: "is not an accepted field"}
	}
	return &decodeError{msg: "malformed JSON"}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a valid value"
	}
	return "a number"
}

// depth returns the maximum nesting of objects and arrays, ignoring
// brackets inside strings.
func depth(b []byte) int {
	d, max := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}
