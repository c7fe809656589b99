package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"time"
	"unicode"
)

// The plot is drawn with the standard library alone: axes, ticks, grid and polylines on an RGBA image, labels in a
// small built-in bitmap font (glyphs below), so the tool needs no module beyond webhookd's own.

// plotPoints counts the steady-load runs the plot would show.
func (r *results) plotPoints() int {
	n := 0
	for _, s := range r.stores {
		for _, x := range r.steady[s] {
			if x.na == "" && x.err == nil && x.e2e.N > 0 {
				n++
			}
		}
	}
	return n
}

type series struct {
	label  string
	col    color.RGBA
	width  int
	dashed bool
	pts    [][2]float64 // offered events/s, latency ms
}

var (
	colWhite = color.RGBA{255, 255, 255, 255}
	colBlack = color.RGBA{30, 30, 30, 255}
	colGrid  = color.RGBA{225, 225, 225, 255}
	colGrey  = color.RGBA{110, 110, 110, 255}
	storeCol = map[string]color.RGBA{"embedded": {31, 119, 180, 255}, "redis": {214, 39, 40, 255}}
)

// plot renders e2e latency percentiles against offered rate, one colour per store, as a PNG.
func (r *results) plot() ([]byte, error) {
	var ss []series
	for _, s := range r.stores {
		var p50, p99, p999 [][2]float64
		for _, x := range r.steady[s] {
			if x.na != "" || x.err != nil || x.e2e.N == 0 {
				continue
			}
			ms := func(d time.Duration) float64 { return math.Max(float64(d)/1e6, 0.01) }
			p50 = append(p50, [2]float64{x.spec.rate, ms(x.e2e.P50)})
			if x.e2e.N >= 100 { // a quantile needs samples beyond it to mean anything
				p99 = append(p99, [2]float64{x.spec.rate, ms(x.e2e.P99)})
			}
			if x.e2e.N >= 1000 {
				p999 = append(p999, [2]float64{x.spec.rate, ms(x.e2e.P999)})
			}
		}
		if len(p50) == 0 {
			continue
		}
		c := storeCol[s]
		for _, x := range []series{
			{label: s + " p50", col: c, width: 1, pts: p50},
			{label: s + " p99", col: c, width: 3, pts: p99},
			{label: s + " p99.9", col: c, width: 2, dashed: true, pts: p999},
		} {
			if len(x.pts) > 0 {
				ss = append(ss, x)
			}
		}
	}

	const W, H = 1040, 640
	const left, right, top, bottom = 90, 260, 80, 80
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, img.Bounds(), colWhite)
	cv := &canvas{img: img}
	cv.text(left, 12, "webhookd: e2e latency (publish to verified receipt) against offered rate", colBlack, 2)
	if r.quick {
		cv.text(left, 34, "quick smoke run: noisy, not results", color.RGBA{200, 0, 0, 255}, 2)
	}

	pw, ph := W-left-right, H-top-bottom
	if len(ss) == 0 {
		cv.text(left+20, top+ph/2, "no steady-load runs", colGrey, 2)
		return encode(img)
	}
	// Log axes over 1-2-5 ticks covering the data.
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.pts {
			xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
			ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
		}
	}
	xt := ticks125(xmin/1.3, xmax*1.3)
	yt := ticks125(ymin/1.3, ymax*1.3)
	x0, x1 := math.Log10(xt[0]), math.Log10(xt[len(xt)-1])
	y0, y1 := math.Log10(yt[0]), math.Log10(yt[len(yt)-1])
	px := func(v float64) int { return left + int(float64(pw)*(math.Log10(v)-x0)/(x1-x0)+0.5) }
	py := func(v float64) int { return top + ph - int(float64(ph)*(math.Log10(v)-y0)/(y1-y0)+0.5) }

	for _, v := range xt {
		x := px(v)
		cv.line(x, top, x, top+ph, colGrid, 1, false)
		cv.line(x, top+ph, x, top+ph+6, colBlack, 1, false)
		l := tickLabel(v)
		cv.text(x-textWidth(l, 2)/2, top+ph+12, l, colBlack, 2)
	}
	for _, v := range yt {
		y := py(v)
		cv.line(left, y, left+pw, y, colGrid, 1, false)
		cv.line(left-6, y, left, y, colBlack, 1, false)
		l := tickLabel(v)
		cv.text(left-10-textWidth(l, 2), y-8, l, colBlack, 2)
	}
	cv.line(left, top, left, top+ph, colBlack, 1, false)
	cv.line(left, top+ph, left+pw, top+ph, colBlack, 1, false)
	xl := "offered rate, events/s (one endpoint)"
	cv.text(left+pw/2-textWidth(xl, 2)/2, top+ph+44, xl, colBlack, 2)
	cv.text(left-80, top-24, "latency, ms", colBlack, 2)

	for _, s := range ss {
		for i := 1; i < len(s.pts); i++ {
			cv.line(px(s.pts[i-1][0]), py(s.pts[i-1][1]), px(s.pts[i][0]), py(s.pts[i][1]), s.col, s.width, s.dashed)
		}
		for _, p := range s.pts {
			x, y := px(p[0]), py(p[1])
			fill(img, image.Rect(x-3, y-3, x+4, y+4), s.col)
		}
	}
	// Legend.
	lx, ly := left+pw+24, top+10
	for _, s := range ss {
		cv.line(lx, ly+8, lx+40, ly+8, s.col, s.width, s.dashed)
		cv.text(lx+50, ly, s.label, colBlack, 2)
		ly += 28
	}
	return encode(img)
}

