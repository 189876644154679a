//! The report's charts, drawn with plotters' SVG backend into strings of inline SVG: lanes
//! (waterfalls, Gantt-like model diagrams), a step chart of tasks in flight, and horizontal
//! bars with an ideal outline. Text goes into the SVG as text (the browser lays it out).

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart `{title}`: {reason}")]
pub struct ChartError {
    title: String,
    reason: String,
}

/// The colors the charts use, in order.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0x3b, 0x6e, 0xa8),
    RGBColor(0xe0, 0x8a, 0x2c),
    RGBColor(0x4c, 0x9a, 0x5a),
    RGBColor(0xc0, 0x4b, 0x4b),
    RGBColor(0x7d, 0x5b, 0xa6),
    RGBColor(0x8a, 0x8a, 0x8a),
];

const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// The colour of index `index` in [`PALETTE`], wrapping around.
pub fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
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
    /// Its color, an index into [`PALETTE`].
    pub color: usize,
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

/// Rows of bars over time: a waterfall (one lane per request) or a diagram of a model (one
/// lane per thread or core). `x_desc` names the x axis; `x_max` is where it ends.
pub fn lanes(
    title: &str,
    lanes: &[Lane],
    x_max: f64,
    x_desc: &str,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let mut svg = String::new();
    draw_lanes(&mut svg, title, lanes, x_max, x_desc, size)
        .map_err(|e| fail(title)(e.to_string()))?;
    Ok(svg)
}

fn draw_lanes(
    svg: &mut String,
    title: &str,
    lanes: &[Lane],
    x_max: f64,
    x_desc: &str,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let n = i32::try_from(lanes.len().max(1)).unwrap_or(i32::MAX);
    let label_width = lanes
        .iter()
        .map(|l| l.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(28) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 15).into_font().color(&INK))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(12 + label_width * 7)
        .build_cartesian_2d(0f64..x_max.max(f64::MIN_POSITIVE), (0..n).into_segmented())?;
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| lanes.get(i))
            .map(|l| l.label.chars().take(28).collect())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(lanes.len().min(12))
        .y_label_formatter(&label_of)
        .x_desc(x_desc)
        .x_labels(8)
        .label_style((FONT, 11).into_font().color(&INK))
        .axis_desc_style((FONT, 12).into_font().color(&INK))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    // Rows are drawn top-down: the first lane at the top.
    let row = |i: usize| n - 1 - i32::try_from(i).unwrap_or(0);
    let margin = if lanes.len() > 60 { 0 } else { 2 };
    let bars = lanes.iter().enumerate().flat_map(|(i, lane)| {
        lane.segments.iter().flat_map(move |s| {
            let (y0, y1) = (SegmentValue::Exact(row(i)), SegmentValue::Exact(row(i) + 1));
            let base = color(s.color);
            let mark = s.mark.unwrap_or(s.start).clamp(s.start, s.end);
            let mut waiting = Rectangle::new(
                [(s.start, y0.clone()), (mark, y1.clone())],
                base.mix(0.35).filled(),
            );
            waiting.set_margin(margin, margin, 0, 0);
            let mut working = Rectangle::new([(mark, y0), (s.end, y1)], base.filled());
            working.set_margin(margin, margin, 0, 0);
            [waiting, working]
        })
    });
    chart.draw_series(bars)?;
    root.present()?;
    Ok(())
}

/// A step chart of how many tasks were in flight over time; `points` as
/// [`Timeline::in_flight`](crate::timeline::Timeline::in_flight) gives them, x in `x_desc`.
pub fn in_flight(
    title: &str,
    series: &[(String, Vec<(f64, usize)>)],
    x_desc: &str,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let mut svg = String::new();
    draw_in_flight(&mut svg, title, series, x_desc, size)
        .map_err(|e| fail(title)(e.to_string()))?;
    Ok(svg)
}

