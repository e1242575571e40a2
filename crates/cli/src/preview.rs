//! `eloy preview FILE... -o OUT.png`.

use eloy::viz::{Figure, Overwrite, Render, ZScale};

use crate::args::PreviewArgs;
use crate::{Fatal, Status};

pub(crate) fn run(args: &PreviewArgs) -> Result<Status, Fatal> {
    let render = Render {
        zscale: ZScale {
            contrast: args.contrast,
            ..ZScale::default()
        },
        transpose: args.transpose,
        max_width: args.width,
    };
    let images = args
        .files
        .iter()
        .map(|f| eloy::fits::read(f).map(|image| (f, image)))
        .collect::<Result<Vec<_>, _>>()?;
    let picture = if args.debayer {
        let [(path, image)] = images.as_slice() else {
            return Err(Fatal(
                "--debayer draws one frame (give one file)".to_owned(),
            ));
        };
        let layout = eloy::calib::CfaLayout::from_header(&image.header, image.data.nrows())
            .map_err(|e| Fatal(format!("{}: {e}", path.display())))?
            .ok_or_else(|| {
                Fatal(format!(
                    "{}: --debayer: not a Bayer frame (no BAYERPAT or COLORTYP)",
                    path.display()
                ))
            })?;
        let [r, g, b] = eloy::calib::debayer_bilinear(image.data.view(), layout.pattern);
        eloy::viz::render_colour([r.view(), g.view(), b.view()], &render)?
    } else if images.len() == 1 {
        eloy::viz::render(images[0].1.data.view(), &render)?
    } else {
        let mut figure = Figure::new().options(render);
        for (path, image) in &images {
            let title = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            figure = figure.panel(title, image.data.view());
        }
        figure.render()?
    };
    let overwrite = if args.overwrite {
        Overwrite::Replace
    } else {
        Overwrite::Never
    };
    picture.save_png(&args.output, overwrite)?;
    eprintln!(
        "wrote {} ({}x{})",
        args.output.display(),
        picture.width(),
        picture.height()
    );
    Ok(Status::Done)
}
