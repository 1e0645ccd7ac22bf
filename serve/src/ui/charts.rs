//! Charts drawn on the server as inline SVG: axes with scales and labels, no script, no inline
//! style (the page's CSP forbids both); colours come from classes in `ui/static/app.css`.
//! Every text that reaches a chart is escaped here.

use std::fmt::Write;

use chrono::{DateTime, Utc};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// How an axis writes its values.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// With this many decimals.
    Number(usize),
    Percent,
    /// Seconds since the Unix epoch, as a time of day (and date when the range spans days).
    Time,
}

impl Format {
    fn write(self, value: f64, span: f64) -> String {
        match self {
            Self::Number(decimals) => format!("{value:.decimals$}"),
            Self::Percent => format!("{:.0}%", value * 100.0),
            Self::Time => {
                let at = DateTime::<Utc>::from_timestamp(value as i64, 0).unwrap_or_default();
                if span > 2.0 * 86_400.0 {
                    at.format("%d %b").to_string()
                } else if span > 3_600.0 * 6.0 {
                    at.format("%d %b %H:%M").to_string()
                } else if span > 600.0 {
                    at.format("%H:%M").to_string()
                } else {
                    at.format("%H:%M:%S").to_string()
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub format: Format,
    /// Between gridlines; `None`: four equal parts.
    pub step: Option<f64>,
}

impl Axis {
    pub fn new(label: &str, min: f64, max: f64, format: Format) -> Self {
        let max = if max > min { max } else { min + 1.0 };
        Self {
            label: label.to_owned(),
            min,
            max,
            format,
            step: None,
        }
    }

    /// From 0 to a round number of round steps at or above `max`.
    pub fn upto(label: &str, max: f64, format: Format) -> Self {
        let step = nice_ceiling(if max > 0.0 { max / 4.0 } else { 0.25 });
        let top = (max / step).ceil().max(1.0) * step;
        let mut axis = Self::new(label, 0.0, top, format);
        axis.step = Some(step);
        axis
    }

    /// Where the gridlines go.
    fn ticks(&self) -> Vec<f64> {
        match self.step {
            Some(step) => {
                let n = ((self.max - self.min) / step).round() as usize;
                (0..=n).map(|i| self.min + step * i as f64).collect()
            }
            None => (0..=4)
                .map(|i| self.min + self.span() * f64::from(i) / 4.0)
                .collect(),
        }
    }

    /// A time axis over [`from`, `to`] (seconds), widened by `pad` on both sides when it is a
    /// single instant, so that one point sits in the middle.
    pub fn time(label: &str, from: f64, to: f64, pad: f64) -> Self {
        if to > from {
            Self::new(label, from, to, Format::Time)
        } else {
            Self::new(label, from - pad, from + pad, Format::Time)
        }
    }

    fn span(&self) -> f64 {
        self.max - self.min
    }
}

/// A round number (1, 2, 2.5 or 5 times a power of ten) at or above `x`.
fn nice_ceiling(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= x * 0.999_999)
        .unwrap_or(10.0 * power)
}

/// A line (and optionally its points) to draw; `class` picks its colour (`s1` … `s6`, `bad`,
/// `good`).
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
    pub markers: bool,
}

/// A horizontal line across the plot at `y`, labelled (a threshold).
#[derive(Clone, Debug)]
pub struct Rule {
    pub y: f64,
    pub label: String,
    pub class: &'static str,
}

struct Frame<'a> {
    x: &'a Axis,
    y: &'a Axis,
}

impl Frame<'_> {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.min) / self.x.span() * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let t = ((y - self.y.min) / self.y.span()).clamp(-0.02, 1.05);
        HEIGHT - BOTTOM - t * (HEIGHT - TOP - BOTTOM)
    }

    /// Gridlines, tick labels and axis titles.
    fn axes(&self, out: &mut String, x_ticks: bool) {
        for v in self.y.ticks() {
            let y = self.py(v);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                esc(&self.y.format.write(v, self.y.span()))
            );
        }
        if x_ticks {
            for i in 0..=4 {
                let v = self.x.min + self.x.span() * f64::from(i) / 4.0;
                let x = self.px(v);
                let anchor = match i {
                    0 => "start",
                    4 => "end",
                    _ => "middle",
                };
                let _ = write!(
                    out,
                    r#"<line class="tickmark" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                    HEIGHT - BOTTOM,
                    HEIGHT - BOTTOM + 4.0,
                    HEIGHT - BOTTOM + 16.0,
                    esc(&self.x.format.write(v, self.x.span()))
                );
            }
        }
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/>"#,
            WIDTH - RIGHT,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM
        );
        let _ = write!(
            out,
            r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-title" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            HEIGHT - 6.0,
            esc(&self.x.label),
            TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
            esc(&self.y.label)
        );
    }
}

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
}

