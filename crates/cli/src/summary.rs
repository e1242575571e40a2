//! `eloy summary DIR`.

use eloy::fits::Catalog;

use crate::args::SummaryArgs;
use crate::report::failure_line;
use crate::{Fatal, Status};

pub(crate) fn run(args: &SummaryArgs) -> Result<Status, Fatal> {
    let catalog = Catalog::scan_with(&args.dir, &args.night.scan_options())?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            summary: eloy::fits::Summary,
            catalog: &'a Catalog,
        }
        let json = Json {
            summary: catalog.summary(),
            catalog: &catalog,
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