func encode(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}

// ticks125 returns the 1-2-5 values from the last one at or below lo to the first one at or above hi.
func ticks125(lo, hi float64) []float64 {
	var seq []float64
	for e := math.Floor(math.Log10(lo)) - 1; ; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			seq = append(seq, v)
			if v >= hi && len(seq) > 1 {
				start := 0
				for i, t := range seq {
					if t <= lo {
						start = i
					}
				}
				return seq[start:]
			}
		}
	}
}

func tickLabel(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%gk", v/1000)
	case v >= 1:
		return fmt.Sprintf("%g", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

type canvas struct{ img *image.RGBA }

// line draws from (x0,y0) to (x1,y1), width pixels thick, dashed or not (Bresenham).
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA, width int, dashed bool) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	err := dx + dy
	lo, hi := -(width-1)/2, width/2
	for step := 0; ; step++ {
		if !dashed || (step/8)%2 == 0 {
			fill(c.img, image.Rect(x0+lo, y0+lo, x0+hi+1, y0+hi+1), col)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

const glyphW, glyphH, glyphGap = 5, 8, 1

func textWidth(s string, scale int) int {
	return len([]rune(s)) * (glyphW + glyphGap) * scale
}

// text draws s with its top-left corner at (x, y), each font pixel scale×scale. Letters are drawn lower case.
func (c *canvas) text(x, y int, s string, col color.RGBA, scale int) {
	for _, r := range s {
		g, ok := glyphs[unicode.ToLower(r)]
		if !ok {
			g = glyphs['?']
		}
		for row, bits := range g {
			for colIdx := 0; colIdx < len(bits); colIdx++ {
				if bits[colIdx] == '#' {
					fill(c.img, image.Rect(x+colIdx*scale, y+row*scale, x+(colIdx+1)*scale, y+(row+1)*scale), col)
				}
			}
		}
		x += (glyphW + glyphGap) * scale
	}
}

// glyphs is a 5×8 bitmap font: rows 0–6 hold capitals-height and digits, row 7 descenders.
var glyphs = map[rune][glyphH]string{
	' ': {".....", ".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'?': {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#..", "....."},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.", "....."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.", "....."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####", "....."},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###.", "....."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.", "....."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###.", "....."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###.", "....."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...", "....."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.", "....."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##..", "....."},
	'a': {".....", ".....", ".###.", "....#", ".####", "#...#", ".####", "....."},
	'b': {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####.", "....."},
	'c': {".....", ".....", ".###.", "#....", "#....", "#...#", ".###.", "....."},
	'd': {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####", "....."},
	'e': {".....", ".....", ".###.", "#...#", "#####", "#....", ".###.", "....."},
	'f': {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#...", "....."},
	'g': {".....", ".....", ".####", "#...#", "#...#", ".####", "....#", ".###."},
	'h': {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#", "....."},
	'i': {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###.", "....."},
	'j': {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'k': {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "....."},
	'l': {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.", "....."},
	'm': {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#", "....."},
	'n': {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#", "....."},
	'o': {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###.", "....."},
	'p': {".....", ".....", "####.", "#...#", "#...#", "####.", "#....", "#...."},
	'q': {".....", ".....", ".####", "#...#", "#...#", ".####", "....#", "....#"},
	'r': {".....", ".....", "#.##.", "##..#", "#....", "#....", "#....", "....."},
	's': {".....", ".....", ".####", "#....", ".###.", "....#", "####.", "....."},
	't': {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##.", "....."},
	'u': {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#", "....."},
	'v': {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#..", "....."},
	'w': {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#.", "....."},
	'x': {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "....."},
	'y': {".....", ".....", "#...#", "#...#", "#...#", ".####", "....#", ".###."},
	'z': {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####", "....."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##..", "....."},
	',': {".....", ".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", ".....", "....."},
	'/': {".....", "....#", "...#.", "..#..", ".#...", "#....", ".....", "....."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", ".....", "....."},
	'+': {".....", "..#..", "..#..", "#####", "..#..", "..#..", ".....", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#.", "....."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#...", "....."},
	'%': {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##", "....."},
}
