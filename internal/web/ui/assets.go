package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate"
)

// The static files (styles and ES modules) are served under content-hashed
// names, so that a browser may keep each one for a year: a new build
// changes the name of every file whose content changed, and the pages
// (rendered with no-store) always name the current ones. Each name is
// computed once, at start, from the embedded files.
//
// An ES module names the modules it imports by relative URL; those
// specifiers are rewritten to the hashed names too, so that a module's
// hash covers its imports and a cached page module never loads a stale
// dependency. A module on an import cycle keeps its plain name (served
// with revalidation), as does any URL not written by the gateway.

// assetMaxAge is how long a browser may keep a hashed file: a year, as
// its content never changes under that name.
const assetMaxAge = "public, max-age=31536000, immutable"

// asset is one static file as served.
type asset struct {
	name   string // "js/app.js"
	hashed string // "js/app.0123456789abcdef.js"
	body   []byte
	gz     []byte // body compressed with gzip; nil when that saves nothing
	ctype  string
	hash   string
}

// assets are the static files by plain and by hashed name.
type assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// importRE finds the relative specifier of a static import or export
// ("from './app.js'", "import './access.js'", "from '../vendor/codemirror.js'").
var importRE = regexp.MustCompile(`(\bfrom\s*|\bimport\s*)(['"])((?:\./|\.\./[A-Za-z0-9_\-]+/)[A-Za-z0-9_.\-]+\.js)(['"])`)

// loadAssets reads every file of fsys, rewrites module imports and
// computes the hashed names and the compressed bodies.
func loadAssets(fsys fs.FS) (*assets, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		raw[p] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	a := &assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	for name := range raw {
		if err := a.build(name, raw, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// build makes the asset name, after the modules it imports; building
// holds the modules being built (an import back to one of them keeps its
// plain name).
func (a *assets) build(name string, raw map[string][]byte, building map[string]bool) error {
	if a.byName[name] != nil {
		return nil
	}
	building[name] = true
	defer delete(building, name)
	body := raw[name]
	if path.Ext(name) == ".js" {
		var err error
		body = importRE.ReplaceAllFunc(body, func(m []byte) []byte {
			sub := importRE.FindSubmatch(m)
			dep := path.Join(path.Dir(name), string(sub[3]))
			if _, ok := raw[dep]; !ok || building[dep] {
				return m
			}
			if e := a.build(dep, raw, building); e != nil {
				err = e
				return m
			}
			rel := "./" + path.Base(a.byName[dep].hashed)
			if path.Dir(dep) != path.Dir(name) {
				rel = "../" + a.byName[dep].hashed
			}
			return []byte(string(sub[1]) + string(sub[2]) + rel + string(sub[4]))
		})
		if err != nil {
			return err
		}
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:8])
	ext := path.Ext(name)
	x := &asset{name: name, hashed: strings.TrimSuffix(name, ext) + "." + hash + ext, body: body, hash: hash,
		ctype: mime.TypeByExtension(ext)}
	if x.ctype == "" {
		x.ctype = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("ui: compress %s: %w", name, err)
	}
	zw.Write(body)
	if err := zw.Close(); err != nil {
		return fmt.Errorf("ui: compress %s: %w", name, err)
	}
	if buf.Len() < len(body) {
		x.gz = buf.Bytes()
	}
	a.byName[name], a.byHashed[x.hashed] = x, x
	return nil
}

// URL returns the hashed URL of the static file name ("css/app.css").
func (a *assets) URL(name string) (string, error) {
	x := a.byName[name]
	if x == nil {
		return "", querygate.Errorf(querygate.EINTERNAL, "no static file %q", name)
	}
	return "/static/" + x.hashed, nil
}

// ServeHTTP serves /static/<name>: a hashed name for a year, a plain one
// with revalidation (no-cache and its ETag), each gzip-compressed when
// the client accepts it.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/static/")
	h := w.Header()
	x, cache := a.byHashed[p], assetMaxAge
	if x == nil {
		x, cache = a.byName[p], "no-cache"
	}
	if x == nil {
		http.NotFound(w, r)
		return
	}
	body, etag := x.body, `"`+x.hash+`"`
	if x.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = x.gz, `"`+x.hash+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Cache-Control", cache)
	h.Set("Content-Type", x.ctype)
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip: it
// names gzip (or *) with a quality above 0; an explicit gzip;q=0 wins over *.
func acceptsGzip(header string) bool {
	gz, star := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					f = 0
				}
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gz = max(gz, q)
		case "*":
			star = max(star, q)
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// staticAssets are the embedded static files, hashed and compressed at
// start (a failure stops the gateway).
var staticAssets = func() *assets {
	sub, err := fs.Sub(uiFiles, "static")
	if err != nil {
		panic(err)
	}
	a, err := loadAssets(sub)
	if err != nil {
		panic(err)
	}
	return a
}()
