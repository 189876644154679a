//! The deck's charts, drawn with plotters' SVG backend into strings of inline SVG: lanes
//! (waterfalls, measured task lanes, and the few sketches of what cannot be measured), a step
//! chart of tasks in flight, and horizontal bars with an ideal outline and a min–max whisker.
//!
//! Every chart is drawn at the size it is shown at on a 1280×720 slide, with text of at least
//! 14 px there; it has a `<title>` and a `<desc>`, no background of its own (the slide's shows
//! through, light or dark), colours from the Okabe–Ito palette, and numbers in its markup
//! rounded to two decimals. Text goes into the SVG as text (the browser lays it out).

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontDesc;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart `{title}`: {reason}")]
pub struct ChartError {
    title: String,
    reason: String,
}

/// The colours the charts use, in order: the Okabe–Ito palette, told apart by people with
/// every common kind of colour blindness (blue, orange, bluish green, vermillion, reddish
/// purple, sky blue, yellow), and a grey that reads on light and dark slides alike.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x99, 0x99, 0x99),
];

/// The colour of text and axes. The deck's stylesheet repaints it for the dark theme
/// (`[fill="#333333"]`), so it must stay this exact value.
pub const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
/// The colour of grid lines; repainted for the dark theme like [`INK`].
pub const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);

const FAMILY: &str = "sans-serif";
/// Text size on the slide, in CSS pixels.
const TEXT_PX: f64 = 16.0;
const CAPTION_PX: f64 = 18.0;
const SMALL_PX: f64 = 15.0;

/// A font of `px` CSS pixels. plotters' SVG backend writes `font-size` as the size given
/// divided by 1.24, so the size asked for is scaled up by as much.
fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), px * 1.24, FontStyle::Normal)
}

/// The colour of index `index` in [`PALETTE`], wrapping around.
pub fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Text written on a bar of palette colour `index`: white on the dark colours, black on the
/// light ones, in either theme.
fn on_color(index: usize) -> RGBColor {
    let RGBColor(r, g, b) = color(index);
    // Relative luminance, roughly (sRGB weights on the raw channels).
    let luminance = 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b);
    if luminance < 140.0 { WHITE } else { BLACK }
}

/// What every chart has: a title (drawn above it and given as its `<title>`), a description
/// for screen readers (`<desc>`), and its size in CSS pixels as shown on a 1280×720 slide.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The chart's title.
    pub title: &'a str,
    /// What it shows, in a sentence or two.
    pub desc: &'a str,
    /// Width and height.
    pub size: (u32, u32),
}

/// One bar on a lane: from `start` to `end`, lighter until `mark` (e.g. the first byte).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Where it starts, in the chart's x unit.
    pub start: f64,
    /// Where it ends.
    pub end: f64,
    /// Until here the bar is drawn lighter (waiting), after it solid (working).
    pub mark: Option<f64>,
    /// Its colour, an index into [`PALETTE`].
    pub color: usize,
    /// A word written on the bar where it fits (e.g. which goroutine runs).
    pub text: Option<String>,
}

/// One row of a lanes chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// The row's label (may be empty).
    pub label: String,
    /// Its bars.
    pub segments: Vec<Segment>,
}

fn fail(title: &str) -> impl Fn(String) -> ChartError + '_ {
    move |reason| ChartError {
        title: title.to_owned(),
        reason,
    }
}

/// A tick value as people write it: `10`, not `10.0`; `2.5`; at most two decimals.
pub fn tick(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Runs `draw` on an SVG of `frame`'s size and finishes the SVG: a title and description,
/// numbers in tags rounded.
fn svg(
    frame: &Frame<'_>,
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, frame.size).into_drawing_area();
        draw(root).map_err(|e| fail(frame.title)(e.to_string()))?;
    }
    Ok(finish(&svg, frame.title, frame.desc))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Adds `role="img"`, `<title>` and `<desc>` to the SVG plotters wrote, and rounds the
