//! Shared code of the fuzz targets: the request input format and an
//! independent reference verifier for differential fuzzing.

pub mod input;
pub mod reference;
