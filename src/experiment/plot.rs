//! Plots of an experiment's results, drawn from runs.csv (medians per configuration), as PNG and
//! SVG with the bundled DejaVu Sans font (no system fonts).
//!
//! Per task:
//! - `<task>-tradeoff`: accuracy (accuracy tasks) or max error against plaintext (latency and op
//!   tasks) against predicted latency per batch, log-x; one colour and marker shape per protocol,
//!   filled on the first network profile and hollow on the others; one line per sweep series,
//!   running along the line parameter (the first swept one), each point labelled with its value.
//! - `<task>-bytes` and `<task>-rounds`: online bytes sent per party and online rounds per protocol,
//!   one bar per combination of swept values (the network does not change them).

use super::results::{ConfigSummary, Table, summarize};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::element::{DashedPathElement, EmptyElement, PathElement, Polygon, Rectangle, Text};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1300, 720);
/// Height of the footer line under each chart.
const FOOTER_H: u32 = 26;
/// Width of the legend panel on the right.
const LEGEND_W: u32 = 330;

/// Tableau 10: distinguishable, and readable in print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("plot", "the bundled font could not be loaded"))
    }
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("plot {}", path.display()), e.to_string())
}

/// Draws every plot of `table` into `dir`; returns the files written.
pub fn draw_all(table: &Table, dir: &Path, experiment: &str, line: Option<&str>) -> Result<Vec<PathBuf>> {
    register_font()?;
    let configs = summarize(table);
    let mut tasks: Vec<&str> = Vec::new();
    for c in &configs {
        if !tasks.contains(&c.task.as_str()) {
            tasks.push(&c.task);
        }
    }
    let params = table.param_columns();
    let machine = super::results::machines(table);
    let mut files = Vec::new();
    for task in tasks {
        let mine: Vec<&ConfigSummary> = configs.iter().filter(|c| c.task == task).collect();
        let plan = Layout::new(&mine, &params, line);
        let charts: [(&str, Chart); 3] = [
            ("tradeoff", Chart::Tradeoff),
            ("bytes", Chart::Bars(Metric::Bytes)),
            ("rounds", Chart::Bars(Metric::Rounds)),
        ];
        for (suffix, chart) in charts {
            let (title, context) = chart.title(experiment, task, &mine, &machine);
            let png = dir.join(format!("{task}-{suffix}.png"));
            {
                let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
                draw(&root, chart, &title, &context, &mine, &plan).map_err(|e| plot_err(&png, e))?;
                root.present().map_err(|e| plot_err(&png, e))?;
            }
            let svg = dir.join(format!("{task}-{suffix}.svg"));
            {
                let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
                draw(&root, chart, &title, &context, &mine, &plan).map_err(|e| plot_err(&svg, e))?;
                root.present().map_err(|e| plot_err(&svg, e))?;
            }
            files.push(png);
            files.push(svg);
        }
    }
    Ok(files)
}

/// Re-draws the plots of a results folder from its runs.csv.
pub fn redraw(dir: &Path, line: Option<&str>) -> Result<Vec<PathBuf>> {
    let (table, _) = Table::read(&dir.join("runs.csv"))?;
    if table.rows.is_empty() {
        return Err(Error::invalid(
            format!("{}", dir.join("runs.csv").display()),
            "has no finished runs to plot",
        ));
    }
    if let Some(l) = line {
        if !table.param_columns().iter().any(|c| c == l) {
            return Err(Error::invalid(
                "--line",
                format!("`{l}` is not a parameter column of runs.csv"),
            ));
        }
    }
    let experiment = table.get(&table.rows[0], "experiment").to_string();
    draw_all(&table, dir, &experiment, line)
}

#[derive(Clone, Copy)]
enum Metric {
    Bytes,
    Rounds,
}

#[derive(Clone, Copy)]
enum Chart {
    Tradeoff,
    Bars(Metric),
}

