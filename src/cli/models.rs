//! `digits models`: the preset models and their parameter counts.

use digits::model::presets;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON: [{"name", "description", "params"}]
    #[arg(long)]
    json: bool,
    /// Also print each model's layers
    #[arg(long)]
    verbose: bool,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    description: String,
    params: usize,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for name in presets::NAMES {
        let spec = presets::preset(name).expect("listed preset exists");
        entries.push((
            Entry {
                name: name.to_string(),
                description: spec.description.clone().unwrap_or_default(),
                params: spec.param_count()?,
            },
            spec,
        ));
    }
    if a.json {
        let list: Vec<&Entry> = entries.iter().map(|(e, _)| e).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for (e, spec) in &entries {
        let default = if e.name == presets::DEFAULT { " (default)" } else { "" };
        println!("{:<28} {:>9} params  {}{}", e.name, e.params, e.description, default);
        if a.verbose {
            for line in spec.summary()?.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}