/// numbers inside its tags to two decimals.
fn finish(svg: &str, title: &str, desc: &str) -> String {
    let svg = round_numbers_in_tags(svg);
    let Some(open_end) = svg.find('>') else {
        return svg;
    };
    format!(
        "{} role=\"img\"><title>{}</title><desc>{}</desc>{}",
        &svg[..open_end],
        html_escape::encode_text(title),
        html_escape::encode_text(desc),
        &svg[open_end + 1..]
    )
}

/// Rounds every decimal number with more than two decimals inside `<...>` to two decimals
/// (plotters writes font sizes such as `12.903225806451612`); text between tags is left as is.
fn round_numbers_in_tags(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len());
    let mut in_tag = false;
    let bytes = svg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_tag && c.is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &svg[start..i];
            match number.split_once('.') {
                Some((_, decimals)) if decimals.len() > 2 && !decimals.contains('.') => {
                    match number.parse::<f64>() {
                        Ok(value) => out.push_str(&tick(value)),
                        Err(_) => out.push_str(number),
                    }
                }
                _ => out.push_str(number),
            }
            continue;
        }
        match c {
            b'<' => in_tag = true,
            b'>' => in_tag = false,
            _ => {}
        }
        // Copy the whole UTF-8 character.
        let len = svg[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&svg[i..i + len]);
        i += len;
    }
    out
}

/// Rows of bars over time: a waterfall (one lane per request), a model's measured tasks (one
/// lane per task or worker), or a sketch. The first lane is drawn at the top, and so is its
/// label. `x_desc` names the x axis; `x_max` is where it ends.
pub fn lanes(
    frame: &Frame<'_>,
    lanes: &[Lane],
    x_max: f64,
    x_desc: &str,
) -> Result<String, ChartError> {
    svg(frame, |root| {
        draw_lanes(root, frame.title, lanes, x_max, x_desc)
    })
}

/// Rows on a y axis that counts up from 0 at the bottom to `rows` at the top: lane `index`
/// (counted from the top) spans `bottom(index)..bottom(index) + 1`.
#[derive(Debug, Clone, Copy)]
struct Rows(usize);

impl Rows {
    /// The bottom edge of lane `index`: the first lane is the top one.
    fn bottom(self, index: usize) -> f64 {
        (self.0 - 1 - index.min(self.0 - 1)) as f64
    }

    /// The middle of lane `index`, where its label goes.
    fn middle(self, index: usize) -> f64 {
        self.bottom(index) + 0.5
    }

    /// At most `labels` lanes, evenly spread, the first always among them: those that get a
    /// label.
    fn labelled(self, labels: usize) -> impl Iterator<Item = usize> {
        let step = self.0.div_ceil(labels.max(1)).max(1);
        (0..self.0).step_by(step)
    }
}

