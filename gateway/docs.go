package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	swaggerui "github.com/swaggest/swgui/v5/static"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The gateway's human entry points: an index at / and an interactive API
// reference at /docs. The reference is Swagger UI as the swgui module
// embeds it (the upstream release, gzipped), started by a small script of
// ours on the gateway's own /openapi.json. Nothing is loaded from another
// origin, so the page works offline and its CSP can allow only 'self';
// try-it-out calls this same gateway, because the document names no other
// server.
//
// The docs routes pass through the gateway like any route: they take a
// token from the client address's rate-limit bucket (a page load is about
// six requests, the default burst is 1000; the bundle is ~400 KB, which
// no client should fetch unthrottled), are counted in the metrics under
// their route, and are logged as ordinary requests. They are not traced:
// traced() follows /v1/ only.

const (
	docsSpecURL = "/openapi.json"
	// docsCSP allows the page its own origin only. img-src data: is for the
	// icons that swagger-ui.css inlines; connect-src 'self' covers both the
	// document and try-it-out, whose server is this gateway.
	docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	// A fingerprinted asset URL never changes content: cache it for a year.
	docsImmutable = "public, max-age=31536000, immutable"
)

// docsFile is one file of the docs pages, kept in memory as served.
type docsFile struct {
	ctype string
	plain []byte
	gz    []byte // the gzip encoding, nil when not worth it
	etag  string // of plain; the gzip encoding's has a suffix
}

// docsSite is everything the docs routes serve.
type docsSite struct {
	files   map[string]*docsFile // by name under /docs/
	version string               // fingerprint of the files, the ?v= of their URLs
	page    *docsFile            // /docs
	index   *docsFile            // / for browsers
	indexJS *docsFile            // / for everyone else
}

// loadDocs builds the site once per process: New runs for every test, and
// unpacking the bundle takes milliseconds.
var loadDocs = sync.OnceValues(buildDocs)

func buildDocs() (*docsSite, error) {
	s := &docsSite{files: make(map[string]*docsFile)}
	// The Swagger UI files we use (the standalone preset only adds the
	// top bar, whose URL box would browse other documents), all shipped
	// by swgui. Missing ones fail New, so an upgrade that renames one is
	// caught by the tests.
	for _, f := range []struct{ name, embedded, ctype string }{
		{"swagger-ui-bundle.js", "swagger-ui-bundle.js.gz", "text/javascript; charset=utf-8"},
		{"swagger-ui.css", "swagger-ui.css.gz", "text/css; charset=utf-8"},
		{"favicon-32x32.png", "favicon-32x32.png", "image/png"},
		{"favicon-16x16.png", "favicon-16x16.png", "image/png"},
	} {
		raw, err := swaggerui.FS.ReadFile(f.embedded)
		if err != nil {
			return nil, fmt.Errorf("docs assets: %w", err)
		}
		file := &docsFile{ctype: f.ctype, plain: raw}
		if strings.HasSuffix(f.embedded, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("docs assets: %s: %w", f.embedded, err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				return nil, fmt.Errorf("docs assets: %s: %w", f.embedded, err)
			}
			file.plain, file.gz = plain, raw
		}
		s.files[f.name] = file
	}
	s.files["kassa-docs.js"] = &docsFile{ctype: "text/javascript; charset=utf-8", plain: []byte(docsScript)}
	s.files["kassa.css"] = &docsFile{ctype: "text/css; charset=utf-8", plain: []byte(docsStyle)}

	// One fingerprint for all files: the page names them together, and a
	// release that changes any of them gets new URLs for all.
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(s.files)) {
		f := s.files[name]
		f.etag = etagOf(f.plain)
		h.Write([]byte(name + "\x00" + f.etag))
	}
	s.version = hex.EncodeToString(h.Sum(nil)[:6])

	data := struct{ V, Spec string }{s.version, docsSpecURL}
	for _, p := range []struct {
		dst  **docsFile
		tmpl *template.Template
	}{{&s.page, docsPageHTML}, {&s.index, docsIndexHTML}} {
		var b bytes.Buffer
		if err := p.tmpl.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("docs page: %w", err)
		}
		*p.dst = &docsFile{ctype: "text/html; charset=utf-8", plain: b.Bytes(), etag: etagOf(b.Bytes())}
	}
	js, err := json.Marshal(map[string]any{
		"name":        "kassa",
		"description": "The REST/JSON API of kassa: users, billing accounts, orders and notifications.",
		"links": map[string]string{
			"docs":      "/docs",
			"openapi":   docsSpecURL,
			"health":    "/healthz",
			"readiness": "/readyz",
		},
	})
	if err != nil {
		return nil, err
	}
	s.indexJS = &docsFile{ctype: "application/json", plain: js, etag: etagOf(js)}
	return s, nil
}

