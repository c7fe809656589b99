package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd/wire"
)

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 20

// pageSize is the page the iterators ask for: the API's largest.
var pageSize = 200

// Client calls one webhookd server with one bearer token. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
	agent string
	raw   func(body []byte)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// WithRawAnswers has fn called with the body of every successful answer, as the server sent it, before it is
// decoded: for a tool that prints or logs the API's JSON as is.
func WithRawAnswers(fn func(body []byte)) Option { return func(c *Client) { c.raw = fn } }

// New returns a client of the server at baseURL (e.g. "http://127.0.0.1:8080") that authenticates with token: the
// operator token or a tenant token (wht_…).
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Page selects one page of a list: at most Limit items (1 to 200; 0 is the server's default, 50) after the cursor
// After (the Next of the previous page; empty for the first page).
type Page struct {
	Limit int
	After string
}

func (p Page) query() url.Values {
	q := url.Values{}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	return q
}

// path joins the path elements, each escaped, under /v1.
func path(elems ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, e := range elems {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(e))
	}
	return b.String()
}

// do sends one request and decodes a 2xx answer into out (when not nil). body, when not nil, is sent as JSON. It
// returns the answer's status.
func (c *Client) do(ctx context.Context, method, p string, query url.Values, body, out any) (int, error) {
	u := c.base + p
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if raw, ok := body.(rawBody); ok {
		rd = bytes.NewReader(raw) // already JSON, sent as it is (json.Marshal would compact it)
	} else if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode the request: %w", method, p, err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, u, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.agent != "" {
		req.Header.Set("User-Agent", c.agent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read the answer: %w", method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, newError(resp.StatusCode, b)
	}
	if c.raw != nil {
		c.raw(b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: the answer is not what this client expects: %w", method, p, err)
		}
	}
	return resp.StatusCode, nil
}

// call is do for calls that answer one value of type T.
func call[T any](ctx context.Context, c *Client, method, p string, query url.Values, body any) (*T, error) {
	v := new(T)
	if _, err := c.do(ctx, method, p, query, body, v); err != nil {
		return nil, err
	}
	return v, nil
}

// all iterates over every item of a list route, page after page, from the first. It stops at the first error, which
// it yields with a zero T.
func all[T any](ctx context.Context, c *Client, p string, query url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("limit", strconv.Itoa(pageSize))
		for {
			l, err := call[wire.List[T]](ctx, c, http.MethodGet, p, q, nil)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range l.Data {
				if !yield(v, nil) {
					return
				}
			}
			if l.Next == "" {
				return
			}
			q.Set("after", l.Next)
		}
	}
}
