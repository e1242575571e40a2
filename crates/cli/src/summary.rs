//! `eloy summary DIR`: what a folder holds, and what a reduction would do with it.

use eloy::calib::InvalidPixels;

use crate::args::{CenterArg, CombineArgs, MethodArg, SummaryArgs};
use crate::masters::{Night, prepare};
use crate::report::{decision_line, failure_line, plan_lines};
use crate::{Fatal, Status};

pub(crate) fn run(args: &SummaryArgs) -> Result<Status, Fatal> {
    let combine = CombineArgs {
        method: MethodArg::Median,
        sigma_clip: None,
        sigma_rounds: 5,
        sigma_center: CenterArg::Median,
        minmax: None,
        memory: 256,
        flat_mean_propagates_nan: false,
        exposure_key: args.exposure_key.clone(),
    };
    let rules = args.sensor.apply(args.ccd.apply(args.matching.rules(
        combine.master_options(),
        InvalidPixels::default(),
        None,
    ))?)?;
    let Night { catalog, plan } = prepare(&args.dir, None, &args.night, &args.matching, &rules)?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            summary: eloy::fits::Summary,
            catalog: &'a eloy::fits::Catalog,
            plan: &'a eloy::calib::Plan,
        }
        let json = Json {
            summary: catalog.summary(),
            catalog: &catalog,
            plan: &plan,
        };
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", catalog.summary());
        for failure in &catalog.failures {
            println!("{}", failure_line(&failure.path, &failure.error));
        }
        let unknown = catalog
            .frames
            .iter()
            .filter(|f| f.kind.is_none() && f.processed.is_none())
            .count();
        if let Some(line) = crate::report::processed_line(&catalog) {
            println!("{line}");
        }
        if unknown > 0 {
            println!(
                "{unknown} frame(s) of unknown kind: no IMAGETYP/OBSTYPE/FRAMETYP, folder or file name says bias, dark, flat or light"
            );
        }
        if !plan.groups.is_empty() {
            println!("calibration (eloy calibrate):");
        }
        for group in &plan.groups {
            println!(
                "{}: {} lights, filter {}",
                group.label,
                group.lights.len(),
                group.filter.as_deref().unwrap_or("none")
            );
            for line in group.decisions.iter().filter_map(decision_line) {
                println!("{line}");
            }
        }
        plan_lines(&plan, &mut |line| println!("{line}"));
    }
    if catalog.frames.is_empty() {
        return Err(Fatal(format!(
            "{}: no FITS frames found",
            args.dir.display()
        )));
    }
    Ok(if catalog.failures.is_empty() {
        Status::Done
    } else {
        Status::Partial
    })
}
