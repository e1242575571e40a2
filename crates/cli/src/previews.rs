//! The PNG previews of the masters, written on a thread of their own.
//!
//! A master's picture is drawn where the master is announced (zscale and one pass over
//! the pixels: cheap, and the master is still in memory); the PNG is encoded and written by
//! a thread of its own while the next master or the lights are computed. With
//! `--sync end` (the default) the pictures are not synced one by one: [`Previews::finish`]
//! syncs them all, and their folders, once, before the run reports that it is done; with
//! `--sync each` each is synced as it is written, as before.

use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use eloy::calib::{Master, SyncPolicy};
use eloy::viz::{Overwrite, Picture, Render};

/// A picture to write, and where.
struct Request {
    picture: Picture,
    png: PathBuf,
    overwrite: Overwrite,
}

/// What the writing thread did: the pictures written, and a line per failure.
#[derive(Default)]
struct Written {
    pictures: Vec<PathBuf>,
    failures: Vec<String>,
}

/// The previews of a run's masters: [`Previews::draw`] as masters are announced,
/// [`Previews::finish`] before the final report.
pub(crate) struct Previews {
    sender: Sender<Request>,
    writer: JoinHandle<Written>,
    sync: SyncPolicy,
    /// Pictures that could not be drawn.
    failures: std::sync::Mutex<Vec<String>>,
}

impl Previews {
    /// Starts the writing thread; `sync` is the run's durability policy.
    pub(crate) fn start(sync: SyncPolicy) -> Self {
        let (sender, receiver) = channel::<Request>();
        let writer = std::thread::spawn(move || {
            let mut written = Written::default();
            for request in receiver {
                let saved = if sync == SyncPolicy::Each {
                    request.picture.save_png(&request.png, request.overwrite)
                } else {
                    request
                        .picture
                        .save_png_unsynced(&request.png, request.overwrite)
                };
                match saved {
                    Ok(()) => written.pictures.push(request.png),
                    Err(e) => written.failures.push(e.to_string()),
                }
            }
            written
        });
        Self {
            sender,
            writer,
            sync,
            failures: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Draws the preview of the master saved at `path` (the PNG beside it) and queues it
    /// for writing.
    pub(crate) fn draw(&self, master: &Master, path: &std::path::Path, overwrite: bool) {
        let png = path.with_extension("png");
        let overwrite = if overwrite {
            Overwrite::Replace
        } else {
            Overwrite::Never
        };
        match eloy::viz::render(master.data.view(), &Render::default()) {
            // The writer only stops once the sender is dropped, in `finish`.
            Ok(picture) => drop(self.sender.send(Request {
                picture,
                png,
                overwrite,
            })),
            Err(e) => self
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("{}: {e}", png.display())),
        }
    }

    /// Waits for the pictures to be written (and, with `--sync end`, synced with their
    /// folders); returns a line per preview not written. A preview that cannot be made is
    /// a note, not a failure: the master is what matters.
    pub(crate) fn finish(self) -> Vec<String> {
        let Self {
            sender,
            writer,
            sync,
            failures,
        } = self;
        drop(sender);
        let mut lines = failures
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match writer.join() {
            Ok(written) => {
                lines.extend(written.failures);
                if sync == SyncPolicy::End && !written.pictures.is_empty() {
                    if let Err(errors) = eloy::fits::sync_files(&written.pictures, true) {
                        lines.extend(errors.iter().map(ToString::to_string));
                    }
                }
            }
            Err(_) => lines.push("the previews' writer stopped".to_owned()),
        }
        lines
    }
}