/// Writes `label(i)` left of the plotting area, in the middle of each labelled lane `i`.
/// (plotters' own tick labels sit on its ticks; lanes want them between.)
fn lane_labels<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    rows: Rows,
    labels: usize,
    label: impl Fn(usize) -> String,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for i in rows.labelled(labels) {
        let (x, y) = chart.backend_coord(&(chart.x_range().start, rows.middle(i)));
        root.draw(&Text::new(
            label(i),
            (x - 8, y),
            font(TEXT_PX)
                .color(&INK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// A chart of `rows` labelled rows (lanes or bars) over a time axis from 0 to `x_max`: the
/// caption, room for labels of `label_chars` characters, and the x axis's mesh drawn.
fn rows_chart<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    rows: Rows,
    label_chars: usize,
    x_desc: &str,
) -> Result<
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(CAPTION_PX).color(&INK))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(label_room(label_chars))
        .build_cartesian_2d(0f64..x_max, 0f64..rows.0 as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_desc)
        .x_labels(8)
        .x_label_formatter(&|v| tick(*v))
        .label_style(font(TEXT_PX).color(&INK))
        .axis_desc_style(font(TEXT_PX).color(&INK))
        .axis_style(INK)
        .max_light_lines(0)
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .draw()?;
    Ok(chart)
}

/// Room for `chars` characters of label text, in pixels.
fn label_room(chars: usize) -> u32 {
    14 + (chars.min(30) as f64 * TEXT_PX * 0.56) as u32
}

fn draw_lanes(
    root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    lanes: &[Lane],
    x_max: f64,
    x_desc: &str,
) -> DrawResult {
    let n = lanes.len();
    let rows = Rows(n.max(1));
    let label_chars = lanes
        .iter()
        .map(|l| l.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut chart = rows_chart(
        &root,
        title,
        x_max.max(f64::MIN_POSITIVE),
        rows,
        label_chars,
        x_desc,
    )?;
    lane_labels(&root, &chart, rows, 12, |i| {
        lanes[i].label.chars().take(30).collect()
    })?;
    let margin = if n > 60 { 0 } else { 3 };
    let bars = lanes.iter().enumerate().flat_map(|(i, lane)| {
        let (y0, y1) = (rows.bottom(i), rows.bottom(i) + 1.0);
        lane.segments.iter().flat_map(move |s| {
            let base = color(s.color);
            let mark = s.mark.unwrap_or(s.start).clamp(s.start, s.end);
            let mut waiting = Rectangle::new([(s.start, y0), (mark, y1)], base.mix(0.35).filled());
            waiting.set_margin(margin, margin, 0, 0);
            let mut working = Rectangle::new([(mark, y0), (s.end, y1)], base.filled());
            working.set_margin(margin, margin, 0, 0);
            [waiting, working]
        })
    });
    chart.draw_series(bars)?;
    // Words on the bars, where a bar is wide enough for them.
    let plot_width = chart.plotting_area().dim_in_pixel().0 as f64;
    let px_per_unit = plot_width / x_max.max(f64::MIN_POSITIVE);
    let words = lanes.iter().enumerate().flat_map(|(i, lane)| {
        let middle = rows.middle(i);
        lane.segments.iter().filter_map(move |s| {
            let text = s.text.as_ref()?;
            let room = (s.end - s.start) * px_per_unit;
            (room >= text.chars().count() as f64 * SMALL_PX * 0.6 + 6.0).then(|| {
                Text::new(
                    text.clone(),
                    ((s.start + s.end) / 2.0, middle),
                    font(SMALL_PX)
                        .color(&on_color(s.color))
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            })
        })
    });
    chart.draw_series(words)?;
    root.present()?;
    Ok(())
}

/// A step chart of how many tasks were in flight over time; `points` as
/// [`Timeline::in_flight`](crate::timeline::Timeline::in_flight) gives them, x in `x_desc`.
/// The y axis counts tasks, so its ticks are whole numbers. A legend is drawn only when there
/// is more than one series.
pub fn in_flight(
    frame: &Frame<'_>,
    series: &[(String, Vec<(f64, usize)>)],
    x_desc: &str,
) -> Result<String, ChartError> {
    svg(frame, |root| {
        draw_in_flight(root, frame.title, series, x_desc)
    })
}

fn draw_in_flight(
    root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    series: &[(String, Vec<(f64, usize)>)],
    x_desc: &str,
) -> DrawResult {
    let x_max = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let y_max = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .max()
        .unwrap_or(1)
        .max(1);
    let y_top = i32::try_from(y_max + y_max.div_ceil(10)).unwrap_or(i32::MAX);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, font(CAPTION_PX).color(&INK))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(label_room(y_top.to_string().len()) + 28)
        .build_cartesian_2d(0f64..x_max * 1.02, 0i32..y_top)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("in flight")
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| v.to_string())
        .label_style(font(TEXT_PX).color(&INK))
        .axis_desc_style(font(TEXT_PX).color(&INK))
        .axis_style(INK)
        // No light lines: with none, plotters' integer axis cannot place them (overflow).
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let mut steps = Vec::with_capacity(points.len() * 2);
        let mut previous = 0;
        for &(x, n) in points {
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            steps.push((x, previous));
            steps.push((x, n));
            previous = n;
        }
        let style = color(i).stroke_width(3);
        let drawn = chart.draw_series(LineSeries::new(steps, style))?;
        if series.len() > 1 {
            drawn
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .border_style(GRID)
            .label_font(font(TEXT_PX).color(&INK))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// One line of a [`curves`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Its name in the legend.
    pub name: String,
    /// (x, y) points, x increasing.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed and without markers: a model, not a measurement.
    pub model: bool,
    /// Its colour, an index into [`PALETTE`].
    pub color: usize,
}

/// One panel of a [`curves`] chart: its caption, lines and y axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Its caption.
    pub caption: String,
    /// Its lines.
    pub curves: Vec<Curve>,
    /// What its y axis measures.
    pub y_desc: String,
}

/// Panels side by side, each of lines over a base-2 logarithmic x axis (concurrency 1, 2, 4,
/// …): measured lines with a marker on each point, models dashed; y from 0. `x_desc` names
/// the x axis, the same in every panel.
pub fn curves(frame: &Frame<'_>, panels: &[Panel], x_desc: &str) -> Result<String, ChartError> {
    svg(frame, |root| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.into_iter().zip(panels) {
            draw_curves(area, &panel.caption, &panel.curves, x_desc, &panel.y_desc)?;
        }
        root.present()?;
        Ok(())
    })
}

