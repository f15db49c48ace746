// Package chart draws the benchmark's figures as a small SVG bar chart:
// panels side by side, each with groups of bars (one group per deployment
// mode, one bar per data size), a value axis from zero and the value over
// each bar. It writes plain SVG 1.1 text that browsers and GitHub render,
// with no dependency.
package chart

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// Bar is one value: of group Group (a mode), in series Series (a data size).
type Bar struct {
	Group, Series string
	Value         float64
}

// Panel is one chart of the figure.
type Panel struct {
	Title string
	// Format prints a value over its bar ("%.0f").
	Format string
	Bars   []Bar
}

// Geometry of the figure, in SVG user units (pixels).
const (
	panelW  = 380
	panelH  = 300
	marginL = 56
	marginR = 16
	marginT = 56
	marginB = 48
	legendH = 28
)

// Colours of the series, in order of first appearance.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"}

// SVG renders the panels under title.
func SVG(title string, panels []Panel) string {
	var series []string
	for _, p := range panels {
		for _, b := range p.Bars {
			if !slices.Contains(series, b.Series) {
				series = append(series, b.Series)
			}
		}
	}
	width := panelW * max(1, len(panels))
	height := panelH + legendH
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	w(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	w(`<text x="%d" y="20" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", width/2, esc(title))
	for i, p := range panels {
		panel(&s, p, series, float64(i*panelW))
	}
	// The legend: one swatch per series.
	x := float64(marginL)
	for i, name := range series {
		w(`<rect x="%.0f" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, panelH+6, colour(i))
		w(`<text x="%.0f" y="%d">%s</text>`+"\n", x+16, panelH+16, esc(name))
		x += 24 + 7*float64(len(name))
	}
	w("</svg>\n")
	return s.String()
}

func panel(s *strings.Builder, p Panel, series []string, x0 float64) {
	w := func(format string, args ...any) { fmt.Fprintf(s, format, args...) }
	var groups []string
	top := 0.0
	for _, b := range p.Bars {
		if !slices.Contains(groups, b.Group) {
			groups = append(groups, b.Group)
		}
		top = math.Max(top, b.Value)
	}
	axisTop, step := niceScale(top)
	plotW := float64(panelW - marginL - marginR)
	plotH := float64(panelH - marginT - marginB)
	left, bottom := x0+marginL, float64(panelH-marginB)
	y := func(v float64) float64 { return bottom - plotH*v/axisTop }
	w(`<text x="%.0f" y="44" text-anchor="middle" font-weight="bold">%s</text>`+"\n", x0+float64(panelW)/2, esc(p.Title))
	for v := 0.0; v <= axisTop+step/2; v += step {
		w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", left, y(v), left+plotW, y(v))
		w(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, trim(v))
	}
	w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333"/>`+"\n", left, bottom, left+plotW, bottom)
	if len(groups) == 0 {
		return
	}
	groupW := plotW / float64(len(groups))
	barW := math.Min(48, 0.8*groupW/float64(max(1, len(series))))
	for gi, g := range groups {
		gx := left + groupW*float64(gi) + (groupW-barW*float64(len(series)))/2
		for si, name := range series {
			for _, b := range p.Bars {
				if b.Group != g || b.Series != name {
					continue
				}
				bx := gx + barW*float64(si)
				w(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
					bx, y(b.Value), barW-2, bottom-y(b.Value), colour(si), esc(g), esc(name), esc(fmt.Sprintf(p.Format, b.Value)))
				w(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", bx+(barW-2)/2, y(b.Value)-4, esc(fmt.Sprintf(p.Format, b.Value)))
			}
		}
		w(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+groupW*(float64(gi)+0.5), bottom+18, esc(g))
	}
}

// niceScale returns an axis maximum at or above v and its tick step,
// both 1, 2 or 5 times a power of ten, with four or five ticks.
func niceScale(v float64) (top, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.25
	}
	raw := v / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step * math.Ceil(v/step), step
}

func colour(i int) string { return palette[i%len(palette)] }

// trim prints an axis value without needless decimals.
func trim(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func esc(s string) string { return html.EscapeString(s) }
