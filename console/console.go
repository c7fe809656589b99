package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Path is where the console is served.
const Path = "/console/"

// Defaults of Config.
const (
	DefaultTitle          = "Webhooks"
	DefaultAccent         = "#2458d6"
	DefaultFrameAncestors = "'none'"
)

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("console: invalid configuration")

// Config brands and frames the console.
type Config struct {
	// Title is the page's title and heading, e.g. the EMM console's name. Defaults to DefaultTitle.
	Title string
	// Accent is the accent colour, a CSS hex colour (#rgb or #rrggbb). Defaults to DefaultAccent.
	Accent string
	// FrameAncestors is the CSP frame-ancestors source list: "'none'" (the default: never framed), "'self'", or
	// space-separated origins such as "https://emm.example.com".
	FrameAncestors string
}

//go:embed assets
var assets embed.FS

var (
	hexColour = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	// An origin source of a CSP source list: scheme://host[:port], host may start with "*.".
	originSource = regexp.MustCompile(`^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
)

// CheckFrameAncestors reports whether s is a frame-ancestors source list New accepts.
func CheckFrameAncestors(s string) error {
	srcs := strings.Fields(s)
	if len(srcs) == 0 {
		return fmt.Errorf("%w: frame ancestors: empty", ErrConfig)
	}
	for _, src := range srcs {
		switch {
		case src == "'none'" && len(srcs) == 1, src == "'self'":
		case originSource.MatchString(src):
			if _, err := url.Parse(src); err != nil {
				return fmt.Errorf("%w: frame ancestors: %q: %v", ErrConfig, src, err)
			}
		default:
			return fmt.Errorf("%w: frame ancestors: %q is not 'none' (alone), 'self' or an origin such as https://emm.example.com", ErrConfig, src)
		}
	}
	return nil
}

type handler struct {
	index   []byte // the page, title filled in
	theme   []byte // theme.css: the accent colour
	static  http.Handler
	headers map[string]string
}

// New returns the console's handler, to be mounted at Path (it serves Path and everything under it, and redirects
// the path without its final slash).
func New(cfg Config) (http.Handler, error) {
	if cfg.Title == "" {
		cfg.Title = DefaultTitle
	}
	if cfg.Accent == "" {
		cfg.Accent = DefaultAccent
	}
	if cfg.FrameAncestors == "" {
		cfg.FrameAncestors = DefaultFrameAncestors
	}
	switch {
	case len(cfg.Title) > 100:
		return nil, fmt.Errorf("%w: title: at most 100 bytes", ErrConfig)
	case !hexColour.MatchString(cfg.Accent):
		return nil, fmt.Errorf("%w: accent %q: want a hex colour such as #2458d6", ErrConfig, cfg.Accent)
	}
	if err := CheckFrameAncestors(cfg.FrameAncestors); err != nil {
		return nil, err
	}
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, err
	}
	tpl, err := template.New("index").Parse(string(page))
	if err != nil {
		return nil, err
	}
	var index bytes.Buffer
	if err := tpl.Execute(&index, struct{ Title string }{cfg.Title}); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	h := &handler{
		index:  index.Bytes(),
		theme:  fmt.Appendf(nil, ":root { --accent: %s; }\n", strings.ToLower(cfg.Accent)),
		static: http.StripPrefix(Path, http.FileServerFS(sub)),
		headers: map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
				"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors " + cfg.FrameAncestors,
			"X-Content-Type-Options":       "nosniff",
			"Referrer-Policy":              "no-referrer",
			"Cross-Origin-Resource-Policy": "same-origin",
			"Cache-Control":                "no-cache",
		},
	}
	if cfg.FrameAncestors == "'none'" {
		h.headers["X-Frame-Options"] = "DENY"
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range h.headers {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == strings.TrimSuffix(Path, "/"):
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
	case p == Path || p == Path+"index.html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(h.index)
	case p == Path+"theme.css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(h.theme)
	case strings.HasSuffix(p, "/") || !strings.HasPrefix(p, Path):
		http.NotFound(w, r) // no directory listings
	default:
		h.static.ServeHTTP(w, r)
	}
}