fn draw_in_flight(
    svg: &mut String,
    title: &str,
    series: &[(String, Vec<(f64, usize)>)],
    x_desc: &str,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
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
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 15).into_font().color(&INK))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.1)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("in flight")
        .label_style((FONT, 11).into_font().color(&INK))
        .axis_desc_style((FONT, 12).into_font().color(&INK))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let mut steps = Vec::with_capacity(points.len() * 2);
        let mut previous = 0.0;
        for &(x, n) in points {
            steps.push((x, previous));
            steps.push((x, n as f64));
            previous = n as f64;
        }
        let style = color(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(steps, style))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xcc, 0xcc, 0xcc))
        .label_font((FONT, 11).into_font().color(&INK))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One horizontal bar: a measured value, and the ideal drawn as an outline behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The row's label.
    pub label: String,
    /// The measured value.
    pub value: f64,
    /// The ideal value, if there is one.
    pub ideal: Option<f64>,
    /// Its color, an index into [`PALETTE`].
    pub color: usize,
}

/// Horizontal bars, one per row, with ideal outlines; `x_desc` names the value.
pub fn bars(
    title: &str,
    rows: &[Bar],
    x_desc: &str,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let mut svg = String::new();
    draw_bars(&mut svg, title, rows, x_desc, size).map_err(|e| fail(title)(e.to_string()))?;
    Ok(svg)
}

fn draw_bars(
    svg: &mut String,
    title: &str,
    rows: &[Bar],
    x_desc: &str,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let n = i32::try_from(rows.len().max(1)).unwrap_or(i32::MAX);
    let x_max = rows
        .iter()
        .flat_map(|r| [r.value, r.ideal.unwrap_or(0.0)])
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.12;
    let label_width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(32) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 15).into_font().color(&INK))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(12 + label_width * 7)
        .build_cartesian_2d(0f64..x_max, (0..n).into_segmented())?;
    let row = |i: usize| n - 1 - i32::try_from(i).unwrap_or(0);
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(y) => rows
            .iter()
            .enumerate()
            .find(|(i, _)| row(*i) == *y)
            .map(|(_, r)| r.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows.len())
        .y_label_formatter(&label_of)
        .x_desc(x_desc)
        .label_style((FONT, 11).into_font().color(&INK))
        .axis_desc_style((FONT, 12).into_font().color(&INK))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    let ideals = rows.iter().enumerate().filter_map(|(i, r)| {
        let ideal = r.ideal?;
        let mut outline = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(i))),
                (ideal, SegmentValue::Exact(row(i) + 1)),
            ],
            color(r.color).stroke_width(1),
        );
        outline.set_margin(2, 2, 0, 0);
        Some(outline)
    });
    chart.draw_series(ideals)?;
    let measured = rows.iter().enumerate().map(|(i, r)| {
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(i))),
                (r.value, SegmentValue::Exact(row(i) + 1)),
            ],
            color(r.color).mix(0.85).filled(),
        );
        bar.set_margin(5, 5, 0, 0);
        bar
    });
    chart.draw_series(measured)?;
    let values = rows.iter().enumerate().map(|(i, r)| {
        Text::new(
            format!("{:.1}", r.value),
            (r.value, SegmentValue::CenterOf(row(i))),
            (FONT, 10).into_font().color(&INK),
        )
    });
    chart.draw_series(values)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_their_bars() {
        let lanes_svg = lanes(
            "lanes",
            &[Lane {
                label: "thread 1".to_owned(),
                segments: vec![Segment {
                    start: 0.0,
                    end: 2.0,
                    mark: Some(1.0),
                    color: 0,
                }],
            }],
            3.0,
            "ms",
            (300, 120),
        )
        .unwrap();
        assert!(lanes_svg.starts_with("<svg"), "{lanes_svg}");
        assert!(lanes_svg.matches("<rect").count() >= 3, "{lanes_svg}");
        assert!(lanes_svg.contains("thread 1"));

        let bars_svg = bars(
            "bars",
            &[Bar {
                label: "a & b".to_owned(),
                value: 2.0,
                ideal: Some(3.0),
                color: 1,
            }],
            "x",
            (300, 120),
        )
        .unwrap();
        assert!(bars_svg.contains("a &amp; b"), "{bars_svg}");

        let flight = in_flight(
            "flight",
            &[("run".to_owned(), vec![(0.0, 0), (1.0, 2), (2.0, 0)])],
            "ms",
            (300, 120),
        )
        .unwrap();
        assert!(flight.contains("<polyline"), "{flight}");
    }
}