/// A legend under the chart, as HTML (wraps on narrow screens).
fn legend(entries: &[(&str, &str)]) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (name, class) in entries {
        let _ = write!(
            out,
            r#"<li><span class="swatch {class}" aria-hidden="true"></span>{}</li>"#,
            esc(name)
        );
    }
    out.push_str("</ul>");
    out
}

/// Lines over a numeric x axis, with optional thresholds and the diagonal (for ROC and
/// calibration plots).
pub fn lines(
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    rules: &[Rule],
    diagonal: bool,
) -> String {
    let frame = Frame { x, y };
    let mut out = String::new();
    open(&mut out, title);
    frame.axes(&mut out, true);
    if diagonal {
        let _ = write!(
            out,
            r#"<line class="diagonal" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            frame.px(x.min),
            frame.py(y.min),
            frame.px(x.max),
            frame.py(y.max)
        );
    }
    for rule in rules {
        let py = frame.py(rule.y);
        let _ = write!(
            out,
            r#"<line class="rule {}" x1="{LEFT}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}"/><text class="rule-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            rule.class,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            py - 4.0,
            esc(&rule.label)
        );
    }
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", frame.px(a), frame.py(b)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line {}" points="{}"><title>{}</title></polyline>"#,
            s.class,
            path.join(" "),
            esc(&s.name)
        );
        if s.markers || s.points.len() == 1 {
            for &(a, b) in &s.points {
                let _ = write!(
                    out,
                    r#"<circle class="dot {}" cx="{:.1}" cy="{:.1}" r="3.5"><title>{}: {} → {}</title></circle>"#,
                    s.class,
                    frame.px(a),
                    frame.py(b),
                    esc(&s.name),
                    esc(&x.format.write(a, x.span())),
                    esc(&y.format.write(b, y.span()))
                );
            }
        }
    }
    out.push_str("</svg>");
    let entries: Vec<(&str, &str)> = series.iter().map(|s| (s.name.as_str(), s.class)).collect();
    if entries.len() > 1 {
        out.push_str(&legend(&entries));
    }
    out
}