impl Chart {
    /// The chart's title, ending with what a reader needs to weigh it: the machine, the
    /// transport and, for accuracy, n.
    fn title(self, experiment: &str, task: &str, configs: &[&ConfigSummary], machine: &str) -> (String, String) {
        let accuracy = configs.iter().any(|c| c.kind == "accuracy");
        let mut transports: Vec<&str> = configs.iter().map(|c| c.param("transport")).collect();
        transports.dedup();
        let mut context = format!("{machine}; transport {}", transports.join("/"));
        if let Some(n) = configs.iter().find_map(|c| c.metric("samples")).filter(|_| accuracy) {
            context.push_str(&format!("; n = {n}"));
        }
        let what = match self {
            Chart::Tradeoff if accuracy => format!("{experiment} / {task}: private accuracy vs latency"),
            Chart::Tradeoff => format!("{experiment} / {task}: error vs latency"),
            Chart::Bars(Metric::Bytes) => format!("{experiment} / {task}: bytes per protocol"),
            Chart::Bars(Metric::Rounds) => format!("{experiment} / {task}: rounds per protocol"),
        };
        (what, context)
    }
}

/// How configurations map onto colours, markers, lines and bars.
struct Layout {
    protocols: Vec<String>,
    networks: Vec<String>,
    /// The parameter plot lines run along (None when nothing is swept).
    line: Option<String>,
    /// Swept parameters other than protocol, network and the line parameter.
    others: Vec<String>,
    /// Every swept parameter except protocol and network (bar series).
    swept: Vec<String>,
}

impl Layout {
    fn new(configs: &[&ConfigSummary], params: &[String], line: Option<&str>) -> Self {
        let distinct = |k: &str| {
            let mut v: Vec<String> = Vec::new();
            for c in configs {
                if !v.iter().any(|x| x == c.param(k)) {
                    v.push(c.param(k).to_string());
                }
            }
            v
        };
        // Swept: varies among configurations of one protocol and network (so `parties`, which
        // follows from the protocol, is not, unless it is really swept).
        let varies = |k: &str| {
            configs.iter().any(|a| {
                configs.iter().any(|b| {
                    a.param("protocol") == b.param("protocol")
                        && a.param("network") == b.param("network")
                        && a.param(k) != b.param(k)
                })
            })
        };
        let swept: Vec<String> = params
            .iter()
            .filter(|p| !["protocol", "family", "network"].contains(&p.as_str()))
            .filter(|p| varies(p))
            .cloned()
            .collect();
        let line = line
            .filter(|l| swept.iter().any(|s| s == l))
            .map(String::from)
            .or_else(|| swept.first().cloned());
        let others = swept.iter().filter(|s| Some(*s) != line.as_ref()).cloned().collect();
        Self {
            protocols: distinct("protocol"),
            networks: distinct("network"),
            line,
            others,
            swept,
        }
    }

    fn protocol_index(&self, c: &ConfigSummary) -> usize {
        self.protocols
            .iter()
            .position(|p| p == c.param("protocol"))
            .unwrap_or(0)
    }

    fn network_index(&self, c: &ConfigSummary) -> usize {
        self.networks.iter().position(|p| p == c.param("network")).unwrap_or(0)
    }