// etagOf is a strong ETag of b: 64 bits of its SHA-256.
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// registerDocs adds /, /docs, /docs/ and the assets under /docs/ to mux
// (GET; HEAD is answered as GET).
func registerDocs(mux *runtime.ServeMux) error {
	s, err := loadDocs()
	if err != nil {
		return err
	}
	page := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		s.serve(w, r, s.page, "no-cache")
	}
	asset := func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		name := params["file"]
		if name == "" { // "/docs/"
			s.serve(w, r, s.page, "no-cache")
			return
		}
		f, ok := s.files[name]
		if !ok {
			_, out := runtime.MarshalerForRequest(mux, r)
			runtime.HTTPError(r.Context(), mux, out, w, r, status.Errorf(codes.NotFound, "no file %q in /docs/", name))
			return
		}
		// Only the URL the page names is cacheable for good; an old or
		// missing ?v= may be a page of another release, so it revalidates.
		cache := "no-cache"
		if r.URL.Query().Get("v") == s.version {
			cache = docsImmutable
		}
		s.serve(w, r, f, cache)
	}
	favicon := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		// Browsers ask for it on every JSON response they show; without it
		// each would be a 404 in the access log.
		s.serve(w, r, s.files["favicon-32x32.png"], "public, max-age=86400")
	}
	index := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		w.Header().Add("Vary", "Accept")
		// RFC 8631: where the documentation and the description are.
		w.Header().Set("Link", `</docs>; rel="service-doc", <`+docsSpecURL+`>; rel="service-desc"`)
		f := s.indexJS
		if prefersHTML(r.Header.Get("Accept")) {
			f = s.index
		}
		s.serve(w, r, f, "no-cache")
	}
	// HEAD needs no route of its own: the gateway answers it as GET.
	return errors.Join(
		mux.HandlePath(http.MethodGet, "/", index),
		mux.HandlePath(http.MethodGet, "/docs", page),
		mux.HandlePath(http.MethodGet, "/docs/{file}", asset), // also "/docs/", with file ""
		mux.HandlePath(http.MethodGet, "/favicon.ico", favicon),
	)
}

// serve writes f with the docs headers, gzipped when the client takes it.
// http.ServeContent answers If-None-Match with 304 and HEAD without body.
func (s *docsSite) serve(w http.ResponseWriter, r *http.Request, f *docsFile, cache string) {
	h := w.Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers without CSP 2
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", cache)
	body, etag := f.plain, f.etag
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			// A strong ETag names one representation (RFC 9110, 8.8.3).
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: named
// (or *) without q=0.
func acceptsGzip(header string) bool {
	gz, star := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, q := mediaRange(part)
		switch coding {
		case "gzip", "x-gzip":
			gz = q
		case "*":
			star = q
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// prefersHTML reports whether an Accept header ranks text/html above
// application/json, each at the q of its most specific matching range. A
// browser's navigation does; curl's */*, a missing header and API clients
// do not, and get JSON.
func prefersHTML(header string) bool {
	html, js := acceptQ(header, "text", "html"), acceptQ(header, "application", "json")
	return html > 0 && html > js
}

// acceptQ is the q that an Accept header gives to type/subtype: that of the
// exact range, else of type/*, else of */*, else 0.
func acceptQ(header, typ, sub string) float64 {
	best, rank := 0.0, 0
	for _, part := range strings.Split(header, ",") {
		mr, q := mediaRange(part)
		t, st, _ := strings.Cut(mr, "/")
		r := 0
		switch {
		case t == typ && st == sub:
			r = 3
		case t == typ && st == "*":
			r = 2
		case t == "*" && st == "*":
			r = 1
		}
		if r > rank {
			best, rank = q, r
		}
	}
	return best
}

// mediaRange splits one element of an Accept or Accept-Encoding header
// into its lower-case value and its q (1 when absent or malformed).
func mediaRange(part string) (string, float64) {
	value, params, _ := strings.Cut(part, ";")
	q := 1.0
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(value)), q
}

// docsScript starts Swagger UI. It is a file rather than an inline script
// so that the CSP can forbid inline scripts.
const docsScript = `"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    domNode: root,
    url: root.getAttribute("data-spec"),
    deepLinking: true,
    // The token entered under Authorize survives a reload (localStorage).
    persistAuthorization: true,
    // The default shows a badge fetched from an online validator.
    validatorUrl: null,
    displayRequestDuration: true,
    showExtensions: true,
    defaultModelsExpandDepth: 0
  });
})();
`

const docsStyle = `body { margin: 0; background: #fafafa; }
.kassa-index { font-family: sans-serif; color: #3b4151; line-height: 1.5; }
.kassa-index main { max-width: 42rem; margin: 3rem auto; padding: 0 1rem; }
.kassa-index li { margin: 0.5rem 0; }
.kassa-index a { color: #4990e2; }
.kassa-index code { background: #eee; padding: 0 0.2rem; }
`

var docsPageHTML = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kassa API reference</title>
<link rel="icon" type="image/png" sizes="32x32" href="/docs/favicon-32x32.png?v={{.V}}">
<link rel="icon" type="image/png" sizes="16x16" href="/docs/favicon-16x16.png?v={{.V}}">
<link rel="stylesheet" href="/docs/swagger-ui.css?v={{.V}}">
<link rel="stylesheet" href="/docs/kassa.css?v={{.V}}">
<script defer src="/docs/swagger-ui-bundle.js?v={{.V}}"></script>
<script defer src="/docs/kassa-docs.js?v={{.V}}"></script>
</head>
<body>
<noscript>The API reference needs JavaScript. The OpenAPI document is at <a href="{{.Spec}}">{{.Spec}}</a>.</noscript>
<div id="swagger-ui" data-spec="{{.Spec}}"></div>
</body>
</html>
`))

var docsIndexHTML = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kassa API</title>
<link rel="icon" type="image/png" sizes="32x32" href="/docs/favicon-32x32.png?v={{.V}}">
<link rel="stylesheet" href="/docs/kassa.css?v={{.V}}">
</head>
<body class="kassa-index">
<main>
<h1>kassa API</h1>
<p>The REST/JSON API of kassa: users, billing accounts, orders and notifications.</p>
<ul>
<li><a href="/docs">API reference</a>: every operation, with try-it-out against this gateway</li>
<li><a href="{{.Spec}}">OpenAPI document</a> (<code>{{.Spec}}</code>), for client generators and tools</li>
<li><a href="/healthz"><code>/healthz</code></a>: liveness</li>
<li><a href="/readyz"><code>/readyz</code></a>: readiness of the services behind the gateway</li>
</ul>
</main>
</body>
</html>
`))
