//! `dispatch_core._native`: the PyO3 module under the Python package
//! `dispatch_core`. Every decision is the core's (`dispatch-core`); this crate
//! only converts Python values to the core's inputs and the core's answers to
//! Python values and exceptions.
//!
//! The exception classes live in `dispatch_core._errors` (plain Python, so
//! they carry docstrings and attributes like any Python exception); the
//! functions here build them through [`errors`].

mod connect;
mod errors;
mod keys;
mod request;
mod run;
mod signing;
mod time;

use pyo3::prelude::*;

/// The native half of `dispatch_core`; import `dispatch_core`, not this.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<keys::VerificationKey>()?;
    m.add_class::<keys::SigningKey>()?;
    m.add_function(wrap_pyfunction!(keys::parse_verification_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::parse_signing_key, m)?)?;

    m.add_function(wrap_pyfunction!(signing::verify_request, m)?)?;
    m.add_function(wrap_pyfunction!(signing::sign_request, m)?)?;
    m.add_function(wrap_pyfunction!(signing::content_digest, m)?)?;
    m.add_function(wrap_pyfunction!(signing::check_content_digest, m)?)?;

    m.add_function(wrap_pyfunction!(connect::code_http_status, m)?)?;
    m.add_function(wrap_pyfunction!(connect::code_grpc_number, m)?)?;
    m.add_function(wrap_pyfunction!(connect::code_from_http_status, m)?)?;
    m.add_function(wrap_pyfunction!(connect::connect_codes, m)?)?;
    m.add_function(wrap_pyfunction!(connect::error_json, m)?)?;
    m.add_function(wrap_pyfunction!(connect::classify_response, m)?)?;
    m.add_function(wrap_pyfunction!(connect::status_table, m)?)?;
    m.add_function(wrap_pyfunction!(connect::status_from_http_status, m)?)?;
    m.add_function(wrap_pyfunction!(connect::status_from_connect_code, m)?)?;
    m.add_function(wrap_pyfunction!(connect::reencode_message, m)?)?;

    m.add_class::<run::RunRpc>()?;
    m.add_class::<run::RunCall>()?;
    m.add_class::<run::RunAnswer>()?;
    m.add("DEFAULT_BODY_LIMIT", dispatch_core::run::DEFAULT_BODY_LIMIT)?;
    m.add("RUN_PATH", dispatch_core::connect::RUN_PATH)?;
    m.add(
        "REQUIRED_COMPONENTS",
        dispatch_core::signature::REQUIRED_COMPONENTS.to_vec(),
    )?;
    Ok(())
}