    /// `k=v, k=v` of the given parameters.
    fn describe(keys: &[String], c: &ConfigSummary) -> String {
        keys.iter()
            .map(|k| format!("{k}={}", c.param(k)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: Chart,
    title: &str,
    context: &str,
    configs: &[&ConfigSummary],
    plan: &Layout,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    // A footer line says where the numbers come from (machine, transport, n).
    let (root, footer) = root.split_vertically(SIZE.1 - FOOTER_H);
    footer.draw_text(context, &font(16), (12, 4))?;
    let (left, right) = root.split_horizontally(SIZE.0 - LEGEND_W);
    let entries = match chart {
        Chart::Tradeoff => tradeoff(&left, title, configs, plan)?,
        Chart::Bars(m) => bars(&left, title, configs, plan, m)?,
    };
    draw_legend(&right, &entries)
}

/// The outline of marker `shape` (circle, triangle, square, diamond, inverted triangle), in pixels
/// around the point.
fn outline(shape: usize) -> Vec<(i32, i32)> {
    let poly = |n: usize, r: f64, turn: f64| -> Vec<(i32, i32)> {
        (0..n)
            .map(|k| {
                let a = turn + std::f64::consts::TAU * k as f64 / n as f64;
                ((r * a.cos()).round() as i32, (r * a.sin()).round() as i32)
            })
            .collect()
    };
    let up = -std::f64::consts::FRAC_PI_2;
    match shape % 5 {
        0 => poly(20, 6.5, 0.0),
        1 => poly(3, 8.5, up),
        2 => vec![(-6, -6), (6, -6), (6, 6), (-6, 6)],
        3 => poly(4, 8.0, up),
        _ => poly(3, 8.5, -up),
    }
}

/// Markers of the protocol's shape at `pts`, filled (first network) or hollow, with a legend entry.
fn markers<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    shape: usize,
    pts: &[(f64, f64)],
    color: RGBColor,
    filled: bool,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let v = outline(shape);
    let mut closed = v.clone();
    closed.push(v[0]);
    let fill = if filled { color.filled() } else { WHITE.filled() };
    let stroke = color.stroke_width(2);
    chart
        .draw_series(pts.iter().map(|&p| {
            EmptyElement::at(p) + Polygon::new(v.clone(), fill) + PathElement::new(closed.clone(), stroke)
        }))?;
    Ok(())
}

/// A legend entry's symbol.
#[derive(Clone, Copy)]
enum Mark {
    /// A marker and the dash pattern of its line (see [`DASHES`]).
    Marker {
        shape: usize,
        color: RGBColor,
        filled: bool,
        dash: usize,
    },
    Bar(RGBColor),
}

/// Line patterns (dash, gap in pixels) telling apart series that share a protocol and network;
/// (0, 0) is solid.
const DASHES: [(u32, u32); 4] = [(0, 0), (10, 6), (3, 4), (16, 5)];

/// Draws a line through `pts` in dash pattern `dash`.
fn line<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pts: Vec<(f64, f64)>,
    style: ShapeStyle,
    dash: usize,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    match DASHES[dash % DASHES.len()] {
        (0, 0) => chart.draw_series(LineSeries::new(pts, style))?,
        (d, g) => chart.draw_series(DashedLineSeries::new(pts, d, g, style))?,
    };
    Ok(())
}

/// The legend, in its own panel right of the chart (so it never hides a point).
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Mark)]) -> DrawResult<DB> {
    let top = 70;
    let step = 26;
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = top + step * i as i32;
        match *mark {
            Mark::Marker {
                shape,
                color,
                filled,
                dash,
            } => {
                let seg = vec![(2, y), (34, y)];
                match DASHES[dash % DASHES.len()] {
                    (0, 0) => area.draw(&PathElement::new(seg, color.stroke_width(2)))?,
                    (d, g) => area.draw(&DashedPathElement::new(seg, d, g, color.stroke_width(2)))?,
                }
                let v = outline(shape);
                let mut closed = v.clone();
                closed.push(v[0]);
                let fill = if filled { color.filled() } else { WHITE.filled() };
                area.draw(
                    &(EmptyElement::at((18, y))
                        + Polygon::new(v, fill)
                        + PathElement::new(closed, color.stroke_width(2))),
                )?;
            }
            Mark::Bar(color) => area.draw(&Rectangle::new([(10, y - 7), (26, y + 7)], color.filled()))?,
        }
        area.draw(&Text::new(label.clone(), (42, y - 9), font(15)))?;
    }
    Ok(())
}

