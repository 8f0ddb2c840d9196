//! `shaobing eval`: scores the analysis on an annotated clip set and fails below the bar.

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The evaluation set (clips and expected issues), e.g. `eval/street.toml`.
    pub set: PathBuf,
    /// Fail (exit 1) when any category's precision is below this.
    #[arg(long, default_value_t = 0.0)]
    pub min_precision: f64,
    /// Fail when any category's recall is below this.
    #[arg(long, default_value_t = 0.0)]
    pub min_recall: f64,
    /// Fail when false emergencies per camera-hour exceed this.
    #[arg(long)]
    pub max_false_emergencies: Option<f64>,
}

pub async fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let report = shaobing_eval::evaluate(&args.set).await?;
    print!("{}", report.table());
    for f in &report.unexpected {
        println!("unexpected: clip {} at {:.1} s: {} ({})", f.clip, f.at_secs, f.category, f.dedup_key);
    }
    let short: Vec<String> = report
        .categories
        .iter()
        .filter(|(_, f)| f.precision() < args.min_precision || f.recall() < args.min_recall)
        .map(|(c, f)| format!("{c}: precision {:.2}, recall {:.2}", f.precision(), f.recall()))
        .collect();
    anyhow::ensure!(short.is_empty(), "below the bar: {}", short.join("; "));
    if let Some(max) = args.max_false_emergencies {
        let rate = report.false_emergencies_per_camera_hour();
        anyhow::ensure!(rate <= max, "{rate:.2} false emergencies per camera-hour, more than {max}");
    }
    Ok(())
}