/// One bar per label, stacked by series (`values[i][k]` is series `k` of bar `i`).
pub fn stacked_bars(
    title: &str,
    labels: &[String],
    values: &[Vec<f64>],
    series: &[(&str, &'static str)],
    x_label: &str,
    y: &Axis,
) -> String {
    let x = Axis::new(x_label, 0.0, labels.len().max(1) as f64, Format::Number(0));
    let frame = Frame { x: &x, y };
    let mut out = String::new();
    open(&mut out, title);
    frame.axes(&mut out, false);
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let every = (labels.len() / 6).max(1);
    for (i, (label, stack)) in labels.iter().zip(values).enumerate() {
        let x0 = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0.0;
        for (value, (name, class)) in stack.iter().zip(series) {
            if *value <= 0.0 {
                continue;
            }
            let top = frame.py(base + value);
            let bottom = frame.py(base);
            let _ = write!(
                out,
                r#"<rect class="bar {class}" x="{x0:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}"><title>{}: {} {}</title></rect>"#,
                (bottom - top).max(0.5),
                esc(label),
                esc(&y.format.write(*value, y.span())),
                esc(name)
            );
            base += value;
        }
        if i % every == 0 || i + 1 == labels.len() && labels.len() <= 6 {
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x0 + bar / 2.0,
                HEIGHT - BOTTOM + 16.0,
                esc(label)
            );
        }
    }
    out.push_str("</svg>");
    if series.len() > 1 {
        out.push_str(&legend(series));
    }
    out
}

/// One bar per label, one series.
pub fn bars(
    title: &str,
    labels: &[String],
    values: &[f64],
    class: &'static str,
    x_label: &str,
    y: &Axis,
) -> String {
    let stacks: Vec<Vec<f64>> = values.iter().map(|v| vec![*v]).collect();
    stacked_bars(title, labels, &stacks, &[(title, class)], x_label, y)
}

/// Signed horizontal bars, one row per label: what raised the risk to the right, what lowered
/// it to the left of zero (logit contributions).
pub fn contributions(title: &str, rows: &[(String, f64)]) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 230.0;
    let height = TOP + ROW * rows.len().max(1) as f64 + 30.0;
    let extent = rows
        .iter()
        .map(|(_, v)| v.abs())
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let extent = nice_ceiling(extent);
    let plot = WIDTH - LABEL - RIGHT;
    let zero = LABEL + plot / 2.0;
    let scale = plot / 2.0 / extent;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let (x0, w) = if *value >= 0.0 {
            (zero, value * scale)
        } else {
            (zero + value * scale, -value * scale)
        };
        let class = if *value >= 0.0 { "bad" } else { "good" };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="bar {class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {value:+.3}</title></rect><text class="value" x="{:.1}" y="{:.1}" text-anchor="{}">{value:+.3}</text>"#,
            LABEL - 8.0,
            y + ROW * 0.65,
            esc(&truncate(label, 34)),
            y + 3.0,
            w.max(0.5),
            ROW - 6.0,
            esc(label),
            if *value >= 0.0 {
                x0 + w + 4.0
            } else {
                x0 - 4.0
            },
            y + ROW * 0.65,
            if *value >= 0.0 { "start" } else { "end" },
        );
    }
    let bottom = TOP + ROW * rows.len().max(1) as f64;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{zero:.1}" x2="{zero:.1}" y1="{:.1}" y2="{bottom:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="start">−{extent}</text><text class="tick" x="{zero:.1}" y="{:.1}" text-anchor="middle">0</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">+{extent}</text><text class="axis-title" x="{zero:.1}" y="{:.1}" text-anchor="middle">contribution to the log-odds of default (right: raises the risk)</text>"#,
        TOP - 4.0,
        LABEL,
        bottom + 14.0,
        bottom + 14.0,
        WIDTH - RIGHT,
        bottom + 14.0,
        bottom + 28.0,
    );
    out.push_str("</svg>");
    out
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(chars - 1).collect();
        t.push('…');
        t
    }
}

/// Seconds since the epoch, as a chart's x value.
pub fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_scales_are_round() {
        let svg = lines(
            "a <b> & \"c\"",
            &Axis::upto("x", 0.93, Format::Number(1)),
            &Axis::upto("y", 37.0, Format::Number(0)),
            &[Series {
                name: "<script>".into(),
                class: "s1",
                points: vec![(0.1, 3.0), (0.9, 30.0)],
                markers: true,
            }],
            &[],
            false,
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(svg.contains(">40<"), "y axis to 40 in steps of 10: {svg}");
        assert!(svg.contains(">1.0<"), "x axis to 1: {svg}");
        assert_eq!(nice_ceiling(0.21), 0.25);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn contributions_put_risk_to_the_right_of_zero() {
        let svg = contributions("why", &[("duration".into(), 0.8), ("savings".into(), -0.4)]);
        assert!(svg.contains(r#"class="bar bad""#) && svg.contains(r#"class="bar good""#));
        assert!(svg.contains("+0.800") && svg.contains("-0.400"));
    }
}
