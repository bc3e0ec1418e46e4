//! Times and durations from Python: Unix seconds as `int`, `float` or
//! `datetime`; durations as `int`, `float` or `timedelta`.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Unix seconds, rounded down: `None` is the system clock now.
pub(crate) fn unix_seconds(value: Option<&Bound<'_, PyAny>>) -> PyResult<i64> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0));
    };
    if let Ok(seconds) = value.extract::<i64>() {
        return Ok(seconds);
    }
    let seconds: f64 = if value.hasattr("timestamp")? {
        value.call_method0("timestamp")?.extract()?
    } else {
        value.extract().map_err(|_| {
            PyTypeError::new_err("a time must be Unix seconds (int or float) or a datetime")
        })?
    };
    if !seconds.is_finite() {
        return Err(PyValueError::new_err("a time must be finite"));
    }
    // A float beyond i64 saturates, which every check then treats as far off.
    Ok(seconds.floor() as i64)
}

/// Whole seconds of a non-negative duration (rounded down), within `u32`.
pub(crate) fn seconds(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    let seconds: f64 = if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        value.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be seconds (int or float) or a timedelta"
            ))
        })?
    };
    if !(0.0..=f64::from(u32::MAX)).contains(&seconds) {
        return Err(PyValueError::new_err(format!(
            "{what} must be between 0 and {} seconds",
            u32::MAX
        )));
    }
    Ok(seconds.floor() as u32)
}
