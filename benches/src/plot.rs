//! SVG line charts of Mpps (median, with the min–max spread as a bar) against one variable.

use crate::stats::Summary;
use plotters::prelude::*;
use std::path::Path;

/// One line: a name and its points `(x, measurement)`.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, Summary)>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Draws `series` into an SVG file at `path`; `log_x` puts x on a log2 scale (bursts).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[Series],
    log_x: bool,
) -> Result<(), String> {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    if pts().next().is_none() {
        return Err(format!("{title}: nothing to plot"));
    }
    let fx = |x: f64| if log_x { x.max(1e-9).log2() } else { x };
    let (mut x0, mut x1) = (f64::MAX, f64::MIN);
    let mut y1: f64 = 0.0;
    for (x, s) in pts() {
        x0 = x0.min(fx(*x));
        x1 = x1.max(fx(*x));
        y1 = y1.max(s.max).max(s.median);
    }
    if x1 <= x0 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    let pad = (x1 - x0) * 0.05;
    let y1 = if y1 > 0.0 { y1 * 1.15 } else { 1.0 };

    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..y1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("Mpps (median; bar: min-max)")
        .x_label_formatter(&|v| {
            if log_x {
                format!("{}", 2f64.powf(*v).round())
            } else {
                format!("{v:.0}")
            }
        })
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f64, f64)> = s.points.iter().map(|(x, m)| (fx(*x), m.median)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                line.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(|e| err(&e))?;
        chart
            .draw_series(s.points.iter().map(|(x, m)| {
                PathElement::new(
                    vec![(fx(*x), m.min), (fx(*x), m.max)],
                    color.stroke_width(1),
                )
            }))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_the_series_names() {
        let dir = std::env::temp_dir().join(format!("ena-benches-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.svg");
        let s = vec![Series {
            name: "llq-series".into(),
            points: vec![
                (1.0, Summary::of(&[1.0, 2.0])),
                (32.0, Summary::of(&[5.0, 6.0, 7.0])),
            ],
        }];
        line_chart(&path, "test chart", "burst", &s, true).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("llq-series"));
        assert!(svg.contains("test chart"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(line_chart(&path, "empty", "x", &[], false).is_err());
    }
}
