package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/proto/api"
)

// route is one endpoint of the REST API. routeAPI registers it with echo
// and openAPIDocument describes it from the same entry, so the served
// document lists exactly the routes that exist.
type route struct {
	Method string
	// Path is below api.BasePath, in echo syntax (/packages/:id).
	Path    string
	Handler echo.HandlerFunc
	Summary string
	Tag     string
	Query   []param
	// Body is a zero value of the JSON request body's type, or nil.
	Body any
	// Form marks a multipart/form-data body with the api.PackageSpec
	// fields and a file.
	Form bool
	// Resp is a zero value of the answer's type; nil answers 204 unless
	// CSV is set.
	Resp any
	// CSV marks an answer of text/csv.
	CSV    bool
	Status int
}

// param is one query parameter.
type param struct {
	Name, Desc string
	Int        bool
}

// openAPIDocument returns the OpenAPI 3.0 document of routes as JSON.
func openAPIDocument(routes []route) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	g.ref(reflect.TypeFor[api.Error]())
	paths := map[string]map[string]any{}
	for _, r := range routes {
		oaPath, pathParams := openAPIPath(r.Path)
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": operationID(r.Method, r.Path),
			"tags":        []string{r.Tag},
		}
		var params []any
		for _, p := range pathParams {
			params = append(params, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range r.Query {
			typ := "string"
			if p.Int {
				typ = "integer"
			}
			params = append(params, map[string]any{"name": p.Name, "in": "query", "description": p.Desc, "schema": map[string]any{"type": typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		switch {
		case r.Form:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"multipart/form-data": map[string]any{"schema": formSchema()}}}
		case r.Body != nil:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(r.Body))}}}
		}
		resp := map[string]any{"description": http.StatusText(r.Status)}
		if r.CSV {
			resp["content"] = map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		if r.Resp != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(r.Resp))}}
		}
		op["responses"] = map[string]any{
			fmt.Sprint(r.Status): resp,
			"default": map[string]any{"description": "an error", "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
		}
		if paths[oaPath] == nil {
			paths[oaPath] = map[string]any{}
		}
		paths[oaPath][strings.ToLower(r.Method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Shoal central REST API",
			"version":     "v1",
			"description": "Admin API of shoal-central. Send 'Authorization: Bearer <token>'; HTTP Basic with the admin credential is accepted to mint tokens. Read-only tokens may only GET.",
		},
		"servers":  []any{map[string]any{"url": api.BasePath}},
		"security": []any{map[string]any{"bearer": []string{}}, map[string]any{"basic": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				"basic":  map[string]any{"type": "http", "scheme": "basic"},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return b, nil
}

// openAPIPath turns /packages/:id into /packages/{id} and returns the path
// parameter names.
func openAPIPath(p string) (string, []string) {
	segs := strings.Split(p, "/")
	var params []string
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			params = append(params, s[1:])
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return api.BasePath + strings.Join(segs, "/"), params
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, s := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '-' || r == '.' }) {
		s = strings.TrimPrefix(s, ":")
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
	}
	return b.String()
}

func formSchema() map[string]any {
	props := map[string]any{api.FormFile: map[string]any{"type": "string", "format": "binary"}}
	t := reflect.TypeFor[api.PackageSpec]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		props[name] = map[string]any{"type": "string"}
	}
	return map[string]any{"type": "object", "required": []string{api.FormFile, api.FormAction}, "properties": props}
}

// schemaGen builds JSON schemas from Go types by their json tags, collecting
// named structs in defs.
type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string", "format": "date-time"}
	case t == reflect.TypeFor[json.RawMessage]():
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.ref(t.Elem())
		if _, isRef := s["$ref"]; isRef {
			return s
		}
		s["nullable"] = true
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.ref(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// object is the schema of a struct: its json fields, with anonymous
// embedded structs flattened as encoding/json does.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.ref(f.Type)
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		slices.Sort(required)
		s["required"] = required
	}
	return s
}

// schemaName names a struct's schema: its Go name, with api.List[T] named
// TList. Unnamed structs have no name and are inlined.
func schemaName(t reflect.Type) string {
	name := t.Name()
	open := strings.IndexByte(name, '[')
	if open < 0 {
		return name
	}
	arg := strings.TrimSuffix(name[open+1:], "]")
	if i := strings.LastIndexByte(arg, '.'); i >= 0 {
		arg = arg[i+1:]
	}
	return arg + name[:open]
}
