package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// get sends a request straight to the gateway handler, so that no client
// adds Accept-Encoding behind the test's back.
func (e *testEnv) get(t *testing.T, method, target string, header map[string]string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// wantDocsHeaders fails unless r carries the security headers of a docs
// response.
func wantDocsHeaders(t *testing.T, what string, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("%s: CSP %q allows more than this origin", what, csp)
	}
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q", what, got)
	}
	if got := r.header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options = %q", what, got)
	}
	if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy = %q", what, got)
	}
}

var pageRefs = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// The page is served at /docs and /docs/, names only same-origin URLs that
// all answer 200, and has no inline script or style the CSP would block.
func TestDocs_PageAtBothPaths_LoadsOnlyFromThisOrigin(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/docs", "/docs/"} {
		r := e.get(t, "GET", path, map[string]string{"Accept": browserAccept})
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", path, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type = %q", path, ct)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control = %q, want no-cache (the page names the current assets)", path, cc)
		}
		wantDocsHeaders(t, path, r)
		body := string(r.body)
		if strings.Contains(body, "<style") || strings.Contains(body, " style=") || strings.Contains(body, "<script>") {
			t.Errorf("%s: inline script or style, which the CSP blocks:\n%s", path, body)
		}
		if !strings.Contains(body, `data-spec="/openapi.json"`) {
			t.Errorf("%s: the page does not point at /openapi.json:\n%s", path, body)
		}
		refs := pageRefs.FindAllStringSubmatch(body, -1)
		if len(refs) < 6 { // two icons, two stylesheets, two scripts, the noscript link
			t.Fatalf("%s: %d references, want the assets: %s", path, len(refs), body)
		}
		for _, m := range refs {
			ref := m[1]
			if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
				t.Errorf("%s: %q is not on this origin", path, ref)
				continue
			}
			if a := e.get(t, "GET", ref, nil); a.status != http.StatusOK || len(a.body) == 0 {
				t.Errorf("%s: %s = %d (%d bytes)", path, ref, a.status, len(a.body))
			}
		}
	}
}

