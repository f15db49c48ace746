package chart

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestSVGIsWellFormedAndShowsEveryBar(t *testing.T) {
	svg := SVG("kassa <bench>", []Panel{
		{Title: "orders/s", Format: "%.0f", Bars: []Bar{
			{"microservices", "empty", 394}, {"microservices", "1M users", 350},
			{"allinone", "empty", 800},
		}},
		{Title: "p99, ms", Format: "%.1f", Bars: []Bar{{"microservices", "empty", 17.2}}},
	})
	d := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// The background, four bars and two legend swatches.
	if rects != 1+4+2 {
		t.Errorf("%d rects, want 7", rects)
	}
	for _, want := range []string{"kassa &lt;bench&gt;", ">394<", ">800<", ">17.2<", ">allinone<", ">1M users<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ v, top, step float64 }{
		{394, 400, 100}, {17.2, 20, 5}, {0.9, 1, 0.5}, {1200, 1500, 500}, {0, 1, 0.25},
	} {
		if top, step := niceScale(c.v); top != c.top || step != c.step {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.v, top, step, c.top, c.step)
		}
	}
}