fn tradeoff<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    configs: &[&ConfigSummary],
    plan: &Layout,
) -> std::result::Result<Vec<(String, Mark)>, DrawingAreaErrorKind<DB::ErrorType>> {
    let accuracy = configs.iter().any(|c| c.kind == "accuracy");
    let per_batch = configs.iter().any(|c| c.metric("batches").unwrap_or(1.0) > 1.0);
    let x_of =
        |c: &ConfigSummary| c.metric("predicted_s").unwrap_or(f64::NAN) / c.metric("batches").unwrap_or(1.0).max(1.0);
    let y_of = |c: &ConfigSummary| {
        if accuracy {
            100.0 * c.metric("private_top1").unwrap_or(f64::NAN)
        } else {
            c.metric("max_abs_err").unwrap_or(f64::NAN).max(1e-12)
        }
    };
    let pts: Vec<(f64, f64)> = configs
        .iter()
        .map(|c| (x_of(c), y_of(c)))
        .filter(|(x, y)| x.is_finite() && *x > 0.0 && y.is_finite())
        .collect();
    let (xmin, xmax) = bounds(pts.iter().map(|p| p.0), 1e-6);
    let (ymin, ymax) = bounds(pts.iter().map(|p| p.1), 1e-12);
    let (x_lo, x_hi) = (xmin / 1.6, xmax * 1.6);
    let x_range = (x_lo..x_hi).log_scale().with_key_points(log_ticks(x_lo, x_hi));
    let x_desc = if per_batch {
        "predicted latency per batch (s, log scale): compute + network model"
    } else {
        "predicted latency (s, log scale): compute + network model"
    };
    let mut caption = title.to_string();
    if let Some(l) = &plan.line {
        caption.push_str(&format!("  (points labelled by {l})"));
    }
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, font(24))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90);
    if accuracy {
        let lo = (ymin - 5.0).max(0.0);
        let hi = (ymax + 5.0).min(100.0).max(lo + 1.0);
        let mut chart = builder.build_cartesian_2d(x_range, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("private top-1 accuracy (%)")
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_label_formatter(&|x| fmt_secs(*x))
            .draw()?;
        series(&mut chart, configs, plan, &x_of, &y_of)
    } else {
        let mut chart = builder.build_cartesian_2d(x_range, (ymin / 3.0..ymax * 3.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("max abs error vs plaintext (log scale)")
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_label_formatter(&|x| fmt_secs(*x))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()?;
        series(&mut chart, configs, plan, &x_of, &y_of)
    }
}

/// One line per sweep series, one marker per configuration, labelled with its line value.
fn series<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    configs: &[&ConfigSummary],
    plan: &Layout,
    x_of: &dyn Fn(&ConfigSummary) -> f64,
    y_of: &dyn Fn(&ConfigSummary) -> f64,
) -> std::result::Result<Vec<(String, Mark)>, DrawingAreaErrorKind<DB::ErrorType>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    // Group into series: protocol × network × the other swept values.
    let mut keys: Vec<(usize, usize, String)> = Vec::new();
    let mut members: Vec<Vec<&ConfigSummary>> = Vec::new();
    for c in configs {
        let key = (
            plan.protocol_index(c),
            plan.network_index(c),
            Layout::describe(&plan.others, c),
        );
        match keys.iter().position(|k| *k == key) {
            Some(i) => members[i].push(c),
            None => {
                keys.push(key);
                members.push(vec![c]);
            }
        }
    }
    let mut entries = Vec::new();
    let mut variants: Vec<String> = Vec::new();
    for ((p, n, others), mut list) in keys.into_iter().zip(members) {
        if !variants.contains(&others) {
            variants.push(others.clone());
        }
        let dash = variants.iter().position(|v| *v == others).unwrap_or(0);
        if let Some(l) = &plan.line {
            list.sort_by(|a, b| sort_key(a.param(l)).total_cmp(&sort_key(b.param(l))));
        }
        let pts: Vec<(f64, f64)> = list
            .iter()
            .map(|c| (x_of(c), y_of(c)))
            .filter(|(x, y)| x.is_finite() && *x > 0.0 && y.is_finite())
            .collect();
        let color = PALETTE[p % PALETTE.len()];
        let filled = n == 0;
        let mut label = format!("{} · {}", plan.protocols[p], plan.networks[n]);
        if !others.is_empty() {
            label.push_str(&format!(" · {others}"));
        }
        let line_style = if filled {
            color.stroke_width(2)
        } else {
            color.mix(0.6).stroke_width(2)
        };
        line(chart, pts.clone(), line_style, dash)?;
        markers(chart, p, &pts, color, filled)?;
        entries.push((
            label,
            Mark::Marker {
                shape: p,
                color,
                filled,
                dash,
            },
        ));
        if let Some(l) = &plan.line {
            let labels: Vec<((f64, f64), String)> = list
                .iter()
                .map(|c| ((x_of(c), y_of(c)), c.param(l).to_string()))
                .filter(|((x, y), _)| x.is_finite() && *x > 0.0 && y.is_finite())
                .collect();
            chart.draw_series(
                labels
                    .into_iter()
                    .map(|(pt, s)| EmptyElement::at(pt) + Text::new(s, (8, -18), font(13))),
            )?;
        }
    }
    Ok(entries)
}

fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    configs: &[&ConfigSummary],
    plan: &Layout,
    metric: Metric,
) -> std::result::Result<Vec<(String, Mark)>, DrawingAreaErrorKind<DB::ErrorType>> {
    // The network does not change bytes or rounds: take the first profile's configurations.
    let first_net = plan.networks.first().cloned().unwrap_or_default();
    let configs: Vec<&&ConfigSummary> = configs.iter().filter(|c| c.param("network") == first_net).collect();
    let mut series: Vec<String> = Vec::new();
    for c in &configs {
        let s = Layout::describe(&plan.swept, c);
        if !series.contains(&s) {
            series.push(s);
        }
    }
    let value = |c: &ConfigSummary| match metric {
        Metric::Bytes => c.metric("bytes_sent_per_party").unwrap_or(0.0),
        Metric::Rounds => c.metric("rounds").unwrap_or(0.0),
    };
    let max = configs.iter().map(|c| value(c)).fold(0.0, f64::max).max(1.0);
    let (unit, scale) = match metric {
        Metric::Rounds => ("", 1.0),
        Metric::Bytes if max >= 1e9 => ("GB", 1e9),
        Metric::Bytes if max >= 1e6 => ("MB", 1e6),
        Metric::Bytes if max >= 1e3 => ("kB", 1e3),
        Metric::Bytes => ("B", 1.0),
    };
    let y_desc = match metric {
        Metric::Bytes => format!("online bytes sent per party ({unit}, max over parties)"),
        Metric::Rounds => "online rounds (critical path)".to_string(),
    };
    let n = plan.protocols.len();
    let names = plan.protocols.clone();
    let x_fmt = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..(max / scale * 1.18))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&x_fmt)
        .x_desc("protocol")
        .y_desc(y_desc)
        .axis_desc_style(font(18))
        .label_style(font(15))
        .draw()?;
    let k = series.len().max(1);
    // Each protocol's bars share its slot: as many as it has series.
    let mine = |p: usize| -> Vec<usize> {
        (0..series.len())
            .filter(|&s| {
                configs
                    .iter()
                    .any(|c| plan.protocol_index(c) == p && Layout::describe(&plan.swept, c) == series[s])
            })
            .collect()
    };
    let slots: Vec<Vec<usize>> = (0..n).map(mine).collect();
    let mut entries = Vec::new();
    for (s, name) in series.iter().enumerate() {
        let color = if k == 1 { None } else { Some(PALETTE[s % PALETTE.len()]) };
        let rects: Vec<(f64, f64, f64, RGBColor)> = configs
            .iter()
            .filter(|c| Layout::describe(&plan.swept, c) == *name)
            .map(|c| {
                let p = plan.protocol_index(c);
                let here = &slots[p];
                let width = 0.8 / here.len().max(1) as f64;
                let at = here.iter().position(|&x| x == s).unwrap_or(0);
                let left = p as f64 - 0.4 + at as f64 * width;
                (
                    left,
                    width,
                    value(c) / scale,
                    color.unwrap_or(PALETTE[p % PALETTE.len()]),
                )
            })
            .collect();
        chart.draw_series(
            rects
                .iter()
                .map(|&(l, w, h, c)| Rectangle::new([(l + 0.05 * w, 0.0), (l + 0.95 * w, h)], c.filled())),
        )?;
        if let Some(c) = color {
            entries.push((name.clone(), Mark::Bar(c)));
        }
        chart.draw_series(rects.iter().map(|&(l, w, h, _)| {
            let text = match metric {
                Metric::Rounds => format!("{h:.0}"),
                Metric::Bytes => sig3(h),
            };
            EmptyElement::at((l + 0.5 * w, h)) + Text::new(text, (-12, -20), font(13))
        }))?;
    }
    Ok(entries)
}

/// The smallest and largest finite values (a default span when there are none).
fn bounds(v: impl Iterator<Item = f64>, floor: f64) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if lo.is_finite() && hi.is_finite() {
        (lo.max(floor), hi.max(floor))
    } else {
        (floor.max(1e-3), 1.0)
    }
}

/// Numeric order where values are numbers, else 0 (keeps the written order).
fn sort_key(s: &str) -> f64 {
    s.parse().unwrap_or(0.0)
}

/// Tick positions of a log axis over `lo..hi`: 1, 2 and 5 times each power of ten inside (so
/// every decade the data spans is labelled, also below 1 s).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if !(lo > 0.0 && hi > lo) {
        return out;
    }
    let mut decade = 10f64.powi(lo.log10().floor() as i32);
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = m * decade;
            if t >= lo && t <= hi {
                out.push(t);
            }
        }
        decade *= 10.0;
    }
    out
}

fn fmt_secs(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.0}")
    } else if x >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.0e}")
    }
}

/// Three significant digits.
fn sig3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}
