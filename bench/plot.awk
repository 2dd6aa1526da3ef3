# plot.awk: line charts as one SVG file, from plain numbers, with nothing
# but awk (bench/curves.sh draws bench/curves.svg with it).
#
#   awk -f bench/plot.awk SPEC > out.svg
#
# SPEC has one directive a line, fields separated by tabs:
#
#   title   TEXT                          the figure's title
#   note    TEXT                          a line under the title
#   panel   ID  TITLE  X_LABEL  Y_LABEL   a chart; panels are laid out
#                                         two a row, in the order given
#   point   ID  SERIES  X  Y              a point of a series in panel ID
#
# X values are placed on a logarithmic axis (they are client counts and
# case counts, each a multiple of the one before), every X given in the
# panel labelled; Y runs linearly from 0 to a round number above the
# largest value. Series are drawn in the order they first appear, each
# with its own colour, and named in the panel's legend. A point whose Y is
# not a number is left out (a figure that was not measured).
BEGIN {
	FS = "\t"
	W = 460; H = 330           # one panel
	ML = 70; MR = 20; MT = 68; MB = 50  # the legend sits under the title
	TOP = 60                   # the title's band
	ncolor = split("#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #8c564b", color, " ")
	npanel = 0
}

function esc(s) {
	gsub(/&/, "\\&amp;", s)
	gsub(/</, "\\&lt;", s)
	gsub(/>/, "\\&gt;", s)
	return s
}

# a round number >= v for the top of an axis
function nice(v,    p, m) {
	if (v <= 0)
		return 1
	p = 1
	while (p * 10 <= v)
		p *= 10
	while (p > v)
		p /= 10
	m = v / p
	if (m <= 1) return p
	if (m <= 2) return 2 * p
	if (m <= 2.5) return 2.5 * p
	if (m <= 5) return 5 * p
	return 10 * p
}

function fmt(v) {
	if (v >= 1000000)
		return sprintf("%gM", v / 1000000)
	if (v >= 1000)
		return sprintf("%gk", v / 1000)
	return sprintf("%g", v)
}

function isnum(v) {
	return v ~ /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/
}

$1 == "title" { title = $2 }
$1 == "note" { notes[++nnote] = $2 }
$1 == "panel" {
	id = $2
	pidx[id] = ++npanel
	pid[npanel] = id
	ptitle[id] = $3; pxl[id] = $4; pyl[id] = $5
}
$1 == "point" {
	id = $2; s = $3; x = $4; y = $5
	if (!(id in pidx) || !isnum(x) || x + 0 <= 0 || !isnum(y))
		next
	if (!((id, s) in seen)) {
		seen[id, s] = 1
		ser[id, ++nser[id]] = s
	}
	k = ++npt[id, s]
	px[id, s, k] = x + 0
	py[id, s, k] = y + 0
	if (!((id, x + 0) in hasx)) {
		hasx[id, x + 0] = 1
		xs[id, ++nx[id]] = x + 0
	}
	if (!(id in ymax) || y + 0 > ymax[id])
		ymax[id] = y + 0
	if (!(id in xmin) || x + 0 < xmin[id]) xmin[id] = x + 0
	if (!(id in xmax) || x + 0 > xmax[id]) xmax[id] = x + 0
}

END {
	cols = npanel > 1 ? 2 : 1
	rows = int((npanel + 1) / 2)
	TW = cols * W
	TH = TOP + rows * H + 12 * nnote
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", TW, TH, TW, TH
	printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	printf "<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n", TW / 2, esc(title)
	for (i = 1; i <= nnote; i++)
		printf "<text x=\"%d\" y=\"%d\" fill=\"#555\" text-anchor=\"middle\">%s</text>\n", TW / 2, 22 + 14 * i, esc(notes[i])
	for (p = 1; p <= npanel; p++) {
		id = pid[p]
		ox = ((p - 1) % 2) * W
		oy = TOP + 12 * nnote + int((p - 1) / 2) * H
		x0 = ox + ML; x1 = ox + W - MR
		y0 = oy + H - MB; y1 = oy + MT
		printf "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n", (x0 + x1) / 2, oy + 22, esc(ptitle[id])
		printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, y0, x1, y0
		printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, y0, x0, y1
		printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (x0 + x1) / 2, y0 + 36, esc(pxl[id])
		printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">%s</text>\n", ox + 16, (y0 + y1) / 2, ox + 16, (y0 + y1) / 2, esc(pyl[id])
		if (!(id in ymax)) {
			printf "<text x=\"%d\" y=\"%d\" fill=\"#888\" text-anchor=\"middle\">not measured</text>\n", (x0 + x1) / 2, (y0 + y1) / 2
			continue
		}
		top = nice(ymax[id] * 1.05)
		for (t = 0; t <= 5; t++) {
			v = top * t / 5
			yy = y0 - (y0 - y1) * t / 5
			printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, yy, x1, yy
			printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 4, yy + 4, fmt(v)
		}
		lx0 = log(xmin[id]); lx1 = log(xmax[id])
		span = lx1 > lx0 ? lx1 - lx0 : 1
		pad = 20
		for (i = 1; i <= nx[id]; i++) {
			v = xs[id, i]
			xx = x0 + pad + (x1 - x0 - 2 * pad) * (log(v) - lx0) / span
			printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", xx, y0, xx, y0 + 4
			printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", xx, y0 + 16, fmt(v)
		}
		for (j = 1; j <= nser[id]; j++) {
			s = ser[id, j]
			c = color[(j - 1) % ncolor + 1]
			pts = ""
			for (k = 1; k <= npt[id, s]; k++) {
				xx = x0 + pad + (x1 - x0 - 2 * pad) * (log(px[id, s, k]) - lx0) / span
				yy = y0 - (y0 - y1) * py[id, s, k] / top
				pts = pts sprintf("%.1f,%.1f ", xx, yy)
				printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s: %s at %s</title></circle>\n", xx, yy, c, esc(s), py[id, s, k], px[id, s, k]
			}
			printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, c
			printf "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x0 + 10, oy + 31 + 14 * (j - 1), c
			printf "<text x=\"%d\" y=\"%d\">%s</text>\n", x0 + 24, oy + 40 + 14 * (j - 1), esc(s)
		}
	}
	printf "</svg>\n"
}
