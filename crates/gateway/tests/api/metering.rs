//! Tests: metering.
#[allow(unused_imports)]
use crate::helpers::*;
