package server

import (
	"net/http"
	"os"
	"path"
	"strings"
)

// FileServer serves a site directory as plain static files: GET and HEAD
// with single byte ranges (net/http's ServeContent), no directory listings
// (a directory is 404), no dot files. It is what any web server does for a
// site; it exists so that a site can be served without installing one.
func FileServer(root string) http.Handler {
	fsys := http.Dir(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Clean("/" + r.URL.Path)
		for _, seg := range strings.Split(name, "/") {
			if strings.HasPrefix(seg, ".") {
				http.NotFound(w, r)
				return
			}
		}
		f, err := fsys.Open(name)
		if err != nil {
			if os.IsNotExist(err) {
				http.NotFound(w, r)
			} else {
				http.Error(w, "cannot read file", http.StatusInternalServerError)
			}
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(name, "/timestamp.json") || strings.HasSuffix(name, "/root.json") && !strings.Contains(path.Base(name), ".root.json") {
			w.Header().Set("Cache-Control", "no-cache")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		http.ServeContent(w, r, name, fi.ModTime(), f)
	})
}
