//! `segmenta adapters`: the GPU adapters wgpu can see, best first, so a user can
//! tell which one `--backend auto` would take and what `SEGMENTA_ADAPTER` to set.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::common::OutputArgs;

#[derive(Args, Debug)]
pub struct AdaptersArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: AdaptersArgs) -> Result<ExitCode> {
    let list = segmenta::gpu::adapters();
    if a.output.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!("no GPU adapter found (install a Vulkan driver; on Debian, mesa-vulkan-drivers gives the software adapter lavapipe)");
    } else {
        for (i, ad) in list.iter().enumerate() {
            println!(
                "{i}: {} [{}; {}{}] {}",
                ad.name,
                ad.backend,
                ad.device_type,
                if ad.software {
                    ", software: --backend auto skips it"
                } else {
                    ""
                },
                ad.driver
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
