//! `eloy_rs`, eloy for Python: the native module `eloy_rs._eloy_rs` that the Python package
//! `eloy_rs` (in `python/eloy_rs/`) re-exports.
//!
//! - Python eloy 0.0.11's calibration functions with its signatures and results
//!   (module `calibration`: `master_bias`, `master_dark`, `master_flat`, `calibrate`, `z_scale`),
//!   computed by eloy-stack and eloy-calib;
//! - FITS files (module `io`: `read`, `read_header`, `write`), `zscale_limits`, the streaming
//!   combine (module `stack`) and folder catalogs (module `catalog`);
//! - a night's reduction (module `night`): eloy-calib's plan and its engine, whole or as the
//!   sub-plans of Dask tasks (the Python package's `eloy_rs.calibrate_night` and
//!   `eloy_rs.dask` drive them).
//!
//! Arrays come in as numpy arrays of any real dtype and byte order and are copied into
//! owned `f32` (or `f64`) arrays; the work then runs with the interpreter detached (the GIL
//! released), on eloy's rayon pool.
//!
//! Built by maturin (`pip install ./crates/python`); the tests are Python's
//! (`crates/python/tests`, pytest).

mod calibration;
mod catalog;
mod convert;
mod io;
mod night;
mod stack;

use pyo3::prelude::*;

/// eloy's native module; import ``eloy_rs`` instead.
#[pymodule]
fn _eloy_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(calibration::master_bias, m)?)?;
    m.add_function(wrap_pyfunction!(calibration::master_dark, m)?)?;
    m.add_function(wrap_pyfunction!(calibration::master_flat, m)?)?;
    m.add_function(wrap_pyfunction!(calibration::calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(calibration::z_scale, m)?)?;
    m.add_function(wrap_pyfunction!(io::read, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_header, m)?)?;
    m.add_function(wrap_pyfunction!(io::write, m)?)?;
    m.add_function(wrap_pyfunction!(io::zscale_limits, m)?)?;
    m.add_function(wrap_pyfunction!(stack::stack, m)?)?;
    m.add_class::<catalog::Catalog>()?;
    m.add_function(wrap_pyfunction!(night::plan, m)?)?;
    m.add_function(wrap_pyfunction!(night::run_plan, m)?)?;
    m.add_function(wrap_pyfunction!(night::run_lights, m)?)?;
    m.add_function(wrap_pyfunction!(night::lock_folder, m)?)?;
    m.add_class::<night::FolderLock>()?;
    m.add_class::<night::Plan>()?;
    Ok(())
}
