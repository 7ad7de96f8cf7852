//! Tests: voices.
#[allow(unused_imports)]
use crate::helpers::*;