fn draw_curves(
    root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    curves: &[Curve],
    x_desc: &str,
    y_desc: &str,
) -> DrawResult {
    let points = || curves.iter().flat_map(|c| c.points.iter().copied());
    let x_min = points().map(|p| p.0).fold(f64::INFINITY, f64::min).max(1.0);
    let x_max = points().map(|p| p.0).fold(1.0, f64::max).max(x_min * 2.0);
    let y_max = points()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let y_label_room = label_room(tick(y_max.round()).len()) + 28;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, font(CAPTION_PX).color(&INK))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(y_label_room)
        .build_cartesian_2d((x_min..x_max).log_scale().base(2.0), 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(&|v| tick(v.round()))
        .y_label_formatter(&|v| tick(v.round()))
        .label_style(font(TEXT_PX).color(&INK))
        .axis_desc_style(font(TEXT_PX).color(&INK))
        .axis_style(INK)
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .draw()?;
    for curve in curves {
        let ink = color(curve.color);
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|&(x, y)| (x, y.min(y_max)))
            .collect();
        if curve.model {
            let style = ink.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(points, 8, 6, style))?
                .label(curve.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        } else {
            let style = ink.stroke_width(3);
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, ink.filled())))?;
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(curve.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .border_style(GRID)
        .label_font(font(TEXT_PX).color(&INK))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// One horizontal bar: a measured value, the ideal drawn as an outline behind it, the range
/// of the runs as a whisker, and its value written at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The row's label.
    pub label: String,
    /// The measured value (a median, when there were several runs).
    pub value: f64,
    /// The lowest and highest of the runs, when there were several.
    pub spread: Option<(f64, f64)>,
    /// The ideal value, if there is one.
    pub ideal: Option<f64>,
    /// The text written after the bar, e.g. `9.8x`.
    pub text: String,
    /// Its colour, an index into [`PALETTE`].
    pub color: usize,
}

/// Horizontal bars, one per row, top-down in the order given, with ideal outlines;
/// `x_desc` names the value.
pub fn bars(frame: &Frame<'_>, rows: &[Bar], x_desc: &str) -> Result<String, ChartError> {
    svg(frame, |root| draw_bars(root, frame.title, rows, x_desc))
}

