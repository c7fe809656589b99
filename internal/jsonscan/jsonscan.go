// Package jsonscan checks JSON text in one pass, without decoding it: the grammar exactly as encoding/json accepts
// it, and, in the same pass, where the first invalid UTF-8 sequence and the first too deeply nested bracket sit.
// Event data is stored and delivered byte for byte, so the publish path only needs to know that it is JSON and where
// it ends; encoding/json's scanner (json.Valid, and json.RawMessage fields, which it scans twice) did that at several
// times the cost. It also reads the plain fields of records that webhookd's own encoders wrote (fields.go), for the
// stores' fast decoders.
package jsonscan

import "unicode/utf8"

// MaxNesting is encoding/json's limit on nested arrays and objects: deeper text is not valid JSON to it.
const MaxNesting = 10000

// Result is what Check found.
type Result struct {
	// Valid reports whether the text is exactly one JSON value, with optional whitespace around it, as json.Valid.
	Valid bool
	// BadUTF8 is the offset of the first byte that does not start a valid UTF-8 sequence, or -1. encoding/json
	// accepts such bytes inside strings (and replaces them when it decodes).
	BadUTF8 int
	// TooDeep is the offset of the first '{' or '[' (outside strings) nested deeper than the depth asked for, or -1.
	TooDeep int
}

// Check checks b: whether it is one JSON value, and where it first holds invalid UTF-8 or a bracket nested deeper
// than maxDepth. BadUTF8 and TooDeep cover the text up to the end or to where it stopped being JSON.
func Check(b []byte, maxDepth int) Result {
	s := scanner{b: b, maxDepth: maxDepth, badUTF8: -1, tooDeep: -1, utf8: true}
	s.ws()
	ok := s.value()
	if ok {
		s.ws()
		ok = s.i == len(b)
	}
	return Result{Valid: ok, BadUTF8: s.badUTF8, TooDeep: s.tooDeep}
}

// Value scans the JSON value that starts at b[i] (no whitespace before it) and returns the offset just past it, or
// ok false when b holds no valid value there. It checks the grammar only: invalid UTF-8 inside strings passes.
func Value(b []byte, i int) (end int, ok bool) {
	s := scanner{b: b, i: i, maxDepth: MaxNesting, badUTF8: -1, tooDeep: -1}
	if !s.value() {
		return 0, false
	}
	return s.i, true
}

type scanner struct {
	b        []byte
	i        int
	maxDepth int
	badUTF8  int
	tooDeep  int
	utf8     bool // look for invalid UTF-8 in strings
}

// SkipSpace returns the offset of the first byte from b[i] on that is not JSON whitespace, or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *scanner) ws() { s.i = SkipSpace(s.b, s.i) }

// open notes a container opened at s.i, now depth deep, and steps past its bracket.
func (s *scanner) open(depth int) bool {
	if depth > s.maxDepth && s.tooDeep < 0 {
		s.tooDeep = s.i
	}
	s.i++
	return depth <= MaxNesting
}

// value scans one value and everything nested in it, iteratively: a container's members are scanned in the same
// loop, with the open containers on a stack.
func (s *scanner) value() bool {
	var small [64]bool
	stack := small[:0] // open containers, innermost last: true for an object
	for {
		// A value starts at s.i.
		if s.i >= len(s.b) {
			return false
		}
		switch c := s.b[s.i]; {
		case c == '{':
			if stack = append(stack, true); !s.open(len(stack)) {
				return false
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == '}' {
				s.i++
				stack = stack[:len(stack)-1]
				break
			}
			if !s.key() {
				return false
			}
			continue
		case c == '[':
			if stack = append(stack, false); !s.open(len(stack)) {
				return false
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				stack = stack[:len(stack)-1]
				break
			}
			continue
		case c == '"':
			if !s.str() {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !s.number() {
				return false
			}
		case c == 't':
			if !s.literal("true") {
				return false
			}
		case c == 'f':
			if !s.literal("false") {
				return false
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		default:
			return false
		}
		// A value ended: close containers until one has another member, or the outermost value is done.
		for {
			if len(stack) == 0 {
				return true
			}
			s.ws()
			if s.i >= len(s.b) {
				return false
			}
			object := stack[len(stack)-1]
			c := s.b[s.i]
			if c == ',' {
				s.i++
				s.ws()
				if object && !s.key() {
					return false
				}
				break
			}
			if object && c != '}' || !object && c != ']' {
				return false
			}
			s.i++
			stack = stack[:len(stack)-1]
		}
		s.ws()
	}
}

// key scans an object's key and its colon, and the whitespace after them.
func (s *scanner) key() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
		return false
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return false
	}
	s.i++
	s.ws()
	return true
}

// str scans a string from its opening quote.
func (s *scanner) str() bool {
	b := s.b
	i := s.i + 1
	for i < len(b) {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex(b[i+2]) || !hex(b[i+3]) || !hex(b[i+4]) || !hex(b[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		case c < utf8.RuneSelf || !s.utf8:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 && s.badUTF8 < 0 {
				s.badUTF8 = i
			}
			i += size
		}
	}
	return false
}

// plain marks the bytes a string holds as they are: printable ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}