// The document the page loads sends try-it-out to this gateway by
// default: it names no host, or its first server (the one Swagger UI
// picks) is a path on this origin.
func TestDocs_DocumentNamesNoOtherServer(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		Host    string `json:"host"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(e.get(t, "GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Host != "" {
		t.Errorf("host = %q: try-it-out would leave this gateway", doc.Host)
	}
	if len(doc.Servers) > 0 {
		if u := doc.Servers[0].URL; !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			t.Errorf("first server %q: try-it-out would leave this gateway", u)
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDocs_Assets_TypesEncodingsAndCaching(t *testing.T) {
	e := newEnv(t)
	site, err := loadDocs()
	if err != nil {
		t.Fatal(err)
	}
	v := "?v=" + site.version
	for _, tc := range []struct {
		name, ctype, contains string
		gzipped               bool
	}{
		{"swagger-ui-bundle.js", "text/javascript; charset=utf-8", "SwaggerUIBundle", true},
		{"swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui", true},
		{"kassa-docs.js", "text/javascript; charset=utf-8", "persistAuthorization: true", false},
		{"kassa.css", "text/css; charset=utf-8", ".kassa-index", false},
		{"favicon-32x32.png", "image/png", "\x89PNG", false},
		{"favicon-16x16.png", "image/png", "\x89PNG", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/docs/" + tc.name
			plain := e.get(t, "GET", path+v, nil)
			if plain.status != http.StatusOK {
				t.Fatalf("status %d: %s", plain.status, plain.body)
			}
			if ct := plain.header.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", ct, tc.ctype)
			}
			if enc := plain.header.Get("Content-Encoding"); enc != "" {
				t.Errorf("without Accept-Encoding: Content-Encoding %q", enc)
			}
			if !bytes.Contains(plain.body, []byte(tc.contains)) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if cc := plain.header.Get("Cache-Control"); cc != docsImmutable {
				t.Errorf("the page's URL: Cache-Control = %q, want %q", cc, docsImmutable)
			}
			wantDocsHeaders(t, path, plain)

			zipped := e.get(t, "GET", path+v, map[string]string{"Accept-Encoding": "br, gzip, deflate"})
			switch enc := zipped.header.Get("Content-Encoding"); {
			case tc.gzipped && enc != "gzip":
				t.Errorf("Accept-Encoding gzip: Content-Encoding %q", enc)
			case tc.gzipped:
				if !bytes.Equal(gunzip(t, zipped.body), plain.body) {
					t.Error("the gzip body is not the plain body")
				}
				if zipped.header.Get("ETag") == plain.header.Get("ETag") {
					t.Errorf("both encodings have ETag %s", plain.header.Get("ETag"))
				}
				if !strings.Contains(zipped.header.Get("Vary"), "Accept-Encoding") {
					t.Errorf("Vary = %q", zipped.header.Get("Vary"))
				}
				if len(zipped.body) >= len(plain.body)/2 {
					t.Errorf("gzip %d bytes for %d plain", len(zipped.body), len(plain.body))
				}
			case enc != "":
				t.Errorf("Content-Encoding %q for a file not worth compressing", enc)
			}
			if nozip := e.get(t, "GET", path+v, map[string]string{"Accept-Encoding": "gzip;q=0, identity"}); nozip.header.Get("Content-Encoding") != "" {
				t.Errorf("gzip;q=0 got Content-Encoding %q", nozip.header.Get("Content-Encoding"))
			}

			// Revalidation, and the cache rule of URLs the page does not name.
			etag := plain.header.Get("ETag")
			if r := e.get(t, "GET", path, map[string]string{"If-None-Match": etag}); r.status != http.StatusNotModified || len(r.body) != 0 {
				t.Errorf("If-None-Match %s: status %d, %d bytes, want 304", etag, r.status, len(r.body))
			}
			for _, target := range []string{path, path + "?v=0123456789ab"} {
				if cc := e.get(t, "GET", target, nil).header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("%s: Cache-Control = %q, want no-cache", target, cc)
				}
			}
			// HEAD is answered as GET; the HTTP server drops the body.
			head := e.do(t, "HEAD", path+v, nil, nil)
			if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(len(plain.body)) {
				t.Errorf("HEAD: status %d, %d bytes, Content-Length %q; want 200, none, %d",
					head.status, len(head.body), head.header.Get("Content-Length"), len(plain.body))
			}
		})
	}
}

func TestDocs_UnknownFile_Gets404Status(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/docs/nope.js", "/docs/oauth2-redirect.html", "/docs/a/b", "/docs/index.html"} {
		wantStatus(t, e.get(t, "GET", path, nil), http.StatusNotFound, codes.NotFound)
	}
}

func TestDocs_Favicon(t *testing.T) {
	e := newEnv(t)
	r := e.get(t, "GET", "/favicon.ico", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(r.body, []byte("\x89PNG")) {
		t.Errorf("status %d, Content-Type %q, %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
}

// GET / serves the HTML index to browsers and JSON to everyone else, both
// with the links to the docs.
func TestIndex_HTMLForBrowsers_JSONOtherwise(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		accept string
		html   bool
	}{
		{browserAccept, true},
		{"", false},
		{"*/*", false}, // curl
		{"application/json", false},
		{"application/json, text/html", false}, // a tie goes to the API's own type
		{"text/html;q=0.5, application/json", false},
		{"application/json;q=0.5, text/html", true},
		{"text/*", true},
		{"text/html;q=0, */*", false},
		{"TEXT/HTML", true},
	} {
		r := e.get(t, "GET", "/", map[string]string{"Accept": tc.accept})
		if r.status != http.StatusOK {
			t.Fatalf("Accept %q: status %d, body %s", tc.accept, r.status, r.body)
		}
		wantDocsHeaders(t, "/", r)
		if !strings.Contains(r.header.Get("Vary"), "Accept") {
			t.Errorf("Accept %q: Vary = %q", tc.accept, r.header.Get("Vary"))
		}
		if link := r.header.Get("Link"); !strings.Contains(link, `</docs>; rel="service-doc"`) || !strings.Contains(link, `</openapi.json>; rel="service-desc"`) {
			t.Errorf("Link = %q", link)
		}
		var links []string
		if tc.html {
			if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("Accept %q: Content-Type %q, want HTML", tc.accept, ct)
			}
			for _, m := range pageRefs.FindAllStringSubmatch(string(r.body), -1) {
				links = append(links, m[1])
			}
		} else {
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Accept %q: Content-Type %q, want JSON", tc.accept, ct)
			}
			var idx struct {
				Name  string            `json:"name"`
				Links map[string]string `json:"links"`
			}
			if err := json.Unmarshal(r.body, &idx); err != nil || idx.Name != "kassa" {
				t.Fatalf("Accept %q: body %s (%v)", tc.accept, r.body, err)
			}
			for _, l := range idx.Links {
				links = append(links, l)
			}
		}
		for _, want := range []string{"/docs", "/openapi.json", "/healthz", "/readyz"} {
			if !strings.Contains(strings.Join(links, " ")+" ", want+" ") && !containsPrefix(links, want+"?") {
				t.Errorf("Accept %q: no link to %s in %v", tc.accept, want, links)
			}
		}
		for _, l := range links {
			if a := e.get(t, "GET", l, nil); a.status != http.StatusOK {
				t.Errorf("Accept %q: link %s = %d", tc.accept, l, a.status)
			}
		}
	}
	wantStatus(t, e.get(t, "GET", "/nothing-here", map[string]string{"Accept": browserAccept}), http.StatusNotFound, codes.NotFound)
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestDocs_WrongMethod_Gets405(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/docs", "/docs/", "/docs/swagger-ui.css", "/favicon.ico"} {
		for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			wantStatus(t, e.get(t, method, path, nil), http.StatusMethodNotAllowed, codes.Unimplemented)
		}
	}
}

// The docs make no spans, and their access log lines are ordinary ones:
// info, with the route, without an error.
func TestDocs_NotTraced_LoggedAsOrdinaryRequests(t *testing.T) {
	e, exp, _ := tracedEnv(t)
	want := map[string]string{
		"/":                           "/",
		"/docs":                       "/docs",
		"/docs/":                      "/docs/{file}",
		"/docs/swagger-ui-bundle.js":  "/docs/{file}",
		"/docs/kassa-docs.js?v=stale": "/docs/{file}",
		"/favicon.ico":                "/favicon.ico",
	}
	for target := range want {
		if r := e.get(t, "GET", target, map[string]string{"Accept": browserAccept}); r.status != http.StatusOK {
			t.Fatalf("%s: status %d", target, r.status)
		}
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("docs requests made spans: %v", spanNames(spans))
	}
	seen := 0
	for _, l := range e.logs.lines(t) {
		if l["msg"] != "http request" {
			continue
		}
		seen++
		path, _ := l["path"].(string)
		var route string
		for target, r := range want {
			if strings.SplitN(target, "?", 2)[0] == path {
				route = r
			}
		}
		if l["level"] != "INFO" || l["route"] != route || l["status"] != float64(200) || l["error"] != nil || l["grpc_code"] != nil {
			t.Errorf("access log line %v, want INFO, route %q, 200, no error", l, route)
		}
	}
	if seen != len(want) {
		t.Errorf("%d access log lines, want %d", seen, len(want))
	}
}

// The docs take tokens from the client address's bucket like every route
// but the probes: the bundle is large, and no client fetches it unthrottled.
func TestDocs_RateLimitedPerAddress(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) { c.RateAddress = RateLimit{PerSecond: 0.5, Burst: 2}; c.Clock = clk.now })
	for _, path := range []string{"/docs", "/docs/swagger-ui-bundle.js"} {
		if r := e.serveFrom(t, "192.0.2.1:4000", "GET", path, "", nil); r.status != http.StatusOK {
			t.Fatalf("%s: status %d", path, r.status)
		}
	}
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:4000", "GET", "/docs/swagger-ui.css", "", nil), "2")
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:4000", "GET", "/", "", nil), "2")
	if r := e.serveFrom(t, "192.0.2.2:4000", "GET", "/docs", "", nil); r.status != http.StatusOK {
		t.Errorf("another address: status %d", r.status)
	}
	clk.advance(2 * time.Second)
	if r := e.serveFrom(t, "192.0.2.1:4000", "GET", "/docs/swagger-ui.css", "", nil); r.status != http.StatusOK {
		t.Errorf("after the refill: status %d", r.status)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br, zstd", true},
		{"GZIP", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"identity", false},
		{"*", true},
		{"*;q=0", false},
		{"*, gzip;q=0", false},
		{"deflate, x-gzip", true},
	} {
		if got := acceptsGzip(tc.header); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