fn draw_bars(
    root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    rows: &[Bar],
    x_desc: &str,
) -> DrawResult {
    let n = rows.len();
    let x_max = rows
        .iter()
        .flat_map(|r| {
            [
                r.value,
                r.ideal.unwrap_or(0.0),
                r.spread.map_or(0.0, |s| s.1),
            ]
        })
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.18;
    let label_chars = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let lanes = Rows(n.max(1));
    let mut chart = rows_chart(&root, title, x_max, lanes, label_chars, x_desc)?;
    lane_labels(&root, &chart, lanes, n, |i| rows[i].label.clone())?;
    let ideals = rows.iter().enumerate().filter_map(|(i, r)| {
        let ideal = r.ideal?;
        let mut outline = Rectangle::new(
            [(0.0, lanes.bottom(i)), (ideal, lanes.bottom(i) + 1.0)],
            color(r.color).stroke_width(2),
        );
        outline.set_margin(3, 3, 0, 0);
        Some(outline)
    });
    chart.draw_series(ideals)?;
    let measured = rows.iter().enumerate().map(|(i, r)| {
        let mut bar = Rectangle::new(
            [(0.0, lanes.bottom(i)), (r.value, lanes.bottom(i) + 1.0)],
            color(r.color).filled(),
        );
        bar.set_margin(8, 8, 0, 0);
        bar
    });
    chart.draw_series(measured)?;
    let whiskers = rows.iter().enumerate().filter_map(|(i, r)| {
        let (low, high) = r.spread?;
        Some(PathElement::new(
            [(low, lanes.middle(i)), (high, lanes.middle(i))],
            INK.stroke_width(2),
        ))
    });
    chart.draw_series(whiskers)?;
    let values = rows.iter().enumerate().map(|(i, r)| {
        let end = r.spread.map_or(r.value, |s| s.1.max(r.value));
        Text::new(
            format!("  {}", r.text),
            (end, lanes.middle(i)),
            font(SMALL_PX)
                .color(&INK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )
    });
    chart.draw_series(values)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(title: &str) -> Frame<'_> {
        Frame {
            title,
            desc: "a test chart",
            size: (600, 300),
        }
    }

    fn segment(start: f64, end: f64, color: usize) -> Segment {
        Segment {
            start,
            end,
            mark: None,
            color,
            text: None,
        }
    }

    /// The `y` of each `<text>` whose whole content is `label`.
    fn text_y(svg: &str, label: &str) -> Vec<f64> {
        svg.split("<text")
            .skip(1)
            .filter(|t| {
                t.split_once('>').is_some_and(|(_, rest)| {
                    rest.split('<')
                        .next()
                        .is_some_and(|text| text.trim() == label)
                })
            })
            .filter_map(|t| {
                let y = t.split(" y=\"").nth(1)?.split('"').next()?;
                y.parse().ok()
            })
            .collect()
    }

    /// The `y` of each `<rect>` filled with `color`.
    fn rect_y(svg: &str, color: RGBColor) -> Vec<f64> {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
        svg.split("<rect")
            .skip(1)
            .filter(|r| r.split('>').next().unwrap_or("").contains(&fill))
            .filter_map(|r| r.split(" y=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn the_first_lane_and_its_label_are_at_the_top() {
        let lanes_in_order: Vec<Lane> = ["first", "second", "third"]
            .iter()
            .enumerate()
            .map(|(i, label)| Lane {
                label: (*label).to_owned(),
                segments: vec![segment(0.0, 1.0 + i as f64, i)],
            })
            .collect();
        let svg = lanes(&frame("order"), &lanes_in_order, 4.0, "s").unwrap();
        let label_y: Vec<f64> = ["first", "second", "third"]
            .iter()
            .map(|l| text_y(&svg, l)[0])
            .collect();
        assert!(
            label_y[0] < label_y[1] && label_y[1] < label_y[2],
            "labels top-down in lane order: {label_y:?}"
        );
        let bar_y: Vec<f64> = (0..3).map(|i| rect_y(&svg, color(i))[0]).collect();
        assert!(
            bar_y[0] < bar_y[1] && bar_y[1] < bar_y[2],
            "bars top-down in lane order: {bar_y:?}"
        );
        // Each label sits on its own bar's row: below the bar's top, above the next row's.
        let row_height = bar_y[1] - bar_y[0];
        for (i, y) in label_y.iter().enumerate() {
            assert!(
                *y > bar_y[i] && *y < bar_y[i] + row_height,
                "label {i} at {y} is not on its bar: {bar_y:?}"
            );
        }
    }

    #[test]
    fn bars_run_top_down_in_the_order_given() {
        let rows: Vec<Bar> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, label)| Bar {
                label: (*label).to_owned(),
                value: 1.0 + i as f64,
                spread: Some((0.5, 2.5)),
                ideal: Some(3.0),
                text: format!("{label}!"),
                color: i,
            })
            .collect();
        let svg = bars(&frame("bars"), &rows, "x").unwrap();
        assert!(text_y(&svg, "a")[0] < text_y(&svg, "b")[0], "{svg}");
        assert!(svg.contains("a!") && svg.contains("<polyline"), "{svg}");
    }

    #[test]
    fn charts_have_a_title_readable_text_and_no_background() {
        let lanes_svg = lanes(
            &frame("lanes & co"),
            &[Lane {
                label: "thread 1".to_owned(),
                segments: vec![Segment {
                    text: Some("G1".to_owned()),
                    mark: Some(1.0),
                    ..segment(0.0, 2.0, 0)
                }],
            }],
            3.0,
            "ms",
        )
        .unwrap();
        let flight = in_flight(
            &frame("flight"),
            &[("run".to_owned(), vec![(0.0, 0), (1.0, 7), (2.0, 0)])],
            "ms",
        )
        .unwrap();
        let bars_svg = bars(
            &frame("bars"),
            &[Bar {
                label: "a & b".to_owned(),
                value: 2.0,
                spread: None,
                ideal: Some(3.0),
                text: "2.0x".to_owned(),
                color: 1,
            }],
            "x",
        )
        .unwrap();
        assert!(bars_svg.contains("a &amp; b"), "{bars_svg}");
        assert!(lanes_svg.contains(">G1<") || lanes_svg.contains("G1\n"));
        assert!(lanes_svg.matches("<rect").count() >= 2, "{lanes_svg}");
        assert!(flight.contains("<polyline"), "{flight}");
        for svg in [&lanes_svg, &flight, &bars_svg] {
            assert!(
                svg.starts_with("<svg") && svg.contains(" role=\"img\"><title>"),
                "{svg}"
            );
            assert!(svg.contains("<desc>a test chart</desc>"), "{svg}");
            assert!(lanes_svg.contains("<title>lanes &amp; co</title>"));
            for size in svg.split("font-size=\"").skip(1) {
                let px: f64 = size.split('"').next().unwrap().parse().unwrap();
                assert!(px >= 14.0, "text of {px} px in {svg}");
            }
            // No number with more than two decimals in the markup.
            for attr in svg.split('"').skip(1).step_by(2) {
                if let Some((_, decimals)) = attr.split_once('.')
                    && attr.chars().all(|c| c.is_ascii_digit() || c == '.')
                {
                    assert!(decimals.len() <= 2, "{attr} in {svg}");
                }
            }
            assert!(
                !svg.split("<rect")
                    .any(|r| r.split('>').next().unwrap_or("").contains("#FFFFFF")),
                "no white background: {svg}"
            );
        }
        // The in-flight axis counts tasks: whole numbers only.
        assert!(
            !flight.contains(">7.0<") && !flight.contains("1.0\n"),
            "{flight}"
        );
        assert!(
            !flight.contains("<rect"),
            "one series, no legend box: {flight}"
        );
    }

    #[test]
    fn ticks_read_as_people_write_them() {
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.126), "0.13");
        assert_eq!(tick(-0.0001), "0");
        assert_eq!(
            round_numbers_in_tags("<t font-size=\"12.903225806451612\">1.23456</t>"),
            "<t font-size=\"12.9\">1.23456</t>"
        );
    }
}
